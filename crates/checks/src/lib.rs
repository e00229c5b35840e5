//! Checks: the safety gate generated code passes before a user sees it.
//!
//! Invariants and boundary:
//! - PURE: no IO, no processes, no network, no global mutable state. Rule files and the
//!   Python standard library tables are embedded with `include_str!`; whatever must be read
//!   from disk (installed packages, Cargo dependencies, a copyleft corpus) is handed in by
//!   the caller through [`CheckConfig`].
//! - Works on fragments: tree-sitter parses anything, ERROR nodes included; rules match what
//!   can be matched and taint-lite degrades to "unknown origin".
//! - Never panics on input and never fails: the worst answer is "no findings".
//! - Fast: a [`Checker`] compiles its queries once; checking a 100-line snippet is well under
//!   5 ms.
//!
//! Checks: security rules (`rules/<lang>/<rule>.toml`, see `rules.rs`), unknown APIs
//! ([`Environment`]), calls of names the file never defines ([`undefined_calls`], whole files only), copyleft similarity ([`Corpus`], winnowing), and syntax regressions of a
//! suggestion spliced into its context. [`to_sarif`] / [`to_text`] format results; [`evaluate`]
//! scores rules against the labelled benchmark under `fixtures/checks/`.

mod bench;
mod env;
mod flow;
mod licence;
mod model;
mod predicates;
mod redact;
mod repair;
mod report;
mod rules;
mod secrets;
mod syntax_check;
mod testcode;
mod undefined;
mod unknown_api;

use std::collections::BTreeSet;
use std::path::Path;

use nib_syntax::{parse, point_of, Language};

pub use bench::{evaluate, markers, Case, Evaluation, RuleScore};
pub use env::Environment;
pub use licence::{fingerprints, tokenize, Corpus, LicenceMatch, Token, WinnowConfig};
pub use model::{Category, Finding, Severity};
pub use redact::{is_denied_path, redact, Placeholder, Redacted, Redactor, SecretKind};
pub use report::{to_sarif, to_text};
pub use rules::{RuleInfo, RULE_FILES};
pub use secrets::shannon_entropy;
pub use syntax_check::{error_ranges, syntax_regression};
pub use testcode::is_test_path;
pub use undefined::{undefined_calls, UNDEFINED_RULE};

/// What a [`Checker`] checks, and with what knowledge of the user's environment.
#[derive(Debug, Default)]
pub struct CheckConfig {
    /// Skip the security rules.
    pub no_security: bool,
    /// Names that exist; `None` turns the unknown-API check off.
    pub environment: Option<Environment>,
    /// Copyleft corpus; `None` turns the licence check off.
    pub corpus: Option<Corpus>,
    /// Report syntax regressions in [`Checker::check_suggestion`].
    pub syntax: bool,
    /// Rule ids not to run.
    pub disabled_rules: BTreeSet<String>,
    /// Findings below this severity are dropped.
    pub min_severity: Option<Severity>,
}

impl CheckConfig {
    /// Everything that needs no caller data: security rules, stdlib-based unknown-API check,
    /// syntax regressions.
    pub fn standard() -> CheckConfig {
        CheckConfig {
            environment: Some(Environment::builtin()),
            syntax: true,
            ..CheckConfig::default()
        }
    }
}

/// Compiled rules plus the caller's environment and corpus. Build once, share freely.
pub struct Checker {
    config: CheckConfig,
    rules: rules::Rules,
    rule_errors: Vec<String>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("rules", &self.rules.rules.len())
            .field("config", &self.config)
            .finish()
    }
}

const LICENCE_RULE: &str = "licence/copyleft-similarity";

impl Checker {
    pub fn new(config: CheckConfig) -> Checker {
        let (rules, rule_errors) = rules::compile_all();
        Checker {
            config,
            rules,
            rule_errors,
        }
    }

    /// Rule files that failed to load (empty unless an embedded rule is broken).
    pub fn rule_errors(&self) -> &[String] {
        &self.rule_errors
    }

    /// The loaded security rules.
    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.rules.rules.iter().map(|r| &r.info)
    }

    /// Check a whole file or a snippet. Offsets are relative to `code`.
    pub fn check(&self, lang: Language, code: &str) -> Vec<Finding> {
        self.check_file(lang, code, false)
    }

    /// [`Checker::check`] for the file at `path` (only its name is used: test files get the
    /// lower test severity of rules that have one, see [`is_test_path`]).
    pub fn check_with_path(&self, lang: Language, code: &str, path: &Path) -> Vec<Finding> {
        self.check_file(lang, code, is_test_path(path))
    }

    /// The findings of [`Checker::check_with_path`] that lie in `range`, on a tree of `code`
    /// the caller keeps up to date (incrementally reparsed): what a whole-file check reports
    /// there, without parsing or matching the rest. `None` when only a whole-file check can
    /// answer: the tree has errors (the file is then repaired as a whole) or a copyleft
    /// corpus is configured.
    pub fn check_tree_range(
        &self,
        lang: Language,
        code: &str,
        tree: &nib_syntax::tree_sitter::Tree,
        range: std::ops::Range<usize>,
        path: &Path,
    ) -> Option<Vec<Finding>> {
        if tree.root_node().has_error() || self.config.corpus.is_some() {
            return None;
        }
        let found = self.check_tree(lang, tree, code, range.clone(), is_test_path(path));
        Some(
            self.finish(
                found
                    .into_iter()
                    .filter(|f| f.start_byte >= range.start && f.end_byte <= range.end)
                    .collect(),
            ),
        )
    }

    fn check_file(&self, lang: Language, code: &str, test_file: bool) -> Vec<Finding> {
        let mut out = self.check_range(lang, code, 0..code.len(), test_file);
        if let Some(corpus) = &self.config.corpus {
            out.extend(licence_findings(corpus, lang, code));
        }
        self.finish(out)
    }

    /// Check `suggestion` as it would be inserted between `before` and `after`. Findings lie
    /// inside the suggestion (offsets relative to it); the context decides what names are
    /// parameters, imports, etc. A finding that starts in the context and continues into the
    /// suggestion is kept only if the context alone does not have it already.
    pub fn check_suggestion(
        &self,
        lang: Language,
        before: &str,
        suggestion: &str,
        after: &str,
    ) -> Vec<Finding> {
        self.suggestion(lang, before, suggestion, after, false)
    }

    /// [`Checker::check_suggestion`] in the file at `path` (see [`Checker::check_with_path`]).
    pub fn check_suggestion_with_path(
        &self,
        lang: Language,
        before: &str,
        suggestion: &str,
        after: &str,
        path: &Path,
    ) -> Vec<Finding> {
        self.suggestion(lang, before, suggestion, after, is_test_path(path))
    }

    fn suggestion(
        &self,
        lang: Language,
        before: &str,
        suggestion: &str,
        after: &str,
        test_file: bool,
    ) -> Vec<Finding> {
        let full = format!("{before}{suggestion}{after}");
        let (s0, s1) = (before.len(), before.len() + suggestion.len());
        let mut out = Vec::new();
        let Some(tree) = parse(lang, &full) else {
            return out;
        };
        let found = self.check_parsed(lang, &full, &tree, s0..s1, test_file);
        let mut base: Option<Vec<Finding>> = None;
        for f in found {
            if f.end_byte <= s0 || f.start_byte >= s1 {
                // Outside, unless the suggestion is empty and the finding sits at the cursor.
                if !(suggestion.is_empty() && f.start_byte <= s0 && s0 <= f.end_byte) {
                    continue;
                }
            }
            let straddles = f.start_byte < s0 || f.end_byte > s1;
            if straddles {
                let base = base.get_or_insert_with(|| {
                    let joined = format!("{before}{after}");
                    self.check_range(
                        lang,
                        &joined,
                        s0.saturating_sub(1)..(s0 + 1).min(joined.len()),
                        test_file,
                    )
                });
                if base
                    .iter()
                    .any(|b| b.rule_id == f.rule_id && b.start_byte <= s0 && s0 <= b.end_byte)
                {
                    continue;
                }
            }
            out.push(relocate(f, s0, suggestion));
        }
        if self.config.syntax {
            out.extend(syntax_check::syntax_regression_in(
                lang, &tree, before, suggestion, after,
            ));
        }
        if let Some(corpus) = &self.config.corpus {
            out.extend(licence_findings(corpus, lang, suggestion));
        }
        self.finish(out)
    }

    fn check_range(
        &self,
        lang: Language,
        code: &str,
        range: std::ops::Range<usize>,
        test_file: bool,
    ) -> Vec<Finding> {
        match parse(lang, code) {
            Some(tree) => self.check_parsed(lang, code, &tree, range, test_file),
            None => Vec::new(),
        }
    }

    fn check_parsed(
        &self,
        lang: Language,
        code: &str,
        tree: &nib_syntax::tree_sitter::Tree,
        range: std::ops::Range<usize>,
        test_file: bool,
    ) -> Vec<Finding> {
        // Fragments: close dangling brackets when that parses better.
        if tree.root_node().has_error() {
            if let Some(rep) = repair::repair(lang, code) {
                if let Some(rtree) = parse(lang, &rep.text) {
                    if error_cost(&rtree) < error_cost(tree) {
                        let rrange = rep.to_repaired(range.start)..rep.to_repaired(range.end);
                        let found = self.check_tree(lang, &rtree, &rep.text, rrange, test_file);
                        return found
                            .into_iter()
                            .map(|mut f| {
                                f.start_byte = rep.to_original(f.start_byte);
                                f.end_byte = rep.to_original(f.end_byte).max(f.start_byte);
                                f.start = point_of(code, f.start_byte);
                                f.end = point_of(code, f.end_byte);
                                f
                            })
                            .collect();
                    }
                }
            }
        }
        self.check_tree(lang, tree, code, range, test_file)
    }

    fn check_tree(
        &self,
        lang: Language,
        tree: &nib_syntax::tree_sitter::Tree,
        code: &str,
        range: std::ops::Range<usize>,
        test_file: bool,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.config.no_security {
            out.extend(rules::run(
                &self.rules,
                lang,
                tree,
                code,
                range.clone(),
                &self.config.disabled_rules,
                test_file,
            ));
        }
        if let Some(env) = &self.config.environment {
            out.extend(
                unknown_api::check(env, lang, tree, code)
                    .into_iter()
                    .filter(|f| f.end_byte > range.start && f.start_byte < range.end)
                    .filter(|f| !self.config.disabled_rules.contains(&f.rule_id)),
            );
        }
        out
    }

    fn finish(&self, mut out: Vec<Finding>) -> Vec<Finding> {
        if let Some(min) = self.config.min_severity {
            out.retain(|f| f.severity >= min);
        }
        out.retain(|f| !self.config.disabled_rules.contains(&f.rule_id));
        out.sort_by(|a, b| {
            (a.start_byte, a.end_byte, &a.rule_id).cmp(&(b.start_byte, b.end_byte, &b.rule_id))
        });
        out
    }
}

/// How broken a tree is: bytes covered by ERROR nodes, then the number of ERROR/MISSING nodes.
fn error_cost(tree: &nib_syntax::tree_sitter::Tree) -> (usize, usize) {
    let errors = error_ranges(tree);
    (errors.iter().map(|(a, b)| b - a).sum(), errors.len())
}

/// Clip `f` (offsets in the spliced text) to the suggestion starting at `s0`.
fn relocate(mut f: Finding, s0: usize, suggestion: &str) -> Finding {
    let clip = |b: usize| b.saturating_sub(s0).min(suggestion.len());
    f.start_byte = clip(f.start_byte);
    f.end_byte = clip(f.end_byte).max(f.start_byte);
    f.start = point_of(suggestion, f.start_byte);
    f.end = point_of(suggestion, f.end_byte);
    f
}

fn licence_findings(corpus: &Corpus, lang: Language, code: &str) -> Vec<Finding> {
    corpus
        .matches(lang, code)
        .into_iter()
        .map(|m| Finding {
            rule_id: LICENCE_RULE.to_string(),
            cwe: None,
            severity: Severity::High,
            message: format!(
                "{} tokens in a row match `{}` ({}-licensed)",
                m.longest_run, m.path, m.licence
            ),
            fix_hint:
                "Do not accept this code unless its licence is compatible; rewrite it independently"
                    .into(),
            start_byte: m.start_byte,
            end_byte: m.end_byte,
            start: point_of(code, m.start_byte),
            end: point_of(code, m.end_byte),
            category: Category::Licence,
        })
        .collect()
}
