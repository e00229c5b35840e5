//! The inline-completion path, as a sequence of steps: caches -> anchored prompt -> deadline
//! plan -> engine -> further candidates -> post-processing -> safety gate -> confidence.
//!
//! Each step has its module: [`crate::cache`] (typeahead, LRU), [`crate::prompt`] (the full
//! and the small anchored windows), [`crate::plan`] (which window the deadline affords, or a
//! skip), [`crate::heal`] (token healing), [`crate::output`] (stop rules, post-processing,
//! deadline cut), [`crate::retry`] (further candidates after a rejected one).
//!
//! Invariants:
//! - A request becomes its document's in-flight request of its purpose (the older one is
//!   cancelled) and cancels the background prefill before it uses the engine.
//! - A skipped request runs no model: its completion is empty and says why
//!   ([`Completion::skipped`]); what it planned to prefill is scheduled at once.
//! - Background prefill a request plans is scheduled only after its own candidates are
//!   generated, so that it never delays them.
//! - The safety gate sees every suggestion and alternative shown (not raw requests).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nib_context::Report;
use nib_engine::{CancelToken, CompletionEngine, GenerateRequest, PromptPlan, Slot, StopReason};
use nib_postprocess::{Mode, Output};
use nib_text::{OffsetEncoding, Position, Range};

use crate::output::{mode_name, Shape};
use crate::plan::{self, Plan, SkipReason};
use crate::prompt::Prepared;
use crate::retry::Retry;
use crate::{Ide, IdeConfig, IdeError, Snapshot};

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
/// Alternatives shown with a suggestion.
const MAX_SHOWN_ALTERNATIVES: usize = 2;

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
    /// Why the request was answered at once without running the model (the deadline
    /// planner's reason, e.g. `small_window_over_budget`); the small window is evaluated in the
    /// background for the next request. A skipped completion is empty, its stop reason is
    /// `Deadline` and its `dropped` is `Empty`.
    pub skipped: Option<&'static str>,
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
    /// `local` or `remote` (`completionProvider`).
    pub provider: &'static str,
    /// Why the remote provider did not answer (the local model answered instead).
    pub fallback: Option<String>,
}

/// Who runs the completion path: each purpose has its own in-flight request per document (a
/// newer one cancels the older one of the same purpose; an edit cancels both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    Completion,
    CodeAction,
    /// The suggestion after the one shown ([`crate::lookahead`]).
    Lookahead,
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
    /// Background work (a lookahead): not counted as a request, not registered as the
    /// document's in-flight request; it cancels background prefill but not itself.
    pub background: bool,
}

impl PathOptions {
    pub(crate) fn inline() -> PathOptions {
        PathOptions {
            purpose: Purpose::Completion,
            mode: None,
            max_tokens: None,
            alternatives: None,
            remember: true,
            background: false,
        }
    }
}

/// What the completion path produced.
pub(crate) enum Outcome {
    /// The model (or a cache) answered; `gate_dropped` is the safety gate's reason when it
    /// dropped the output.
    Answered {
        completion: Completion,
        gate_dropped: Option<String>,
    },
    /// Nothing ran (see [`Plan::Skip`]); the completion is empty and names the reason.
    Skipped {
        completion: Completion,
        reason: SkipReason,
    },
}

/// The window a request runs with, as planned.
struct Run {
    prep: Prepared,
    slot: Slot,
    /// The request's time budget (`None`: no deadline).
    budget: Option<Duration>,
    /// The small window stands in for the full one.
    shrunk: bool,
    /// Prompts to evaluate in the background once the request has its candidates, in order.
    background: Vec<(Slot, String)>,
}

/// What planning decided: run a window, or skip the request.
enum Choice {
    Run(Run),
    Skip {
        /// The small window (prefilled in the background).
        prep: Prepared,
        /// What the scratch slot holds of it.
        small: PromptPlan,
        reason: SkipReason,
        background: Vec<(Slot, String)>,
    },
}

impl Ide {
    /// Compute an inline completion against `snap`. Blocking: runs the model.
    pub fn complete(
        &self,
        snap: &Snapshot,
        req: CompletionRequest,
        cancel: &CancelToken,
    ) -> Result<Completion, IdeError> {
        let remote = self.provider.remote();
        let mut fallback = None;
        if let (Some(engine), false) = (&remote.completion, req.raw) {
            match self.complete_remote(
                snap,
                req,
                cancel,
                engine.as_ref(),
                remote.completion_budget,
            )? {
                Ok(c) => return Ok(c),
                Err(why) if remote.fallback => {
                    self.provider.fell_back(&why);
                    fallback = Some(why);
                }
                Err(why) => return Err(IdeError::Remote(why)),
            }
        }
        match self.generate(snap, req, &PathOptions::inline(), cancel)? {
            Outcome::Answered { mut completion, .. } | Outcome::Skipped { mut completion, .. } => {
                completion.fallback = fallback;
                Ok(completion)
            }
        }
    }

    /// The completion path shared by inline completions and code actions: prompt, plan,
    /// engine, further candidates, post-processing, safety gate.
    pub(crate) fn generate(
        &self,
        snap: &Snapshot,
        req: CompletionRequest,
        opts: &PathOptions,
        cancel: &CancelToken,
    ) -> Result<Outcome, IdeError> {
        let started = Instant::now();
        let offset = snap.doc.offset(req.position, req.encoding)?;
        let config = self.config();
        if !opts.background {
            self.stats.requests.inc();
            self.supersede(&snap.uri, opts.purpose, cancel);
        }
        let cursor = snap.doc.position(offset, req.encoding);
        if config.typeahead_cache && !req.raw && req.trigger == Trigger::Automatic {
            if let Some(completion) = self.cached_completion(snap, offset, cursor, started) {
                return Ok(Outcome::Answered {
                    completion,
                    gate_dropped: None,
                });
            }
            // The request after Tab: the lookahead computing it may finish within the budget.
            let until = config.deadline.map(|d| started + d);
            if !opts.background && self.join_lookahead(snap, offset, until, cancel) {
                if let Some(completion) = self.cached_completion(snap, offset, cursor, started) {
                    return Ok(Outcome::Answered {
                        completion,
                        gate_dropped: None,
                    });
                }
            }
        }
        // A lookahead stands in for the request after Tab: background prefill yields to it as
        // to that request.
        if opts.background {
            self.prefiller.cancel();
        } else {
            self.cancel_background();
        }
        let loading = Instant::now();
        let engine = self.engine.wait_ready(config.load_wait, cancel)?;
        // An explicit request's budget starts once the model is loaded: the user asked and
        // waits anyway; an automatic request that waited has missed its moment.
        let budget_start = match req.trigger {
            Trigger::Invoked => started + loading.elapsed(),
            Trigger::Automatic => started,
        };
        let info = engine.info();
        let full = self.prepare(snap, offset, &config, engine.as_ref(), true);
        let mut run = match self.choose(
            snap,
            offset,
            &req,
            &config,
            engine.as_ref(),
            full,
            budget_start,
        ) {
            Choice::Run(run) => {
                if run.shrunk && !opts.background {
                    self.stats.shrunk.inc();
                }
                run
            }
            Choice::Skip {
                prep,
                small,
                reason,
                background,
            } => {
                if !opts.background {
                    self.stats.shrunk.inc();
                    self.stats.skipped.inc();
                }
                self.schedule_prefill(Arc::clone(&engine), background);
                let mode = opts.mode.unwrap_or(prep.mode);
                tracing::debug!(uri = %snap.uri, version = snap.doc.version(), ?mode, prompt_tokens = small.prompt_tokens, reason = reason.as_str(), "completion skipped");
                let completion =
                    skipped(snap, &prep, small, reason, mode, cursor, started, info.name);
                return Ok(Outcome::Skipped { completion, reason });
            }
        };
        let prep = &run.prep;
        let shape = Shape::new(
            snap.lang,
            &prep.prefix,
            &prep.suffix,
            opts.mode.unwrap_or(prep.mode),
            req.raw,
            opts.max_tokens,
            &config,
        );
        let first = first_request(&run, &shape, &req, opts, &config, cancel, budget_start);
        if !opts.background {
            self.stats.model_requests.inc();
        }
        let mut generation = engine
            .generate(first.clone())
            .map_err(|e| IdeError::Engine(e.to_string()))?;
        if generation.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        let prefilled = (generation.prompt_tokens - generation.reused_tokens) as u64;
        if opts.background {
            self.stats.background_prefilled_tokens.add(prefilled);
        } else {
            self.stats.prefilled_tokens.add(prefilled);
        }
        let doubt = match (config.doubt_cut, req.raw, req.trigger) {
            (Some(min), false, Trigger::Automatic) => Some(min),
            _ => None,
        };
        // Stopped at the first doubted token: the output is what comes before it.
        let stopped_at_doubt = (generation.stop_reason == StopReason::Doubt)
            .then(|| doubt.and_then(|min| doubt_cut_output(&shape, prep, &generation, min)))
            .flatten();
        let stopped = stopped_at_doubt.is_some();
        let mut out =
            stopped_at_doubt.unwrap_or_else(|| shape.process(&generation.text, &prep.heal));
        let retry = Retry {
            engine: engine.as_ref(),
            format: &info.format,
            prep,
            shape: &shape,
            first: &first,
        };
        self.retry_rejected(&retry, &mut out, &mut generation)?;
        // (A further candidate replacing the output is generated whole.)
        let mut cut_at_doubt = stopped && generation.stop_reason == StopReason::Doubt;
        if let (Some(min), false) = (doubt, cut_at_doubt) {
            if out.dropped.is_none() {
                if let Some(cut) = doubt_cut_output(&shape, prep, &generation, min)
                    .filter(|cut| cut.text.len() < out.text.len())
                {
                    out = cut;
                    cut_at_doubt = true;
                }
            }
        }
        if cut_at_doubt && !opts.background {
            self.stats.doubt_cuts.inc();
        }
        if !run.background.is_empty() {
            self.schedule_prefill(Arc::clone(&engine), std::mem::take(&mut run.background));
        }
        // A suggestion cut where the model doubts already ends where it should.
        if !cut_at_doubt {
            shape.cut_at_deadline(&mut out, generation.stop_reason);
        }
        let (findings, gate_dropped) = self.gate_output(&config, &shape, &mut out);
        let scores = Scores::of(&generation.tokens, &out.text);
        let alternatives = self.alternatives(&config, &shape, prep, &generation.alternatives, &out);
        if opts.remember && !req.raw && generation.stop_reason != StopReason::Deadline {
            self.remember(snap, offset, &out.text);
        }
        tracing::debug!(
            uri = %snap.uri, version = snap.doc.version(), mode = ?shape.mode, prompt_tokens = generation.prompt_tokens,
            reused = generation.reused_tokens, generated = generation.tokens.len(), stop = ?generation.stop_reason,
            shrunk = run.shrunk, "completion"
        );
        tracing::trace!(prompt = %prep.prompt, raw = %generation.text, kept = %out.text, "completion text");
        let completion = Completion {
            text: out.text,
            range: Range {
                start: cursor,
                end: cursor,
            },
            version: snap.doc.version(),
            mode: mode_name(shape.mode),
            confidence: scores.confidence,
            logprob_sum: scores.sum,
            logprob_mean: scores.mean,
            logprob_min: scores.min,
            alternatives,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: generation.prompt_tokens,
            reused_tokens: generation.reused_tokens,
            prefilled_tokens: prefilled as usize,
            generated_tokens: generation.tokens.len(),
            stop_reason: generation.stop_reason,
            cache: None,
            shrunk: run.shrunk,
            skipped: None,
            raw: generation.text,
            dropped: gate_dropped
                .clone()
                .or(out.dropped.map(|d| format!("{d:?}"))),
            findings,
            context: run.prep.report,
            repo_context: run.prep.repo_report,
            model: info.name,
            provider: "local",
            fallback: None,
        };
        Ok(Outcome::Answered {
            completion,
            gate_dropped,
        })
    }

    /// Plan the request (see [`crate::plan`]): the full window, the small one, or a skip; counts
    /// shrunk and skipped requests.
    #[allow(clippy::too_many_arguments)]
    fn choose(
        &self,
        snap: &Snapshot,
        offset: usize,
        req: &CompletionRequest,
        config: &IdeConfig,
        engine: &dyn CompletionEngine,
        full: Prepared,
        started: Instant,
    ) -> Choice {
        // An explicit request's budget is its own, cold or not: the best answer the ready
        // context allows within it.
        let deadline = match req.trigger {
            _ if req.raw => None,
            Trigger::Automatic => config.deadline.map(|b| (b, config.cold_deadline)),
            Trigger::Invoked => config.invoked_deadline.map(|b| (b, b)),
        }
        .map(|(budget, cold_budget)| plan::Deadline {
            budget,
            cold_budget,
            full: engine.plan(Slot::Main, &full.prompt),
        });
        let input = plan::Input {
            deadline,
            throughput: engine.throughput(),
            elapsed: started.elapsed(),
            anchor_uses: full.anchor_uses,
            explicit: req.trigger == Trigger::Invoked,
            kv_reuse: config.kv_reuse,
            background_prefill: config.background_prefill,
        };
        let planned = plan::plan(&input, |tokens| {
            let small = self.prepare_small(snap, offset, full.anchor_end, tokens, engine);
            let cached = engine.plan(Slot::Scratch, &small.prompt);
            (small, cached)
        });
        match planned {
            Plan::Full { budget } => Choice::Run(Run {
                prep: full,
                slot: Slot::Main,
                budget,
                shrunk: false,
                background: Vec::new(),
            }),
            Plan::Small {
                budget,
                window,
                prefill_full,
                ..
            } => Choice::Run(Run {
                prep: window,
                slot: Slot::Scratch,
                budget: Some(budget),
                shrunk: true,
                background: prefill_full
                    .then_some((Slot::Main, full.prompt))
                    .into_iter()
                    .collect(),
            }),
            Plan::Skip {
                reason,
                window,
                small,
                prefill_full,
            } => {
                let mut background = vec![(Slot::Scratch, window.prompt.clone())];
                if prefill_full {
                    background.push((Slot::Main, full.prompt));
                }
                Choice::Skip {
                    prep: window,
                    small,
                    reason,
                    background,
                }
            }
        }
    }

    /// The safety gate on the suggestion: its findings, and why it dropped it (then `out` is
    /// emptied).
    pub(crate) fn gate_output(
        &self,
        config: &IdeConfig,
        shape: &Shape,
        out: &mut Output,
    ) -> (Vec<nib_checks::Finding>, Option<String>) {
        let (findings, dropped) = self.gate_suggestion(config, shape, &out.text);
        if let Some(why) = &dropped {
            tracing::info!(%why, "suggestion dropped by the safety gate");
            self.stats.gated.inc();
            *out = Output {
                text: String::new(),
                dropped: None,
            };
        }
        (findings, dropped)
    }

    /// The safety gate on a suggestion of this request (none for a raw one).
    fn gate_suggestion(
        &self,
        config: &IdeConfig,
        shape: &Shape,
        text: &str,
    ) -> (Vec<nib_checks::Finding>, Option<String>) {
        if shape.raw {
            return (Vec::new(), None);
        }
        self.gate_check(config, shape.lang, shape.prefix(), text, shape.suffix())
    }

    /// The other candidates of an explicit request, post-processed and ranked, without the
    /// suggestion itself and without those the safety gate drops.
    fn alternatives(
        &self,
        config: &IdeConfig,
        shape: &Shape,
        prep: &Prepared,
        candidates: &[nib_engine::Candidate],
        out: &Output,
    ) -> Vec<String> {
        let mut ranked: Vec<(Output, f32)> = vec![(out.clone(), f32::INFINITY)];
        for alt in candidates {
            let o = shape.process(&alt.text, &prep.heal);
            let lp = kept_logprobs(&alt.tokens, &o.text);
            let score = if lp.is_empty() {
                f32::NEG_INFINITY
            } else {
                lp.iter().sum::<f32>() / lp.len() as f32
            };
            ranked.push((o, score));
        }
        nib_postprocess::rank_alternatives(ranked, 1 + INVOKED_ALTERNATIVES)
            .into_iter()
            .map(|o| o.text)
            .filter(|t| t.trim() != out.text.trim())
            .filter(|t| self.gate_suggestion(config, shape, t).1.is_none())
            .take(MAX_SHOWN_ALTERNATIVES)
            .collect()
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
        if plan::is_settled(prep.anchor_uses)
            || plan::nothing_worth_keeping(engine.plan(Slot::Main, &prep.prompt).slot_tokens)
        {
            self.schedule_prefill(engine, vec![(Slot::Main, prep.prompt)]);
        }
    }
}

/// The suggestion `generation` makes if it ends before its first token the model gave a
/// log-probability under `min` (and the word that token would finish), post-processed as if
/// generation had stopped there; `None` when nothing is doubted or the cut leaves nothing
/// worth showing.
fn doubt_cut_output(
    shape: &Shape,
    prep: &Prepared,
    generation: &nib_engine::Generation,
    min: f32,
) -> Option<Output> {
    let at = crate::output::doubt_cut(&generation.tokens, prep.heal.held.len(), min)?;
    if at >= generation.text.len() || !generation.text.is_char_boundary(at) {
        return None;
    }
    shape.cut_at(&generation.text, at, &prep.heal)
}

/// The request for the first candidate.
fn first_request(
    run: &Run,
    shape: &Shape,
    req: &CompletionRequest,
    opts: &PathOptions,
    config: &IdeConfig,
    cancel: &CancelToken,
    started: Instant,
) -> GenerateRequest {
    let prep = &run.prep;
    let mut first = GenerateRequest::new(
        prep.prompt.clone(),
        shape.stop_rules(&prep.heal),
        cancel.clone(),
    );
    first.deadline = plan::engine_deadline(started, run.budget);
    first.alternatives = if req.trigger == Trigger::Invoked && !req.raw {
        opts.alternatives.unwrap_or(INVOKED_ALTERNATIVES)
    } else {
        0
    };
    first.slot = run.slot;
    first.reuse_cache = config.kv_reuse;
    if !req.raw {
        first.forced = Some(prep.heal.forced.clone());
    }
    if let (Some(min), false, Trigger::Automatic) = (config.doubt_cut, req.raw, req.trigger) {
        first.stop.doubt = Some(shape.doubt_stop(&prep.heal, min));
    }
    first
}

/// The empty completion of a skipped request: the small window it would have used, nothing
/// generated.
#[allow(clippy::too_many_arguments)]
fn skipped(
    snap: &Snapshot,
    prep: &Prepared,
    small: PromptPlan,
    reason: SkipReason,
    mode: Mode,
    cursor: Position,
    started: Instant,
    model: String,
) -> Completion {
    Completion {
        text: String::new(),
        range: Range {
            start: cursor,
            end: cursor,
        },
        version: snap.doc.version(),
        mode: mode_name(mode),
        confidence: confidence_name(nib_postprocess::confidence(&[])),
        logprob_sum: None,
        logprob_mean: None,
        logprob_min: None,
        alternatives: Vec::new(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        prompt_tokens: small.prompt_tokens,
        reused_tokens: small.prompt_tokens,
        prefilled_tokens: 0,
        generated_tokens: 0,
        stop_reason: StopReason::Deadline,
        cache: None,
        shrunk: true,
        skipped: Some(reason.as_str()),
        raw: String::new(),
        dropped: Some(format!("{:?}", nib_postprocess::DropReason::Empty)),
        findings: Vec::new(),
        context: prep.report.clone(),
        repo_context: prep.repo_report.clone(),
        model,
        provider: "local",
        fallback: None,
    }
}

pub(crate) fn confidence_name(c: nib_postprocess::Confidence) -> &'static str {
    match c {
        nib_postprocess::Confidence::Low => "low",
        nib_postprocess::Confidence::Medium => "medium",
        nib_postprocess::Confidence::High => "high",
    }
}

/// The log-probabilities of the kept tokens, summed up.
struct Scores {
    /// Bucketed: low, medium or high.
    confidence: &'static str,
    sum: Option<f32>,
    mean: Option<f32>,
    min: Option<f32>,
}

impl Scores {
    fn of(tokens: &[nib_engine::GeneratedToken], kept_text: &str) -> Scores {
        let kept = kept_logprobs(tokens, kept_text);
        let sum = (!kept.is_empty()).then(|| kept.iter().sum::<f32>());
        Scores {
            confidence: confidence_name(nib_postprocess::confidence(&kept)),
            sum,
            mean: sum.map(|s| s / kept.len() as f32),
            min: kept.iter().copied().reduce(f32::min),
        }
    }
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
