//! Labelled-benchmark scoring: per-rule recall and precision over annotated code.
//!
//! A line that should be reported carries a marker comment `nib: expect <rule-id>` (several
//! ids separated by commas or spaces). Every finding at or above the severity threshold
//! whose line span covers a marker of its rule is a true positive; every other finding is a
//! false positive; every marker no finding covers is a false negative.

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

/// Markers `(0-based line, rule id)` in `code`.
pub fn markers(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (line_no, line) in code.lines().enumerate() {
        if let Some(idx) = line.find("nib: expect ") {
            for id in line[idx + "nib: expect ".len()..]
                .split([',', ' '])
                .filter(|s| !s.is_empty())
            {
                out.push((line_no, id.trim().to_string()));
            }
        }
    }
    out
}

/// Check every case with `checker` and score findings of at least `min_severity`.
pub fn evaluate(checker: &Checker, cases: &[Case], min_severity: Severity) -> Evaluation {
    let mut eval = Evaluation::default();
    for case in cases {
        let marks = markers(&case.code);
        let findings: Vec<_> = checker
            .check(case.lang, &case.code)
            .into_iter()
            .filter(|f| f.severity >= min_severity)
            .collect();
        for (line, rule) in &marks {
            let score = eval.per_rule.entry(rule.clone()).or_default();
            score.expected += 1;
            if findings
                .iter()
                .any(|f| &f.rule_id == rule && f.start.0 <= *line && *line <= f.end.0)
            {
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
                .any(|(line, rule)| rule == &f.rule_id && f.start.0 <= *line && *line <= f.end.0);
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
