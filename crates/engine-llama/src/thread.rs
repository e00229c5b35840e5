//! The worker thread: owns the context and the record of what its KV cache holds.

use std::num::NonZeroU32;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use nib_engine::{
    CancelToken, Candidate, EngineError, GenerateRequest, GeneratedToken, Generation, StopReason,
};

pub(crate) enum Job {
    Generate {
        req: GenerateRequest,
        reply: mpsc::Sender<Result<Generation, EngineError>>,
    },
    Prefill {
        prompt: String,
        cancel: CancelToken,
        reply: mpsc::Sender<Result<usize, EngineError>>,
    },
}

pub(crate) struct Params {
    pub n_ctx: NonZeroU32,
    pub n_batch: u32,
    pub threads: i32,
    pub stop_strings: Vec<String>,
}

pub(crate) fn run(
    backend: &'static LlamaBackend,
    model: Arc<LlamaModel>,
    params: Params,
    jobs: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<(), EngineError>>,
) {
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(Some(params.n_ctx))
        .with_n_batch(params.n_batch)
        .with_n_ubatch(params.n_batch)
        .with_n_threads(params.threads)
        .with_n_threads_batch(params.threads);
    let ctx = match model.new_context(backend, ctx_params) {
        Ok(ctx) => ctx,
        Err(e) => {
            let _ = ready.send(Err(EngineError::Backend(format!(
                "cannot create a llama.cpp context: {e}"
            ))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut worker = Worker {
        model: &model,
        ctx,
        cached: Vec::new(),
        batch: LlamaBatch::new(params.n_batch as usize, 1),
        n_batch: params.n_batch as usize,
        stop_strings: params.stop_strings,
    };
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Generate { req, reply } => {
                let result = worker.generate(&req);
                let _ = reply.send(result);
            }
            Job::Prefill {
                prompt,
                cancel,
                reply,
            } => {
                let tokens = worker.tokenize(&prompt);
                let result = worker
                    .evaluate(&tokens, &cancel, None)
                    .map(|(_, evaluated)| evaluated);
                let _ = reply.send(result);
            }
        }
    }
    tracing::debug!("engine thread stops");
}

struct Worker<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// The tokens whose keys/values are in the context, position i at index i.
    cached: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    stop_strings: Vec<String>,
}

enum Evaluated {
    /// The last prompt token was evaluated in the last batch: its logits are at this index.
    Logits(i32),
    Interrupted(StopReason),
}

impl Worker<'_> {
    fn tokenize(&self, prompt: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(prompt.as_bytes(), true, true)
    }

    fn n_ctx(&self) -> usize {
        self.ctx.n_ctx() as usize
    }

    /// Bring the cache to hold exactly `tokens`, evaluating only what follows the common
    /// prefix. Returns where the last token's logits are, and how many tokens were evaluated.
    fn evaluate(
        &mut self,
        tokens: &[LlamaToken],
        cancel: &CancelToken,
        deadline: Option<Instant>,
    ) -> Result<(Evaluated, usize), EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::Backend("empty prompt".into()));
        }
        if tokens.len() >= self.n_ctx() {
            return Err(EngineError::PromptTooLong {
                tokens: tokens.len(),
                context: self.n_ctx(),
            });
        }
        let mut common = self
            .cached
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // The last prompt token must be evaluated again to get its logits.
        if common == tokens.len() {
            common -= 1;
        }
        if common < self.cached.len() {
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(common as u32), None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
            if !removed {
                // The backend could not drop a partial range: start over.
                self.ctx.clear_kv_cache();
                common = 0;
            }
            self.cached.truncate(common);
        }
        let mut evaluated = 0;
        let mut pos = common;
        while pos < tokens.len() {
            if cancel.is_cancelled() {
                return Ok((Evaluated::Interrupted(StopReason::Cancelled), evaluated));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((Evaluated::Interrupted(StopReason::Deadline), evaluated));
            }
            let end = (pos + self.n_batch).min(tokens.len());
            self.batch.clear();
            for (i, &tok) in tokens[pos..end].iter().enumerate() {
                let p = pos + i;
                self.batch
                    .add(tok, p as i32, &[0], p + 1 == tokens.len())
                    .map_err(|e| EngineError::Backend(e.to_string()))?;
            }
            self.decode()?;
            self.cached.extend_from_slice(&tokens[pos..end]);
            evaluated += end - pos;
            pos = end;
        }
        Ok((Evaluated::Logits(self.batch.n_tokens() - 1), evaluated))
    }

    fn decode(&mut self) -> Result<(), EngineError> {
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            // The cache state is unknown after a failed decode: forget it.
            self.ctx.clear_kv_cache();
            self.cached.clear();
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
        let (evaluated, n_eval) = self.evaluate(&tokens, &req.cancel, req.deadline)?;
        let mut out = Generation {
            text: String::new(),
            tokens: Vec::new(),
            stop_reason: StopReason::MaxTokens,
            alternatives: Vec::new(),
            prompt_tokens: tokens.len(),
            reused_tokens: tokens.len().saturating_sub(n_eval),
            prefill_time: started.elapsed(),
            decode_time: Default::default(),
        };
        let logits_at = match evaluated {
            Evaluated::Logits(i) => i,
            Evaluated::Interrupted(reason) => {
                out.stop_reason = reason;
                return Ok(out);
            }
        };
        let firsts = top_k_logprobs(self.ctx.get_logits_ith(logits_at), 1 + req.alternatives);
        let prompt_len = self.cached.len();
        let decode_started = Instant::now();
        let mut stops: Vec<String> = self.stop_strings.clone();
        stops.extend(
            req.stop
                .stop_strings
                .iter()
                .filter(|s| !s.is_empty())
                .cloned(),
        );
        for (i, &first) in firsts.iter().enumerate() {
            if i > 0 {
                if req.cancel.is_cancelled() || req.deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                self.truncate_to(prompt_len)?;
            }
            let cand = self.decode_from(first, req, max_tokens, &stops)?;
            if i == 0 {
                out.text = cand.text;
                out.tokens = cand.tokens;
                out.stop_reason = cand.stop_reason;
            } else {
                out.alternatives.push(cand);
            }
        }
        out.decode_time = decode_started.elapsed();
        Ok(out)
    }

    /// Drop everything after the first `len` cached tokens.
    fn truncate_to(&mut self, len: usize) -> Result<(), EngineError> {
        if len < self.cached.len() {
            let ok = self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(len as u32), None)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
            if !ok {
                self.ctx.clear_kv_cache();
                self.cached.clear();
                return Err(EngineError::Backend("cannot truncate the KV cache".into()));
            }
            self.cached.truncate(len);
        }
        Ok(())
    }

    /// Greedy decoding starting with the chosen `first` token.
    fn decode_from(
        &mut self,
        first: (LlamaToken, f32),
        req: &GenerateRequest,
        max_tokens: usize,
        stops: &[String],
    ) -> Result<Candidate, EngineError> {
        let vocab = self.model.vocab();
        let mut out = Candidate {
            text: String::new(),
            tokens: Vec::new(),
            stop_reason: StopReason::MaxTokens,
        };
        let mut pending = Vec::<u8>::new();
        let mut next = Some(first);
        loop {
            if out.tokens.len() >= max_tokens {
                out.stop_reason = StopReason::MaxTokens;
                break;
            }
            if req.cancel.is_cancelled() {
                out.stop_reason = StopReason::Cancelled;
                break;
            }
            if req.deadline.is_some_and(|d| Instant::now() >= d) {
                out.stop_reason = StopReason::Deadline;
                break;
            }
            let (token, logprob) = match next.take() {
                Some(t) => t,
                None => argmax_logprob(self.ctx.get_logits_ith(0)),
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
            // Feed the token back.
            let pos = self.cached.len();
            if pos + 1 >= self.n_ctx() {
                out.stop_reason = StopReason::MaxTokens;
                break;
            }
            self.batch.clear();
            self.batch
                .add(token, pos as i32, &[0], true)
                .map_err(|e| EngineError::Backend(e.to_string()))?;
            self.decode()?;
            self.cached.push(token);
        }
        Ok(out)
    }
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
    fn logprob_of_a_certain_token_is_zero() {
        let (tok, lp) = argmax_logprob(&[0.0, 100.0, 0.0]);
        assert_eq!(tok, LlamaToken(1));
        assert!(lp.abs() < 1e-6);
    }
}
