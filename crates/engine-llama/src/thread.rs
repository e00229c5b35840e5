//! The worker thread: owns the context and the record of what its KV cache holds.

use std::num::NonZeroU32;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use nib_engine::{
    CancelToken, Candidate, EngineError, GenerateRequest, GeneratedToken, Generation, Slot,
    SpeedEstimate, StopReason, Throughput,
};

pub(crate) enum Job {
    Generate {
        req: Box<GenerateRequest>,
        reply: mpsc::Sender<Result<Generation, EngineError>>,
        /// When it was queued: what it waits for background work to yield.
        queued: Instant,
    },
    Prefill {
        slot: Slot,
        prompt: String,
        cancel: CancelToken,
        reply: mpsc::Sender<Result<usize, EngineError>>,
    },
}

/// Most draft tokens per decoding step, whatever is asked.
pub(crate) const MAX_DRAFT: usize = 16;

pub(crate) struct Params {
    pub n_ctx: NonZeroU32,
    pub n_batch: u32,
    /// First batch size of background prefill (then sized by time: `next_background_batch`).
    pub prefill_batch: usize,
    pub draft_tokens: usize,
    pub flash_attention: bool,
    pub threads: i32,
    pub stop_strings: Vec<String>,
    /// Applied to the context; kept alive as long as it.
    pub lora: Option<llama_cpp_2::model::LlamaLoraAdapter>,
}

/// State shared with the engine handle: what each slot holds, and measured speed.
#[derive(Clone)]
pub(crate) struct Shared {
    /// Per slot ([`seq`]), the tokens its cache holds.
    pub cached: [Arc<Mutex<Vec<LlamaToken>>>; 2],
    pub throughput: Arc<Mutex<Throughput>>,
    /// Generate jobs sent and not yet started: a background prefill yields to them (stops
    /// at its next batch) instead of making a request wait behind it.
    pub waiting_generates: Arc<std::sync::atomic::AtomicUsize>,
    /// The engine is being dropped: every job stops at its next batch or token, as if
    /// cancelled, so the thread ends soon after its queue is closed.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            cached: [Arc::default(), Arc::default()],
            waiting_generates: Arc::default(),
            stopping: Arc::default(),
            throughput: Arc::new(Mutex::new(Throughput {
                prefill_tokens_per_s: PRIOR_PREFILL_TOKENS_PER_S,
                decode_tokens_per_s: PRIOR_DECODE_TOKENS_PER_S,
            })),
        }
    }
}

pub(crate) fn run(
    backend: &'static LlamaBackend,
    model: Arc<LlamaModel>,
    params: Params,
    shared: Shared,
    jobs: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<(), EngineError>>,
) {
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(Some(params.n_ctx))
        .with_n_batch(params.n_batch)
        .with_n_ubatch(params.n_batch)
        .with_n_seq_max(2)
        .with_kv_unified(true)
        // llama.cpp's `llama_flash_attn_type`: 1 enabled, 0 disabled (-1, auto, enables it on
        // CPUs: see `LlamaConfig::flash_attention` for why not).
        .with_flash_attention_policy(i32::from(params.flash_attention))
        .with_n_threads(params.threads)
        .with_n_threads_batch(params.threads);
    let mut ctx = match model.new_context(backend, ctx_params) {
        Ok(ctx) => ctx,
        Err(e) => {
            let _ = ready.send(Err(EngineError::Backend(format!(
                "cannot create a llama.cpp context: {e}"
            ))));
            return;
        }
    };
    let mut lora = params.lora;
    if let Some(adapter) = lora.as_mut() {
        if let Err(e) = ctx.lora_adapter_set(adapter, 1.0) {
            let _ = ready.send(Err(EngineError::Unavailable(format!(
                "the LoRA adapter cannot be applied: {e}"
            ))));
            return;
        }
    }
    let mut worker = Worker {
        model: &model,
        ctx,
        cached: [Vec::new(), Vec::new()],
        batch: LlamaBatch::new(params.n_batch as usize, 1),
        n_batch: params.n_batch as usize,
        prefill_batch: params.prefill_batch.clamp(1, params.n_batch as usize),
        draft_tokens: params.draft_tokens.min(params.n_batch as usize - 1),
        stop_strings: params.stop_strings,
        shared,
        prefill_speed: SpeedEstimate::new(PRIOR_PREFILL_TOKENS_PER_S),
        decode_speed: SpeedEstimate::new(PRIOR_DECODE_TOKENS_PER_S),
    };
    worker.warm_up();
    let _ = ready.send(Ok(()));
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Generate { req, reply, queued } => {
                worker
                    .shared
                    .waiting_generates
                    .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                let t = Instant::now();
                let result = worker.generate(&req);
                let late = req.deadline.is_some_and(|d| Instant::now() > d);
                worker.prefill_batch =
                    backed_off_batch(worker.prefill_batch, late, t.duration_since(queued));
                let g = result.as_ref().ok();
                tracing::debug!(slot = ?req.slot, ms = t.elapsed().as_millis() as u64, waited_ms = t.duration_since(queued).as_millis() as u64, late, ok = g.is_some(), prompt = g.map(|g| g.prompt_tokens), reused = g.map(|g| g.reused_tokens), prefill_ms = g.map(|g| g.prefill_time.as_millis() as u64), out = g.map(|g| g.tokens.len()), drafted = g.map(|g| g.drafted_tokens), decode_ms = g.map(|g| g.decode_time.as_millis() as u64), "engine: generate");
                worker.publish();
                let _ = reply.send(result);
            }
            Job::Prefill {
                slot,
                prompt,
                cancel,
                reply,
            } => {
                let t = Instant::now();
                let tokens = worker.tokenize(&prompt);
                let first = worker.prefill_batch;
                let result = worker
                    .evaluate(slot, &tokens, &cancel, Until::RequestWaits, first)
                    .map(|(_, evaluated)| evaluated);
                worker.publish();
                tracing::debug!(
                    ms = t.elapsed().as_millis() as u64,
                    ?slot,
                    tokens = tokens.len(),
                    cached = worker.cached[seq(slot)].len(),
                    "engine: prefill"
                );
                let _ = reply.send(result);
            }
        }
    }
    tracing::debug!("engine thread stops");
}

struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// Per slot, the tokens whose keys/values are in the context, position i at index i.
    cached: [Vec<LlamaToken>; 2],
    batch: LlamaBatch<'static>,
    n_batch: usize,
    prefill_batch: usize,
    draft_tokens: usize,
    stop_strings: Vec<String>,
    shared: Shared,
    prefill_speed: SpeedEstimate,
    decode_speed: SpeedEstimate,
}

enum Evaluated {
    /// The last prompt token was evaluated in the last batch: its logits are at this index.
    Logits(i32),
    Interrupted(StopReason),
}

/// How long one batch of background prefill should take: a request that arrives meanwhile
/// waits for the batch to finish (llama.cpp cannot stop a batch halfway).
const BACKGROUND_BATCH_TARGET: std::time::Duration = std::time::Duration::from_millis(60);
const MIN_BACKGROUND_BATCH: usize = 2;
/// A request that waited this long for the engine waited for background work (a job queued
/// on an idle engine starts within microseconds).
const WAIT_FOR_BACKGROUND: std::time::Duration = std::time::Duration::from_millis(2);
const MAX_BACKGROUND_BATCH: usize = 64;
/// Prefill batch size (tokens) and decoded steps from which a measurement counts fully.
const FULL_WEIGHT_PREFILL: f64 = 32.0;
const FULL_WEIGHT_DECODE: f64 = 8.0;
/// The built-in guesses, before anything is measured.
const PRIOR_PREFILL_TOKENS_PER_S: f64 = 300.0;
const PRIOR_DECODE_TOKENS_PER_S: f64 = 60.0;
/// Code run through the model once before it is reported ready (see `Worker::warm_up`).
const WARM_UP_TEXT: &str = "import os\n\n\ndef read_lines(path):\n    \"\"\"The lines of a text file.\"\"\"\n    with open(path) as f:\n        return [line.rstrip() for line in f]\n";

/// First tokens looked at beyond those asked for when some must be skipped (`avoid`).
const AVOID_SPARE: usize = 16;

/// The size of the next background batch after one of `size` tokens took `took`: halved while
/// batches take longer than [`BACKGROUND_BATCH_TARGET`], doubled while they take less than
/// half of it. A batch's cost grows with the cached context and differs many times between
/// CPUs (16 tokens at 3,000 cached: ~50 ms on one 2-core machine here, ~380 ms on another),
/// so a fixed size either starves the background work or makes requests wait.
fn next_background_batch(size: usize, took: std::time::Duration) -> usize {
    if took > BACKGROUND_BATCH_TARGET {
        (size / 2).max(MIN_BACKGROUND_BATCH)
    } else if took * 2 < BACKGROUND_BATCH_TARGET {
        (size * 2).min(MAX_BACKGROUND_BATCH)
    } else {
        size
    }
}

/// The size of the next background batch after a request that waited `waited` for the
/// engine: halved when the request then ended after its deadline having waited for background
/// work (the batch it waited for made it late), unchanged otherwise.
fn backed_off_batch(size: usize, late: bool, waited: std::time::Duration) -> usize {
    if late && waited >= WAIT_FOR_BACKGROUND {
        (size / 2).max(MIN_BACKGROUND_BATCH)
    } else {
        size
    }
}

/// When an evaluation stops early (besides cancellation).
#[derive(Debug, Clone, Copy)]
enum Until {
    /// A request's deadline, if any.
    Deadline(Option<Instant>),
    /// Background work: as soon as a generate job is waiting.
    RequestWaits,
}

pub(crate) fn seq(slot: Slot) -> usize {
    match slot {
        Slot::Main => 0,
        Slot::Scratch => 1,
    }
}

impl Worker<'_> {
    /// The job's client cancelled it, or the engine is stopping.
    fn cancelled(&self, cancel: &CancelToken) -> bool {
        cancel.is_cancelled()
            || self
                .shared
                .stopping
                .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn tokenize(&self, prompt: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(prompt.as_bytes(), true, true)
    }

    fn n_ctx(&self) -> usize {
        self.ctx.n_ctx() as usize
    }

    /// Cells in use by both slots (they share one unified cache).
    fn used(&self) -> usize {
        self.cached[0].len() + self.cached[1].len()
    }

    fn publish(&self) {
        for (shared, cached) in self.shared.cached.iter().zip(&self.cached) {
            if let Ok(mut m) = shared.lock() {
                m.clone_from(cached);
            }
        }
    }

    /// Add measurements to the speed estimates ([`SpeedEstimate`]) and publish them. Each
    /// counts by its size: a batch of [`FULL_WEIGHT_PREFILL`] tokens or a generation of
    /// [`FULL_WEIGHT_DECODE`] steps counts fully, smaller ones less; `weight` scales that.
    fn record_speed(
        &mut self,
        prefill: Option<(usize, f64)>,
        decode: Option<(usize, f64)>,
        weight: f64,
    ) {
        if let Some((n, secs)) = prefill {
            let w = (n as f64 / FULL_WEIGHT_PREFILL).min(1.0) * weight;
            self.prefill_speed.observe(n, secs, w);
        }
        if let Some((n, secs)) = decode {
            let w = (n as f64 / FULL_WEIGHT_DECODE).min(1.0) * weight;
            self.decode_speed.observe(n, secs, w);
        }
        if let Ok(mut t) = self.shared.throughput.lock() {
            t.prefill_tokens_per_s = self.prefill_speed.rate();
            t.decode_tokens_per_s = self.decode_speed.rate();
        }
    }

    /// Drop everything of `slot` after its first `len` cached tokens.
    fn truncate_to(&mut self, slot: Slot, len: usize) -> Result<(), EngineError> {
        let s = seq(slot);
        if len < self.cached[s].len() {
            let ok = self
                .ctx
                .clear_kv_cache_seq(Some(s as u32), Some(len as u32), None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
            if !ok {
                self.ctx.clear_kv_cache();
                self.cached = [Vec::new(), Vec::new()];
                return Err(EngineError::Backend("cannot truncate the KV cache".into()));
            }
            self.cached[s].truncate(len);
        }
        Ok(())
    }

    /// Bring `slot` to hold exactly `tokens`, evaluating only what follows the common prefix,
    /// `batch_size` tokens at a time (background work, [`Until::RequestWaits`], sizes its
    /// batches by time instead: [`next_background_batch`]), until done or `until` says stop.
    /// Returns where the last token's logits are, and how many tokens were evaluated.
    fn evaluate(
        &mut self,
        slot: Slot,
        tokens: &[LlamaToken],
        cancel: &CancelToken,
        until: Until,
        batch_size: usize,
    ) -> Result<(Evaluated, usize), EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::Backend("empty prompt".into()));
        }
        let s = seq(slot);
        let mut common = self.cached[s]
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // The last prompt token must be evaluated again to get its logits.
        if common == tokens.len() {
            common -= 1;
        }
        self.truncate_to(slot, common)?;
        // Both slots share the cache: a main prompt may evict the scratch slot.
        let other = 1 - s;
        if tokens.len() + self.cached[other].len() >= self.n_ctx() {
            let other_slot = if other == 0 {
                Slot::Main
            } else {
                Slot::Scratch
            };
            self.truncate_to(other_slot, 0)?;
        }
        if tokens.len() >= self.n_ctx() {
            return Err(EngineError::PromptTooLong {
                tokens: tokens.len(),
                context: self.n_ctx(),
            });
        }
        let mut evaluated = 0;
        let mut pos = common;
        while pos < tokens.len() {
            let waiting = || {
                self.shared
                    .waiting_generates
                    .load(std::sync::atomic::Ordering::SeqCst)
                    > 0
            };
            let stop = match until {
                _ if self.cancelled(cancel) => Some(StopReason::Cancelled),
                Until::Deadline(Some(d)) if Instant::now() >= d => Some(StopReason::Deadline),
                Until::RequestWaits if waiting() => Some(StopReason::Cancelled),
                _ => None,
            };
            if let Some(reason) = stop {
                return Ok((Evaluated::Interrupted(reason), evaluated));
            }
            let background = matches!(until, Until::RequestWaits);
            let size = if background {
                self.prefill_batch
            } else {
                batch_size
            };
            let end = (pos + size.min(self.n_batch)).min(tokens.len());
            let batch_started = Instant::now();
            self.batch.clear();
            for (i, &tok) in tokens[pos..end].iter().enumerate() {
                let p = pos + i;
                self.batch
                    .add(tok, p as i32, &[s as i32], p + 1 == tokens.len())
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            self.decode()?;
            // Every batch is a measurement, requests' and background ones alike.
            self.record_speed(
                Some((end - pos, batch_started.elapsed().as_secs_f64())),
                None,
                1.0,
            );
            if background && end - pos == size {
                self.prefill_batch =
                    next_background_batch(size, batch_started.elapsed()).min(self.n_batch);
            }
            self.cached[s].extend_from_slice(&tokens[pos..end]);
            evaluated += end - pos;
            pos = end;
        }
        Ok((Evaluated::Logits(self.batch.n_tokens() - 1), evaluated))
    }

    /// Runs a short text through the model before it is reported ready, then forgets it, and
    /// takes its speed as the first prefill measurement. The built-in guess (300 tokens/s)
    /// is several times too high on slow CPUs: the first requests after start would plan
    /// more context than their budget can prefill, and llama.cpp cannot stop a batch halfway.
    /// The first decode also sizes llama.cpp's compute buffers.
    fn warm_up(&mut self) {
        let tokens = self.tokenize(WARM_UP_TEXT);
        let n = tokens.len().min(self.n_batch);
        self.batch.clear();
        for (i, &t) in tokens[..n].iter().enumerate() {
            if self.batch.add(t, i as i32, &[0], i + 1 == n).is_err() {
                return;
            }
        }
        let t = Instant::now();
        let ok = self.decode().is_ok();
        let secs = t.elapsed().as_secs_f64();
        self.ctx.clear_kv_cache();
        self.cached = [Vec::new(), Vec::new()];
        tracing::debug!(tokens = n, ms = secs * 1000.0, "engine: warm-up");
        if ok {
            // A measurement on this machine replaces the built-in guess outright; it counts
            // half, since part of its time is paging the model in and sizing buffers, so the
            // first batches of real requests correct it quickly.
            self.record_speed(Some((n, secs)), None, 0.5);
        }
    }

    fn decode(&mut self) -> Result<(), EngineError> {
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            // The cache state is unknown after a failed decode: forget it.
            self.ctx.clear_kv_cache();
            self.cached = [Vec::new(), Vec::new()];
            return Err(EngineError::Backend(format!(
                "llama.cpp decode failed: {e}"
            )));
        }
        Ok(())
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<Generation, EngineError> {
        let tokens = self.tokenize(&req.prompt);
        let max_tokens = req
            .stop
            .max_tokens
            .min(self.n_ctx().saturating_sub(tokens.len() + 1));
        let started = Instant::now();
        if !req.reuse_cache {
            self.truncate_to(req.slot, 0)?;
        }
        let n_batch = self.n_batch;
        let (evaluated, n_eval) = self.evaluate(
            req.slot,
            &tokens,
            &req.cancel,
            Until::Deadline(req.deadline),
            n_batch,
        )?;
        let mut out = Generation {
            text: String::new(),
            tokens: Vec::new(),
            stop_reason: StopReason::MaxTokens,
            alternatives: Vec::new(),
            prompt_tokens: tokens.len(),
            reused_tokens: tokens.len().saturating_sub(n_eval),
            prefill_time: started.elapsed(),
            decode_time: Default::default(),
            drafted_tokens: 0,
        };
        let logits_at = match evaluated {
            Evaluated::Logits(i) => i,
            Evaluated::Interrupted(reason) => {
                out.stop_reason = reason;
                return Ok(out);
            }
        };
        // Room for the first tokens `avoid` rules out.
        let spare = if req.avoid.is_empty() { 0 } else { AVOID_SPARE };
        let k = 1 + req.alternatives + req.first_rank + spare;
        let mut firsts: Vec<((LlamaToken, f32), Option<usize>)> = match &req.forced {
            Some(f) if !f.text.is_empty() || f.then_non_blank => {
                self.constrained_top_k(self.ctx.get_logits_ith(logits_at), k, f, f.text.len())
            }
            _ => top_k_logprobs(self.ctx.get_logits_ith(logits_at), k)
                .into_iter()
                .map(|t| (t, None))
                .collect(),
        };
        if !req.avoid.is_empty() {
            let vocab = self.model.vocab();
            firsts.retain(|&((token, _), _)| {
                !vocab.is_eog(token)
                    && !avoided("", &vocab.token_to_piece(token, true, None), &req.avoid)
            });
        }
        firsts.drain(..req.first_rank.min(firsts.len()));
        firsts.truncate(1 + req.alternatives);
        if firsts.is_empty() {
            out.stop_reason = StopReason::EndOfGeneration;
            return Ok(out);
        }
        let prompt_len = self.cached[seq(req.slot)].len();
        let decode_started = Instant::now();
        let mut stops: Vec<String> = self.stop_strings.clone();
        stops.extend(
            req.stop
                .stop_strings
                .iter()
                .filter(|s| !s.is_empty())
                .cloned(),
        );
        let mut decoded = 0;
        for (i, &(first, forced_left)) in firsts.iter().enumerate() {
            if i > 0 {
                if self.cancelled(&req.cancel) || req.deadline.is_some_and(|d| Instant::now() >= d)
                {
                    break;
                }
                self.truncate_to(req.slot, prompt_len)?;
            }
            let (cand, drafted) =
                self.decode_from(req.slot, first, forced_left, req, max_tokens, &stops)?;
            decoded += cand.tokens.len();
            out.drafted_tokens += drafted;
            if i == 0 {
                out.text = cand.text;
                out.tokens = cand.tokens;
                out.stop_reason = cand.stop_reason;
            } else {
                out.alternatives.push(cand);
            }
        }
        out.decode_time = decode_started.elapsed();
        self.record_speed(None, Some((decoded, out.decode_time.as_secs_f64())), 1.0);
        Ok(out)
    }

    /// The `k` most likely tokens that agree with the forced start of the output, when
    /// `remaining` bytes of it are still to come; each with the bytes left after it (`None`:
    /// the constraint is satisfied). End-of-generation is not allowed while it holds.
    fn constrained_top_k(
        &self,
        logits: &[f32],
        k: usize,
        forced: &nib_engine::Forced,
        remaining: usize,
    ) -> Vec<((LlamaToken, f32), Option<usize>)> {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln();
        // The allowed tokens are nearly always among the most likely few: look there first.
        let top: Vec<usize> = top_k_logprobs(logits, 64)
            .into_iter()
            .map(|(t, _)| t.0 as usize)
            .collect();
        let out = self.allowed_among(&top, logits, lse, k, forced, remaining);
        if out.len() >= k {
            return out;
        }
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        self.allowed_among(&order, logits, lse, k, forced, remaining)
    }

    fn allowed_among(
        &self,
        order: &[usize],
        logits: &[f32],
        lse: f32,
        k: usize,
        forced: &nib_engine::Forced,
        remaining: usize,
    ) -> Vec<((LlamaToken, f32), Option<usize>)> {
        let vocab = self.model.vocab();
        let mut out = Vec::with_capacity(k);
        for &i in order {
            let token = LlamaToken(i as i32);
            if vocab.is_eog(token) {
                continue;
            }
            let piece = vocab.token_to_piece(token, true, None);
            let left = match forced.step(remaining, &piece) {
                nib_engine::ForcedStep::Rejected => continue,
                nib_engine::ForcedStep::Done => None,
                nib_engine::ForcedStep::Continue(n) => Some(n),
            };
            out.push(((token, logits[i] - lse), left));
            if out.len() >= k {
                break;
            }
        }
        out
    }

    /// Greedy decoding starting with the chosen `first` token; while `forced_left` is
    /// `Some`, the request's forced start still constrains the choice. Returns the candidate
    /// and how many of its tokens came from verified drafts.
    ///
    /// Each step feeds the chosen token together with up to `draft_tokens` guessed next tokens
    /// (prompt lookup, [`draft`]) in one batch; the guesses the model's own greedy choices
    /// confirm are taken as they are, the rest leave the KV cache again. One batch of a few
    /// tokens costs little more than one token on a CPU, so each confirmed guess saves most
    /// of a step.
    fn decode_from(
        &mut self,
        slot: Slot,
        first: (LlamaToken, f32),
        mut forced_left: Option<usize>,
        req: &GenerateRequest,
        max_tokens: usize,
        stops: &[String],
    ) -> Result<(Candidate, usize), EngineError> {
        let vocab = self.model.vocab();
        let s = seq(slot);
        let mut out = Candidate {
            text: String::new(),
            tokens: Vec::new(),
            stop_reason: StopReason::MaxTokens,
        };
        let mut pending = Vec::<u8>::new();
        // Tokens already chosen; `true`: already in the KV cache (a confirmed draft).
        let mut queued = std::collections::VecDeque::from([(first, false)]);
        // Where the logits for the token after the last fed one are.
        let mut logits_row = 0;
        let mut drafted = 0;
        // The cost of one decoding step: measured speed, then the last step's time.
        let decode_tps = self
            .shared
            .throughput
            .lock()
            .map_or(60.0, |t| t.decode_tokens_per_s);
        let mut step_estimate = std::time::Duration::from_secs_f64(1.0 / decode_tps.max(1.0));
        loop {
            if out.tokens.len() >= max_tokens {
                out.stop_reason = StopReason::MaxTokens;
                break;
            }
            if self.cancelled(&req.cancel) {
                out.stop_reason = StopReason::Cancelled;
                break;
            }
            if req.deadline.is_some_and(|d| Instant::now() >= d) {
                out.stop_reason = StopReason::Deadline;
                break;
            }
            // Until the candidate has code, it must not lead back into a rejected text.
            let avoiding = !req.avoid.is_empty() && out.text.trim().is_empty();
            let ((token, logprob), in_cache) = match (queued.pop_front(), forced_left, &req.forced)
            {
                (Some(t), ..) => t,
                (None, Some(left), Some(f)) => {
                    let k = if avoiding { AVOID_SPARE } else { 1 };
                    let Some(&(t, after)) = self
                        .constrained_top_k(self.ctx.get_logits_ith(logits_row), k, f, left)
                        .iter()
                        .find(|((t, _), _)| {
                            !avoiding
                                || !avoided(
                                    &out.text,
                                    &vocab.token_to_piece(*t, true, None),
                                    &req.avoid,
                                )
                        })
                    else {
                        out.stop_reason = StopReason::EndOfGeneration;
                        break;
                    };
                    forced_left = after;
                    (t, false)
                }
                _ if avoiding => {
                    let Some(t) = top_k_logprobs(self.ctx.get_logits_ith(logits_row), AVOID_SPARE)
                        .into_iter()
                        .find(|&(t, _)| {
                            !vocab.is_eog(t)
                                && !avoided(
                                    &out.text,
                                    &vocab.token_to_piece(t, true, None),
                                    &req.avoid,
                                )
                        })
                    else {
                        out.stop_reason = StopReason::EndOfGeneration;
                        break;
                    };
                    (t, false)
                }
                _ => (argmax_logprob(self.ctx.get_logits_ith(logits_row)), false),
            };
            if vocab.is_eog(token) {
                out.stop_reason = StopReason::EndOfGeneration;
                break;
            }
            pending.extend(vocab.token_to_piece(token, true, None));
            let piece = take_valid_utf8(&mut pending);
            out.text.push_str(&piece);
            out.tokens.push(GeneratedToken {
                text: piece,
                logprob,
            });
            if in_cache {
                drafted += 1;
            }
            if let Some(cut) = first_stop(&out.text, stops) {
                out.text.truncate(cut);
                out.stop_reason = StopReason::StopString;
                break;
            }
            if req.stop.stop_at_newline {
                let trimmed = out.text.trim_start_matches(['\n', '\r']);
                if let Some(nl) = trimmed.find('\n') {
                    if !trimmed[..nl].trim().is_empty() {
                        let cut = out.text.len() - trimmed.len() + nl;
                        out.text.truncate(cut);
                        out.stop_reason = StopReason::Newline;
                        break;
                    }
                }
            }
            if req.stop.should_stop.as_ref().is_some_and(|f| f(&out.text)) {
                out.stop_reason = StopReason::Caller;
                break;
            }
            if req.stop.stops_at_doubt(&out.tokens) {
                out.stop_reason = StopReason::Doubt;
                break;
            }
            if in_cache {
                continue;
            }
            // Feed the token back, with a draft of what may follow when nothing constrains it.
            let pos = self.cached[s].len();
            let room = self
                .n_ctx()
                .saturating_sub(self.used() + 2)
                .min(max_tokens.saturating_sub(out.tokens.len() + 1));
            if room == 0 && self.used() + 1 >= self.n_ctx() {
                out.stop_reason = StopReason::MaxTokens;
                break;
            }
            // A step that would end after the deadline is not started: the token just chosen
            // is the last one (one step costs 15-70 ms on 2 cores; starting it anyway would
            // overrun the budget by that much).
            if let Some(d) = req.deadline {
                if Instant::now() + step_estimate > d {
                    out.stop_reason = StopReason::Deadline;
                    break;
                }
            }
            let guess = if forced_left.is_none() && !avoiding {
                let most = req.draft_tokens.map_or(self.draft_tokens, |n| {
                    n.min(MAX_DRAFT).min(self.n_batch - 1)
                });
                draft(&self.cached[s], token, most.min(room))
            } else {
                Vec::new()
            };
            self.batch.clear();
            for (i, &t) in std::iter::once(&token).chain(&guess).enumerate() {
                self.batch
                    .add(t, (pos + i) as i32, &[s as i32], true)
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            let step_started = Instant::now();
            self.decode()?;
            step_estimate = step_started.elapsed();
            self.cached[s].push(token);
            self.cached[s].extend_from_slice(&guess);
            // Keep the guesses the model would have chosen itself.
            let mut kept = 0;
            while kept < guess.len() {
                let (t, lp) = argmax_logprob(self.ctx.get_logits_ith(kept as i32));
                if t != guess[kept] {
                    break;
                }
                queued.push_back(((t, lp), true));
                kept += 1;
            }
            self.truncate_to(slot, pos + 1 + kept)?;
            logits_row = kept as i32;
        }
        Ok((out, drafted))
    }
}

/// Whether the next token `piece` after the candidate's text `so_far` (blank so far) is ruled
/// out by the rejected texts `avoid`: it ends the line before any code (a blank line), or it
/// commits to the code one of them starts with.
fn avoided(so_far: &str, piece: &[u8], avoid: &[String]) -> bool {
    if piece.is_empty() {
        return true;
    }
    let text = [so_far.as_bytes(), piece].concat();
    let blank = |b: &u8| b.is_ascii_whitespace();
    if let Some(nl) = text.iter().position(|&b| b == b'\n') {
        if text[..nl].iter().all(blank) {
            return true;
        }
    }
    !piece.iter().all(blank) && avoid.iter().any(|a| a.as_bytes().starts_with(&text))
}

/// Prompt lookup: the tokens that followed the latest earlier occurrence of the last few
/// tokens of `history` + `next` (3, else 2 tokens long), at most `max` of them.
fn draft(history: &[LlamaToken], next: LlamaToken, max: usize) -> Vec<LlamaToken> {
    if max == 0 || history.len() < 3 {
        return Vec::new();
    }
    let at = |i: usize| if i == history.len() { next } else { history[i] };
    let len = history.len() + 1;
    for n in [3usize, 2] {
        // Occurrences ending before the last token; the latest one wins.
        let tail: Vec<LlamaToken> = (len - n..len).map(at).collect();
        let found = (0..len - n)
            .rev()
            .find(|&start| (0..n).all(|j| at(start + j) == tail[j]));
        if let Some(start) = found {
            let from = start + n;
            let to = (from + max).min(len);
            return (from..to).map(at).collect();
        }
    }
    Vec::new()
}

/// The `k` most likely tokens with their log-probabilities, best first.
fn top_k_logprobs(logits: &[f32], k: usize) -> Vec<(LlamaToken, f32)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln();
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, &l) in logits.iter().enumerate() {
        if best.len() < k || l > best[best.len() - 1].1 {
            let at = best.partition_point(|&(_, b)| b >= l);
            best.insert(at, (i, l));
            best.truncate(k);
        }
    }
    best.into_iter()
        .map(|(i, l)| (LlamaToken(i as i32), l - lse))
        .collect()
}

/// Greedy choice and its log-probability (log-softmax of the winning logit).
fn argmax_logprob(logits: &[f32]) -> (LlamaToken, f32) {
    let mut best = 0usize;
    let mut max = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if l > max {
            max = l;
            best = i;
        }
    }
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    (LlamaToken(best as i32), -sum.ln())
}

/// Take the longest valid UTF-8 prefix out of `bytes`, leaving an incomplete tail for the next
/// token; bytes that can never become valid are replaced.
fn take_valid_utf8(bytes: &mut Vec<u8>) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let s = s.to_string();
            bytes.clear();
            s
        }
        Err(e) => {
            let valid = e.valid_up_to();
            let mut s = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            match e.error_len() {
                // Incomplete sequence at the end: keep it for the next token.
                None => {
                    bytes.drain(..valid);
                }
                Some(bad) => {
                    s.push(char::REPLACEMENT_CHARACTER);
                    bytes.drain(..valid + bad);
                    s.push_str(&take_valid_utf8(bytes));
                }
            }
            s
        }
    }
}

fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avoided_first_tokens_lead_back_into_a_rejected_text_or_give_a_blank_line() {
        let avoid = ["    return res".to_string()];
        // Indentation alone is allowed: the code after it decides.
        assert!(!avoided("", b"    ", &avoid));
        assert!(!avoided("", b"  ", &avoid));
        // The same code as the rejected text, whole or in part.
        assert!(avoided("    ", b"return", &avoid));
        assert!(avoided("", b"    return", &avoid));
        // Different code, or the same code at another indentation.
        assert!(!avoided("    ", b"if", &avoid));
        assert!(!avoided("        ", b"return", &avoid));
        // A blank line, nothing at all.
        assert!(avoided("", b"\n", &avoid));
        assert!(avoided("  ", b" \n", &avoid));
        assert!(avoided("", b"", &avoid));
    }

    #[test]
    fn utf8_split_across_tokens() {
        let mut b = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_valid_utf8(&mut b), "");
        b.extend_from_slice(&"é".as_bytes()[1..]);
        b.extend_from_slice(b"x");
        assert_eq!(take_valid_utf8(&mut b), "éx");
        let mut bad = vec![b'a', 0xff, b'b'];
        assert_eq!(take_valid_utf8(&mut bad), "a\u{fffd}b");
    }

    #[test]
    fn top_k_is_sorted_and_normalised() {
        let top = top_k_logprobs(&[1.0, 3.0, 2.0, 0.0], 3);
        let ids: Vec<i32> = top.iter().map(|(t, _)| t.0).collect();
        assert_eq!(ids, vec![1, 2, 0]);
        let total: f32 = [1.0f32, 3.0, 2.0, 0.0]
            .iter()
            .map(|l| (l - 3.0f32).exp())
            .sum();
        assert!((top[0].1 - (-total.ln())).abs() < 1e-5);
    }

    #[test]
    fn background_batches_follow_their_time_target() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        // Too slow: halve, down to the floor.
        assert_eq!(next_background_batch(16, ms(380)), 8);
        assert_eq!(next_background_batch(2, ms(380)), MIN_BACKGROUND_BATCH);
        // Fast: double, up to the cap.
        assert_eq!(next_background_batch(16, ms(20)), 32);
        assert_eq!(next_background_batch(64, ms(5)), MAX_BACKGROUND_BATCH);
        // Near the target: keep.
        assert_eq!(next_background_batch(16, ms(45)), 16);
        // From any start, a CPU where a token costs 20 ms settles at 2-3 tokens a batch.
        let mut size = 16;
        for _ in 0..10 {
            size = next_background_batch(size, ms(20 * size as u64));
        }
        assert!(size * 20 <= 60 && size >= MIN_BACKGROUND_BATCH, "{size}");
    }

    /// Background batches shrink while they take longer than their target and grow while they
    /// take less than half of it; a request made late by waiting for one halves the next.
    #[test]
    fn background_batches_are_sized_by_time_and_back_off_when_requests_are_late() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(next_background_batch(16, ms(200)), 8);
        assert_eq!(next_background_batch(2, ms(200)), MIN_BACKGROUND_BATCH);
        assert_eq!(next_background_batch(16, ms(10)), 32);
        assert_eq!(
            next_background_batch(MAX_BACKGROUND_BATCH, ms(1)),
            MAX_BACKGROUND_BATCH
        );
        assert_eq!(next_background_batch(16, ms(40)), 16);
        assert_eq!(backed_off_batch(16, true, ms(30)), 8, "late after waiting");
        assert_eq!(
            backed_off_batch(16, true, ms(0)),
            16,
            "late, but not for waiting"
        );
        assert_eq!(
            backed_off_batch(16, false, ms(30)),
            16,
            "waited, but in time"
        );
        assert_eq!(backed_off_batch(2, true, ms(30)), MIN_BACKGROUND_BATCH);
    }

    #[test]
    fn draft_continues_the_latest_earlier_occurrence() {
        let t = |v: &[i32]| v.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        // ... 1 2 3 4 5 ... 1 2 | next 3 -> 4 5 (the 3-gram "1 2 3" seen before).
        let history = t(&[9, 1, 2, 3, 4, 5, 8, 1, 2]);
        assert_eq!(draft(&history, LlamaToken(3), 4), t(&[4, 5, 8, 1]));
        assert_eq!(draft(&history, LlamaToken(3), 1), t(&[4]));
        // Only a 2-gram matches: "2 7" nowhere, "8 1" -> 2.
        let history = t(&[8, 1, 2, 6, 6, 8]);
        assert_eq!(draft(&history, LlamaToken(1), 3), t(&[2, 6, 6]));
        // Nothing to go on.
        assert_eq!(draft(&t(&[1, 2, 3]), LlamaToken(4), 4), t(&[]));
        assert_eq!(draft(&t(&[1, 2]), LlamaToken(1), 4), t(&[]));
        assert_eq!(draft(&history, LlamaToken(1), 0), t(&[]));
        // The draft never reaches past the end (the occurrence right before the tail).
        let history = t(&[5, 5, 5]);
        assert_eq!(draft(&history, LlamaToken(5), 4), t(&[5]));
    }

    #[test]
    fn logprob_of_a_certain_token_is_zero() {
        let (tok, lp) = argmax_logprob(&[0.0, 100.0, 0.0]);
        assert_eq!(tok, LlamaToken(1));
        assert!(lp.abs() < 1e-6);
    }
}
