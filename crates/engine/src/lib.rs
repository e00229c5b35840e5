//! Engine: the traits every model backend implements, and the plain data that crosses them.
//!
//! Invariants and boundary:
//! - No IO, no async runtime, no LSP types: backends (`engine-llama`, `engine-openai`)
//!   implement these traits; `ide` talks only to the traits.
//! - Calls are blocking; backends run their own thread and check a [`CancelToken`] between
//!   decoded tokens, so callers cancel work by flipping the token, not by dropping a future.
//! - Prompt formats are data: [`PromptFormat`] (infilling) is chosen from the model's own
//!   vocabulary, [`ChatFormat`] (explicit requests to instruct models) from its chat template.

mod cancel;
mod chat;
mod format;
mod speed;

pub use cancel::{CancelOnDrop, CancelToken};
pub use chat::{
    default_system_message, ChatEngine, ChatFormat, ChatMessage, ChatRequest, ChatResponse,
    DeltaCallback, Role, TemplateChat,
};
pub use format::{FimParts, PromptFormat, RepoFile};
pub use speed::SpeedEstimate;

use std::time::{Duration, Instant};

/// Counts tokens with a model's own tokenizer.
pub trait TokenCounter: Send + Sync {
    fn count(&self, text: &str) -> usize;
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndOfGeneration,
    MaxTokens,
    Newline,
    StopString,
    Cancelled,
    Deadline,
    /// The caller's `should_stop` callback asked to stop.
    Caller,
    /// At the first token the model doubted ([`StopRules::doubt`]).
    Doubt,
}

/// When to stop generating.
#[derive(Clone, Default)]
pub struct StopRules {
    pub max_tokens: usize,
    /// Stop once the output contains a newline after some non-blank text (mid-line completions).
    pub stop_at_newline: bool,
    /// Stop (and cut) at the first occurrence of any of these strings.
    pub stop_strings: Vec<String>,
    /// Checked after every token with the text so far: `true` stops generation (text kept).
    #[allow(clippy::type_complexity)]
    pub should_stop: Option<std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>>,
    /// Stop after the first token the model doubts, when the caller accepts ending there.
    pub doubt: Option<DoubtStop>,
}

/// When to stop at the first token the model doubts: what follows it is not shown, so
/// generating it only costs time.
#[derive(Clone)]
pub struct DoubtStop {
    /// Tokens under this log-probability are doubted.
    pub min_logprob: f32,
    /// Bytes at the start of the output in which no token counts as doubted (forced text).
    pub after_bytes: usize,
    /// Whether the output (its tokens, the last one the first doubted) may end there; asked
    /// once per output.
    #[allow(clippy::type_complexity)]
    pub accept: std::sync::Arc<dyn Fn(&[GeneratedToken]) -> bool + Send + Sync>,
}

impl StopRules {
    /// Whether generation stops after `tokens` at the first doubted token: the last of
    /// `tokens` is doubted, none before it is, and the caller accepts ending there.
    pub fn stops_at_doubt(&self, tokens: &[GeneratedToken]) -> bool {
        let Some(d) = &self.doubt else {
            return false;
        };
        let Some((last, before)) = tokens.split_last() else {
            return false;
        };
        if last.logprob >= d.min_logprob {
            return false;
        }
        let mut start = 0;
        for t in before {
            if start >= d.after_bytes && t.logprob < d.min_logprob {
                return false;
            }
            start += t.text.len();
        }
        start >= d.after_bytes && (d.accept)(tokens)
    }
}

impl std::fmt::Debug for StopRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopRules")
            .field("max_tokens", &self.max_tokens)
            .field("stop_at_newline", &self.stop_at_newline)
            .field("stop_strings", &self.stop_strings)
            .field("should_stop", &self.should_stop.is_some())
            .field("doubt", &self.doubt.as_ref().map(|d| d.min_logprob))
            .finish()
    }
}

/// Bytes at the end of `text` that may be the start of one of `stops` (text not to show a
/// user yet while streaming: the next piece may complete the stop string). Never splits a
/// character.
pub fn partial_stop_len(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .flat_map(|s| (1..s.len()).rev().map(move |n| &s.as_bytes()[..n]))
        .filter(|p| text.as_bytes().ends_with(p))
        .map(<[u8]>::len)
        .max()
        .map_or(0, |mut n| {
            while !text.is_char_boundary(text.len() - n) {
                n += 1;
            }
            n
        })
}

/// One generation request. `prompt` is the fully rendered prompt, special tokens as text.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: String,
    pub stop: StopRules,
    pub cancel: CancelToken,
    /// Give up (returning what is complete) at this instant.
    pub deadline: Option<Instant>,
    /// Extra candidates to generate, each starting with the next most likely first token
    /// (greedy after it); for explicit requests. 0 for typing.
    pub alternatives: usize,
    /// Which cache slot to use.
    pub slot: Slot,
    /// Reuse the slot's cached prefix (false evaluates the whole prompt: baseline runs).
    pub reuse_cache: bool,
    /// Text the output must begin with (constrained decoding): text held back from the end of
    /// the prompt so that it ends on a natural token boundary (token healing), plus, where the
    /// caller knows it, the indentation the line needs.
    pub forced: Option<Forced>,
    /// Start from the `first_rank`-th most likely first token (0: greedy): a second candidate
    /// after the greedy output was rejected, without decoding the greedy one again.
    pub first_rank: usize,
    /// Outputs already rejected for this prompt: until the output has code, no token may lead
    /// it back into the code one of them starts with (indentation alone may), end the line
    /// blank, or end the generation. For further candidates after post-processing rejected
    /// the greedy one.
    pub avoid: Vec<String>,
    /// Most prompt-lookup draft tokens verified per decoding step for this request; `None`:
    /// the engine's own setting. Worth it for outputs that copy much of the prompt (a fixed or
    /// rewritten function), not for short suggestions. Engines without drafting ignore it.
    pub draft_tokens: Option<usize>,
}

/// A constraint on the start of the output: its first tokens are the most likely ones whose
/// text agrees with `text`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forced {
    pub text: String,
    /// The character right after `text` must not be blank (the indentation is exact).
    pub then_non_blank: bool,
    /// When not empty, the text right after `text` starts with one of these words, whole, in
    /// the same token (`if`, `for`...: a block header is needed; keywords are single tokens
    /// in code vocabularies).
    pub then_one_of: Vec<String>,
}

/// Where a constrained decoding stands after some output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedStep {
    /// The piece is allowed; this many bytes of the forced text remain (0: only
    /// `then_non_blank` may still apply).
    Continue(usize),
    /// The piece is allowed and the constraint is satisfied.
    Done,
    /// The piece is not allowed.
    Rejected,
}

impl Forced {
    /// `after` (what follows the forced text) starts with one of `then_one_of`, whole.
    fn word_ok(&self, after: &[u8]) -> bool {
        let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        self.then_one_of.is_empty()
            || self
                .then_one_of
                .iter()
                .any(|w| after.starts_with(w.as_bytes()) && !after.get(w.len()).is_some_and(ident))
    }

    /// Whether `piece` may follow when `remaining` bytes of the forced text are still to come
    /// (`remaining == 0`: the text is complete and only `then_non_blank` is left to check).
    pub fn step(&self, remaining: usize, piece: &[u8]) -> ForcedStep {
        let rest = &self.text.as_bytes()[self.text.len() - remaining.min(self.text.len())..];
        let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        if piece.is_empty() {
            return ForcedStep::Rejected;
        }
        if rest.is_empty() {
            return if (!self.then_non_blank || !blank(piece[0])) && self.word_ok(piece) {
                ForcedStep::Done
            } else {
                ForcedStep::Rejected
            };
        }
        if rest.starts_with(piece) {
            let left = rest.len() - piece.len();
            return if left == 0 && !self.then_non_blank {
                ForcedStep::Done
            } else if left == 0 && piece.iter().all(|&b| blank(b)) {
                // BPE keeps the last blank of an indentation for the next word (`       ` +
                // ` if`); a piece that ends the indentation exactly is out of distribution.
                ForcedStep::Rejected
            } else {
                ForcedStep::Continue(left)
            };
        }
        if piece.starts_with(rest) {
            let after = piece[rest.len()];
            return if (self.then_non_blank && blank(after)) || !self.word_ok(&piece[rest.len()..]) {
                ForcedStep::Rejected
            } else {
                ForcedStep::Done
            };
        }
        ForcedStep::Rejected
    }
}

impl GenerateRequest {
    pub fn new(prompt: String, stop: StopRules, cancel: CancelToken) -> GenerateRequest {
        GenerateRequest {
            prompt,
            stop,
            cancel,
            deadline: None,
            alternatives: 0,
            slot: Slot::Main,
            reuse_cache: true,
            forced: None,
            first_rank: 0,
            avoid: Vec::new(),
            draft_tokens: None,
        }
    }
}

/// A backend's KV-cache slots: the long-lived context of the document being edited, and a
/// scratch slot for small one-off prompts (e.g. a shrunk prompt that must meet a deadline)
/// so that they do not evict the main context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Slot {
    #[default]
    Main,
    Scratch,
}

/// How much of a prompt a slot's cache already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PromptPlan {
    pub prompt_tokens: usize,
    /// Tokens of the prompt the slot already holds.
    pub cached_tokens: usize,
    /// Tokens the slot holds in all.
    pub slot_tokens: usize,
}

impl PromptPlan {
    pub fn new_tokens(&self) -> usize {
        self.prompt_tokens - self.cached_tokens.min(self.prompt_tokens)
    }
}

/// Measured speed of a backend (running averages).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Throughput {
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

/// One generated token and its log-probability under the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GeneratedToken {
    pub text: String,
    pub logprob: f32,
}

/// One generated continuation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub text: String,
    pub tokens: Vec<GeneratedToken>,
    pub stop_reason: StopReason,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<GeneratedToken>,
    pub stop_reason: StopReason,
    /// The extra candidates asked for with [`GenerateRequest::alternatives`].
    pub alternatives: Vec<Candidate>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache was reused from an earlier request (not evaluated again).
    pub reused_tokens: usize,
    #[serde(with = "millis")]
    pub prefill_time: Duration,
    #[serde(with = "millis")]
    pub decode_time: Duration,
    /// Output tokens that came out of a verified draft (prompt-lookup speculative decoding):
    /// evaluated in a batch with the token before them instead of one step each.
    pub drafted_tokens: usize,
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

/// What a loaded model is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub format: PromptFormat,
    /// The chat format when the model ships a chat template (an instruct model); `None` for a
    /// base model.
    pub chat: Option<ChatFormat>,
    /// The system message the model's chat template writes when a chat has none (see
    /// [`default_system_message`]).
    pub default_system: Option<String>,
    pub context_length: usize,
    pub threads: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("model not available: {0}")]
    Unavailable(String),
    #[error("prompt of {tokens} tokens does not fit the context of {context} tokens")]
    PromptTooLong { tokens: usize, context: usize },
    #[error("engine failure: {0}")]
    Backend(String),
    #[error("engine thread has stopped")]
    Stopped,
    /// A remote server refused the credentials (HTTP 401 / 403) or none were found: the
    /// message names the environment variable meant to hold the key, never the key.
    #[error("not authorized: {0}")]
    Unauthorized(String),
    /// A remote server could not be reached (connection refused, DNS, TLS, reset before an
    /// answer), after the configured retries.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// No answer within the budget (connect, first byte, total or the request's deadline)
    /// and nothing generated yet.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server answered something that is not a valid answer: malformed data, a stream
    /// cut short, a body over the size bound.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The server answered with an HTTP error status that retrying did not cure (400, 404,
    /// 429 after the retries, 5xx after the retries).
    #[error("server answered {status}: {message}")]
    Status { status: u16, message: String },
}

impl EngineError {
    /// A failure of a remote provider (as opposed to a local engine's): the caller may answer
    /// from a local model instead.
    pub fn is_remote_failure(&self) -> bool {
        matches!(
            self,
            EngineError::Unauthorized(_)
                | EngineError::Unreachable(_)
                | EngineError::Timeout(_)
                | EngineError::BadResponse(_)
                | EngineError::Status { .. }
        )
    }
}

/// A model that continues a prompt: the local inline-completion engine.
pub trait CompletionEngine: Send + Sync {
    fn info(&self) -> ModelInfo;
    fn token_counter(&self) -> std::sync::Arc<dyn TokenCounter>;
    /// Generate greedily. Blocking; honours `req.cancel` and `req.deadline` between tokens.
    fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError>;
    /// Evaluate `prompt` into `slot` ahead of a request (background prefill), in small
    /// batches so that a request waiting behind it is not held up. Returns the number of tokens
    /// evaluated. Default: nothing to do.
    fn prefill(
        &self,
        _slot: Slot,
        _prompt: &str,
        _cancel: CancelToken,
    ) -> Result<usize, EngineError> {
        Ok(0)
    }
    /// How much of `prompt` `slot` already holds. Default: nothing.
    fn plan(&self, _slot: Slot, prompt: &str) -> PromptPlan {
        PromptPlan {
            prompt_tokens: self.token_counter().count(prompt),
            cached_tokens: 0,
            slot_tokens: 0,
        }
    }
    /// Measured speed, for deadline planning.
    fn throughput(&self) -> Throughput {
        Throughput {
            prefill_tokens_per_s: 300.0,
            decode_tokens_per_s: 60.0,
        }
    }
    /// The engine for the assistant's actions and chat, which the user waits for: the same
    /// model with its own cache and more threads, when this engine leaves cores to the editor
    /// for inline completion. `None`: this engine serves them. Default: `None`.
    fn for_actions(&self) -> Option<std::sync::Arc<dyn CompletionEngine>> {
        None
    }
}

/// A token counter for tests and for engines without a tokenizer: ~4 bytes a token.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApproxTokenCounter;

impl TokenCounter for ApproxTokenCounter {
    fn count(&self, text: &str) -> usize {
        text.len().div_ceil(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(spec: &[(&str, f32)]) -> Vec<GeneratedToken> {
        spec.iter()
            .map(|&(text, logprob)| GeneratedToken {
                text: text.into(),
                logprob,
            })
            .collect()
    }

    /// Generation stops only at the first doubted token past the forced text, and only when
    /// the caller accepts ending there.
    #[test]
    fn stops_at_the_first_doubted_token_the_caller_accepts() {
        let rules = |accept: bool| StopRules {
            doubt: Some(DoubtStop {
                min_logprob: -1.0,
                after_bytes: 2,
                accept: std::sync::Arc::new(move |_: &[GeneratedToken]| accept),
            }),
            ..StopRules::default()
        };
        let sure = tokens(&[("  ", -3.0), ("x = ", -0.1)]);
        assert!(
            !rules(true).stops_at_doubt(&sure),
            "forced text is not doubted"
        );
        let doubted = tokens(&[("  ", -3.0), ("x = ", -0.1), ("compute", -2.0)]);
        assert!(rules(true).stops_at_doubt(&doubted));
        assert!(!rules(false).stops_at_doubt(&doubted), "the caller refused");
        assert!(!StopRules::default().stops_at_doubt(&doubted), "not asked");
        let later = tokens(&[("x = ", -0.1), ("a", -2.0), ("b", -0.1), ("c", -2.0)]);
        assert!(
            !rules(true).stops_at_doubt(&later),
            "only the first doubted token counts"
        );
        assert!(!rules(true).stops_at_doubt(&[]));
    }

    fn forced(text: &str, then_non_blank: bool) -> Forced {
        Forced {
            text: text.into(),
            then_non_blank,
            then_one_of: Vec::new(),
        }
    }

    #[test]
    fn forced_first_word_from_a_list() {
        let f = Forced {
            then_one_of: vec!["if".into(), "else".into()],
            ..forced("    ", true)
        };
        assert_eq!(f.step(4, b"   "), ForcedStep::Continue(1));
        assert_eq!(f.step(1, b" if"), ForcedStep::Done);
        assert_eq!(f.step(1, b" else"), ForcedStep::Done);
        assert_eq!(f.step(0, b"else:"), ForcedStep::Done);
        // Another word, or a longer identifier that starts like one.
        assert_eq!(f.step(1, b" val"), ForcedStep::Rejected);
        assert_eq!(f.step(1, b" iff"), ForcedStep::Rejected);
        assert_eq!(f.step(0, b"elsewhere"), ForcedStep::Rejected);
    }

    #[test]
    fn forced_indentation_accepts_pieces_that_agree() {
        let f = forced("        ", true);
        // Part of the indentation, then a word that carries the last space.
        assert_eq!(f.step(8, b"       "), ForcedStep::Continue(1));
        assert_eq!(f.step(1, b" if"), ForcedStep::Done);
        // Not the whole indentation in blank pieces: the last blank goes with the word.
        assert_eq!(f.step(8, b"        "), ForcedStep::Rejected);
        assert_eq!(f.step(4, b"    "), ForcedStep::Rejected);
        assert_eq!(f.step(8, b"    "), ForcedStep::Continue(4));
        // (Had a piece ended it, the next one must not be blank.)
        assert_eq!(f.step(0, b"if"), ForcedStep::Done);
        assert_eq!(f.step(0, b" "), ForcedStep::Rejected);
        // Too deep, or not indentation at all.
        assert_eq!(f.step(8, b"            "), ForcedStep::Rejected);
        assert_eq!(f.step(8, b"         x"), ForcedStep::Rejected);
        assert_eq!(f.step(8, b"return"), ForcedStep::Rejected);
        assert_eq!(f.step(8, b""), ForcedStep::Rejected);
    }

    #[test]
    fn forced_word_heals_a_partial_token() {
        let f = forced(" pri", false);
        assert_eq!(f.step(4, b" print"), ForcedStep::Done);
        assert_eq!(f.step(4, b" pr"), ForcedStep::Continue(1));
        assert_eq!(f.step(1, b"int"), ForcedStep::Done);
        assert_eq!(f.step(1, b"i"), ForcedStep::Done);
        assert_eq!(f.step(1, b"x"), ForcedStep::Rejected);
        assert_eq!(f.step(4, b" pri"), ForcedStep::Done);
        assert_eq!(f.step(4, b" x"), ForcedStep::Rejected);
    }
}
