//! Helpers for tests: load a fixture directory into an index.

use crate::index::WorkspaceIndex;
use nib_syntax::Language;
use std::path::{Path, PathBuf};

pub(crate) fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/context")
        .join(name)
}

/// Every file of a fixture directory as (relative path, text), sorted by path.
pub(crate) fn fixture_files(name: &str) -> Vec<(String, String)> {
    let root = fixture_dir(name);
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn load_fixture(name: &str) -> WorkspaceIndex {
    let mut index = WorkspaceIndex::new();
    for (path, text) in fixture_files(name) {
        if let Some(lang) = Language::from_path(Path::new(&path)) {
            index.update_file(&path, Some(lang), &text);
        }
    }
    index
}
