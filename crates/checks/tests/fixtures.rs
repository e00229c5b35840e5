//! The labelled benchmark under `fixtures/checks/<lang>/<rule>/{vuln,safe}_*`: every file is
//! checked, findings are scored against `nib: expect <rule-id>` markers.

use std::path::{Path, PathBuf};

use nib_checks::{evaluate, markers, Case, CheckConfig, Checker, Severity};
use nib_syntax::Language;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checks")
}

fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for lang_dir in ["python", "rust"] {
        let mut rule_dirs: Vec<_> = std::fs::read_dir(fixtures_dir().join(lang_dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        rule_dirs.sort();
        for dir in rule_dirs {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                let lang = Language::from_path(&f).unwrap();
                let rel = f
                    .strip_prefix(fixtures_dir())
                    .unwrap()
                    .display()
                    .to_string();
                cases.push(Case {
                    path: rel,
                    lang,
                    code: std::fs::read_to_string(&f).unwrap(),
                });
            }
        }
    }
    cases
}

#[test]
fn every_rule_has_labelled_samples() {
    let checker = Checker::new(CheckConfig::standard());
    let cases = load_cases();
    for rule in checker.rules() {
        let (lang, name) = rule.id.split_once('/').unwrap();
        let prefix = format!("{lang}/{name}/");
        let vuln: Vec<_> = cases
            .iter()
            .filter(|c| c.path.starts_with(&format!("{prefix}vuln_")))
            .collect();
        let safe = cases
            .iter()
            .filter(|c| c.path.starts_with(&format!("{prefix}safe_")))
            .count();
        let expected: usize = vuln
            .iter()
            .map(|c| {
                markers(&c.code)
                    .iter()
                    .filter(|(_, r)| r == &rule.id)
                    .count()
            })
            .sum();
        assert!(
            vuln.len() >= 3 && safe >= 3,
            "{}: {} vulnerable / {safe} safe files",
            rule.id,
            vuln.len()
        );
        assert!(expected >= 3, "{}: only {expected} markers", rule.id);
        for c in &vuln {
            assert!(
                !markers(&c.code).is_empty(),
                "{} has no `nib: expect` marker",
                c.path
            );
        }
    }
}

#[test]
fn benchmark_recall_and_precision() {
    let checker = Checker::new(CheckConfig::standard());
    let eval = evaluate(&checker, &load_cases(), Severity::Medium);
    let mut report = String::new();
    for (rule, s) in &eval.per_rule {
        report.push_str(&format!(
            "{rule:34} expected {:2} tp {:2} fp {:2} fn {:2} recall {:.2} precision {:.2}\n",
            s.expected,
            s.true_positives,
            s.false_positives,
            s.false_negatives,
            s.recall(),
            s.precision()
        ));
    }
    println!("{report}");
    println!(
        "misses: {:#?}\nfalse alarms: {:#?}",
        eval.misses, eval.false_alarms
    );
    for (rule, s) in &eval.per_rule {
        assert!(
            s.recall() >= 0.9,
            "{rule}: recall {:.2}\n{report}{:#?}",
            s.recall(),
            eval.misses
        );
        assert!(
            s.precision() >= 0.9,
            "{rule}: precision {:.2}\n{report}{:#?}",
            s.precision(),
            eval.false_alarms
        );
    }
    for rule in checker.rules() {
        assert!(
            eval.per_rule.get(&rule.id).is_some_and(|s| s.expected > 0),
            "{} not in the benchmark",
            rule.id
        );
    }
}

/// Every finding (all severities, all checks) on every fixture file, one snapshot per rule
/// directory under `tests/snapshots/`. `UPDATE_EXPECT=1` rewrites them.
#[test]
fn fixture_snapshots() {
    let checker = Checker::new(CheckConfig::standard());
    let cases = load_cases();
    let mut dirs: Vec<String> = cases
        .iter()
        .map(|c| c.path.rsplit_once('/').unwrap().0.to_string())
        .collect();
    dirs.dedup();
    for dir in dirs {
        let mut out = String::new();
        for case in cases
            .iter()
            .filter(|c| c.path.rsplit_once('/').unwrap().0 == dir)
        {
            out.push_str(&format!("{}\n", case.path.rsplit_once('/').unwrap().1));
            for f in checker.check(case.lang, &case.code) {
                let line = case.code.lines().nth(f.start.0).unwrap_or("").trim();
                out.push_str(&format!(
                    "  {}:{} {} {} | {}\n",
                    f.start.0 + 1,
                    f.start.1 + 1,
                    f.severity.as_str(),
                    f.rule_id,
                    line
                ));
            }
        }
        expect_test::expect_file![format!("snapshots/{dir}.txt")].assert_eq(&out);
    }
}

/// Micro-averaged recall and precision of one language's rules.
fn totals<'a>(scores: impl Iterator<Item = &'a nib_checks::RuleScore>) -> nib_checks::RuleScore {
    scores.fold(nib_checks::RuleScore::default(), |mut t, s| {
        t.expected += s.expected;
        t.true_positives += s.true_positives;
        t.false_positives += s.false_positives;
        t.false_negatives += s.false_negatives;
        t
    })
}

/// The safety gate is as good on Rust as on Python: over each language's labelled samples
/// (findings of medium and above), Rust recall is at least Python's and Rust precision at
/// least 90%. `cargo test -p nib-checks --test fixtures rust_at_the_level -- --nocapture`
/// prints the table.
#[test]
fn rust_at_the_level_of_python() {
    let checker = Checker::new(CheckConfig::standard());
    let cases = load_cases();
    let eval = evaluate(&checker, &cases, Severity::Medium);
    let of = |lang: &str| {
        let prefix = format!("{lang}/");
        eval.per_rule
            .iter()
            .filter(move |(id, _)| id.starts_with(&prefix))
            .map(|(_, s)| s)
    };
    let files = |lang: &str| {
        cases
            .iter()
            .filter(|c| c.path.starts_with(&format!("{lang}/")))
            .count()
    };
    let mut table =
        String::from("language  rules  files  expected  tp  fp  fn  recall  precision\n");
    let (py, rs) = (totals(of("python")), totals(of("rust")));
    for (lang, t) in [("python", &py), ("rust", &rs)] {
        table.push_str(&format!(
            "{lang:8}  {:5}  {:5}  {:8}  {:2}  {:2}  {:2}  {:6.3}  {:9.3}\n",
            of(lang).count(),
            files(lang),
            t.expected,
            t.true_positives,
            t.false_positives,
            t.false_negatives,
            t.recall(),
            t.precision()
        ));
    }
    println!("{table}");
    assert!(
        rs.expected >= py.expected / 2,
        "too few Rust markers\n{table}"
    );
    assert!(
        rs.recall() >= py.recall(),
        "Rust recall below Python's\n{table}{:#?}",
        eval.misses
    );
    assert!(
        rs.precision() >= 0.9,
        "Rust precision below 90%\n{table}{:#?}",
        eval.false_alarms
    );
}
