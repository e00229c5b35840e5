//! Labelled-benchmark scoring: per-rule recall and precision over annotated code.
//!
//! A line that should be reported carries a marker comment `nib: expect <rule-id>` (several
//! ids separated by commas or spaces); `<rule-id>@<severity>` also fixes the severity the
//! finding must have. Every finding at or above the severity threshold whose line span covers
//! a marker of its rule (and severity) is a true positive; every other finding is a false
//! positive; every marker no finding covers is a false negative.

use std::collections::BTreeMap;

use nib_syntax::Language;

use crate::{Checker, Severity};

/// One labelled file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub path: String,
    pub lang: Language,
    pub code: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleScore {
    pub expected: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl RuleScore {
    /// 1.0 when nothing was expected.
    pub fn recall(&self) -> f64 {
        let d = self.true_positives + self.false_negatives;
        if d == 0 {
            1.0
        } else {
            self.true_positives as f64 / d as f64
        }
    }
    /// 1.0 when nothing was reported.
    pub fn precision(&self) -> f64 {
        let d = self.true_positives + self.false_positives;
        if d == 0 {
            1.0
        } else {
            self.true_positives as f64 / d as f64
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    pub per_rule: BTreeMap<String, RuleScore>,
    /// `path:line: rule` for each missed marker.
    pub misses: Vec<String>,
    /// `path:line: rule` for each false positive.
    pub false_alarms: Vec<String>,
}

/// Markers `(0-based line, rule id)` in `code` (without their severities).
pub fn markers(code: &str) -> Vec<(usize, String)> {
    marker_severities(code)
        .into_iter()
        .map(|(line, id, _)| (line, id))
        .collect()
}

/// Markers `(0-based line, rule id, required severity)` in `code`. An unknown severity name
/// stays part of the id, so the marker matches no finding and shows up as a miss.
pub fn marker_severities(code: &str) -> Vec<(usize, String, Option<Severity>)> {
    let mut out = Vec::new();
    for (line_no, line) in code.lines().enumerate() {
        if let Some(idx) = line.find("nib: expect ") {
            for id in line[idx + "nib: expect ".len()..]
                .split([',', ' '])
                .filter(|s| !s.is_empty())
            {
                let id = id.trim();
                let parsed = id
                    .split_once('@')
                    .and_then(|(rule, sev)| Some((rule, Severity::from_name(sev)?)));
                match parsed {
                    Some((rule, sev)) => out.push((line_no, rule.to_string(), Some(sev))),
                    None => out.push((line_no, id.to_string(), None)),
                }
            }
        }
    }
    out
}

/// Check every case with `checker` and score findings of at least `min_severity`.
pub fn evaluate(checker: &Checker, cases: &[Case], min_severity: Severity) -> Evaluation {
    let mut eval = Evaluation::default();
    for case in cases {
        let marks = marker_severities(&case.code);
        let findings: Vec<_> = checker
            .check(case.lang, &case.code)
            .into_iter()
            .filter(|f| f.severity >= min_severity)
            .collect();
        let covers = |f: &crate::Finding, line: usize, rule: &str, sev: Option<Severity>| {
            f.rule_id == rule
                && f.start.0 <= line
                && line <= f.end.0
                && sev.is_none_or(|s| s == f.severity)
        };
        for (line, rule, sev) in &marks {
            let score = eval.per_rule.entry(rule.clone()).or_default();
            score.expected += 1;
            if findings.iter().any(|f| covers(f, *line, rule, *sev)) {
                score.true_positives += 1;
            } else {
                score.false_negatives += 1;
                eval.misses
                    .push(format!("{}:{}: {rule}", case.path, line + 1));
            }
        }
        for f in &findings {
            let hit = marks
                .iter()
                .any(|(line, rule, sev)| covers(f, *line, rule, *sev));
            if !hit {
                eval.per_rule
                    .entry(f.rule_id.clone())
                    .or_default()
                    .false_positives += 1;
                eval.false_alarms
                    .push(format!("{}:{}: {}", case.path, f.start.0 + 1, f.rule_id));
            }
        }
    }
    eval
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckConfig;

    #[test]
    fn markers_are_parsed() {
        let code = "a = 1\nos.system(x)  # nib: expect python/command-injection, python/other\n";
        assert_eq!(
            markers(code),
            vec![
                (1, "python/command-injection".to_string()),
                (1, "python/other".to_string())
            ]
        );
    }

    #[test]
    fn marker_severities_are_parsed_and_required() {
        let code = "import os\n\
                    def f(a):\n\
                    \x20   os.system(a)  # nib: expect python/command-injection@medium\n\
                    \x20   os.system(a)  # nib: expect python/command-injection@high\n\
                    \x20   os.system(a)  # nib: expect python/command-injection@bogus\n";
        assert_eq!(
            marker_severities(code)[0],
            (
                2,
                "python/command-injection".to_string(),
                Some(Severity::Medium)
            )
        );
        assert_eq!(
            markers(code)[1],
            (3, "python/command-injection".to_string())
        );
        let cases = vec![Case {
            path: "t.py".into(),
            lang: Language::Python,
            code: code.into(),
        }];
        let eval = evaluate(&Checker::new(CheckConfig::default()), &cases, Severity::Low);
        // A parameter is medium evidence: the @high line is a miss and its finding a false
        // alarm, the unknown severity name never matches.
        let s = &eval.per_rule["python/command-injection"];
        assert_eq!((s.true_positives, s.false_positives), (1, 2));
        assert_eq!(eval.misses.len(), 2);
        assert!(eval.misses[0].starts_with("t.py:4:"), "{:?}", eval.misses);
    }

    #[test]
    fn counts_true_false_positives_and_misses() {
        let checker = Checker::new(CheckConfig::default());
        let code = "import os\n\
                    def f(a, b):\n\
                    \x20   os.system(a)  # nib: expect python/command-injection\n\
                    \x20   os.system(b)\n\
                    \x20   print(a)  # nib: expect python/code-injection\n";
        let cases = vec![Case {
            path: "t.py".into(),
            lang: Language::Python,
            code: code.into(),
        }];
        let eval = evaluate(&checker, &cases, Severity::Medium);
        let cmd = &eval.per_rule["python/command-injection"];
        assert_eq!(
            (
                cmd.expected,
                cmd.true_positives,
                cmd.false_positives,
                cmd.false_negatives
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(cmd.precision(), 0.5);
        assert_eq!(cmd.recall(), 1.0);
        let code_inj = &eval.per_rule["python/code-injection"];
        assert_eq!((code_inj.true_positives, code_inj.false_negatives), (0, 1));
        assert_eq!(code_inj.recall(), 0.0);
        assert_eq!(
            eval.misses,
            vec!["t.py:5: python/code-injection".to_string()]
        );
        assert_eq!(
            eval.false_alarms,
            vec!["t.py:4: python/command-injection".to_string()]
        );
        // Above the threshold nothing is reported: all markers become misses.
        let eval = evaluate(&checker, &cases, Severity::Critical);
        assert_eq!(eval.per_rule["python/command-injection"].recall(), 0.0);
    }
}
