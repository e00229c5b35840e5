//! Engine-openai: nib's engine traits over the OpenAI-compatible HTTP API, the one every
//! serving engine speaks (vLLM, SGLang, llama.cpp's server, Ollama, hosted APIs).
//!
//! Invariants and boundary:
//! - Two endpoints, both streamed as server-sent events: `POST {base_url}/chat/completions`
//!   ([`ChatEngine`]) and `POST {base_url}/completions` with a raw prompt
//!   ([`CompletionEngine`]: fill-in-the-middle through a remote server).
//! - Calls are blocking, like every engine's: the engine owns a small tokio runtime and the
//!   caller's thread waits for the answer (it may be a runtime's thread; dropping the engine
//!   anywhere is safe). The [`CancelToken`] is polled every few milliseconds; cancelling
//!   drops the HTTP stream, which closes the connection.
//! - The API key is never stored: the configuration names the environment variable that
//!   holds it, read at every call. Neither the key nor prompts are logged (prompts only at
//!   `trace`), and a refused key is reported with the variable's name, not the server's
//!   message (servers echo parts of the key).
//! - Every call ends within its budget: the earlier of the request's deadline and
//!   [`OpenAiConfig::total_timeout`]; retries and Retry-After waits are cut to what is left.
//! - Answers are bounded: a body over [`OpenAiConfig::max_response_bytes`] ends the call.
//!
//! Outcomes (what a caller deciding to fall back to a local model sees):
//! - text streamed to the end: `Ok`, with the server's finish reason;
//! - cancelled: `Ok` with what arrived so far and [`StopReason::Cancelled`];
//! - the deadline or the total timeout reached after some text: `Ok` with that text and
//!   [`StopReason::Deadline`]; before any text: [`EngineError::Timeout`];
//! - no event for [`OpenAiConfig::first_byte_timeout`] (before the first or between two):
//!   [`EngineError::Timeout`];
//! - a stream that ends without its end marker (`[DONE]` or a finish reason), a malformed
//!   chunk, an oversized body: [`EngineError::BadResponse`]. The pieces already handed to
//!   [`ChatRequest::on_delta`] are the partial answer;
//! - 401 / 403 or a missing key: [`EngineError::Unauthorized`], never retried;
//! - refused or broken connections, 5xx and 429 are retried ([`OpenAiConfig::max_retries`],
//!   exponential backoff from [`OpenAiConfig::backoff`], a Retry-After in seconds honoured
//!   when it fits the budget, and the call ended at once when it does not; a Retry-After date
//!   counts as none): then
//!   [`EngineError::Unreachable`] or [`EngineError::Status`];
//! - any other HTTP error status: [`EngineError::Status`] at once.

mod stream;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nib_engine::{
    ApproxTokenCounter, ChatEngine, ChatRequest, ChatResponse, CompletionEngine, EngineError,
    GenerateRequest, Generation, ModelInfo, PromptFormat, TokenCounter,
};

use crate::stream::{Answer, Call, Endpoint, LocalStop};

/// Where the remote server is and how long to wait for it. The API key is not here: only the
/// name of the environment variable that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// The API root, `/v1` included: `http://127.0.0.1:8000/v1` (vLLM),
    /// `http://127.0.0.1:8080/v1` (llama.cpp's server), `http://127.0.0.1:11434/v1` (Ollama),
    /// `https://api.openai.com/v1`.
    pub base_url: String,
    /// The model name the server knows the model by.
    pub model: String,
    /// The environment variable that holds the API key (sent as a bearer token); `None` sends
    /// no key (local servers).
    pub api_key_env: Option<String>,
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait for the first event of an answer after sending the request, and for each
    /// next event after the previous one.
    pub first_byte_timeout: Duration,
    /// Longest a whole call may take, retries included.
    pub total_timeout: Duration,
    /// Retries after a refused connection, a 5xx or a 429 (0: one attempt).
    pub max_retries: u32,
    /// Wait before the first retry; each next one waits twice as long.
    pub backoff: Duration,
    /// The most bytes of one answer's body read before giving up on it.
    pub max_response_bytes: usize,
    /// Ask for token log-probabilities (not every server supports the parameter).
    pub logprobs: bool,
    /// The remote model's infilling format, for callers that render a fill-in-the-middle
    /// prompt for [`CompletionEngine::generate`].
    pub prompt_format: PromptFormat,
    /// The remote model's context length in tokens, as reported by [`CompletionEngine::info`].
    pub context_length: usize,
}

impl OpenAiConfig {
    /// A configuration with conservative bounds: connect 2 s, first byte 10 s, total 60 s,
    /// 2 retries from 250 ms, 4 MiB answers, no key, no infilling tokens.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            connect_timeout: Duration::from_secs(2),
            first_byte_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            max_retries: 2,
            backoff: Duration::from_millis(250),
            max_response_bytes: 4 << 20,
            logprobs: false,
            prompt_format: PromptFormat::PrefixOnly,
            context_length: 8192,
        }
    }

    fn url(&self, endpoint: Endpoint) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            endpoint.path()
        )
    }
}

/// One HTTP attempt, reported to the [`Observer`] when it ends: what an audit log records.
/// Never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `chat/completions` or `completions`.
    pub endpoint: &'static str,
    pub base_url: String,
    pub model: String,
    /// 1 for the first attempt of a call, 2 for its first retry...
    pub attempt: u32,
    /// Bytes of the request body.
    pub bytes_sent: usize,
    /// Bytes of the response body read.
    pub bytes_received: usize,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    pub elapsed: Duration,
}

/// Called after every HTTP attempt (on the engine's runtime thread: keep it short).
pub type Observer = Arc<dyn Fn(&RequestRecord) + Send + Sync>;

/// An OpenAI-compatible server as a [`ChatEngine`] and a [`CompletionEngine`].
pub struct OpenAiEngine {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

pub(crate) struct Shared {
    pub config: OpenAiConfig,
    pub client: reqwest::Client,
    pub observer: Option<Observer>,
}

impl std::fmt::Debug for OpenAiEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEngine")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl OpenAiEngine {
    pub fn new(config: OpenAiConfig) -> Result<OpenAiEngine, EngineError> {
        OpenAiEngine::with_observer(config, None)
    }

    /// An engine that reports every HTTP attempt to `observer`.
    pub fn with_observer(
        config: OpenAiConfig,
        observer: Option<Observer>,
    ) -> Result<OpenAiEngine, EngineError> {
        let url = reqwest::Url::parse(&config.base_url).map_err(|e| {
            EngineError::Unavailable(format!("invalid base URL {}: {e}", config.base_url))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EngineError::Unavailable(format!(
                "base URL {} is not http or https",
                config.base_url
            )));
        }
        let mut client = reqwest::Client::builder();
        // A server on this machine is never reached through the environment's proxy.
        let loopback = match url.host_str() {
            Some("localhost") => true,
            Some(host) => host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if loopback {
            client = client.no_proxy();
        }
        let client = client
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("nib/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::Unavailable(format!("HTTP client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nib-openai")
            .enable_all()
            .build()
            .map_err(|e| EngineError::Unavailable(format!("HTTP runtime: {e}")))?;
        Ok(OpenAiEngine {
            shared: Arc::new(Shared {
                config,
                client,
                observer,
            }),
            runtime: Some(runtime),
        })
    }

    pub fn config(&self) -> &OpenAiConfig {
        &self.shared.config
    }

    /// Run one call on the engine's runtime and wait for it on the caller's thread.
    fn run(&self, call: Call) -> Result<Answer, EngineError> {
        let runtime = self.runtime.as_ref().ok_or(EngineError::Stopped)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let shared = self.shared.clone();
        runtime.spawn(async move {
            let _ = tx.send(stream::run(&shared, call).await);
        });
        rx.recv().map_err(|_| EngineError::Stopped)?
    }

    fn end(&self, deadline: Option<Instant>) -> Instant {
        let total = Instant::now() + self.shared.config.total_timeout;
        deadline.map_or(total, |d| d.min(total))
    }
}

impl Drop for OpenAiEngine {
    fn drop(&mut self) {
        // `Runtime`'s own drop blocks, which panics inside another runtime's thread.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl ChatEngine for OpenAiEngine {
    fn model_name(&self) -> String {
        self.shared.config.model.clone()
    }

    fn chat(&self, req: ChatRequest) -> Result<ChatResponse, EngineError> {
        let started = Instant::now();
        let body = wire::chat_body(&self.shared.config, &req);
        let answer = self.run(Call {
            endpoint: Endpoint::Chat,
            body,
            end: self.end(req.deadline),
            cancel: req.cancel.clone(),
            stop: LocalStop {
                strings: req.stop.clone(),
                ..LocalStop::default()
            },
            on_delta: req.on_delta.clone(),
        })?;
        Ok(ChatResponse {
            model: answer
                .model
                .clone()
                .unwrap_or_else(|| self.shared.config.model.clone()),
            first_token_time: answer.first_token_time(started),
            total_time: started.elapsed(),
            text: answer.text,
            tokens: answer.tokens,
            stop_reason: answer.stop_reason,
            prompt_tokens: answer.prompt_tokens,
            completion_tokens: answer.completion_tokens,
        })
    }
}

impl CompletionEngine for OpenAiEngine {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: self.shared.config.model.clone(),
            format: self.shared.config.prompt_format,
            chat: None,
            default_system: None,
            context_length: self.shared.config.context_length,
            threads: 0,
        }
    }

    fn token_counter(&self) -> Arc<dyn TokenCounter> {
        Arc::new(ApproxTokenCounter)
    }

    /// A raw-prompt completion, greedy. `req.stop` applies in full on this side as well
    /// (the server is sent the first four stop strings, the most the API accepts).
    /// `req.forced` is met by appending its text to the prompt and starting the output with
    /// it (no token healing remotely); `alternatives`, `avoid`, `first_rank`, `slot` and
    /// `reuse_cache` have no remote equivalent and are ignored.
    fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError> {
        let started = Instant::now();
        let forced = req
            .forced
            .as_ref()
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let prompt = format!("{}{forced}", req.prompt);
        let body = wire::completion_body(&self.shared.config, &prompt, &req.stop);
        let answer = self.run(Call {
            endpoint: Endpoint::Completion,
            body,
            end: self.end(req.deadline),
            cancel: req.cancel.clone(),
            stop: LocalStop {
                strings: req.stop.stop_strings.clone(),
                at_newline: req.stop.stop_at_newline,
                caller: req.stop.should_stop.clone(),
                prefix: forced.clone(),
            },
            on_delta: None,
        })?;
        let first = answer.first_token_time(started);
        Ok(Generation {
            prompt_tokens: answer
                .prompt_tokens
                .unwrap_or_else(|| ApproxTokenCounter.count(&prompt)),
            text: answer.text,
            tokens: answer.tokens,
            stop_reason: answer.stop_reason,
            alternatives: Vec::new(),
            reused_tokens: 0,
            prefill_time: first,
            decode_time: started.elapsed().saturating_sub(first),
            drafted_tokens: 0,
        })
    }
}
