//! The undefined-name check on real files: quiet on code that runs, and it finds a helper
//! whose definition is taken away.

use std::path::{Path, PathBuf};

use nib_checks::undefined_calls;
use nib_syntax::Language;

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            python_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "py") {
            out.push(p);
        }
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn no_finding_in_any_python_fixture() {
    let mut files = Vec::new();
    python_files(&fixtures(), &mut files);
    assert!(files.len() > 100, "{}", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let found = undefined_calls(Language::Python, "", &text, "");
        assert!(found.is_empty(), "{}: {:?}", f.display(), found);
    }
}

#[test]
fn a_helper_whose_definition_is_gone_is_found_at_its_calls() {
    let text = std::fs::read_to_string(fixtures().join("python/task_scheduler.py")).unwrap();
    let renamed = text.replace("def build_parser(", "def make_parser(");
    let at = renamed.find("\ndef main(").unwrap();
    let (before, rest) = renamed.split_at(at);
    let found = undefined_calls(Language::Python, before, rest, "");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        &rest[found[0].start_byte..found[0].end_byte],
        "build_parser"
    );
    // The definition outside the suggestion is enough.
    assert!(undefined_calls(Language::Python, "", &text, "").is_empty());
}
