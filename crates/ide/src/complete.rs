//! The inline-completion path: snapshot -> (caches) -> anchored prompt -> engine ->
//! post-processing.
//!
//! Prompt layout and KV-cache reuse: the prompt is `PRE prefix SUF suffix MID typed`, where
//! `prefix` ends at an *anchor* (the start of the line where the user started typing) and
//! `typed` is what was typed since. While the user types, the anchor stays put, so each request
//! only appends the newly typed tokens to what the engine's cache already holds. The anchor
//! moves (and the context is read again) when the user jumps elsewhere, edits before it, or has
//! typed a lot since; the window start then moves only in large steps.

use std::sync::Arc;
use std::time::Instant;

use nib_context::{cursor_window, cursor_window_scoped, Report, WindowConfig};
use nib_engine::{
    CancelToken, CompletionEngine, FimParts, GenerateRequest, Slot, StopReason, StopRules,
};
use nib_postprocess::{Input, Mode};
use nib_text::{Document, OffsetEncoding, Position, Range};

use crate::session::{Anchor, Shown, SmallWindow};
use crate::{lock, Ide, IdeConfig, IdeError, Snapshot};

/// Why the completion was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// While typing: fast, single suggestion, within the deadline.
    #[default]
    Automatic,
    /// Explicitly asked for by the user: alternatives, no deadline.
    Invoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionRequest {
    pub position: Position,
    pub encoding: OffsetEncoding,
    pub trigger: Trigger,
    /// Evaluation only: return the model's output as generated (end-of-generation and
    /// max-tokens stops only, no post-processing), to measure what post-processing adds.
    pub raw: bool,
}

impl CompletionRequest {
    pub fn new(
        position: Position,
        encoding: OffsetEncoding,
        trigger: Trigger,
    ) -> CompletionRequest {
        CompletionRequest {
            position,
            encoding,
            trigger,
            raw: false,
        }
    }
}

/// Alternatives generated for an explicit request (besides the main suggestion).
const INVOKED_ALTERNATIVES: usize = 3;
/// Typed text after the anchor beyond which the anchor moves.
const MAX_TYPED_BYTES: usize = 1500;
const MAX_TYPED_LINES: usize = 40;
/// Further candidates after a rejected greedy line for a request without a deadline (an
/// explicit one); a request with a deadline gets one, and only if the deadline leaves time.
const MAX_RETRIES: usize = 2;
/// Part of the budget kept for what follows generation (post-processing, gate, reply).
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(25);
/// Anchors remembered per document.
const MAX_ANCHORS: usize = 3;
/// Size bounds of a new small window for the scratch slot, in tokens.
const MIN_SMALL_TOKENS: usize = 48;
const MAX_SMALL_TOKENS: usize = 512;
/// Main-slot tokens below which there is no context worth protecting from a prefill.
const NOTHING_CACHED: usize = 64;
/// The pinned window start is kept while the prefix stays under budget times this.
const WINDOW_SLACK: f64 = 1.25;
/// A fresh window fills this share of the prefix budget, leaving room to grow.
const FRESH_WINDOW_SHARE: f64 = 0.8;
/// Bytes of document text looked at on each side before token counting (bounds work on huge files).
const BYTES_PER_TOKEN_BOUND: usize = 16;

/// A suggestion, and how it was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Completion {
    /// What to insert at `range` ("" when there is nothing worth showing).
    pub text: String,
    /// The range the text replaces, in the request's encoding (empty: insert at the cursor).
    pub range: Range,
    /// The document version the completion was computed against.
    pub version: i32,
    pub mode: &'static str,
    /// From the log-probabilities of the kept tokens: low, medium or high.
    pub confidence: &'static str,
    /// Sum, mean and lowest log-probability of the kept tokens (what `confidence` buckets;
    /// for calibration). `None` without model tokens (a cache answer, nothing kept).
    pub logprob_sum: Option<f32>,
    pub logprob_mean: Option<f32>,
    pub logprob_min: Option<f32>,
    /// Other distinct suggestions (explicit requests only), best first; at most 2.
    pub alternatives: Vec<String>,
    pub latency_ms: f64,
    pub prompt_tokens: usize,
    pub reused_tokens: usize,
    /// Prompt tokens evaluated for this request.
    pub prefilled_tokens: usize,
    pub generated_tokens: usize,
    pub stop_reason: StopReason,
    /// Answered from a cache (`typeahead`, `lru`) without the model.
    pub cache: Option<&'static str>,
    /// The context was shrunk to meet the deadline (the full context is prefilled afterwards).
    pub shrunk: bool,
    /// The model's output before post-processing.
    pub raw: String,
    /// Why post-processing or the safety gate dropped the output, if one did.
    pub dropped: Option<String>,
    /// What the safety gate found in the suggestion (offsets relative to `text`).
    pub findings: Vec<nib_checks::Finding>,
    pub context: Report,
    /// The repository context in the prompt: what was included and dropped.
    pub repo_context: Option<nib_context::repo::RepoReport>,
    pub model: String,
}

/// Who runs the completion path: each purpose has its own in-flight request per document (a
/// newer one cancels the older one of the same purpose; an edit cancels both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    Completion,
    CodeAction,
}

/// How a caller other than inline completion bends the path (defaults: inline completion).
#[derive(Debug, Clone)]
pub(crate) struct PathOptions {
    pub purpose: Purpose,
    /// Force single- or multi-line instead of deciding from the cursor.
    pub mode: Option<Mode>,
    /// Output cap instead of the configured one.
    pub max_tokens: Option<usize>,
    /// Alternatives of an invoked request instead of [`INVOKED_ALTERNATIVES`].
    pub alternatives: Option<usize>,
    /// Feed the typeahead cache and the LRU with the result.
    pub remember: bool,
}

impl PathOptions {
    fn inline() -> PathOptions {
        PathOptions {
            purpose: Purpose::Completion,
            mode: None,
            max_tokens: None,
            alternatives: None,
            remember: true,
        }
    }
}

/// A completion, and the safety gate's reason when it dropped the output.
pub(crate) struct Generated {
    pub completion: Completion,
    pub gate_dropped: Option<String>,
}

/// Everything a request sends to the model, computed from a snapshot and a cursor.
struct Prepared {
    prompt: String,
    /// Real document text before the cursor in the window (for post-processing).
    prefix: String,
    suffix: String,
    mode: Mode,
    /// Text held back from the prompt's end (a trailing blank or a partial word: a clean
    /// token boundary); the output is forced to start with it and that copy is removed.
    backoff: String,
    /// Indentation the line needs (the layout decides it) that the user has not typed: it is
    /// in the prompt and starts the suggestion.
    extra: String,
    /// What the output must start with: the backoff, and whether a non-blank must follow.
    forced: nib_engine::Forced,
    report: Report,
    repo_report: Option<nib_context::repo::RepoReport>,
    /// Requests served by this prompt's anchor, this one included (1 = a fresh context).
    anchor_uses: u32,
    /// Byte offset of the anchor: the line start the prompt's prefix ends at.
    anchor_end: usize,
    /// What the prompt was rendered from (a retry re-renders it with another healing).
    parts: FimParts,
    /// Text typed after the anchor (the start of the middle, before healing).
    typed: String,
}

impl Ide {
    /// Compute an inline completion against `snap`. Blocking: runs the model.
    pub fn complete(
        &self,
        snap: &Snapshot,
        req: CompletionRequest,
        cancel: &CancelToken,
    ) -> Result<Completion, IdeError> {
        self.generate(snap, req, &PathOptions::inline(), cancel)
            .map(|g| g.completion)
    }

    /// The completion path shared by inline completions and code actions: prompt, engine,
    /// post-processing, safety gate.
    pub(crate) fn generate(
        &self,
        snap: &Snapshot,
        req: CompletionRequest,
        opts: &PathOptions,
        cancel: &CancelToken,
    ) -> Result<Generated, IdeError> {
        let started = Instant::now();
        let offset = snap.doc.offset(req.position, req.encoding)?;
        let config = self.config();
        self.stats.requests.inc();
        self.supersede(&snap.uri, opts.purpose, cancel);
        let cursor = snap.doc.position(offset, req.encoding);
        if config.typeahead_cache && !req.raw && req.trigger == Trigger::Automatic {
            if let Some((text, kind)) = self.cached(snap, offset) {
                return Ok(Generated {
                    completion: Completion::from_cache(
                        text,
                        kind,
                        cursor,
                        snap.doc.version(),
                        started,
                    ),
                    gate_dropped: None,
                });
            }
        }
        self.cancel_background();
        let engine = self.engine.wait_ready(config.load_wait, cancel)?;
        let info = engine.info();
        let mut prep = self.prepare(snap, offset, &config, engine.as_ref(), true);
        let deadline = match req.trigger {
            Trigger::Automatic if !req.raw => config.deadline,
            _ => None,
        };
        let mut slot = Slot::Main;
        let mut shrunk = false;
        // The full context to prefill in the background once this request is answered (queued
        // earlier, it would delay this request's second candidate).
        let mut deferred_prefill = None;
        let plan = deadline.map(|_| engine.plan(Slot::Main, &prep.prompt));
        // A fresh context (first request after opening a file or a jump) gets the cold budget;
        // requests while the background prefill catches up get the normal one.
        let cold =
            prep.anchor_uses <= 1 && plan.is_some_and(|p| p.cached_tokens * 2 < p.prompt_tokens);
        let deadline = deadline.map(|d| if cold { d.max(config.cold_deadline) } else { d });
        // Nothing to run now: the scratch slot is filled in the background first.
        let mut skip: Option<nib_engine::PromptPlan> = None;
        if let (Some(budget), Some(plan), true) = (deadline, plan, config.kv_reuse) {
            let tp = engine.throughput();
            let step = 1.0 / tp.decode_tokens_per_s.max(1.0);
            let reserve = 6.0 * step;
            let need = plan.new_tokens() as f64 / tp.prefill_tokens_per_s.max(1.0) + reserve;
            let avail = budget.saturating_sub(started.elapsed()).as_secs_f64();
            tracing::debug!(
                prompt = plan.prompt_tokens,
                cached = plan.cached_tokens,
                need_s = need,
                avail_s = avail,
                prefill_tps = tp.prefill_tokens_per_s,
                "deadline plan"
            );
            if need > avail * 0.9 {
                // Shrink rather than blow the budget: the small anchored window in the scratch
                // slot now, the full context in the background afterwards. A new small window
                // is as large as the cold budget can prefill: a cold request evaluates it
                // within its budget, later requests only append what was typed.
                let size = (((config.cold_deadline.as_secs_f64() - reserve).max(0.0)
                    * 0.8
                    * tp.prefill_tokens_per_s) as usize)
                    .clamp(MIN_SMALL_TOKENS, MAX_SMALL_TOKENS);
                let prep_uses = prep.anchor_uses;
                let anchor_end = prep.anchor_end;
                let full_prompt = std::mem::replace(
                    &mut prep,
                    self.prepare_small(snap, offset, anchor_end, size, engine.as_ref()),
                );
                let mut background = Vec::new();
                let small = engine.plan(Slot::Scratch, &prep.prompt);
                let small_need =
                    small.new_tokens() as f64 / tp.prefill_tokens_per_s.max(1.0) + step;
                if config.background_prefill && small_need > avail * 0.9 {
                    // Not even the small window fits (a new one while typing): answer at once
                    // with nothing rather than late with nothing; it is evaluated in the
                    // background for the next keystroke.
                    background.push((Slot::Scratch, prep.prompt.clone()));
                    skip = Some(small);
                    self.stats.skipped.inc();
                }
                // Prefill the full context in the background once the user stays here (or when
                // nothing worth keeping is cached): a short excursion must not evict the
                // context of the place the user returns to.
                if config.background_prefill
                    && (prep_uses >= 2 || plan.slot_tokens < NOTHING_CACHED)
                {
                    background.push((Slot::Main, full_prompt.prompt));
                }
                if !background.is_empty() {
                    deferred_prefill = Some(background);
                }
                slot = Slot::Scratch;
                shrunk = true;
                self.stats.shrunk.inc();
            }
        }
        let mode = opts.mode.unwrap_or(prep.mode);
        // (Python, a new line) A single-line suggestion may need a few more lines to leave
        // the layout whole (a header's body): post-processing decides where it stops.
        let extend =
            !req.raw && nib_postprocess::may_extend(snap.lang, &prep.prefix, &prep.suffix, mode);
        let max_tokens = opts.max_tokens.unwrap_or(match mode {
            Mode::SingleLine if extend => config.max_tokens_single_line * 2,
            Mode::SingleLine if !req.raw => config.max_tokens_single_line,
            _ => config.max_tokens,
        });
        let stop_rules = |extra: &str, backoff: &str| {
            if req.raw {
                return StopRules {
                    max_tokens,
                    ..StopRules::default()
                };
            }
            let (pre, suf, lang, backoff, extra) = (
                Arc::new(prep.prefix.clone()),
                Arc::new(prep.suffix.clone()),
                snap.lang,
                backoff.to_string(),
                extra.to_string(),
            );
            StopRules {
                max_tokens,
                stop_at_newline: mode == Mode::SingleLine && !extend,
                stop_strings: Vec::new(),
                should_stop: Some(Arc::new(move |text: &str| {
                    let text = format!("{extra}{}", strip_backoff(text, &backoff));
                    nib_postprocess::should_stop(&Input {
                        lang,
                        prefix: &pre,
                        suffix: &suf,
                        raw: &text,
                        mode,
                    })
                })),
            }
        };
        let stop = stop_rules(&prep.extra, &prep.backoff);
        let alternatives = if req.trigger == Trigger::Invoked && !req.raw {
            opts.alternatives.unwrap_or(INVOKED_ALTERNATIVES)
        } else {
            0
        };
        let mut greq = GenerateRequest::new(prep.prompt.clone(), stop, cancel.clone());
        // Leave time for post-processing, the safety gate and the reply.
        greq.deadline = deadline.map(|d| started + d.saturating_sub(DEADLINE_MARGIN));
        greq.alternatives = alternatives;
        greq.slot = slot;
        greq.reuse_cache = config.kv_reuse;
        if !req.raw {
            greq.forced = Some(prep.forced.clone());
        }
        let retry_req = greq.clone();
        let mut generation = match skip {
            Some(plan) => nib_engine::Generation {
                text: String::new(),
                tokens: Vec::new(),
                stop_reason: StopReason::Deadline,
                alternatives: Vec::new(),
                prompt_tokens: plan.prompt_tokens,
                reused_tokens: plan.prompt_tokens,
                prefill_time: std::time::Duration::ZERO,
                decode_time: std::time::Duration::ZERO,
                drafted_tokens: 0,
            },
            None => {
                self.stats.model_requests.inc();
                engine
                    .generate(greq)
                    .map_err(|e| IdeError::Engine(e.to_string()))?
            }
        };
        if generation.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        let prefilled = generation.prompt_tokens - generation.reused_tokens;
        self.stats.prefilled_tokens.add(prefilled as u64);
        let process_healed = |raw: &str, extra: &str, backoff: &str| {
            let raw = format!("{extra}{}", strip_backoff(raw, backoff));
            if req.raw {
                nib_postprocess::Output {
                    text: raw,
                    dropped: None,
                }
            } else {
                nib_postprocess::process(&Input {
                    lang: snap.lang,
                    prefix: &prep.prefix,
                    suffix: &prep.suffix,
                    raw: &raw,
                    mode,
                })
            }
        };
        let process = |raw: &str| process_healed(raw, &prep.extra, &prep.backoff);
        let mut out = process(&generation.text);
        // A rejected greedy line (dropped, code that exists further down, or an exit that
        // makes the code below unreachable) gets up to [`MAX_RETRIES`] further candidates, if
        // the budget allows.
        let later = |o: &nib_postprocess::Output| {
            let input = Input {
                lang: snap.lang,
                prefix: &prep.prefix,
                suffix: &prep.suffix,
                raw: "",
                mode,
            };
            nib_postprocess::repeats_later_line(&input, &o.text)
                || nib_postprocess::makes_code_unreachable(&input, &o.text)
        };
        let rejected = |o: &nib_postprocess::Output| {
            later(o)
                || o.dropped
                    .is_some_and(|d| d != nib_postprocess::DropReason::Empty)
        };
        let time_left = |tokens: usize| {
            retry_req.deadline.is_none_or(|d| {
                let need = (tokens + 2) as f64 / engine.throughput().decode_tokens_per_s.max(1.0);
                d.saturating_duration_since(Instant::now()).as_secs_f64() > need
            })
        };
        let may_retry = !req.raw
            && alternatives == 0
            && matches!(
                generation.stop_reason,
                StopReason::Newline
                    | StopReason::EndOfGeneration
                    | StopReason::Caller
                    | StopReason::MaxTokens
            );
        // Further candidates: the header retry or the second most likely first token, then a
        // start that does not lead back into a rejected text.
        let mut avoid = vec![generation.text.clone()];
        // While typing (a deadline) one retry only: a second one would spend the rest of the
        // budget more often, and the next keystroke's request waits for it.
        let max_retries = if retry_req.deadline.is_some() {
            1
        } else {
            MAX_RETRIES
        };
        for attempt in 0..max_retries {
            if !(may_retry && rejected(&out) && time_left(generation.tokens.len())) {
                break;
            }
            // Nothing queued on the engine may delay the next candidate.
            self.cancel_background();
            let mut again = retry_req.clone();
            // A statement where the layout needs a block header (the next line is deeper):
            // the candidate starts at the header's indentation. Otherwise: the next most
            // likely first token.
            let header = (attempt == 0
                && out.dropped == Some(nib_postprocess::DropReason::BreaksIndentation))
            .then(|| nib_postprocess::header_indent(snap.lang, &prep.prefix, &prep.suffix))
            .flatten();
            let healed = header
                .map(|indent| {
                    heal(
                        snap.lang,
                        &prep.prefix,
                        &prep.suffix,
                        mode,
                        &prep.typed,
                        Some(indent),
                    )
                })
                .filter(|h| h.extra != prep.extra || h.forced.then_non_blank);
            match &healed {
                Some(h) => {
                    let mut parts = prep.parts.clone();
                    parts.middle_start = h.middle.clone();
                    again.prompt = info.format.render(&parts);
                    let mut forced = h.forced.clone();
                    if forced.then_non_blank {
                        forced.then_one_of =
                            PY_BLOCK_KEYWORDS.iter().map(|w| w.to_string()).collect();
                    }
                    again.forced = Some(forced);
                    again.stop = stop_rules(&h.extra, &h.held);
                }
                // The first retry: the second most likely first token (often the same code
                // at another indentation). A later one: any start that does not lead back
                // into a rejected text.
                None if attempt == 0 => again.first_rank = 1,
                None => again.avoid = avoid.clone(),
            }
            let second = engine
                .generate(again)
                .map_err(|e| IdeError::Engine(e.to_string()))?;
            if second.stop_reason == StopReason::Cancelled {
                return Err(IdeError::Cancelled);
            }
            let o = match &healed {
                Some(h) => process_healed(&second.text, &h.extra, &h.held),
                None => process(&second.text),
            };
            tracing::debug!(first = %out.text, dropped = ?out.dropped, again_raw = %second.text, again = %o.text, again_dropped = ?o.dropped, "another candidate");
            if healed.is_none() {
                avoid.push(second.text.clone());
            }
            if !o.text.is_empty() && !rejected(&o) {
                out = o;
                generation.text = second.text;
                generation.tokens = second.tokens;
                generation.stop_reason = second.stop_reason;
                break;
            }
        }
        if let Some(prompts) = deferred_prefill {
            self.schedule_prefill(Arc::clone(&engine), prompts);
        }
        let mut dropped_by_gate = None;
        if generation.stop_reason == StopReason::Deadline
            && mode == Mode::MultiLine
            && out.text.trim_end().contains('\n')
        {
            // Cut short by the deadline: keep whole lines only.
            let keep = out.text.trim_end().rfind('\n').unwrap_or(0);
            out.text.truncate(keep);
            out.text.truncate(out.text.trim_end().len());
        } else if generation.stop_reason == StopReason::Deadline && !out.text.is_empty() {
            // Cut short by the deadline: keep whole words only.
            let keep = out
                .text
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            out.text.truncate(keep);
        }
        // The safety gate: findings travel with the suggestion; high/critical ones drop it.
        let gated = !req.raw;
        let check = |text: &str| {
            if gated {
                self.gate_check(&config, snap.lang, &prep.prefix, text, &prep.suffix)
            } else {
                (Vec::new(), None)
            }
        };
        let (findings, gate_dropped) = check(&out.text);
        if let Some(why) = &gate_dropped {
            tracing::info!(%why, "suggestion dropped by the safety gate");
            self.stats.gated.inc();
            out = nib_postprocess::Output {
                text: String::new(),
                dropped: None,
            };
            dropped_by_gate = gate_dropped;
        }
        let kept = kept_logprobs(&generation.tokens, &out.text);
        let confidence = nib_postprocess::confidence(&kept);
        let logprob_sum = (!kept.is_empty()).then(|| kept.iter().sum::<f32>());
        let logprob_mean = logprob_sum.map(|s| s / kept.len() as f32);
        let logprob_min = kept.iter().copied().reduce(f32::min);
        let mut ranked: Vec<(nib_postprocess::Output, f32)> = vec![(out.clone(), f32::INFINITY)];
        for alt in &generation.alternatives {
            let o = process(&alt.text);
            let lp = kept_logprobs(&alt.tokens, &o.text);
            let score = if lp.is_empty() {
                f32::NEG_INFINITY
            } else {
                lp.iter().sum::<f32>() / lp.len() as f32
            };
            ranked.push((o, score));
        }
        let alternatives: Vec<String> =
            nib_postprocess::rank_alternatives(ranked, 1 + INVOKED_ALTERNATIVES)
                .into_iter()
                .map(|o| o.text)
                .filter(|t| t.trim() != out.text.trim())
                .filter(|t| check(t).1.is_none())
                .take(2)
                .collect();
        if opts.remember && !req.raw && generation.stop_reason != StopReason::Deadline {
            self.remember(snap, offset, &out.text);
        }
        tracing::debug!(
            uri = %snap.uri, version = snap.doc.version(), ?mode, prompt_tokens = generation.prompt_tokens,
            reused = generation.reused_tokens, generated = generation.tokens.len(), stop = ?generation.stop_reason,
            shrunk, "completion"
        );
        tracing::trace!(prompt = %prep.prompt, raw = %generation.text, kept = %out.text, "completion text");
        let completion = Completion {
            text: out.text,
            range: Range {
                start: cursor,
                end: cursor,
            },
            version: snap.doc.version(),
            mode: match mode {
                Mode::SingleLine => "single_line",
                Mode::MultiLine => "multi_line",
            },
            confidence: confidence_name(confidence),
            logprob_sum,
            logprob_mean,
            logprob_min,
            alternatives,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: generation.prompt_tokens,
            reused_tokens: generation.reused_tokens,
            prefilled_tokens: prefilled,
            generated_tokens: generation.tokens.len(),
            stop_reason: generation.stop_reason,
            cache: None,
            shrunk,
            raw: generation.text,
            dropped: dropped_by_gate
                .clone()
                .or(out.dropped.map(|d| format!("{d:?}"))),
            findings,
            context: prep.report,
            repo_context: prep.repo_report,
            model: info.name,
        };
        Ok(Generated {
            completion,
            gate_dropped: dropped_by_gate,
        })
    }

    /// The safety gate on a suggestion inserted between `prefix` and `suffix`: its findings, and
    /// why it is dropped (a high or critical finding under [`crate::GatePolicy::Drop`]). The
    /// caller counts and logs a dropped suggestion.
    pub(crate) fn gate_check(
        &self,
        config: &IdeConfig,
        lang: Option<nib_syntax::Language>,
        prefix: &str,
        text: &str,
        suffix: &str,
    ) -> (Vec<nib_checks::Finding>, Option<String>) {
        if config.gate == crate::GatePolicy::Off {
            return (Vec::new(), None);
        }
        let findings = self.gate.check_suggestion(lang, prefix, text, suffix);
        let dropped = match (config.gate, crate::gate::blocks(&findings)) {
            (crate::GatePolicy::Drop, Some(f)) => {
                Some(format!("safety gate: {} ({})", f.rule_id, f.message))
            }
            _ => None,
        };
        (findings, dropped)
    }

    /// Evaluate, in the background, the prompt a request at `position` would use, so that the
    /// request finds it cached (after didChange and a short idle time). Returns at once.
    pub fn prefill_at(&self, uri: &str, offset: usize) {
        let config = self.config();
        if !config.background_prefill || !config.kv_reuse {
            return;
        }
        let (Ok(snap), crate::EngineState::Ready(engine)) = (self.snapshot(uri), self.engine.get())
        else {
            return;
        };
        let offset = offset.min(snap.doc.len_bytes());
        let prep = self.prepare(&snap, offset, &config, engine.as_ref(), false);
        // Only where the user has been asking for completions, or when nothing is cached.
        if prep.anchor_uses >= 2
            || engine.plan(Slot::Main, &prep.prompt).slot_tokens < NOTHING_CACHED
        {
            self.schedule_prefill(engine, vec![(Slot::Main, prep.prompt)]);
        }
    }

    /// The anchored prompt for a cursor at `offset`; updates the document's anchor.
    fn prepare(
        &self,
        snap: &Snapshot,
        offset: usize,
        config: &IdeConfig,
        engine: &dyn CompletionEngine,
        count_use: bool,
    ) -> Prepared {
        let doc = &snap.doc;
        let counter = engine.token_counter();
        let budget = config.window;
        let line_start = doc.line_start(doc.line_of(offset));
        // Recent anchors of this document, newest first: returning from a short excursion
        // finds its anchor (and the engine its cached context) again.
        let anchors = lock(&self.sessions)
            .get(&snap.uri)
            .map(|s| s.anchors.clone())
            .unwrap_or_default();
        let old = anchors.first().cloned();
        // Of the valid anchors, the closest to the cursor (least typed text after it).
        let valid = anchors
            .iter()
            .filter(|a| {
                a.end <= offset
                    && offset - a.end <= MAX_TYPED_BYTES
                    && doc.slice(a.start, a.end) == *a.prefix
                    && doc.slice(a.end, offset).matches('\n').count() <= MAX_TYPED_LINES
            })
            .max_by_key(|a| a.end);
        let (anchor, mut report) = match valid {
            Some(a) => (a.clone(), a.report.clone()),
            None => {
                // Re-anchor at the cursor line's start; keep the old window start while the
                // prefix still fits (window moves in large steps, not per keystroke).
                let pinned = old
                    .as_ref()
                    .filter(|a| a.start <= line_start && doc.slice(a.start, a.end) == *a.prefix);
                let kept = pinned.and_then(|a| {
                    let prefix = doc.slice(a.start, line_start);
                    let tokens = counter.count(&prefix);
                    (tokens as f64 <= budget.prefix_tokens as f64 * WINDOW_SLACK).then(|| {
                        let report = Report {
                            prefix_tokens: tokens,
                            dropped_prefix_lines: doc.line_of(a.start),
                            ..Report::default()
                        };
                        Anchor {
                            start: a.start,
                            end: line_start,
                            prefix: Arc::new(prefix),
                            // The window starts where it did: so do its enclosing scopes.
                            headers: Arc::clone(&a.headers),
                            report,
                            files: Arc::clone(&a.files),
                            repo_report: a.repo_report.clone(),
                            uses: 0,
                        }
                    })
                });
                let a = kept.unwrap_or_else(|| {
                    let share = WindowConfig {
                        prefix_tokens: (budget.prefix_tokens as f64 * FRESH_WINDOW_SHARE) as usize,
                        suffix_tokens: 0,
                    };
                    let excerpt_start = excerpt_start(
                        doc,
                        line_start,
                        budget.prefix_tokens * BYTES_PER_TOKEN_BOUND,
                    );
                    let before = doc.slice(excerpt_start, line_start);
                    // The signatures of the scopes around the cursor stay in the prompt
                    // when the window starts inside their bodies.
                    // The whole text once, for the scope headers and the repository context.
                    let text = doc.text();
                    let scopes = self.scope_headers(snap, &text, line_start, excerpt_start);
                    let mut w = cursor_window_scoped(&before, "", counter.as_ref(), share, &scopes);
                    let headers = w.prefix[..w.report.scope_header_bytes].to_string();
                    w.prefix.drain(..headers.len());
                    let start = line_start - w.prefix.len();
                    let mut report = w.report;
                    report.dropped_prefix_lines = doc.line_of(start);
                    let (files, repo_report) =
                        self.repo_files(snap, &text, line_start, config, counter.as_ref());
                    Anchor {
                        start,
                        end: line_start,
                        prefix: Arc::new(w.prefix),
                        headers: Arc::new(headers),
                        report,
                        files,
                        repo_report,
                        uses: 0,
                    }
                });
                let report = a.report.clone();
                (a, report)
            }
        };
        let typed = doc.slice(anchor.end, offset);
        let sw = suffix_window(doc, offset, budget.suffix_tokens, counter.as_ref());
        report.suffix_tokens = sw.report.suffix_tokens;
        report.dropped_suffix_lines = sw.report.dropped_suffix_lines;
        report.cut_cursor_line |= sw.report.cut_cursor_line;
        let mut anchor = anchor;
        if count_use {
            anchor.uses += 1;
        }
        {
            let mut sessions = lock(&self.sessions);
            let list = &mut sessions.entry(snap.uri.clone()).or_default().anchors;
            list.retain(|a| {
                !(a.start == anchor.start && a.end == anchor.end && a.prefix == anchor.prefix)
            });
            list.insert(0, anchor.clone());
            list.truncate(MAX_ANCHORS);
        }
        self.assemble(
            snap,
            engine,
            Pieces {
                headers: &anchor.headers,
                window: &anchor.prefix,
                typed,
                suffix: sw.suffix,
                files: anchor.files.to_vec(),
                report,
                repo_report: anchor.repo_report.as_deref().cloned(),
                anchor_uses: anchor.uses,
                anchor_end: anchor.end,
            },
        )
    }

    /// The prompt made of a window (`headers` then `window`, ending at the anchor), the text
    /// typed since the anchor, and the suffix after the cursor.
    fn assemble(&self, snap: &Snapshot, engine: &dyn CompletionEngine, p: Pieces<'_>) -> Prepared {
        let prefix = format!("{}{}", p.window, p.typed);
        let mode = nib_postprocess::decide_mode(snap.lang, &prefix, &p.suffix);
        let heal = heal(snap.lang, &prefix, &p.suffix, mode, &p.typed, None);
        let info = engine.info();
        let repo_name = if p.files.is_empty() {
            None
        } else {
            self.repo_source().and_then(|r| r.repo_name())
        };
        let parts = FimParts {
            path: Some(file_name(&snap.uri)),
            comment: snap.lang.map_or("#", |l| l.line_comment()).to_string(),
            prefix: format!("{}{}", p.headers, p.window),
            suffix: if info.format.supports_fim() {
                p.suffix.clone()
            } else {
                String::new()
            },
            middle_start: heal.middle,
            files: p.files,
            repo_name,
        };
        Prepared {
            prompt: info.format.render(&parts),
            prefix,
            suffix: p.suffix,
            mode,
            backoff: heal.held,
            extra: heal.extra,
            forced: heal.forced,
            report: p.report,
            repo_report: p.repo_report,
            anchor_uses: p.anchor_uses,
            anchor_end: p.anchor_end,
            parts,
            typed: p.typed,
        }
    }

    /// Headers of the scopes enclosing byte `at` of the document, for a window excerpt that
    /// starts at byte `excerpt_start` (see [`nib_context::cursor_window_scoped`]).
    fn scope_headers(
        &self,
        snap: &Snapshot,
        text: &str,
        at: usize,
        excerpt_start: usize,
    ) -> Vec<nib_context::ScopeHeader> {
        let (Some(lang), Some(tree)) = (snap.lang, snap.tree.as_ref()) else {
            return Vec::new();
        };
        let scopes = nib_syntax::tags::enclosing_scopes(lang, tree, text, at);
        nib_context::scope_headers(text, excerpt_start, &scopes)
    }

    /// Repository context for a window anchored at `at`, if a source is set.
    fn repo_files(
        &self,
        snap: &Snapshot,
        text: &str,
        at: usize,
        config: &IdeConfig,
        counter: &dyn nib_engine::TokenCounter,
    ) -> (
        Arc<Vec<nib_engine::RepoFile>>,
        Option<Arc<nib_context::repo::RepoReport>>,
    ) {
        let source = self.repo_source().filter(|_| config.repo_tokens > 0);
        let Some(source) = source else {
            return (Arc::default(), None);
        };
        let others = self.other_documents(&snap.uri, 4);
        let open: Vec<crate::OpenFile<'_>> = others
            .iter()
            .map(|(u, t)| crate::OpenFile {
                path: u.as_str(),
                text: t.as_str(),
            })
            .collect();
        match source.context(
            &snap.uri,
            text,
            at,
            snap.tree.as_ref(),
            &open,
            counter,
            config.repo_tokens,
        ) {
            Some(ctx) => (Arc::new(ctx.files()), Some(Arc::new(ctx.report))),
            None => (Arc::default(), None),
        }
    }

    /// The small anchored prompt for the scratch slot: the document's small window for the
    /// anchor at `anchor_end` (the one last used, while still valid, so that the scratch
    /// slot's cache is reused; otherwise a new one of about `tokens` tokens), the text typed
    /// since the anchor after the middle token, like the full prompt.
    fn prepare_small(
        &self,
        snap: &Snapshot,
        offset: usize,
        anchor_end: usize,
        tokens: usize,
        engine: &dyn CompletionEngine,
    ) -> Prepared {
        let doc = &snap.doc;
        let counter = engine.token_counter();
        let anchor_end = anchor_end.min(offset);
        let existing = lock(&self.sessions)
            .get(&snap.uri)
            .and_then(|s| s.small.clone())
            .filter(|w| w.end == anchor_end && doc.slice(w.start, w.end) == *w.prefix);
        let win = existing.unwrap_or_else(|| {
            let typed = doc.slice(anchor_end, offset);
            let left = tokens.saturating_sub(counter.count(&typed) + 8).max(16);
            let cfg = WindowConfig {
                prefix_tokens: left * 3 / 4,
                suffix_tokens: 0,
            };
            let excerpt_start =
                excerpt_start(doc, anchor_end, cfg.prefix_tokens * BYTES_PER_TOKEN_BOUND);
            let before = doc.slice(excerpt_start, anchor_end);
            let text = doc.text();
            let scopes = self.scope_headers(snap, &text, anchor_end, excerpt_start);
            let mut w = cursor_window_scoped(&before, "", counter.as_ref(), cfg, &scopes);
            let headers = w.prefix[..w.report.scope_header_bytes].to_string();
            w.prefix.drain(..headers.len());
            SmallWindow {
                end: anchor_end,
                start: anchor_end - w.prefix.len(),
                prefix_tokens: counter.count(&w.prefix),
                prefix: Arc::new(w.prefix),
                headers: Arc::new(headers),
                suffix_tokens: left / 4,
            }
        });
        lock(&self.sessions)
            .entry(snap.uri.clone())
            .or_default()
            .small = Some(win.clone());
        let typed = doc.slice(win.end, offset);
        let sw = suffix_window(doc, offset, win.suffix_tokens, counter.as_ref());
        let report = Report {
            prefix_tokens: win.prefix_tokens,
            suffix_tokens: sw.report.suffix_tokens,
            dropped_prefix_lines: doc.line_of(win.start),
            dropped_suffix_lines: sw.report.dropped_suffix_lines,
            cut_cursor_line: sw.report.cut_cursor_line,
            ..Report::default()
        };
        self.assemble(
            snap,
            engine,
            Pieces {
                headers: &win.headers,
                window: &win.prefix,
                typed,
                suffix: sw.suffix,
                files: Vec::new(),
                report,
                repo_report: None,
                anchor_uses: 0,
                anchor_end: win.end,
            },
        )
    }

    /// The typeahead cache (the user typed the start of the suggestion shown), then the LRU.
    fn cached(&self, snap: &Snapshot, offset: usize) -> Option<(String, &'static str)> {
        let doc = &snap.doc;
        let shown = lock(&self.sessions)
            .get(&snap.uri)
            .and_then(|s| s.shown.clone());
        if let Some(s) = shown.filter(|s| s.matches_context(doc, s.at.min(offset), offset)) {
            if offset >= s.at {
                let typed = doc.slice(s.at, offset);
                if let Some(rest) = s.text.strip_prefix(typed.as_str()) {
                    if !rest.is_empty() && !s.text.is_empty() {
                        self.stats.typeahead_hits.inc();
                        return Some((rest.to_string(), "typeahead"));
                    }
                }
            }
        }
        let key = Shown::key(&snap.uri, doc, offset);
        let hit = lock(&self.lru).get(key);
        hit.map(|text| {
            self.stats.lru_hits.inc();
            (text, "lru")
        })
    }

    fn remember(&self, snap: &Snapshot, offset: usize, text: &str) {
        let shown = Shown::new(&snap.doc, offset, text);
        lock(&self.lru).put(Shown::key(&snap.uri, &snap.doc, offset), text.to_string());
        lock(&self.sessions)
            .entry(snap.uri.clone())
            .or_default()
            .shown = Some(shown);
    }
}

impl Completion {
    fn from_cache(
        text: String,
        kind: &'static str,
        cursor: Position,
        version: i32,
        started: Instant,
    ) -> Completion {
        Completion {
            mode: if text.contains('\n') {
                "multi_line"
            } else {
                "single_line"
            },
            text,
            range: Range {
                start: cursor,
                end: cursor,
            },
            version,
            confidence: "medium",
            logprob_sum: None,
            logprob_mean: None,
            logprob_min: None,
            alternatives: Vec::new(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: 0,
            reused_tokens: 0,
            prefilled_tokens: 0,
            generated_tokens: 0,
            stop_reason: StopReason::EndOfGeneration,
            cache: Some(kind),
            shrunk: false,
            raw: String::new(),
            dropped: None,
            findings: Vec::new(),
            context: Report::default(),
            repo_context: None,
            model: String::new(),
        }
    }
}

pub(crate) fn confidence_name(c: nib_postprocess::Confidence) -> &'static str {
    match c {
        nib_postprocess::Confidence::Low => "low",
        nib_postprocess::Confidence::Medium => "medium",
        nib_postprocess::Confidence::High => "high",
    }
}

/// Split typed text into what goes into the prompt and what is held back (token healing):
/// the last blank of trailing blanks (BPE glues a space, and the last blank of an
/// indentation, to the next word), or else a partial word with the space before it (the
/// prompt would end inside a token). The engine makes the output start with the held-back
/// text.
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

/// The end of the prompt and the constraint on the output's start.
struct Heal {
    middle: String,
    held: String,
    extra: String,
    forced: nib_engine::Forced,
}

/// Heal the prompt's end: (Python, a new line) add the indentation the layout requires (or
/// `indent`, when given), then hold back what would end the prompt inside a token.
fn heal(
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

const MAX_HEALED_WORD: usize = 24;

/// Words that start a Python block header (a header retry's first word is one of them).
const PY_BLOCK_KEYWORDS: &[&str] = &[
    "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "def", "class",
    "async",
];

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

/// Log-probabilities of the generated tokens that make up the kept text (its first
/// `kept.len()` bytes, as post-processing keeps a prefix of the output, modulo whitespace).
fn kept_logprobs(tokens: &[nib_engine::GeneratedToken], kept: &str) -> Vec<f32> {
    let mut covered = 0;
    let mut out = Vec::new();
    for t in tokens {
        if covered >= kept.len() {
            break;
        }
        covered += t.text.len();
        out.push(t.logprob);
    }
    out
}

/// Start of the text before `offset` worth looking at: `max_bytes` back, moved forward to a
/// line start when one exists before `offset`.
/// What a prompt is assembled from (see [`Ide::assemble`]).
struct Pieces<'a> {
    headers: &'a str,
    window: &'a str,
    typed: String,
    suffix: String,
    files: Vec<nib_engine::RepoFile>,
    report: Report,
    repo_report: Option<nib_context::repo::RepoReport>,
    anchor_uses: u32,
    anchor_end: usize,
}

/// Up to `tokens` tokens of the document after `offset`, cut at a line end.
fn suffix_window(
    doc: &Document,
    offset: usize,
    tokens: usize,
    counter: &dyn nib_engine::TokenCounter,
) -> nib_context::Window {
    let after = doc.slice(
        offset,
        offset.saturating_add(tokens * BYTES_PER_TOKEN_BOUND),
    );
    cursor_window(
        "",
        &after,
        counter,
        WindowConfig {
            prefix_tokens: 0,
            suffix_tokens: tokens,
        },
    )
}

fn excerpt_start(doc: &Document, offset: usize, max_bytes: usize) -> usize {
    let rough = offset.saturating_sub(max_bytes);
    if rough == 0 {
        return 0;
    }
    let line = doc.line_of(rough);
    let next = doc.line_start(line + 1);
    if doc.line_start(line) == rough || next > offset {
        rough
    } else {
        next
    }
}

fn file_name(uri: &str) -> String {
    uri.rsplit('/').next().unwrap_or(uri).to_string()
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
}
