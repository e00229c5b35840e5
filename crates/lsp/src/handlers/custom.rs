//! nib's own requests: `nib/stats`, `nib/chat` (a conversation kept per session), the `nib.accepted` command clients run when a suggestion
//! is accepted, and the `nib/debug/*` requests the tests use (answered only when the server
//! runs with `NIB_DEBUG=1`).

use nib_ide::EngineState;
use serde::Deserialize;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::lsp_types::*;

use crate::blocking;
use crate::convert;
use crate::server::Backend;

fn debug_enabled() -> bool {
    std::env::var("NIB_DEBUG").is_ok_and(|v| v == "1")
}

#[derive(Deserialize)]
pub(crate) struct DocumentParams {
    uri: String,
}

#[derive(Deserialize)]
pub(crate) struct PanicParams {
    /// `blocking` (in work on the blocking pool) or `handler` (in the handler itself).
    #[serde(rename = "where")]
    place: String,
}

impl Backend {
    pub(crate) fn on_execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> Result<Option<LSPAny>> {
        if params.command == convert::ACCEPTED_COMMAND {
            tracing::info!(arguments = ?params.arguments, "suggestion accepted");
            self.events.accepted(params.arguments.first());
            return Ok(None);
        }
        Err(Error::method_not_found())
    }

    /// `nib/stats`: counters and memory, for benchmarks and curious users.
    pub(crate) async fn stats(&self) -> Result<serde_json::Value> {
        let (engine, model) = match self.ide.engine_state() {
            EngineState::Ready(e) => {
                let info = e.info();
                (
                    serde_json::to_value(e.throughput()).unwrap_or_default(),
                    serde_json::json!({
                        "name": info.name,
                        "chat": info.chat,
                        "default_system": info.default_system,
                        "context_length": info.context_length,
                        "threads": info.threads,
                        "provider": self.provider_events.provider(),
                    }),
                )
            }
            other => (
                serde_json::Value::String(format!("{other:?}")),
                serde_json::Value::Null,
            ),
        };
        let index = match self.repo() {
            Some(repo) => tokio::task::spawn_blocking(move || repo.counts())
                .await
                .ok()
                .map(|(files, definitions)| {
                    serde_json::json!({ "files": files, "definitions": definitions })
                }),
            None => None,
        };
        Ok(serde_json::json!({
            "ide": self.ide.stats(),
            "engine": engine,
            "model": model,
            "index": index,
            "watching_files": self.state().watching,
            "peak_rss_kb": peak_rss_kb(),
        }))
    }

    /// `nib/debug/document`: the text and version nib holds for a document (to compare with
    /// the client's copy).
    pub(crate) async fn debug_document(&self, params: DocumentParams) -> Result<serde_json::Value> {
        if !debug_enabled() {
            return Err(Error::method_not_found());
        }
        let snap = self
            .ide
            .snapshot(&params.uri)
            .map_err(blocking::ide_error)?;
        Ok(serde_json::json!({
            "version": snap.doc.version(),
            "text": snap.doc.text(),
        }))
    }

    /// `nib/debug/panic`: a handler that panics, to show that a panic becomes an error
    /// response and the server goes on.
    pub(crate) async fn debug_panic(&self, params: PanicParams) -> Result<()> {
        if !debug_enabled() {
            return Err(Error::method_not_found());
        }
        if params.place == "handler" {
            return blocking::guard("nib/debug/panic", || {
                panic!("nib/debug/panic in the handler")
            });
        }
        blocking::run("nib/debug/panic", tracing::Span::current(), |_| {
            panic!("nib/debug/panic on the blocking pool")
        })
        .await
    }
}

/// Peak resident set size of this process (Linux), in KiB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `nib/chat` parameters.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChatParams {
    /// Which conversation (any string the client picks; a new id starts one).
    conversation_id: String,
    message: String,
    /// The document whose code (`range`, or all of it) the message is about.
    #[serde(default)]
    text_document: Option<TextDocumentIdentifier>,
    #[serde(default)]
    range: Option<Range>,
    /// Partial answers are reported as `$/progress` on this token.
    #[serde(default)]
    work_done_token: Option<NumberOrString>,
    #[serde(default)]
    partial_result_token: Option<NumberOrString>,
}

impl Backend {
    /// `nib/chat`: one turn of a conversation kept in memory for the session; the answer
    /// streams as `$/progress` reports when the client gives a token.
    pub(crate) async fn chat(&self, params: ChatParams) -> Result<serde_json::Value> {
        if params.message.trim().is_empty() {
            return Err(Error::invalid_params("nib/chat: empty message"));
        }
        let code = match &params.text_document {
            Some(doc) => {
                let snap = self
                    .ide
                    .snapshot(doc.uri.as_str())
                    .map_err(blocking::ide_error)?;
                let enc = self.encoding();
                let (a, b) = match params.range {
                    Some(r) => {
                        let r = convert::range_in(r);
                        let a = snap
                            .doc
                            .offset(r.start, enc)
                            .map_err(|e| blocking::ide_error(e.into()))?;
                        let b = snap
                            .doc
                            .offset(r.end, enc)
                            .map_err(|e| blocking::ide_error(e.into()))?;
                        (a.min(b), a.max(b))
                    }
                    None => (0, snap.doc.len_bytes()),
                };
                Some((snap, a, b))
            }
            None => None,
        };
        let history = self
            .state()
            .conversations
            .get(&params.conversation_id)
            .cloned()
            .unwrap_or_default();
        let token = params.work_done_token.or(params.partial_result_token);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let forward = token.clone().map(|token| {
            let client = self.client.clone();
            tokio::spawn(async move {
                let progress = |value| ProgressParams {
                    token: token.clone(),
                    value: ProgressParamsValue::WorkDone(value),
                };
                client
                    .send_notification::<notification::Progress>(progress(WorkDoneProgress::Begin(
                        WorkDoneProgressBegin {
                            title: "nib".into(),
                            ..Default::default()
                        },
                    )))
                    .await;
                let mut so_far = String::new();
                while let Some(piece) = rx.recv().await {
                    so_far.push_str(&piece);
                    // Pieces that came in meanwhile go in the same report.
                    while let Ok(more) = rx.try_recv() {
                        so_far.push_str(&more);
                    }
                    client
                        .send_notification::<notification::Progress>(progress(
                            WorkDoneProgress::Report(WorkDoneProgressReport {
                                message: Some(so_far.clone()),
                                ..Default::default()
                            }),
                        ))
                        .await;
                }
                client
                    .send_notification::<notification::Progress>(progress(WorkDoneProgress::End(
                        WorkDoneProgressEnd::default(),
                    )))
                    .await;
            })
        });
        let on_delta: Option<nib_engine::DeltaCallback> = forward.as_ref().map(|_| {
            let tx = tx.clone();
            std::sync::Arc::new(move |piece: &str| {
                let _ = tx.send(piece.to_string());
            }) as nib_engine::DeltaCallback
        });
        drop(tx);
        let ide = std::sync::Arc::clone(&self.ide);
        let message = params.message.clone();
        let span = tracing::info_span!("chat", conversation = %params.conversation_id, turns = history.len());
        let turn = blocking::run("nib/chat", span, move |cancel| {
            let code = code.as_ref().map(|(s, a, b)| (s, *a, *b));
            ide.converse(&history, &message, code, on_delta, cancel)
        })
        .await;
        if let Some(f) = forward {
            let _ = f.await;
        }
        let turn = turn?;
        let turns = {
            let mut st = self.state();
            let conv = st
                .conversations
                .entry(params.conversation_id.clone())
                .or_default();
            conv.push(nib_engine::ChatMessage::new(
                nib_engine::Role::User,
                turn.user.clone(),
            ));
            conv.push(nib_engine::ChatMessage::new(
                nib_engine::Role::Assistant,
                turn.reply.clone(),
            ));
            conv.len() / 2
        };
        Ok(serde_json::json!({
            "conversationId": params.conversation_id,
            "turns": turns,
            "reply": turn.reply,
            "code": turn.code,
            "confidence": turn.confidence,
            "provider": turn.provider,
            "droppedMessages": turn.dropped_messages,
            "latencyMs": turn.latency_ms,
            "generatedTokens": turn.generated_tokens,
        }))
    }
}
