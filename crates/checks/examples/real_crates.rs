//! False highs on real code: run the Rust rules over crate sources on this machine and print
//! the lines scanned and the high/critical findings per 10,000 lines.
//!
//! `cargo run --release -p nib-checks --example real_crates -- [--all] [--root DIR] [CRATE...]`
//!
//! Crates are looked up under `DIR` (default `~/.cargo/registry/src/*/`) by name, any
//! version; without names a fixed list of popular crates is used, `--all` takes every crate
//! there. Test files get the lower test severity, as in `nib scan`. Every high finding is
//! printed with its line so it can be reviewed (`SHOW_MEDIUM=1`: a few mediums per rule too).

use std::path::{Path, PathBuf};

use nib_checks::{CheckConfig, Checker, Severity};
use nib_syntax::Language;

const DEFAULT_CRATES: &[&str] = &[
    "tokio",
    "serde",
    "serde_json",
    "regex",
    "regex-automata",
    "reqwest",
    "hyper",
    "hyper-util",
    "rustls",
    "rustls-webpki",
    "ring",
    "clap_builder",
    "cc",
    "cmake",
    "bindgen",
    "tower-http",
    "flate2",
    "zip",
    "ignore",
    "tracing-subscriber",
    "quinn-proto",
    "clang-sys",
    "libloading",
    "jobserver",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let mut all = false;
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--all" => all = true,
            "--root" => roots.push(PathBuf::from(args.next().expect("--root DIR"))),
            _ => names.push(a),
        }
    }
    if roots.is_empty() {
        let home = std::env::var("HOME").expect("HOME is set");
        let registry = Path::new(&home).join(".cargo/registry/src");
        for e in std::fs::read_dir(&registry).expect("~/.cargo/registry/src exists") {
            roots.push(e.expect("readable registry").path());
        }
    }
    let mut crate_dirs: Vec<PathBuf> = Vec::new();
    for root in &roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for e in entries.flatten() {
            let dir = e.path();
            let Some(dir_name) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let wanted = all
                || if names.is_empty() {
                    DEFAULT_CRATES.iter().any(|c| is_version_of(dir_name, c))
                } else {
                    names.iter().any(|c| is_version_of(dir_name, c))
                };
            if wanted && dir.is_dir() {
                crate_dirs.push(dir);
            }
        }
    }
    crate_dirs.sort();
    let checker = Checker::new(CheckConfig {
        min_severity: Some(Severity::Low),
        ..CheckConfig::default()
    });
    let (mut total_lines, mut total_high, mut total_medium) = (0usize, 0usize, 0usize);
    let mut highs = Vec::new();
    // (rule, severity) -> count, and a few medium examples per rule for review.
    let mut per_rule: std::collections::BTreeMap<(String, &str), usize> = Default::default();
    let mut medium_examples: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    println!(
        "{:32} {:>9} {:>6} {:>6}",
        "crate", "lines", "medium", "high+"
    );
    for dir in &crate_dirs {
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        files.sort();
        let (mut lines, mut high, mut medium) = (0usize, 0usize, 0usize);
        for f in &files {
            let Ok(code) = std::fs::read_to_string(f) else {
                continue;
            };
            lines += code.lines().count();
            let rel = f.strip_prefix(dir).unwrap_or(f);
            for finding in checker.check_with_path(Language::Rust, &code, rel) {
                *per_rule
                    .entry((finding.rule_id.clone(), finding.severity.as_str()))
                    .or_default() += 1;
                if finding.severity >= Severity::High {
                    high += 1;
                    let line = code.lines().nth(finding.start.0).unwrap_or("").trim();
                    highs.push(format!(
                        "{}:{}: {} {} | {}",
                        f.display(),
                        finding.start.0 + 1,
                        finding.severity.as_str(),
                        finding.rule_id,
                        truncate(line, 140)
                    ));
                } else if finding.severity == Severity::Medium {
                    medium += 1;
                    let examples = medium_examples.entry(finding.rule_id.clone()).or_default();
                    if examples.len() < 8 {
                        let line = code.lines().nth(finding.start.0).unwrap_or("").trim();
                        examples.push(format!(
                            "{}:{}: {}",
                            f.display(),
                            finding.start.0 + 1,
                            truncate(line, 120)
                        ));
                    }
                }
            }
        }
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!("{name:32} {lines:>9} {medium:>6} {high:>6}");
        total_lines += lines;
        total_high += high;
        total_medium += medium;
    }
    println!("\nfindings per rule and severity:");
    for ((rule, sev), n) in &per_rule {
        println!("  {rule:32} {sev:8} {n:>6}");
    }
    if std::env::var_os("SHOW_MEDIUM").is_some() {
        for (rule, examples) in &medium_examples {
            println!("\nmedium {rule}:");
            for e in examples {
                println!("  {e}");
            }
        }
    }
    println!("\nhigh/critical findings:");
    for h in &highs {
        println!("{h}");
    }
    let per_10k = |n: usize| n as f64 * 10_000.0 / total_lines.max(1) as f64;
    println!(
        "{} crates, {total_lines} lines: {total_high} high/critical ({:.2} per 10,000 lines), {total_medium} medium ({:.2} per 10,000 lines)",
        crate_dirs.len(),
        per_10k(total_high),
        per_10k(total_medium)
    );
}

/// `tokio-1.54.1` is a version of `tokio`, `tokio-util-0.7.20` is not.
fn is_version_of(dir_name: &str, krate: &str) -> bool {
    dir_name
        .strip_prefix(krate)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            rust_files(&p, out);
        } else if ft.is_file() && p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
