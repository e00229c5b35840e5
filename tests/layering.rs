//! The layering rule (STYLE.md, docs/architecture.md): every crate's dependencies on other nib
//! crates are listed here, and a new edge (or a new crate) fails until it is added on purpose;
//! pure crates depend on no IO, async or protocol crate and do no IO outside their tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (crate directory, the nib crates it may depend on). Arrows point one way: pure crates, then
/// engines and the ide, then the IO crates, then the server and the tools, then the binary.
const ALLOWED: &[(&str, &[&str])] = &[
    ("text", &[]),
    ("syntax", &["text"]),
    ("engine", &[]),
    ("context", &["text", "syntax", "engine"]),
    ("postprocess", &["text", "syntax"]),
    ("checks", &["text", "syntax"]),
    ("engine-llama", &["engine"]),
    ("engine-openai", &["engine", "checks"]),
    (
        "ide",
        &[
            "text",
            "syntax",
            "context",
            "postprocess",
            "checks",
            "engine",
            "verify",
        ],
    ),
    (
        "workspace",
        &["text", "syntax", "context", "checks", "engine"],
    ),
    ("models", &["engine", "engine-llama", "workspace"]),
    ("events", &["checks", "engine", "workspace"]),
    (
        "lsp",
        &[
            "text",
            "syntax",
            "context",
            "engine",
            "engine-openai",
            "ide",
            "models",
            "workspace",
            "checks",
            "events",
            "verify",
        ],
    ),
    ("scan", &["text", "syntax", "checks", "workspace"]),
    ("verify", &["syntax"]),
    (
        "eval",
        &[
            "text",
            "syntax",
            "context",
            "postprocess",
            "checks",
            "engine",
            "ide",
            "workspace",
            "scan",
            "verify",
        ],
    ),
    ("bench", &["text", "syntax", "engine", "ide", "lsp"]),
    (
        "nib",
        &[
            "ide",
            "lsp",
            "models",
            "scan",
            "eval",
            "bench",
            "workspace",
            "events",
            "engine",
        ],
    ),
];

/// Crates that do no IO: no IO, async or protocol dependency, no `std::fs`, `std::process`,
/// `std::net` or `std::env` outside tests.
const PURE: &[&str] = &[
    "text",
    "syntax",
    "engine",
    "context",
    "postprocess",
    "checks",
];

/// Dependencies a pure crate must not have.
const IO_CRATES: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "tower-lsp-server",
    "lsp-types",
    "lsp-server",
    "ignore",
    "walkdir",
    "rusqlite",
    "llama-cpp-2",
    "tracing-subscriber",
    "notify",
];

const IO_PATHS: &[&str] = &["std::fs", "std::process", "std::net", "std::env"];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The crate directories and their `[dependencies]` (package names).
fn manifests() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let doc: toml::Table = toml::from_str(&std::fs::read_to_string(&manifest).unwrap())
            .unwrap_or_else(|e| panic!("{} is not TOML: {e}", manifest.display()));
        let name = doc["package"]["name"].as_str().unwrap().to_string();
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let dir_name = dir.file_name().unwrap().to_str().unwrap().to_string();
        out.insert(dir_name, (name, deps));
    }
    out
}

#[test]
fn every_edge_between_nib_crates_is_allowed() {
    let manifests = manifests();
    // Package name -> crate directory.
    let by_package: BTreeMap<&str, &str> = manifests
        .iter()
        .map(|(dir, (name, _))| (name.as_str(), dir.as_str()))
        .collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for (dir, (_, deps)) in &manifests {
        let Some(ok) = allowed.get(dir.as_str()) else {
            problems.push(format!(
                "crates/{dir} is not in tests/layering.rs: add its allowed edges"
            ));
            continue;
        };
        for dep in deps {
            if let Some(target) = by_package.get(dep.as_str()) {
                if !ok.contains(target) {
                    problems.push(format!("crates/{dir} must not depend on {dep}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The table names real crates only (a typo would silently allow nothing).
    for (dir, targets) in ALLOWED {
        for t in targets.iter().chain(std::iter::once(dir)) {
            assert!(
                manifests.contains_key(*t) || *t == "engine-openai",
                "tests/layering.rs names an unknown crate {t}"
            );
        }
    }
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let manifests = manifests();
    for dir in PURE {
        let (_, deps) = &manifests[*dir];
        for dep in deps {
            assert!(
                !IO_CRATES.contains(&dep.as_str()),
                "pure crate {dir} depends on {dep}"
            );
        }
    }
}

/// Files of `src` compiled outside tests: modules declared `#[cfg(test)] mod x;` are left out,
/// and so is everything from a `#[cfg(test)]` module to the end of a file.
fn non_test_sources(src: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut test_modules = BTreeSet::new();
    let mut texts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut kept = String::new();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if t == "#[cfg(test)]" {
                let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
                if let Some(name) = next.strip_prefix("mod ").and_then(|n| n.strip_suffix(';')) {
                    test_modules.insert(f.parent().unwrap().join(format!("{name}.rs")));
                    test_modules.insert(f.parent().unwrap().join(name));
                    continue;
                }
                if next.starts_with("mod ") {
                    break;
                }
            }
            kept.push_str(line);
            kept.push('\n');
        }
        texts.push((f, kept));
    }
    texts
        .into_iter()
        .filter(|(f, _)| !test_modules.iter().any(|m| f.starts_with(m)))
        .collect()
}

/// `line` without its string literals (rule messages may name `std::env::args`).
fn code_only(line: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else {
            out.push(c);
        }
    }
    match out.find("//") {
        Some(i) => out[..i].to_string(),
        None => out,
    }
}

fn io_uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = code_only(line);
        let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let grouped = squeezed.starts_with("usestd::{")
            && ["fs", "process", "net", "env"].iter().any(|m| {
                squeezed.contains(&format!("{{{m}")) || squeezed.contains(&format!(",{m}"))
            });
        if grouped || IO_PATHS.iter().any(|p| squeezed.contains(p)) {
            found.push(format!("{}: {}", n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn pure_crates_do_no_io_outside_tests() {
    let mut problems = Vec::new();
    for dir in PURE {
        for (file, text) in non_test_sources(&crates_dir().join(dir).join("src")) {
            for hit in io_uses(&text) {
                problems.push(format!("{}:{hit}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "IO in pure crates: {problems:#?}");
}

#[test]
fn the_io_check_finds_io() {
    assert_eq!(io_uses("let t = std::fs::read(p);").len(), 1);
    assert_eq!(io_uses("use std::{collections::HashMap, env};").len(), 1);
    assert_eq!(io_uses("use std::{fs, io};").len(), 1);
    assert_eq!(io_uses("let v = std::env::var(\"X\");").len(), 1);
    assert!(io_uses("(\"env::args\", \"`std::env::args`\"),").is_empty());
    assert!(io_uses("// std::fs is not used here").is_empty());
    assert!(io_uses("use std::{fmt, io::Write};").is_empty());
}
