//! Further candidates after a rejected first one.
//!
//! When post-processing rejects the greedy output (dropped, code that exists further down, an
//! exit that makes the code below unreachable; see [`crate::output::Shape::rejected`]), the
//! engine is asked for another candidate:
//! - a statement where the layout needs a block header (the next line is deeper): the prompt
//!   is healed again to the header's indentation and the first word must be a block keyword;
//! - otherwise, first, the second most likely first token (often the same code at another
//!   indentation);
//! - then any start that does not lead back into a text already rejected.
//!
//! Invariants:
//! - Only for a post-processed request without alternatives whose first output ended
//!   normally (not cut by the deadline, not cancelled).
//! - At most [`MAX_RETRIES`] further candidates without a deadline and one with a deadline,
//!   each only if the time left covers the first candidate's length again
//!   ([`crate::plan::retry_fits`]).
//! - A candidate replaces the first output only if post-processing keeps something and does
//!   not reject it; otherwise the first output stands.
//! - Background prefill is cancelled before each candidate: nothing queued on the engine may
//!   delay it.

use std::time::Instant;

use nib_engine::{CompletionEngine, GenerateRequest, Generation, PromptFormat, StopReason};
use nib_postprocess::{DropReason, Output};

use crate::heal::{heal, Heal};
use crate::output::Shape;
use crate::prompt::Prepared;
use crate::{Ide, IdeError};

/// Further candidates for a request without a deadline (an explicit one). One with a
/// deadline: a second one would spend the rest of the budget more often, and the next
/// keystroke's request waits for it.
const MAX_RETRIES: usize = 2;
const MAX_RETRIES_WITH_DEADLINE: usize = 1;

/// Words that start a Python block header (a header retry's first word is one of them).
const PY_BLOCK_KEYWORDS: &[&str] = &[
    "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class",
    "async",
];

/// What further candidates are asked and judged with.
pub(crate) struct Retry<'a> {
    pub engine: &'a dyn CompletionEngine,
    pub format: &'a PromptFormat,
    pub prep: &'a Prepared,
    pub shape: &'a Shape,
    /// The first candidate's request (prompt, stop rules, deadline, slot).
    pub first: &'a GenerateRequest,
}

impl Ide {
    /// Ask for further candidates while `out` (post-processed from `generation`) is rejected;
    /// the first accepted one replaces `out` and `generation`'s text, tokens and stop reason.
    pub(crate) fn retry_rejected(
        &self,
        r: &Retry<'_>,
        out: &mut Output,
        generation: &mut Generation,
    ) -> Result<(), IdeError> {
        let may_retry = !r.shape.raw
            && r.first.alternatives == 0
            && matches!(
                generation.stop_reason,
                StopReason::Newline
                    | StopReason::EndOfGeneration
                    | StopReason::Caller
                    | StopReason::Doubt
                    | StopReason::MaxTokens
            );
        let time_left = |tokens: usize| {
            r.first.deadline.is_none_or(|d| {
                let left = d.saturating_duration_since(Instant::now());
                crate::plan::retry_fits(left, tokens, r.engine.throughput())
            })
        };
        let max_retries = if r.first.deadline.is_some() {
            MAX_RETRIES_WITH_DEADLINE
        } else {
            MAX_RETRIES
        };
        let mut avoid = vec![generation.text.clone()];
        for attempt in 0..max_retries {
            if !(may_retry && r.shape.rejected(out) && time_left(generation.tokens.len())) {
                break;
            }
            self.cancel_background();
            let mut again = r.first.clone();
            // A further candidate is generated whole: the output it replaces was rejected, and
            // where the model doubts is judged on the output kept.
            again.stop.doubt = None;
            let healed = (attempt == 0 && out.dropped == Some(DropReason::BreaksIndentation))
                .then(|| header_heal(r))
                .flatten();
            match &healed {
                Some(h) => {
                    let mut parts = r.prep.parts.clone();
                    parts.middle_start = h.middle.clone();
                    again.prompt = r.format.render(&parts);
                    let mut forced = h.forced.clone();
                    if forced.then_non_blank {
                        forced.then_one_of =
                            PY_BLOCK_KEYWORDS.iter().map(|w| w.to_string()).collect();
                    }
                    again.forced = Some(forced);
                    again.stop = r.shape.stop_rules(h);
                }
                None if attempt == 0 => again.first_rank = 1,
                None => again.avoid = avoid.clone(),
            }
            let next = r
                .engine
                .generate(again)
                .map_err(|e| IdeError::Engine(e.to_string()))?;
            if next.stop_reason == StopReason::Cancelled {
                return Err(IdeError::Cancelled);
            }
            let o = r
                .shape
                .process(&next.text, healed.as_ref().unwrap_or(&r.prep.heal));
            tracing::debug!(first = %out.text, dropped = ?out.dropped, again_raw = %next.text, again = %o.text, again_dropped = ?o.dropped, "another candidate");
            if healed.is_none() {
                avoid.push(next.text.clone());
            }
            if !o.text.is_empty() && !r.shape.rejected(&o) {
                *out = o;
                generation.text = next.text;
                generation.tokens = next.tokens;
                generation.stop_reason = next.stop_reason;
                break;
            }
        }
        Ok(())
    }
}

/// The prompt's end healed to the indentation of the block header the next line needs, when
/// that changes the first heal.
fn header_heal(r: &Retry<'_>) -> Option<Heal> {
    let (lang, prep) = (r.shape.lang, r.prep);
    let indent = nib_postprocess::header_indent(lang, &prep.prefix, &prep.suffix)?;
    let h = heal(
        lang,
        &prep.prefix,
        &prep.suffix,
        r.shape.mode,
        &prep.typed,
        Some(indent),
    );
    (h.extra != prep.heal.extra || h.forced.then_non_blank).then_some(h)
}
