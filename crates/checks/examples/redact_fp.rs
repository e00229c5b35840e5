//! False redactions over ordinary code: runs the redactor over every `.rs` and `.py` file
//! under the given directories (default: the crates in `~/.cargo/registry/src` and Python's
//! standard library) and prints the lines scanned and the redactions per 1,000 lines, by kind,
//! with examples to review by hand.
//!
//! Ordinary code holds no live credentials, so every redaction counts as a false one, except
//! that test fixtures of a credential's format (a PEM private key, a documented example token)
//! are reported separately: redacting those is the redactor doing its job.
//!
//! `cargo run --release -p nib-checks --example redact_fp [-- DIR... [--examples N]]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nib_checks::{redact, SecretKind};

fn main() {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut show = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--examples" {
            show = args.next().and_then(|n| n.parse().ok()).unwrap_or(show);
        } else {
            dirs.push(a.into());
        }
    }
    if dirs.is_empty() {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        dirs.push(Path::new(&home).join(".cargo/registry/src"));
        dirs.push("/root/.pyenv/versions/3.11.7/lib/python3.11".into());
    }
    let mut files = Vec::new();
    for d in &dirs {
        walk(d, &mut files);
    }
    files.sort();
    let mut lines = 0usize;
    let mut by_kind: BTreeMap<SecretKind, usize> = BTreeMap::new();
    let mut examples: BTreeMap<SecretKind, Vec<String>> = BTreeMap::new();
    let start = std::time::Instant::now();
    let mut bytes = 0usize;
    let mut hex = 0usize;
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        lines += text.lines().count();
        bytes += text.len();
        let r = redact(&text);
        if r.count == 0 {
            continue;
        }
        // Count occurrences per kind: each placeholder once per time it appears.
        for p in &r.placeholders {
            let n = r.text.matches(p.placeholder.as_str()).count().max(1);
            *by_kind.entry(p.kind).or_default() += n;
            if p.kind == SecretKind::HighEntropy
                && p.original.bytes().all(|b| b.is_ascii_hexdigit())
            {
                hex += n;
            }
            let ex = examples.entry(p.kind).or_default();
            if ex.len() < show {
                // The redacted line, the secret shown in brackets where its placeholder is.
                let line = r
                    .text
                    .lines()
                    .find(|l| l.contains(p.placeholder.as_str()))
                    .unwrap_or_default()
                    .trim()
                    .replace(p.placeholder.as_str(), &format!("[{}]", p.original));
                let line: String = line.chars().take(160).collect();
                ex.push(format!("{}: {line}", f.display()));
            }
        }
    }
    let elapsed = start.elapsed();
    let total: usize = by_kind.values().sum();
    let fixtures: usize = [SecretKind::Token, SecretKind::PrivateKey]
        .iter()
        .filter_map(|k| by_kind.get(k))
        .sum();
    let per_k = |n: usize| n as f64 * 1000.0 / lines.max(1) as f64;
    println!(
        "directories: {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "files: {}  lines: {lines}  ({:.1} MB in {:.2} s)",
        files.len(),
        bytes as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    for (k, n) in &by_kind {
        println!("  {k:?}: {n} ({:.3} per 1,000 lines)", per_k(*n));
    }
    println!(
        "  (of HighEntropy, hex digits only: {hex}, {:.3} per 1,000 lines)",
        per_k(hex)
    );
    println!(
        "redactions: {total} ({:.3} per 1,000 lines); without credential-format fixtures (Token, PrivateKey): {} ({:.3} per 1,000 lines)",
        per_k(total),
        total - fixtures,
        per_k(total - fixtures)
    );
    for (k, ex) in &examples {
        println!("\nexamples of {k:?}:");
        for e in ex {
            println!("  {e}");
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ty) = e.file_type() else { continue };
        let path = e.path();
        if ty.is_dir() {
            // Third-party packages are not the standard library.
            if path.file_name().is_some_and(|n| n == "site-packages") {
                continue;
            }
            walk(&path, out);
        } else if ty.is_file() && path.extension().is_some_and(|x| x == "rs" || x == "py") {
            out.push(path);
        }
    }
}
