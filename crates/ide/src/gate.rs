//! The safety gate: every suggestion is checked (security rules, unknown APIs, licence
//! similarity, syntax regressions) before it is shown; whole documents get diagnostics.

use std::sync::{Arc, OnceLock};

use nib_checks::{CheckConfig, Checker, Finding, Severity};
use nib_syntax::Language;

/// What happens to a suggestion with a high or critical finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GatePolicy {
    /// It is not shown.
    #[default]
    Drop,
    /// It is shown with its findings.
    Warn,
    /// Suggestions are not checked.
    Off,
}

impl GatePolicy {
    pub fn parse(s: &str) -> Option<GatePolicy> {
        match s {
            "drop" => Some(GatePolicy::Drop),
            "warn" => Some(GatePolicy::Warn),
            "off" => Some(GatePolicy::Off),
            _ => None,
        }
    }
}

/// Checkers for suggestions and for whole documents, built once (compiling the rule queries
/// takes ~100 ms) and replaced when the environment becomes known.
#[derive(Default)]
pub(crate) struct Gate {
    suggestions: std::sync::Mutex<Option<Arc<Checker>>>,
    documents: OnceLock<Checker>,
}

impl Gate {
    pub fn set(&self, checker: Checker) {
        *crate::lock(&self.suggestions) = Some(Arc::new(checker));
    }

    fn suggestion_checker(&self) -> Arc<Checker> {
        let mut c = crate::lock(&self.suggestions);
        Arc::clone(c.get_or_insert_with(|| Arc::new(Checker::new(CheckConfig::standard()))))
    }

    /// Findings located in `suggestion` when inserted between `before` and `after`.
    pub fn check_suggestion(
        &self,
        lang: Option<Language>,
        before: &str,
        suggestion: &str,
        after: &str,
    ) -> Vec<Finding> {
        match lang {
            Some(lang) if !suggestion.trim().is_empty() => self
                .suggestion_checker()
                .check_suggestion(lang, before, suggestion, after),
            _ => Vec::new(),
        }
    }

    /// Security findings of a whole document (no syntax or unknown-API noise: other tools
    /// report those for files the user wrote).
    pub fn check_document(&self, lang: Language, uri: &str, text: &str) -> Vec<Finding> {
        let path = std::path::Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        self.document_checker().check_with_path(lang, text, path)
    }

    /// [`Gate::check_document`]'s findings inside `range`, on the document's own tree; `None`
    /// when only a whole-document check can tell.
    pub fn check_document_range(
        &self,
        lang: Language,
        uri: &str,
        text: &str,
        tree: &nib_syntax::tree_sitter::Tree,
        range: std::ops::Range<usize>,
    ) -> Option<Vec<Finding>> {
        let path = std::path::Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        self.document_checker()
            .check_tree_range(lang, text, tree, range, path)
    }

    fn document_checker(&self) -> &Checker {
        self.documents
            .get_or_init(|| Checker::new(CheckConfig::default()))
    }
}

pub(crate) fn blocks(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().find(|f| f.severity >= Severity::High)
}
