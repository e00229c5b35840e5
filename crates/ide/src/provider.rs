//! Who answers a chat: the one entry point every chat-style action goes through.
//!
//! The local model answers through its chat template ([`TemplateChat`]). When a remote chat
//! engine is set ([`Ide::set_remote`]), a request goes there instead, with:
//! - every message redacted by ONE [`Redactor`] (placeholders stable across the messages),
//!   the answer (and each streamed piece, as far as a piece can be told whole) with the
//!   placeholders mapped back;
//! - nothing sent when a file the request quotes is denied ([`nib_checks::is_denied_path`]) or
//!   excluded by the repository's ignore files;
//! - on a remote failure ([`EngineError::is_remote_failure`]) and with fallback on, the local
//!   model's answer, its [`ProviderInfo::fallback`] saying why; fallback off: an error.
//!
//! What was sent is reported to the injected [`ProviderEvents`] (the audit log lives on the
//! IO side); never the content.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nib_checks::Redactor;
use nib_engine::{
    ChatEngine, ChatRequest, ChatResponse, CompletionEngine, DeltaCallback, EngineError,
    TemplateChat,
};

use crate::{lock, Ide, IdeError};

/// Which provider answered a chat, and why the configured one did not when it fell back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderInfo {
    /// `local` or `remote`.
    pub name: &'static str,
    /// The model that answered, as its provider names it.
    pub model: String,
    /// Why the configured provider did not answer (the local model answered instead).
    pub fallback: Option<String>,
    /// The local model's threads for this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// What a chat request quotes besides its messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatContext {
    /// Paths (or URIs) of the files whose text is in the messages.
    pub files: Vec<String>,
}

/// An answer and who gave it.
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    pub response: ChatResponse,
    pub provider: ProviderInfo,
}

/// The remote provider, as the server configured it. `None` engines: that kind of request is
/// answered locally.
#[derive(Clone, Default)]
pub struct RemoteProvider {
    /// Answers chats (`chatProvider = remote`).
    pub chat: Option<Arc<dyn ChatEngine>>,
    /// Writes inline completions (`completionProvider = remote`).
    pub completion: Option<Arc<dyn CompletionEngine>>,
    /// Answer from the local model when the remote fails.
    pub fallback: bool,
    /// Time budget of a remote inline completion (on a failure, the local path runs with its
    /// own deadline).
    pub completion_budget: Duration,
}

impl std::fmt::Debug for RemoteProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProvider")
            .field("chat", &self.chat.as_ref().map(|c| c.model_name()))
            .field(
                "completion",
                &self.completion.as_ref().map(|c| c.info().name),
            )
            .field("fallback", &self.fallback)
            .field("completion_budget", &self.completion_budget)
            .finish()
    }
}

/// One request sent to the remote provider: what the audit log records. Never the content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// Seconds since the Unix epoch, when the request was sent.
    pub time: u64,
    /// `chat` or `completion`.
    pub kind: &'static str,
    pub model: String,
    /// Bytes of text sent (messages or prompt, after redaction).
    pub bytes_sent: usize,
    /// Files whose text is in the request (the document, repository context).
    pub files: Vec<String>,
    /// Secrets replaced by placeholders.
    pub redactions: usize,
    /// `ok`, `cancelled`, or the failure.
    pub outcome: String,
    pub latency_ms: u64,
}

/// Told what the remote provider did (the server writes the audit log and tells the user).
pub trait ProviderEvents: Send + Sync {
    /// A request went to the remote provider (after it ended).
    fn sent(&self, record: &AuditRecord);
    /// The remote provider failed and the local model answered instead.
    fn fell_back(&self, why: &str);
}

#[derive(Default)]
pub(crate) struct ProviderSlot {
    remote: Mutex<RemoteProvider>,
    events: Mutex<Option<Arc<dyn ProviderEvents>>>,
}

impl ProviderSlot {
    pub(crate) fn remote(&self) -> RemoteProvider {
        lock(&self.remote).clone()
    }

    pub(crate) fn report(&self, record: AuditRecord) {
        tracing::info!(kind = record.kind, model = %record.model, bytes = record.bytes_sent, files = record.files.len(), redactions = record.redactions, outcome = %record.outcome, latency_ms = record.latency_ms, "remote request");
        if let Some(e) = lock(&self.events).clone() {
            e.sent(&record);
        }
    }

    pub(crate) fn fell_back(&self, why: &str) {
        tracing::warn!(%why, "remote provider failed: the local model answers");
        if let Some(e) = lock(&self.events).clone() {
            e.fell_back(why);
        }
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a remote request ended the way it did, for the audit log and the user.
pub(crate) fn outcome(result: Result<nib_engine::StopReason, &EngineError>) -> String {
    match result {
        Ok(nib_engine::StopReason::Cancelled) => "cancelled".into(),
        Ok(_) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

impl Ide {
    /// Send chats and / or completions to `remote` from now on (the default sends nothing).
    pub fn set_remote(&self, remote: RemoteProvider) {
        *lock(&self.provider.remote) = remote;
    }

    /// Report remote requests and fallbacks to `events`.
    pub fn set_provider_events(&self, events: Arc<dyn ProviderEvents>) {
        *lock(&self.provider.events) = Some(events);
    }

    /// Where chats go now: `local` or `remote`.
    pub fn chat_provider(&self) -> &'static str {
        if self.provider.remote().chat.is_some() {
            "remote"
        } else {
            "local"
        }
    }

    /// Whether the text of the file at `path` (URI or path) must stay on this machine: a
    /// denied path or one the repository's ignore files exclude.
    pub fn is_private(&self, path: &str) -> bool {
        nib_checks::is_denied_path(path) || self.repo_source().is_some_and(|s| s.is_ignored(path))
    }

    /// Answer a conversation with the configured chat provider. Blocking: runs the model.
    pub fn chat(&self, req: ChatRequest, ctx: &ChatContext) -> Result<ChatAnswer, IdeError> {
        match self.try_remote_chat(req.clone(), ctx)? {
            Remote::Answered(answer) => Ok(answer),
            Remote::NotConfigured => self.chat_local(req, None),
            Remote::FellBack(why) => self.chat_local(req, Some(why)),
        }
    }

    /// Ask the remote chat provider, when one is set. A failure with fallback on is
    /// [`Remote::FellBack`] (the user has been told through [`ProviderEvents::fell_back`]); with
    /// fallback off, an error.
    pub(crate) fn try_remote_chat(
        &self,
        req: ChatRequest,
        ctx: &ChatContext,
    ) -> Result<Remote, IdeError> {
        let remote = self.provider.remote();
        let Some(engine) = remote.chat else {
            return Ok(Remote::NotConfigured);
        };
        let why = match ctx.files.iter().find(|f| self.is_private(f)) {
            Some(f) => format!("{f} is excluded from remote requests (ignored or denied)"),
            None => match self.chat_remote(engine.as_ref(), req, ctx) {
                Ok(answer) => return Ok(Remote::Answered(answer)),
                Err(RemoteError::Other(e)) => return Err(e),
                Err(RemoteError::Failed(e)) => format!("remote provider failed: {e}"),
            },
        };
        if !remote.fallback {
            return Err(IdeError::Remote(why));
        }
        self.provider.fell_back(&why);
        Ok(Remote::FellBack(why))
    }

    fn chat_local(
        &self,
        req: ChatRequest,
        fallback: Option<String>,
    ) -> Result<ChatAnswer, IdeError> {
        let load_wait = self.config().load_wait;
        let engine = self.engine.wait_ready(load_wait, &req.cancel)?;
        let engine = engine.for_actions().unwrap_or(engine);
        let threads = engine.info().threads;
        let chat = TemplateChat::new(engine)
            .ok_or_else(|| IdeError::NoModel("the model has no chat template".into()))?;
        let response = chat
            .chat(req)
            .map_err(|e| IdeError::Engine(e.to_string()))?;
        Ok(ChatAnswer {
            provider: ProviderInfo {
                name: "local",
                model: response.model.clone(),
                fallback,
                threads: Some(threads),
            },
            response,
        })
    }

    fn chat_remote(
        &self,
        engine: &dyn ChatEngine,
        mut req: ChatRequest,
        ctx: &ChatContext,
    ) -> Result<ChatAnswer, RemoteError> {
        let started = Instant::now();
        let mut redactor = Redactor::new();
        for m in &mut req.messages {
            m.content = redactor.redact(&m.content);
        }
        let bytes_sent = req.messages.iter().map(|m| m.content.len()).sum();
        let redactor = Arc::new(redactor);
        let restorer = req.on_delta.take().map(|inner| {
            Arc::new(Restorer {
                inner,
                redactor: Arc::clone(&redactor),
                held: Mutex::default(),
            })
        });
        if let Some(r) = &restorer {
            let r = Arc::clone(r);
            req.on_delta = Some(Arc::new(move |piece: &str| r.push(piece)));
        }
        let result = engine.chat(req);
        if let Some(r) = &restorer {
            r.flush();
        }
        self.provider.report(AuditRecord {
            time: now_secs(),
            kind: "chat",
            model: engine.model_name(),
            bytes_sent,
            files: ctx.files.clone(),
            redactions: redactor.count(),
            outcome: outcome(result.as_ref().map(|r| r.stop_reason)),
            latency_ms: started.elapsed().as_millis() as u64,
        });
        match result {
            Ok(mut response) => {
                response.text = redactor.restore(&response.text);
                Ok(ChatAnswer {
                    provider: ProviderInfo {
                        name: "remote",
                        model: response.model.clone(),
                        fallback: None,
                        threads: None,
                    },
                    response,
                })
            }
            Err(e) if e.is_remote_failure() || matches!(e, EngineError::Unavailable(_)) => {
                Err(RemoteError::Failed(e))
            }
            Err(e) => Err(RemoteError::Other(IdeError::Engine(e.to_string()))),
        }
    }
}

/// What asking the remote provider came to.
pub(crate) enum Remote {
    Answered(ChatAnswer),
    /// No remote chat provider: the local model answers.
    NotConfigured,
    /// The remote failed or may not see the files: the local model answers, for this reason.
    FellBack(String),
}

enum RemoteError {
    /// The remote could not answer: the local model may.
    Failed(EngineError),
    Other(IdeError),
}

/// The placeholder prefix of [`Redactor`]'s placeholders.
const PLACEHOLDER: &str = "NIB_REDACTED_";

/// Passes streamed pieces on with the placeholders mapped back; text that may be the start
/// of a placeholder split across pieces is held back until the next piece (or [`Restorer::flush`]).
struct Restorer {
    inner: DeltaCallback,
    redactor: Arc<Redactor>,
    held: Mutex<String>,
}

impl Restorer {
    fn push(&self, piece: &str) {
        let mut buf = lock(&self.held);
        buf.push_str(piece);
        let keep = pending_placeholder(&buf);
        let upto = buf.len() - keep;
        let ready: String = buf.drain(..upto).collect();
        drop(buf);
        if !ready.is_empty() {
            (self.inner)(&self.redactor.restore(&ready));
        }
    }

    fn flush(&self) {
        let rest = std::mem::take(&mut *lock(&self.held));
        if !rest.is_empty() {
            (self.inner)(&self.redactor.restore(&rest));
        }
    }
}

/// Bytes at the end of `text` that may be an unfinished placeholder (a prefix of
/// [`PLACEHOLDER`], or all of it and digits so far).
fn pending_placeholder(text: &str) -> usize {
    if let Some(i) = text.rfind(PLACEHOLDER) {
        let tail = &text[i + PLACEHOLDER.len()..];
        if tail.bytes().all(|b| b.is_ascii_digit()) {
            return text.len() - i;
        }
    }
    nib_engine::partial_stop_len(text, &[PLACEHOLDER.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_pieces_get_their_secrets_back_even_when_a_placeholder_is_split() {
        let mut r = Redactor::new();
        let sent = r.redact("key = \"sk_live_8LEVC0Pfip4BXzoRzyFv23SYpu8y7n2l\"\n");
        assert!(sent.contains("NIB_REDACTED_1"), "{sent}");
        let out = Arc::new(Mutex::new(String::new()));
        let o = Arc::clone(&out);
        let f = Restorer {
            inner: Arc::new(move |p: &str| o.lock().unwrap().push_str(p)),
            redactor: Arc::new(r),
            held: Mutex::default(),
        };
        for piece in ["use(\"NIB_RED", "ACTED_", "1", "\") # done NIB_"] {
            f.push(piece);
        }
        f.flush();
        assert_eq!(
            *out.lock().unwrap(),
            "use(\"sk_live_8LEVC0Pfip4BXzoRzyFv23SYpu8y7n2l\") # done NIB_"
        );
        assert_eq!(pending_placeholder("x NIB_REDACTED_12"), 15);
        assert_eq!(pending_placeholder("x NIB_RE"), 6);
        assert_eq!(pending_placeholder("x NIB_REDACTED_1 y"), 0);
    }
}
