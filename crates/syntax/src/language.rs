use std::path::Path;

/// A language nib knows a grammar for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    Rust,
}

impl Language {
    pub const ALL: &'static [Language] = &[Language::Python, Language::Rust];

    /// From an LSP `languageId` (`python`, `rust`).
    pub fn from_language_id(id: &str) -> Option<Language> {
        match id.to_ascii_lowercase().as_str() {
            "python" | "py" => Language::enabled(Language::Python),
            "rust" | "rs" => Language::enabled(Language::Rust),
            _ => None,
        }
    }

    /// From a file path's extension.
    pub fn from_path(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" | "pyi" => Language::enabled(Language::Python),
            "rs" => Language::enabled(Language::Rust),
            _ => None,
        }
    }

    /// Either the language id, or failing that the path's extension.
    pub fn detect(language_id: Option<&str>, path: &str) -> Option<Language> {
        language_id
            .and_then(Language::from_language_id)
            .or_else(|| Language::from_path(Path::new(path)))
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Rust => "rust",
        }
    }

    /// The line-comment leader, used to label context pieces in plain prompts.
    pub fn line_comment(self) -> &'static str {
        match self {
            Language::Python => "#",
            Language::Rust => "//",
        }
    }

    fn enabled(lang: Language) -> Option<Language> {
        lang.grammar().map(|_| lang)
    }

    /// The tree-sitter grammar, `None` when its cargo feature is off.
    pub fn grammar(self) -> Option<tree_sitter::Language> {
        match self {
            #[cfg(feature = "python")]
            Language::Python => Some(tree_sitter_python::LANGUAGE.into()),
            #[cfg(feature = "rust")]
            Language::Rust => Some(tree_sitter_rust::LANGUAGE.into()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_from_id_and_path() {
        assert_eq!(
            Language::detect(Some("python"), "x.txt"),
            Some(Language::Python)
        );
        assert_eq!(Language::detect(None, "/a/b/lib.rs"), Some(Language::Rust));
        assert_eq!(
            Language::detect(Some("plaintext"), "a.py"),
            Some(Language::Python)
        );
        assert_eq!(Language::detect(Some("go"), "main.go"), None);
    }
}
