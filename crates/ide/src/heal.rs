//! Token healing: the prompt must end on a clean token boundary.
//!
//! A prompt that ends inside a token (a partial word, or a trailing blank that BPE glues to
//! the next word) leads the model out of distribution. The text typed since the anchor is
//! therefore split: the prompt's middle ends before the held-back text, and the engine is told
//! to start its output with it ([`nib_engine::Forced`]). Where the layout requires an
//! indentation the user has not typed yet (Python, a new line), that indentation is added to
//! the typed text first, and the output must continue with a non-blank.
//!
//! Invariants:
//! - `middle + held == typed + extra`, and `forced.text == held`.
//! - [`Heal::restore`] turns an output into text after the cursor: `extra`, then the output
//!   without its copy of `held`.
//! - Pure: no IO, no engine.

use nib_postprocess::Mode;

/// Longest partial word held back (a longer one stays in the prompt).
const MAX_HEALED_WORD: usize = 24;

/// The end of the prompt and the constraint on the output's start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Heal {
    /// The prompt's middle: the typed text (with `extra`) less what is held back.
    pub middle: String,
    /// Held back from the prompt; the output is forced to start with it.
    pub held: String,
    /// Indentation the line needs that the user has not typed: in the prompt, and the start
    /// of the suggestion.
    pub extra: String,
    pub forced: nib_engine::Forced,
}

impl Heal {
    /// The text an output stands for after the cursor.
    pub fn restore(&self, raw: &str) -> String {
        format!("{}{}", self.extra, strip_backoff(raw, &self.held))
    }
}

/// Heal the prompt's end for `typed` (the text after the anchor, the end of `prefix`):
/// (Python, a new line) add the indentation the layout requires (or `indent`, when given),
/// then hold back what would end the prompt inside a token.
pub(crate) fn heal(
    lang: Option<nib_syntax::Language>,
    prefix: &str,
    suffix: &str,
    mode: Mode,
    typed: &str,
    indent: Option<String>,
) -> Heal {
    let line = &prefix[prefix.rfind('\n').map_or(0, |i| i + 1)..];
    let indent = indent
        .or_else(|| nib_postprocess::expected_indent(lang, prefix, suffix, mode))
        .filter(|i| i.starts_with(line) && typed.ends_with(line));
    let extra = indent.as_ref().map_or("", |i| &i[line.len()..]);
    let virtual_typed = format!("{typed}{extra}");
    let (middle, held) = split_backoff(&virtual_typed);
    Heal {
        middle: middle.to_string(),
        held: held.to_string(),
        extra: extra.to_string(),
        forced: nib_engine::Forced {
            text: held.to_string(),
            then_non_blank: indent.is_some(),
            then_one_of: Vec::new(),
        },
    }
}

/// Split typed text into what goes into the prompt and what is held back: the last blank of
/// trailing blanks (BPE glues a space, and the last blank of an indentation, to the next
/// word), or else a partial word with the space before it (the prompt would end inside a
/// token).
fn split_backoff(typed: &str) -> (&str, &str) {
    if typed.ends_with([' ', '\t']) {
        return typed.split_at(typed.len() - 1);
    }
    let word = typed.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let len = typed.len() - word.len();
    if len == 0 || len > MAX_HEALED_WORD {
        return (typed, "");
    }
    let start = word.strip_suffix(' ').unwrap_or(word).len();
    typed.split_at(start)
}

/// Remove the held-back text from the start of the output (the engine forces it there; an
/// unconstrained output may start with some of its blanks only).
fn strip_backoff<'a>(raw: &'a str, backoff: &str) -> &'a str {
    if backoff.is_empty() {
        return raw;
    }
    if let Some(rest) = raw.strip_prefix(backoff) {
        return rest;
    }
    let blanks = raw.len() - raw.trim_start_matches([' ', '\t']).len();
    &raw[blanks.min(backoff.len())..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_holds_trailing_blanks_after_code_only() {
        assert_eq!(split_backoff("x = "), ("x =", " "));
        assert_eq!(split_backoff("    "), ("   ", " "));
        assert_eq!(split_backoff("a\n    "), ("a\n   ", " "));
        assert_eq!(split_backoff("foo(a,  "), ("foo(a, ", " "));
        assert_eq!(split_backoff(""), ("", ""));
        assert_eq!(split_backoff("a\n"), ("a\n", ""));
        // A partial word, with the space before it.
        assert_eq!(split_backoff("x = pri"), ("x =", " pri"));
        assert_eq!(split_backoff("self.na"), ("self.", "na"));
        assert_eq!(split_backoff("    ret"), ("   ", " ret"));
        assert_eq!(split_backoff("f(x)"), ("f(x)", ""));
        assert_eq!(strip_backoff(" 5", " "), "5");
        assert_eq!(strip_backoff("5", " "), "5");
        assert_eq!(strip_backoff("   5", " "), "  5");
        assert_eq!(strip_backoff("x", ""), "x");
    }

    #[test]
    fn healing_adds_the_indentation_the_layout_requires() {
        let py = Some(nib_syntax::Language::Python);
        let h = heal(py, "for x in xs:\n", "", Mode::MultiLine, "", None);
        assert_eq!(
            (h.middle.as_str(), h.held.as_str(), h.extra.as_str()),
            ("   ", " ", "    ")
        );
        assert!(h.forced.then_non_blank);
        let h = heal(py, "for x in xs:\n  ", "", Mode::MultiLine, "  ", None);
        assert_eq!(
            (h.middle.as_str(), h.held.as_str(), h.extra.as_str()),
            ("   ", " ", "  ")
        );
        // Open layout, or code before the cursor: only the held-back text.
        let h = heal(py, "x = 1\n", "y = 2\n", Mode::SingleLine, "", None);
        assert_eq!(
            (h.middle.as_str(), h.held.as_str(), h.extra.as_str()),
            ("", "", "")
        );
        assert!(!h.forced.then_non_blank);
        let h = heal(
            py,
            "if x:\n    y = pri",
            "",
            Mode::SingleLine,
            "    y = pri",
            None,
        );
        assert_eq!((h.middle.as_str(), h.held.as_str()), ("    y =", " pri"));
        assert!(!h.forced.then_non_blank);
    }

    #[test]
    fn restoring_puts_the_indentation_before_the_output_without_its_held_copy() {
        let py = Some(nib_syntax::Language::Python);
        let h = heal(py, "for x in xs:\n", "", Mode::MultiLine, "", None);
        assert_eq!(h.restore(" print(x)"), "    print(x)");
        // The user typed `pri`: what the output adds after the cursor.
        let h = heal(py, "x = pri", "", Mode::SingleLine, "x = pri", None);
        assert_eq!(h.restore(" print(1)"), "nt(1)");
        // The invariant: the middle and the held text are the typed text and the extra.
        for (prefix, typed) in [("for x in xs:\n  ", "  "), ("y = self.na", "y = self.na")] {
            let h = heal(py, prefix, "", Mode::MultiLine, typed, None);
            assert_eq!(
                format!("{}{}", h.middle, h.held),
                format!("{typed}{}", h.extra)
            );
            assert_eq!(h.forced.text, h.held);
        }
    }
}
