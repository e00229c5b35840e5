//! The plain data types every check produces.

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity named `name` (as [`Severity::as_str`] spells it).
    pub fn from_name(name: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Security,
    UnknownApi,
    Licence,
    Syntax,
}

/// One problem found in a piece of code. Byte offsets and (row, byte column) points are
/// relative to the text that was checked (for suggestions: the suggestion itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub cwe: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub fix_hint: String,
    pub start_byte: usize,
    pub end_byte: usize,
    pub start: (usize, usize),
    pub end: (usize, usize),
    pub category: Category,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_and_serialises_lowercase() {
        assert!(Severity::Info < Severity::Low && Severity::Low < Severity::Medium);
        assert!(Severity::Medium < Severity::High && Severity::High < Severity::Critical);
        assert_eq!(serde_json::to_string(&Severity::High).unwrap(), "\"high\"");
        assert_eq!(
            serde_json::from_str::<Severity>("\"critical\"").unwrap(),
            Severity::Critical
        );
        assert_eq!(
            serde_json::to_string(&Category::UnknownApi).unwrap(),
            "\"unknown-api\""
        );
        assert_eq!(Severity::from_name("medium"), Some(Severity::Medium));
        assert_eq!(Severity::from_name("Medium"), None);
    }
}
