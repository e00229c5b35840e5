//! nib's own requests: `nib/stats`, the `nib.accepted` command clients run when a suggestion
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
