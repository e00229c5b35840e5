//! The language server's state and its wiring into tower-lsp-server. The handlers live in
//! `handlers/`, one file per family; this file holds what they share and the
//! [`LanguageServer`] impl that routes each method to its handler.
//!
//! Ordering: document notifications update the `Ide` synchronously, before their handler first
//! yields, so a request that follows them sees their effect; a request snapshots the document
//! when it arrives, and the answer is computed against that version. Model work runs on the
//! engine thread; dropping a request future (`$/cancelRequest`) cancels it between tokens.
//! A panic in a handler becomes an error response ([`crate::blocking`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nib_ide::Ide;
use nib_text::OffsetEncoding;
use nib_workspace::{FileChange, OpenPaths, WorkspaceSource};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::lsp_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::debounce::Debouncer;
use crate::handlers::events::Events;
use crate::logging::LogHandle;
use crate::settings::Settings;
use crate::transport;

/// Idle time after an edit before the document is checked.
pub(crate) const DIAGNOSE_IDLE: Duration = Duration::from_millis(300);
/// Idle time after an edit before background prefill starts.
pub(crate) const PREFILL_IDLE: Duration = Duration::from_millis(200);

pub struct Backend {
    pub(crate) client: Client,
    pub(crate) ide: Arc<Ide>,
    pub(crate) state: Mutex<State>,
    pub(crate) log: LogHandle,
    /// The workspace index, once built.
    pub(crate) repo: Arc<Mutex<Option<Arc<WorkspaceSource>>>>,
    /// Paths of open documents (the index takes their text from the editor, not the disk).
    pub(crate) open_paths: OpenPaths,
    /// `workspace/didChangeWatchedFiles` events, applied in order once the index is built.
    pub(crate) watch_tx: tokio::sync::mpsc::UnboundedSender<Vec<WatchEvent>>,
    pub(crate) watch_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Vec<WatchEvent>>>>,
    pub(crate) diagnose: Debouncer,
    pub(crate) prefill: Debouncer,
    /// What happens to suggestions, recorded locally (`telemetry`).
    pub(crate) events: Events,
    /// The remote provider's audit log and fallback message.
    pub(crate) provider_events: Arc<crate::remote::ServerEvents>,
}

pub(crate) type WatchEvent = (std::path::PathBuf, FileChange);

#[derive(Default)]
pub(crate) struct State {
    pub encoding: OffsetEncoding,
    pub settings: Settings,
    /// Problems found in the settings before the client could be told.
    pub pending_problems: Vec<String>,
    /// What the loaded (or loading) engine was made from.
    pub engine_key: Option<nib_models::EngineKey>,
    /// The workspace root, from initialize.
    pub root: Option<std::path::PathBuf>,
    /// The client takes versioned document edits (`workspace.workspaceEdit.documentChanges`).
    pub versioned_edits: bool,
    /// The client registers file watchers for us (`workspace.didChangeWatchedFiles`).
    pub watch_dynamic: bool,
    /// Our file watchers were registered.
    pub watching: bool,
    /// The client opens documents for us (`window.showDocument.support`).
    pub show_document: bool,
    /// `nib/chat` conversations of this session by id: their user and assistant turns.
    pub conversations: std::collections::HashMap<String, Vec<nib_engine::ChatMessage>>,
    /// What the remote engines were built from.
    pub remote_key: Option<crate::remote::RemoteKey>,
}

/// Serve LSP on stdin / stdout until the client exits. Frames pass through the validating
/// transport ([`crate::transport`]) in both directions.
pub async fn serve(log: LogHandle) {
    let (watch_tx, watch_rx) = tokio::sync::mpsc::unbounded_channel();
    let (service, socket) = LspService::build(|client| {
        let ide = Arc::new(Ide::default());
        let provider_events = Arc::new(crate::remote::ServerEvents::new(
            client.clone(),
            crate::remote::AuditLog::in_nib_home(),
        ));
        ide.set_provider_events(provider_events.clone());
        Backend {
            client,
            ide,
            provider_events,
            state: Mutex::default(),
            log,
            repo: Arc::default(),
            open_paths: OpenPaths::default(),
            watch_tx,
            watch_rx: Mutex::new(Some(watch_rx)),
            diagnose: Debouncer::new(DIAGNOSE_IDLE),
            prefill: Debouncer::new(PREFILL_IDLE),
            events: Events::default(),
        }
    })
    .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
    .custom_method(
        "textDocument/didShowCompletion",
        Backend::did_show_completion,
    )
    .custom_method(
        "textDocument/didPartiallyAcceptCompletion",
        Backend::did_partially_accept_completion,
    )
    .custom_method("nib/didRejectCompletion", Backend::did_reject_completion)
    .custom_method("nib/stats", Backend::stats)
    .custom_method("nib/chat", Backend::chat)
    .custom_method("nib/debug/document", Backend::debug_document)
    .custom_method("nib/debug/panic", Backend::debug_panic)
    .finish();
    let (to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let (frames_tx, frames_rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(transport::write_output(tokio::io::stdout(), frames_rx));
    let reader = tokio::spawn(transport::filter_input(
        tokio::io::BufReader::new(tokio::io::stdin()),
        to_server,
        frames_tx.clone(),
    ));
    let output = tokio::spawn(transport::collect_output(
        tokio::io::BufReader::new(from_server),
        frames_tx,
    ));
    Server::new(server_in, server_out, socket)
        .serve(service)
        .await;
    // The server is done (exit, or the input ended): send what it wrote, then stop reading.
    let _ = output.await;
    reader.abort();
    let _ = writer.await;
}

impl Backend {
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn encoding(&self) -> OffsetEncoding {
        self.state().encoding
    }

    pub(crate) fn repo(&self) -> Option<Arc<WorkspaceSource>> {
        self.repo.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        self.on_initialize(params)
    }

    async fn initialized(&self, _: InitializedParams) {
        self.apply_settings().await;
        self.index_workspace().await;
        self.register_watchers().await;
    }

    async fn shutdown(&self) -> Result<()> {
        tracing::info!("shutdown");
        Ok(())
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        self.on_execute_command(params)
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        self.on_did_open(params)
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        self.on_did_change(params).await
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.on_did_save(params).await
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.on_did_close(params)
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        self.on_watched_files(params)
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.on_configuration(params).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        self.on_code_action(params)
    }

    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        self.on_code_action_resolve(action).await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        self.on_completion(params).await
    }
}
