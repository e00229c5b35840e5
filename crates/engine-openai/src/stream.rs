//! One call: attempts with retries, then the answer's server-sent events read under the
//! call's bounds (time, size, cancellation).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use nib_engine::{
    partial_stop_len, CancelToken, DeltaCallback, EngineError, GeneratedToken, StopReason,
};
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use tokio::time::sleep_until;

use crate::wire::{self, excerpt};
use crate::{RequestRecord, Shared};

/// How often a waiting call looks at its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(10);
/// The most bytes of an error body read for its message.
const ERROR_BODY_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completion,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat/completions",
            Endpoint::Completion => "completions",
        }
    }
}

/// Stops applied on this side, after every piece of the answer.
#[derive(Clone, Default)]
pub struct LocalStop {
    /// Cut at the first of these.
    pub strings: Vec<String>,
    /// Stop at a newline after some non-blank text (as the local engine does).
    pub at_newline: bool,
    /// `true` stops, text kept.
    #[allow(clippy::type_complexity)]
    pub caller: Option<Arc<dyn Fn(&str) -> bool + Send + Sync>>,
    /// Text the output starts with (not generated remotely: sent at the end of the prompt).
    pub prefix: String,
}

pub struct Call {
    pub endpoint: Endpoint,
    pub body: serde_json::Value,
    /// The call's budget ends here.
    pub end: Instant,
    pub cancel: CancelToken,
    pub stop: LocalStop,
    pub on_delta: Option<DeltaCallback>,
}

/// What a call produced.
#[derive(Debug)]
pub struct Answer {
    pub text: String,
    pub tokens: Vec<GeneratedToken>,
    pub stop_reason: StopReason,
    pub model: Option<String>,
    pub prompt_tokens: Option<usize>,
    pub completion_tokens: Option<usize>,
    first_token_at: Option<Instant>,
    /// Bytes of `text` given by the caller (the forced prefix), not generated.
    given: usize,
}

impl Answer {
    fn new(prefix: &str) -> Answer {
        Answer {
            text: prefix.to_string(),
            tokens: Vec::new(),
            stop_reason: StopReason::EndOfGeneration,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            first_token_at: None,
            given: prefix.len(),
        }
    }

    fn cancelled(prefix: &str) -> Answer {
        Answer {
            stop_reason: StopReason::Cancelled,
            ..Answer::new(prefix)
        }
    }

    fn generated_any(&self) -> bool {
        self.text.len() > self.given
    }

    /// From `started` to the first piece of text (the whole call when none came).
    pub fn first_token_time(&self, started: Instant) -> Duration {
        self.first_token_at
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(started)
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Result<Answer, EngineError>),
    /// Worth another attempt: `error` if there is none; `retry_after` as the server asked.
    Retry {
        error: EngineError,
        retry_after: Option<Duration>,
    },
}

pub async fn run(shared: &Shared, call: Call) -> Result<Answer, EngineError> {
    let config = &shared.config;
    let body = serde_json::to_vec(&call.body).expect("a JSON value serializes");
    let budget = call.end.saturating_duration_since(Instant::now());
    tracing::debug!(
        endpoint = call.endpoint.path(),
        model = %config.model,
        bytes = body.len(),
        budget_ms = budget.as_millis() as u64,
        "remote request"
    );
    tracing::trace!(body = %String::from_utf8_lossy(&body), "remote request body");
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if call.cancel.is_cancelled() {
            return Ok(Answer::cancelled(&call.stop.prefix));
        }
        let started = Instant::now();
        let received = Arc::new(AtomicUsize::new(0));
        let (outcome, status) = one_attempt(shared, &call, &body, budget, &received).await;
        if let Some(observer) = &shared.observer {
            observer(&RequestRecord {
                endpoint: call.endpoint.path(),
                base_url: config.base_url.clone(),
                model: config.model.clone(),
                attempt,
                bytes_sent: body.len(),
                bytes_received: received.load(Ordering::Relaxed),
                status,
                error: match &outcome {
                    Attempt::Done(Ok(_)) => None,
                    Attempt::Done(Err(e)) | Attempt::Retry { error: e, .. } => Some(e.to_string()),
                },
                elapsed: started.elapsed(),
            });
        }
        let (error, retry_after) = match outcome {
            Attempt::Done(result) => {
                if let Err(e) = &result {
                    tracing::debug!(attempt, error = %e, "remote request failed");
                }
                return result;
            }
            Attempt::Retry { error, retry_after } => (error, retry_after),
        };
        tracing::debug!(attempt, error = %error, "remote request failed, may retry");
        if attempt > config.max_retries {
            return Err(error);
        }
        let left = call.end.saturating_duration_since(Instant::now());
        let wait = match retry_after {
            Some(wait) if wait >= left => {
                return Err(match error {
                    EngineError::Status { status, message } => EngineError::Status {
                        status,
                        message: format!(
                            "{message} (the server asks to retry after {} s, more than the {:.1} s left)",
                            wait.as_secs(),
                            left.as_secs_f64()
                        ),
                    },
                    other => other,
                });
            }
            Some(wait) => wait,
            None => config.backoff.saturating_mul(1 << (attempt - 1).min(16)),
        };
        if wait >= left {
            return Err(error);
        }
        tokio::select! {
            biased;
            _ = cancelled(&call.cancel) => return Ok(Answer::cancelled(&call.stop.prefix)),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Send the request once and read the answer. Returns the HTTP status when there was one.
async fn one_attempt(
    shared: &Shared,
    call: &Call,
    body: &[u8],
    budget: Duration,
    received: &Arc<AtomicUsize>,
) -> (Attempt, Option<u16>) {
    let config = &shared.config;
    let key = match api_key(config) {
        Ok(key) => key,
        Err(e) => return (Attempt::Done(Err(e)), None),
    };
    let mut request = shared
        .client
        .post(config.url(call.endpoint))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "text/event-stream")
        .body(body.to_vec());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let sent_at = Instant::now();
    let first_by = (sent_at + config.first_byte_timeout).min(call.end);
    let response = tokio::select! {
        biased;
        _ = cancelled(&call.cancel) => {
            return (Attempt::Done(Ok(Answer::cancelled(&call.stop.prefix))), None);
        }
        _ = sleep_until(first_by.into()) => {
            return (Attempt::Done(Err(timeout(config, first_by == call.end, budget))), None);
        }
        r = request.send() => r,
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            let error =
                EngineError::Unreachable(format!("{}: {}", config.base_url, error_chain(&e)));
            return (
                Attempt::Retry {
                    error,
                    retry_after: None,
                },
                None,
            );
        }
    };
    let status = response.status();
    let code = Some(status.as_u16());
    if status.is_success() {
        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            let body = read_prefix(response, ERROR_BODY_BYTES, call.end, received).await;
            return (
                Attempt::Done(Err(EngineError::BadResponse(format!(
                    "expected a stream of server-sent events, got JSON: {}",
                    wire::error_message(&body)
                )))),
                code,
            );
        }
        let result = read_events(config, call, response, sent_at, budget, received).await;
        return (Attempt::Done(result), code);
    }
    if matches!(status.as_u16(), 401 | 403) {
        // The body is not read: servers quote the refused key in it.
        let message = match &config.api_key_env {
            Some(name) => format!(
                "{} refused the API key from the environment variable {name} ({status})",
                config.base_url
            ),
            None => format!(
                "{} asks for an API key ({status}); name the environment variable that holds it in the settings",
                config.base_url
            ),
        };
        return (Attempt::Done(Err(EngineError::Unauthorized(message))), code);
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let message = wire::error_message(
        &read_prefix(
            response,
            ERROR_BODY_BYTES,
            call.end.min(Instant::now() + Duration::from_secs(1)),
            received,
        )
        .await,
    );
    let error = EngineError::Status {
        status: status.as_u16(),
        message: if message.is_empty() {
            status.canonical_reason().unwrap_or_default().to_string()
        } else {
            message
        },
    };
    if status.as_u16() == 429 || status.is_server_error() {
        (Attempt::Retry { error, retry_after }, code)
    } else {
        (Attempt::Done(Err(error)), code)
    }
}

/// Why a byte stream failed, as seen through the event parser.
#[derive(Debug)]
enum Transport {
    Http(reqwest::Error),
    TooLarge,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Http(e) => f.write_str(&error_chain(e)),
            Transport::TooLarge => f.write_str("too large"),
        }
    }
}

async fn read_events(
    config: &crate::OpenAiConfig,
    call: &Call,
    response: reqwest::Response,
    sent_at: Instant,
    budget: Duration,
    received: &Arc<AtomicUsize>,
) -> Result<Answer, EngineError> {
    let limit = config.max_response_bytes;
    let counter = received.clone();
    let mut events = response
        .bytes_stream()
        .map(move |chunk| {
            let chunk = chunk.map_err(Transport::Http)?;
            let total = counter.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
            if total > limit {
                Err(Transport::TooLarge)
            } else {
                Ok(chunk)
            }
        })
        .eventsource();
    let mut answer = Answer::new(&call.stop.prefix);
    let mut finish = None;
    let mut emitted = answer.given;
    let mut last = sent_at;
    loop {
        let idle_by = (last + config.first_byte_timeout).min(call.end);
        let event = tokio::select! {
            biased;
            _ = cancelled(&call.cancel) => {
                answer.stop_reason = StopReason::Cancelled;
                break;
            }
            _ = sleep_until(idle_by.into()) => {
                if let Some(reason) = finish {
                    // The answer is complete; only the end marker is late.
                    answer.stop_reason = reason;
                    break;
                }
                if idle_by == call.end && answer.generated_any() {
                    answer.stop_reason = StopReason::Deadline;
                    break;
                }
                return Err(timeout(config, idle_by == call.end, budget));
            }
            event = events.next() => event,
        };
        last = Instant::now();
        let event = match event {
            None => match finish {
                Some(reason) => {
                    answer.stop_reason = reason;
                    break;
                }
                None => {
                    return Err(EngineError::BadResponse(format!(
                    "the stream ended before the answer was complete ({} bytes of text received)",
                    answer.text.len() - answer.given
                )))
                }
            },
            Some(Ok(event)) => event,
            Some(Err(EventStreamError::Transport(Transport::TooLarge))) => {
                return Err(EngineError::BadResponse(format!(
                    "the answer is larger than the bound of {limit} bytes"
                )))
            }
            Some(Err(EventStreamError::Transport(Transport::Http(e)))) => {
                return Err(EngineError::BadResponse(format!(
                    "the stream broke after {} bytes of text: {}",
                    answer.text.len() - answer.given,
                    error_chain(&e)
                )))
            }
            Some(Err(e)) => {
                return Err(EngineError::BadResponse(format!(
                    "not a stream of server-sent events: {}",
                    excerpt(&e.to_string(), 200)
                )))
            }
        };
        let data = event.data.trim();
        if data == "[DONE]" {
            answer.stop_reason = finish.unwrap_or(StopReason::EndOfGeneration);
            break;
        }
        if data.is_empty() {
            continue;
        }
        let chunk = wire::parse_chunk(call.endpoint, data).map_err(EngineError::BadResponse)?;
        if chunk.model.is_some() {
            answer.model = chunk.model;
        }
        answer.prompt_tokens = chunk.prompt_tokens.or(answer.prompt_tokens);
        answer.completion_tokens = chunk.completion_tokens.or(answer.completion_tokens);
        finish = chunk.finish.or(finish);
        if chunk.text.is_empty() {
            continue;
        }
        answer.first_token_at.get_or_insert_with(Instant::now);
        let from = answer.text.len();
        answer.text.push_str(&chunk.text);
        if chunk.tokens.is_empty() {
            answer.tokens.push(GeneratedToken {
                text: chunk.text,
                logprob: f32::NAN,
            });
        } else {
            answer.tokens.extend(chunk.tokens);
        }
        if let Some(reason) = local_stop(&call.stop, &mut answer.text, from) {
            answer.stop_reason = reason;
            break;
        }
        if let Some(f) = &call.on_delta {
            let upto = answer.text.len() - partial_stop_len(&answer.text, &call.stop.strings);
            if upto > emitted {
                f(&answer.text[emitted..upto]);
                emitted = upto;
            }
        }
    }
    // Dropping `events` here closes the connection when the answer ended early.
    drop(events);
    if let Some(f) = &call.on_delta {
        if answer.text.len() > emitted {
            f(&answer.text[emitted..]);
        }
    }
    Ok(answer)
}

/// Apply the local stops to `text`, whose new piece starts at `from`: the stop that applies,
/// with `text` cut where it does.
fn local_stop(stop: &LocalStop, text: &mut String, from: usize) -> Option<StopReason> {
    let longest = stop.strings.iter().map(String::len).max().unwrap_or(0);
    let mut start = from.saturating_sub(longest.saturating_sub(1));
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let cut = stop
        .strings
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text[start..].find(s.as_str()).map(|i| start + i))
        .min();
    if let Some(cut) = cut {
        text.truncate(cut);
        return Some(StopReason::StopString);
    }
    if stop.at_newline {
        let trimmed = text.trim_start_matches(['\n', '\r']);
        if let Some(nl) = trimmed.find('\n') {
            if !trimmed[..nl].trim().is_empty() {
                let cut = text.len() - trimmed.len() + nl;
                text.truncate(cut);
                return Some(StopReason::Newline);
            }
        }
    }
    if stop.caller.as_ref().is_some_and(|f| f(text)) {
        return Some(StopReason::Caller);
    }
    None
}

/// Read up to `max` bytes of an (error) body, until `until` at the latest.
async fn read_prefix(
    mut response: reqwest::Response,
    max: usize,
    until: Instant,
    received: &Arc<AtomicUsize>,
) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < max {
        let chunk = tokio::select! {
            _ = sleep_until(until.into()) => break,
            c = response.chunk() => c,
        };
        match chunk {
            Ok(Some(c)) => {
                received.fetch_add(c.len(), Ordering::Relaxed);
                out.extend_from_slice(&c[..c.len().min(max - out.len())]);
            }
            _ => break,
        }
    }
    out
}

fn timeout(config: &crate::OpenAiConfig, whole_budget: bool, budget: Duration) -> EngineError {
    EngineError::Timeout(if whole_budget {
        format!(
            "no answer from {} within the budget of {:.1} s",
            config.base_url,
            budget.as_secs_f64()
        )
    } else {
        format!(
            "no data from {} for {:.1} s",
            config.base_url,
            config.first_byte_timeout.as_secs_f64()
        )
    })
}

fn api_key(config: &crate::OpenAiConfig) -> Result<Option<String>, EngineError> {
    let Some(name) = &config.api_key_env else {
        return Ok(None);
    };
    match std::env::var(name) {
        Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_string())),
        _ => Err(EngineError::Unauthorized(format!(
            "the environment variable {name}, which should hold the API key for {}, is not set",
            config.base_url
        ))),
    }
}

/// An error and its sources, `: `-separated (reqwest's own message hides the cause).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

async fn cancelled(cancel: &CancelToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(s: &[&str]) -> LocalStop {
        LocalStop {
            strings: s.iter().map(|s| s.to_string()).collect(),
            ..LocalStop::default()
        }
    }

    #[test]
    fn stop_strings_cut_across_pieces() {
        let stop = stops(&["<END>"]);
        let mut text = "abc<E".to_string();
        assert_eq!(local_stop(&stop, &mut text, 0), None);
        assert_eq!(partial_stop_len(&text, &stop.strings), 2);
        text.push_str("ND>def");
        assert_eq!(
            local_stop(&stop, &mut text, 5),
            Some(StopReason::StopString)
        );
        assert_eq!(text, "abc");
        assert_eq!(partial_stop_len("abc", &stop.strings), 0);
    }

    #[test]
    fn newline_and_caller_stops() {
        let stop = LocalStop {
            at_newline: true,
            ..LocalStop::default()
        };
        let mut text = "\n  x = 1\n  y".to_string();
        assert_eq!(local_stop(&stop, &mut text, 0), Some(StopReason::Newline));
        assert_eq!(text, "\n  x = 1");
        let stop = LocalStop {
            caller: Some(Arc::new(|t: &str| t.contains(';'))),
            ..LocalStop::default()
        };
        let mut text = "a;b".to_string();
        assert_eq!(local_stop(&stop, &mut text, 0), Some(StopReason::Caller));
        assert_eq!(text, "a;b");
    }
}
