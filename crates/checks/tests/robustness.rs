//! Arbitrary fragments never panic and findings stay inside the text they refer to.

use std::path::Path;

use nib_checks::{CheckConfig, Checker, Corpus, Environment, Finding, WinnowConfig};
use nib_syntax::Language;

fn assert_in_bounds(f: &Finding, text: &str, what: &str) {
    assert!(
        f.start_byte <= f.end_byte && f.end_byte <= text.len(),
        "{what}: {f:?}"
    );
    assert_eq!(
        nib_syntax::point_of(text, f.start_byte),
        f.start,
        "{what}: {f:?}"
    );
    assert_eq!(
        nib_syntax::point_of(text, f.end_byte),
        f.end,
        "{what}: {f:?}"
    );
}

fn char_boundaries(s: &str, step: usize) -> Vec<usize> {
    (0..=s.len())
        .step_by(step.max(1))
        .filter(|i| s.is_char_boundary(*i))
        .collect()
}

#[test]
fn fragments_of_every_fixture_are_safe_to_check() {
    let mut corpus = Corpus::new(WinnowConfig {
        k: 8,
        w: 4,
        min_run_tokens: 12,
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checks");
    let mut files = Vec::new();
    for lang in ["python", "rust"] {
        for rule in std::fs::read_dir(root.join(lang)).unwrap() {
            for f in std::fs::read_dir(rule.unwrap().path()).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    for f in files.iter().step_by(3) {
        corpus.add(
            &f.display().to_string(),
            "GPL-3.0",
            &std::fs::read_to_string(f).unwrap(),
        );
    }
    let env = Environment::builtin()
        .with_installed_python(["flask".to_string()])
        .with_cargo_deps(["serde".to_string()]);
    let checker = Checker::new(CheckConfig {
        environment: Some(env),
        corpus: Some(corpus),
        syntax: true,
        ..CheckConfig::default()
    });
    let mut extra = vec![
        (
            "x.py".to_string(),
            "é(\"'''\n)]}{[(\u{1F600} #\n\"\"\"".to_string(),
        ),
        (
            "x.rs".to_string(),
            "'a' '\\'' r#\"\"# b\"x\" /* ( */ ) } ] 'lt ü".to_string(),
        ),
        ("x.py".to_string(), String::new()),
    ];
    let mut cases: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read_to_string(f).unwrap()))
        .collect();
    cases.append(&mut extra);
    for (path, code) in &cases {
        let lang = Language::from_path(Path::new(path)).unwrap();
        for f in checker.check(lang, code) {
            assert_in_bounds(&f, code, path);
        }
        let cuts = char_boundaries(code, (code.len() / 7).max(1));
        for &a in &cuts {
            for &b in cuts.iter().filter(|&&b| b >= a) {
                let (before, rest) = code.split_at(a);
                let (suggestion, after) = rest.split_at(b - a);
                for f in checker.check_suggestion(lang, before, suggestion, after) {
                    assert_in_bounds(&f, suggestion, path);
                }
                for f in checker.check(lang, suggestion) {
                    assert_in_bounds(&f, suggestion, path);
                }
            }
        }
    }
}
