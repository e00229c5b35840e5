//! What a request's output may be: when generation stops, how an output is post-processed,
//! when it is rejected, and how an output cut by the deadline is trimmed.
//!
//! Invariants:
//! - The stop rule and post-processing judge the same text: the output restored with the heal
//!   it was generated with ([`crate::heal::Heal::restore`]).
//! - A raw request (evaluation) stops at the output cap or the end of generation only, and its
//!   output is restored but not post-processed.
//! - An output cut by the deadline keeps whole lines (multi-line) or whole words only.

use std::sync::Arc;

use nib_engine::{StopReason, StopRules};
use nib_postprocess::{DropReason, Input, Mode, Output};

use crate::heal::Heal;
use crate::IdeConfig;

/// How far a single-line output may go when the layout may need a few more lines (a Python
/// header's body), relative to the single-line cap.
const EXTENDED_SINGLE_LINE_FACTOR: usize = 2;

/// The bounds and post-processing of one request's outputs.
pub(crate) struct Shape {
    pub lang: Option<nib_syntax::Language>,
    /// Document text before the cursor in the window, and after it.
    prefix: Arc<String>,
    suffix: Arc<String>,
    pub mode: Mode,
    /// No post-processing (evaluation of the model's own output).
    pub raw: bool,
    /// (Python, a new line) a single-line suggestion may need a few more lines to leave the
    /// layout whole: post-processing, not the first line break, decides where it stops.
    extend: bool,
    pub max_tokens: usize,
}

impl Shape {
    /// `max_tokens` overrides the configured output cap.
    pub fn new(
        lang: Option<nib_syntax::Language>,
        prefix: &str,
        suffix: &str,
        mode: Mode,
        raw: bool,
        max_tokens: Option<usize>,
        config: &IdeConfig,
    ) -> Shape {
        let extend = !raw && nib_postprocess::may_extend(lang, prefix, suffix, mode);
        let max_tokens = max_tokens.unwrap_or(match mode {
            Mode::SingleLine if extend => {
                config.max_tokens_single_line * EXTENDED_SINGLE_LINE_FACTOR
            }
            Mode::SingleLine if !raw => config.max_tokens_single_line,
            _ => config.max_tokens,
        });
        Shape {
            lang,
            prefix: Arc::new(prefix.to_string()),
            suffix: Arc::new(suffix.to_string()),
            mode,
            raw,
            extend,
            max_tokens,
        }
    }

    fn input<'a>(&'a self, raw: &'a str) -> Input<'a> {
        Input {
            lang: self.lang,
            prefix: &self.prefix,
            suffix: &self.suffix,
            raw,
            mode: self.mode,
        }
    }

    /// When the engine stops generating an output healed with `heal`.
    pub fn stop_rules(&self, heal: &Heal) -> StopRules {
        if self.raw {
            return StopRules {
                max_tokens: self.max_tokens,
                ..StopRules::default()
            };
        }
        let (lang, prefix, suffix, mode) = (
            self.lang,
            Arc::clone(&self.prefix),
            Arc::clone(&self.suffix),
            self.mode,
        );
        let heal = heal.clone();
        StopRules {
            max_tokens: self.max_tokens,
            stop_at_newline: self.mode == Mode::SingleLine && !self.extend,
            stop_strings: Vec::new(),
            should_stop: Some(Arc::new(move |text: &str| {
                let text = heal.restore(text);
                nib_postprocess::should_stop(&Input {
                    lang,
                    prefix: &prefix,
                    suffix: &suffix,
                    raw: &text,
                    mode,
                })
            })),
        }
    }

    /// The suggestion an output generated with `heal` makes.
    pub fn process(&self, raw: &str, heal: &Heal) -> Output {
        let raw = heal.restore(raw);
        if self.raw {
            Output {
                text: raw,
                dropped: None,
            }
        } else {
            nib_postprocess::process(&self.input(&raw))
        }
    }

    /// A suggestion worth another candidate: dropped for a reason other than being empty,
    /// code that exists further down, or an exit that makes the code below unreachable.
    pub fn rejected(&self, o: &Output) -> bool {
        let input = self.input("");
        nib_postprocess::repeats_later_line(&input, &o.text)
            || nib_postprocess::makes_code_unreachable(&input, &o.text)
            || o.dropped.is_some_and(|d| d != DropReason::Empty)
    }

    /// Trim a suggestion whose generation ended with `stop`: cut short by the deadline, keep
    /// whole lines (multi-line) or whole words only; what is left is dropped when it is
    /// noise (only a comment, only closers the suffix has).
    pub fn cut_at_deadline(&self, out: &mut Output, stop: StopReason) {
        if stop != StopReason::Deadline {
            return;
        }
        self.cut(out);
        if !self.raw && out.dropped.is_none() && !out.text.is_empty() {
            if let Some(reason) = nib_postprocess::noise(&self.input(""), &mut out.text) {
                out.text.clear();
                out.dropped = Some(reason);
            }
        }
    }

    fn cut(&self, out: &mut Output) {
        if self.mode == Mode::MultiLine && out.text.trim_end().contains('\n') {
            let keep = out.text.trim_end().rfind('\n').unwrap_or(0);
            out.text.truncate(keep);
            out.text.truncate(out.text.trim_end().len());
        } else if !out.text.is_empty() {
            let keep = out
                .text
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            out.text.truncate(keep);
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn suffix(&self) -> &str {
        &self.suffix
    }
}

/// A mode's name in a [`crate::Completion`].
pub(crate) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::SingleLine => "single_line",
        Mode::MultiLine => "multi_line",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(prefix: &str, suffix: &str, mode: Mode) -> Shape {
        let config = IdeConfig::default();
        Shape::new(
            Some(nib_syntax::Language::Python),
            prefix,
            suffix,
            mode,
            false,
            None,
            &config,
        )
    }

    fn cut(shape: &Shape, text: &str, stop: StopReason) -> Output {
        let mut out = Output {
            text: text.into(),
            dropped: None,
        };
        shape.cut_at_deadline(&mut out, stop);
        out
    }

    #[test]
    fn what_the_deadline_leaves_is_judged_again() {
        let s = shape("if x:\n    a = 1\nelse:", "\n", Mode::MultiLine);
        let out = cut(&s, "  # EOF\n    pas", StopReason::Deadline);
        assert_eq!(out.text, "");
        assert_eq!(out.dropped, Some(DropReason::OnlyWhitespaceOrComment));
        // Not cut: untouched.
        assert_eq!(
            cut(&s, "  # EOF\n    pas", StopReason::EndOfGeneration).text,
            "  # EOF\n    pas"
        );
        let s = shape("total = compute(a, ", ")\n", Mode::SingleLine);
        let out = cut(&s, "b) + c", StopReason::Deadline);
        assert_eq!(out.text, "b) + ");
        assert_eq!(out.dropped, None);
    }
}
