//! What a request's output may be: when generation stops, how an output is post-processed,
//! when it is rejected, and how an output cut by the deadline is trimmed.
//!
//! Invariants:
//! - The stop rule and post-processing judge the same text: the output restored with the heal
//!   it was generated with ([`crate::heal::Heal::restore`]).
//! - A raw request (evaluation) stops at the output cap or the end of generation only, and its
//!   output is restored but not post-processed.
//! - An output cut by the deadline keeps whole lines (multi-line) or whole words only.
//! - An output cut where the model doubts ([`doubt_cut`]) keeps what comes before its first
//!   unlikely token, less a word that token would finish, and is post-processed as if the
//!   generation had stopped there; never before the held-back text or to nothing. A cut
//!   post-processing drops (an unfinished expression: `path.`, `a or`) leaves the output whole.
//!   Generation stops at that token when the cut there is kept ([`Shape::doubt_stop`]): the
//!   engine and the cut judge the same tokens with the same functions. An output so cut is not
//!   trimmed again for the deadline: it ends where it should.

use std::sync::Arc;

use nib_engine::{DoubtStop, GeneratedToken, StopReason, StopRules};
use nib_postprocess::{DropReason, Input, Mode, Output};

use crate::heal::Heal;
use crate::IdeConfig;

/// How far a single-line output may go when the layout may need a few more lines (a Python
/// header's body), relative to the single-line cap.
const EXTENDED_SINGLE_LINE_FACTOR: usize = 2;

/// The bounds and post-processing of one request's outputs.
#[derive(Clone)]
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
            doubt: None,
        }
    }

    /// Stop generating at the first token the model gives a log-probability under `min`
    /// when the output cut there ([`doubt_cut`], [`Shape::cut_at`]) is worth showing: what
    /// follows would be cut off anyway.
    pub fn doubt_stop(&self, heal: &Heal, min: f32) -> DoubtStop {
        let (shape, heal) = (self.clone(), heal.clone());
        let held = heal.held.len();
        DoubtStop {
            min_logprob: min,
            after_bytes: held,
            accept: Arc::new(move |tokens: &[GeneratedToken]| {
                let Some(at) = doubt_cut(tokens, held, min) else {
                    return false;
                };
                let raw: String = tokens.iter().map(|t| t.text.as_str()).collect();
                raw.is_char_boundary(at) && shape.cut_at(&raw, at, &heal).is_some()
            }),
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

    /// The suggestion an output makes if it ends at raw byte `at` (see [`doubt_cut`]): `None`
    /// when that leaves nothing worth showing.
    pub fn cut_at(&self, raw: &str, at: usize, heal: &Heal) -> Option<Output> {
        let mut out = self.process(&raw[..at], heal);
        if out.dropped.is_some() || out.text.trim().is_empty() {
            return None;
        }
        if nib_postprocess::noise(&self.input(""), &mut out.text).is_some() {
            return None;
        }
        Some(out)
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

/// Where the model starts to doubt an output: the raw byte offset of its first token with a
/// log-probability under `min_logprob`, moved back to the start of a word that token would
/// finish (`compute` + `_total`: the cut goes before `compute`). `None` when no token is that
/// unlikely, or when the cut would keep nothing of the output past `held` (the held-back
/// text the output was forced to start with): a suggestion is trimmed, never emptied.
pub(crate) fn doubt_cut(tokens: &[GeneratedToken], held: usize, min_logprob: f32) -> Option<usize> {
    let raw: String = tokens.iter().map(|t| t.text.as_str()).collect();
    let mut start = 0;
    let mut at = None;
    for t in tokens {
        if start >= held && t.logprob < min_logprob {
            at = Some(start);
            break;
        }
        start += t.text.len();
    }
    let mut at = at?;
    let word = |c: char| c.is_alphanumeric() || c == '_';
    if raw[at..].starts_with(word) {
        at = raw[..at].trim_end_matches(word).len();
    }
    (at > held && !raw[held..at].trim().is_empty()).then_some(at)
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

    fn tokens(spec: &[(&str, f32)]) -> Vec<nib_engine::GeneratedToken> {
        spec.iter()
            .map(|&(text, logprob)| nib_engine::GeneratedToken {
                text: text.into(),
                logprob,
            })
            .collect()
    }

    #[test]
    fn the_cut_goes_before_the_first_unlikely_token_and_its_word() {
        let sure = -0.1;
        let doubt = -3.0;
        let t = tokens(&[
            ("total", sure),
            (" +=", sure),
            (" item", sure),
            (".price", doubt),
        ]);
        assert_eq!(doubt_cut(&t, 0, -2.0), Some("total += item".len()));
        // A token that finishes a word takes the word with it.
        let t = tokens(&[("x", sure), (" = compute", sure), ("_total", doubt)]);
        assert_eq!(doubt_cut(&t, 0, -2.0), Some("x = ".len()));
        // No unlikely token, or the threshold below every token: no cut.
        assert_eq!(doubt_cut(&t, 0, -5.0), None);
        let t = tokens(&[("x", sure), (" = 1", sure)]);
        assert_eq!(doubt_cut(&t, 0, -2.0), None);
    }

    #[test]
    fn the_cut_never_empties_the_suggestion() {
        let t = tokens(&[("compute", -3.0), ("_total", -0.1)]);
        assert_eq!(doubt_cut(&t, 0, -2.0), None, "the first token is unlikely");
        let t = tokens(&[("   ", -0.1), ("x", -3.0)]);
        assert_eq!(doubt_cut(&t, 0, -2.0), None, "only blanks before it");
        // The held-back text is forced, whatever its probability: a cut keeps more than it.
        let t = tokens(&[(" pri", -9.0), ("nt", -3.0), ("(x)", -0.1)]);
        assert_eq!(
            doubt_cut(&t, 4, -2.0),
            None,
            "the word started in the held text"
        );
        let t = tokens(&[(" pri", -9.0), ("nt", -0.1), ("(x", -0.1), (")", -3.0)]);
        assert_eq!(doubt_cut(&t, 4, -2.0), Some(" print(x".len()));
    }
}
