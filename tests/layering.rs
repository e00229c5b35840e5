//! The layering rule (STYLE.md): pure crates do no IO and know nothing of engines, the server or
//! JSON-RPC; the ide knows engine traits, not engines; only the binary speaks LSP. This test reads
//! every crate's Cargo.toml and fails on a forbidden edge.

use std::path::Path;

/// (crate directory, dependencies it must not have)
const RULES: &[(&str, &[&str])] = &[
    (
        "text",
        &[
            "nib-syntax",
            "nib-context",
            "nib-engine",
            "nib-ide",
            "nib",
            "tokio",
            "reqwest",
            "tower-lsp-server",
        ],
    ),
    (
        "syntax",
        &[
            "nib-context",
            "nib-engine",
            "nib-ide",
            "nib",
            "tokio",
            "reqwest",
            "tower-lsp-server",
        ],
    ),
    (
        "context",
        &[
            "nib-ide",
            "nib-engine-llama",
            "nib-workspace",
            "nib",
            "tokio",
            "reqwest",
            "tower-lsp-server",
            "ignore",
        ],
    ),
    (
        "postprocess",
        &[
            "nib-ide",
            "nib-engine",
            "nib-engine-llama",
            "nib",
            "tokio",
            "reqwest",
            "tower-lsp-server",
        ],
    ),
    (
        "checks",
        &[
            "nib-ide",
            "nib-engine",
            "nib-engine-llama",
            "nib",
            "tokio",
            "reqwest",
            "tower-lsp-server",
        ],
    ),
    (
        "engine",
        &[
            "nib-engine-llama",
            "nib-ide",
            "nib",
            "llama-cpp-2",
            "tokio",
            "tower-lsp-server",
        ],
    ),
    ("engine-llama", &["nib-ide", "nib", "tower-lsp-server"]),
    (
        "ide",
        &[
            "nib-engine-llama",
            "nib-workspace",
            "nib",
            "tower-lsp-server",
            "tokio",
            "reqwest",
            "llama-cpp-2",
        ],
    ),
    (
        "workspace",
        &["nib-ide", "nib-engine-llama", "nib", "tower-lsp-server"],
    ),
];

fn dependencies(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            // Normal dependencies only: dev-dependencies may use anything for tests.
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                let name = name
                    .trim()
                    .trim_end_matches(".workspace")
                    .trim()
                    .trim_matches('"');
                if !name.is_empty() && !name.starts_with('#') {
                    deps.push(name.to_string());
                }
            }
        }
    }
    deps
}

#[test]
fn crates_depend_only_in_the_allowed_direction() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut violations = Vec::new();
    for (dir, forbidden) in RULES {
        let path = crates.join(dir).join("Cargo.toml");
        let manifest =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for dep in dependencies(&manifest) {
            if forbidden.contains(&dep.as_str()) {
                violations.push(format!("crates/{dir} depends on {dep}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "forbidden dependency edges:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_parser_of_this_test_sees_dependencies() {
    let deps = dependencies("[package]\nname = \"x\"\n[dependencies]\nnib-text.workspace = true\nserde = \"1\"\n[dev-dependencies]\ntokio = \"1\"\n");
    assert_eq!(deps, vec!["nib-text".to_string(), "serde".to_string()]);
}
