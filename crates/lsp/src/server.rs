//! The language server: JSON-RPC over stdio with tower-lsp-server. The only module that knows
//! LSP types; everything else goes through `nib_ide`.
//!
//! Ordering: document notifications update the `Ide` synchronously, before their handler first
//! yields, so a request that follows them sees their effect; a request snapshots the document
//! when it arrives, and the answer is computed against that version. Model work runs on the
//! engine thread; dropping a request future (`$/cancelRequest`) cancels it between tokens.

use std::sync::{Arc, Mutex};

use nib_engine::CancelToken;
use nib_ide::{Completion, CompletionRequest, EngineState, Ide, IdeError, Trigger};
use nib_text::{OffsetEncoding, TextChange};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::lsp_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::logging::LogHandle;
use crate::settings::Settings;
use crate::{convert, engine_loader};

pub struct Backend {
    client: Client,
    ide: Arc<Ide>,
    state: Mutex<State>,
    log: LogHandle,
    /// The workspace index, once built.
    repo: Arc<Mutex<Option<Arc<crate::repo::WorkspaceSource>>>>,
    /// Paths of open documents (the index takes their text from the editor, not the disk).
    open_paths: crate::repo::OpenPaths,
    /// `workspace/didChangeWatchedFiles` events, applied in order once the index is built.
    watch_tx: tokio::sync::mpsc::UnboundedSender<Vec<WatchEvent>>,
    watch_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Vec<WatchEvent>>>>,
}

type WatchEvent = (std::path::PathBuf, crate::repo::FileChange);

#[derive(Default)]
struct State {
    encoding: OffsetEncoding,
    settings: Settings,
    /// Problems found in the settings before the client could be told.
    pending_problems: Vec<String>,
    /// What the loaded (or loading) engine was made from.
    engine_key: Option<engine_loader::EngineKey>,
    /// The workspace root, from initialize.
    root: Option<std::path::PathBuf>,
    /// The client takes versioned document edits (`workspace.workspaceEdit.documentChanges`).
    versioned_edits: bool,
    /// The client registers file watchers for us (`workspace.didChangeWatchedFiles`).
    watch_dynamic: bool,
    /// Our file watchers were registered.
    watching: bool,
}

pub async fn serve(log: LogHandle) {
    let stdin = tokio::io::stdin();
    let stdout = tokio::io::stdout();
    let (watch_tx, watch_rx) = tokio::sync::mpsc::unbounded_channel();
    let (service, socket) = LspService::build(|client| Backend {
        client,
        ide: Arc::new(Ide::default()),
        state: Mutex::default(),
        log,
        repo: Arc::default(),
        open_paths: crate::repo::OpenPaths::default(),
        watch_tx,
        watch_rx: Mutex::new(Some(watch_rx)),
    })
    .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
    .custom_method("nib/stats", Backend::stats)
    .finish();
    Server::new(stdin, stdout, socket).serve(service).await;
}

impl Backend {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn encoding(&self) -> OffsetEncoding {
        self.state().encoding
    }

    /// Apply settings: logging and IDE knobs at once, the engine reloaded if its key changed.
    async fn apply_settings(&self) {
        let (settings, problems) = {
            let mut st = self.state();
            (
                st.settings.clone(),
                std::mem::take(&mut st.pending_problems),
            )
        };
        for p in problems {
            tracing::warn!("{p}");
            self.client
                .show_message(MessageType::WARNING, format!("nib: {p}"))
                .await;
        }
        self.log.set_level(&settings.log_level);
        self.ide.set_config(settings.ide_config());
        self.build_gate(&settings);
        let key = engine_loader::EngineKey::from_settings(&settings);
        let changed = {
            let mut st = self.state();
            let changed = st.engine_key.as_ref() != Some(&key);
            st.engine_key = Some(key.clone());
            changed
        };
        if changed {
            self.load_engine(key).await;
        }
    }

    async fn load_engine(&self, key: engine_loader::EngineKey) {
        if let Some(msg) = crate::models::check_present(&key.resolved) {
            tracing::error!("{msg}");
            self.ide.set_engine_state(EngineState::Failed(msg.clone()));
            self.client
                .show_message(MessageType::ERROR, format!("nib: {msg}"))
                .await;
            return;
        }
        self.ide.set_engine_state(EngineState::Loading);
        let ide = Arc::clone(&self.ide);
        let client = self.client.clone();
        tokio::spawn(async move {
            let k = key.clone();
            let result = tokio::task::spawn_blocking(move || engine_loader::load(&k)).await;
            let result = result.unwrap_or_else(|e| Err(format!("model loader panicked: {e}")));
            match result {
                Ok(engine) => {
                    let info = engine.info();
                    ide.set_engine(engine);
                    client
                        .log_message(
                            MessageType::INFO,
                            format!(
                                "nib: model {} loaded ({:?} prompts)",
                                info.name, info.format
                            ),
                        )
                        .await;
                }
                Err(msg) => {
                    tracing::error!("{msg}");
                    ide.set_engine_state(EngineState::Failed(msg.clone()));
                    client
                        .show_message(MessageType::ERROR, format!("nib: {msg}"))
                        .await;
                }
            }
        });
    }

    /// Run a completion off the event loop; the request's cancellation (the future being
    /// dropped) cancels the model work.
    async fn run_completion(
        &self,
        uri: &Uri,
        position: Position,
        trigger: Trigger,
    ) -> Result<Option<Completion>> {
        let enc = self.encoding();
        // Snapshot now, before yielding: the version this request was sent for.
        let snap = self.ide.snapshot(uri.as_str()).map_err(ide_error)?;
        let cancel = CancelToken::new();
        let guard = cancel.drop_guard();
        let ide = Arc::clone(&self.ide);
        let req = CompletionRequest::new(convert::position(position), enc, trigger);
        let span =
            tracing::info_span!("completion", uri = %uri.as_str(), version = snap.doc.version());
        let task = tokio::task::spawn_blocking(move || {
            let _e = span.enter();
            ide.complete(&snap, req, &cancel)
        });
        let result = task.await;
        guard.disarm();
        match result {
            Ok(Ok(c)) => Ok(Some(c)),
            Ok(Err(IdeError::NoModel(msg))) => {
                tracing::debug!("no completion: {msg}");
                Ok(None)
            }
            Ok(Err(IdeError::Cancelled)) => Err(Error::request_cancelled()),
            Ok(Err(e)) => Err(ide_error(e)),
            Err(join) => {
                tracing::error!("completion task failed: {join}");
                Err(Error {
                    code: ErrorCode::InternalError,
                    message: format!("completion failed: {join}").into(),
                    data: None,
                })
            }
        }
    }

    /// Build the workspace index in the background, reporting `$/progress`; the ide uses it for
    /// repository context once it is ready.
    async fn index_workspace(&self) {
        let Some(root) = self.state().root.clone() else {
            return;
        };
        let token = NumberOrString::String("nib/indexing".into());
        let created = self
            .client
            .send_request::<request::WorkDoneProgressCreate>(WorkDoneProgressCreateParams {
                token: token.clone(),
            })
            .await
            .is_ok();
        let client = self.client.clone();
        let ide = Arc::clone(&self.ide);
        let slot = Arc::clone(&self.repo);
        let watch_rx = self
            .watch_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let open_paths = self.open_paths.clone();
        tokio::spawn(async move {
            let progress = if created {
                Some(
                    client
                        .progress(token, "nib: indexing")
                        .with_percentage(0)
                        .begin()
                        .await,
                )
            } else {
                None
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
            let task = tokio::task::spawn_blocking(move || {
                let mut last = 0;
                crate::repo::WorkspaceSource::index(&root, &mut |done, total| {
                    let pct = (done * 100).checked_div(total).unwrap_or(100) as u32;
                    if pct != last {
                        last = pct;
                        let _ = tx.send(pct);
                    }
                })
            });
            while let Some(pct) = rx.recv().await {
                if let Some(p) = &progress {
                    p.report(pct).await;
                }
            }
            match task.await {
                Ok((source, stats)) => {
                    tracing::info!(?stats, "workspace indexed");
                    let source = Arc::new(source);
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&source));
                    ide.set_repo_source(Arc::clone(&source) as _);
                    if let Some(rx) = watch_rx {
                        tokio::spawn(apply_watch_events(rx, source, open_paths));
                    }
                }
                Err(e) => tracing::error!("indexing failed: {e}"),
            }
            if let Some(p) = progress {
                p.finish().await;
            }
        });
    }

    /// Ask the client to watch the files the index covers (dynamic registration only: the
    /// protocol has no static way).
    async fn register_watchers(&self) {
        let wanted = {
            let st = self.state();
            st.watch_dynamic && st.root.is_some()
        };
        if !wanted {
            return;
        }
        let watchers: Vec<FileSystemWatcher> = crate::repo::WATCH_GLOBS
            .iter()
            .map(|g| FileSystemWatcher {
                glob_pattern: GlobPattern::String(g.to_string()),
                kind: None,
            })
            .collect();
        let options = DidChangeWatchedFilesRegistrationOptions { watchers };
        let registration = Registration {
            id: "nib/watched-files".into(),
            method: "workspace/didChangeWatchedFiles".into(),
            register_options: serde_json::to_value(options).ok(),
        };
        match self.client.register_capability(vec![registration]).await {
            Ok(()) => {
                self.state().watching = true;
                tracing::info!("file watchers registered");
            }
            Err(e) => tracing::warn!("file watchers not registered: {e}"),
        }
    }

    /// Build the safety gate's checker for this project in the background (environment
    /// discovery runs the project's interpreter once, off the completion path).
    fn build_gate(&self, settings: &Settings) {
        let root = self.state().root.clone();
        let corpus = (!settings.copyleft_corpus.is_empty())
            .then(|| std::path::PathBuf::from(&settings.copyleft_corpus));
        let ide = Arc::clone(&self.ide);
        let client = self.client.clone();
        tokio::spawn(async move {
            let built = tokio::task::spawn_blocking(move || {
                crate::scan::gate_checker(root.as_deref(), corpus.as_deref())
            })
            .await;
            match built {
                Ok(Ok(checker)) => ide.set_checker(checker),
                Ok(Err(e)) => {
                    tracing::warn!("safety gate: {e:#}");
                    client
                        .show_message(MessageType::WARNING, format!("nib: {e:#}"))
                        .await;
                }
                Err(e) => tracing::error!("safety gate setup failed: {e}"),
            }
        });
    }

    fn repo(&self) -> Option<Arc<crate::repo::WorkspaceSource>> {
        self.repo.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `nib/stats`: counters and memory, for benchmarks and curious users.
    async fn stats(&self) -> Result<serde_json::Value> {
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

    /// After a short idle time with no newer version, publish the safety gate's findings for
    /// the whole document (so inserted code gets diagnostics with rule ids and fix hints).
    fn diagnose_when_idle(&self, uri: Uri, version: i32) {
        let ide = Arc::clone(&self.ide);
        let repo = self.repo();
        let client = self.client.clone();
        let enc = self.encoding();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(DIAGNOSE_IDLE_MS)).await;
            if ide.version(uri.as_str()) != Some(version) {
                return;
            }
            let key = uri.as_str().to_string();
            let ide2 = Arc::clone(&ide);
            let Ok(findings) = tokio::task::spawn_blocking(move || {
                ide2.document_findings(&key, MAX_DIAGNOSE_BYTES)
            })
            .await
            else {
                return;
            };
            let Ok(snap) = ide.snapshot(uri.as_str()) else {
                return;
            };
            if snap.doc.version() != version {
                return;
            }
            if let Some(repo) = &repo {
                repo.update(uri.as_str(), &snap.doc.text(), snap.tree.as_ref());
            }
            let diags = convert::diagnostics(&snap.doc, &findings, enc);
            client.publish_diagnostics(uri, diags, Some(version)).await;
        });
    }

    /// After an edit and a short idle time with no newer version, evaluate the context a
    /// request at the edit would use.
    fn prefill_when_idle(&self, uri: String, version: i32, at: usize) {
        let ide = Arc::clone(&self.ide);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(PREFILL_IDLE_MS)).await;
            if ide.version(&uri) == Some(version) {
                let _ = tokio::task::spawn_blocking(move || ide.prefill_at(&uri, at)).await;
            }
        });
    }

    async fn inline_completion(
        &self,
        params: InlineCompletionParams,
    ) -> Result<Option<InlineCompletionResponse>> {
        let tdp = params.text_document_position;
        let trigger = if params.context.trigger_kind == InlineCompletionTriggerKind::Invoked {
            Trigger::Invoked
        } else {
            Trigger::Automatic
        };
        let c = self
            .run_completion(&tdp.text_document.uri, tdp.position, trigger)
            .await?;
        let items = c.map(|c| convert::inline_items(&c)).unwrap_or_default();
        Ok(Some(InlineCompletionResponse::List(InlineCompletionList {
            items,
        })))
    }
}

/// Apply file events in arrival order, batches that queued up together at once, the IO on a
/// blocking thread.
async fn apply_watch_events(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<WatchEvent>>,
    source: Arc<crate::repo::WorkspaceSource>,
    open: crate::repo::OpenPaths,
) {
    while let Some(mut events) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            events.extend(more);
        }
        let (source, open) = (Arc::clone(&source), open.clone());
        let n = events.len();
        match tokio::task::spawn_blocking(move || source.apply_file_events(&events, &open)).await {
            Ok(applied) => tracing::debug!(events = n, ?applied, "file events applied"),
            Err(e) => tracing::error!("file events failed: {e}"),
        }
    }
}

/// Idle time after an edit before the document is checked.
const DIAGNOSE_IDLE_MS: u64 = 300;
/// Documents larger than this get no safety diagnostics.
const MAX_DIAGNOSE_BYTES: usize = 1 << 20;

/// Idle time after an edit before background prefill starts.
const PREFILL_IDLE_MS: u64 = 200;

/// Peak resident set size of this process (Linux), in KiB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ide_error(e: IdeError) -> Error {
    let code = match e {
        IdeError::UnknownDocument(_) | IdeError::Position(_) | IdeError::NotApplicable(_) => {
            ErrorCode::InvalidParams
        }
        _ => ErrorCode::InternalError,
    };
    let message = match &e {
        IdeError::Position(p) => format!("invalid position: {p}"),
        other => other.to_string(),
    };
    Error {
        code,
        message: message.into(),
        data: None,
    }
}

fn negotiate_encoding(params: &InitializeParams) -> OffsetEncoding {
    let offered = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
        .map(|v| {
            v.iter()
                .filter_map(|k| OffsetEncoding::from_lsp(k.as_str()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if offered.contains(&OffsetEncoding::Utf8) {
        OffsetEncoding::Utf8
    } else {
        OffsetEncoding::Utf16
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let encoding = negotiate_encoding(&params);
        #[allow(deprecated)]
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|f| f.first())
            .map(|f| f.uri.as_str().to_string())
            .or_else(|| params.root_uri.as_ref().map(|u| u.as_str().to_string()))
            .and_then(|u| crate::repo::uri_to_path(&u));
        self.state().root = root;
        self.state().versioned_edits = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref())
            .and_then(|e| e.document_changes)
            .unwrap_or(false);
        self.state().watch_dynamic = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|c| c.dynamic_registration)
            .unwrap_or(false);
        {
            let mut st = self.state();
            st.encoding = encoding;
            if let Some(opts) = &params.initialization_options {
                let problems = st.settings.merge(opts);
                st.pending_problems.extend(problems);
            }
        }
        tracing::info!(encoding = encoding.as_lsp(), "initialize");
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(PositionEncodingKind::from(encoding.as_lsp().to_string())),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                inline_completion_provider: Some(OneOf::Left(true)),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![convert::ACCEPTED_COMMAND.to_string()],
                    ..Default::default()
                }),
                completion_provider: Some(CompletionOptions {
                    resolve_provider: Some(false),
                    trigger_characters: None,
                    ..Default::default()
                }),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::from(
                            crate::actions::GENERATE_KIND.to_string(),
                        )]),
                        resolve_provider: Some(true),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "nib".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.apply_settings().await;
        self.index_workspace().await;
        self.register_watchers().await;
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if params.command == convert::ACCEPTED_COMMAND {
            // Acceptance events; local telemetry will count them.
            tracing::info!(arguments = ?params.arguments, "suggestion accepted");
            return Ok(None);
        }
        Err(Error::method_not_found())
    }

    async fn shutdown(&self) -> Result<()> {
        tracing::info!("shutdown");
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        self.open_paths.open(d.uri.as_str());
        self.ide
            .open(d.uri.as_str(), Some(&d.language_id), d.version, &d.text);
        self.diagnose_when_idle(d.uri, d.version);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let enc = self.encoding();
        let changes: Vec<TextChange> = params
            .content_changes
            .into_iter()
            .map(|c| TextChange {
                range: c.range.map(convert::range_in),
                text: c.text,
            })
            .collect();
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        match self.ide.change(uri.as_str(), version, &changes, enc) {
            Ok(Some(at)) => {
                self.prefill_when_idle(uri.as_str().to_string(), version, at);
                self.diagnose_when_idle(uri.clone(), version);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(uri = %uri.as_str(), "didChange not applied: {e}");
                self.client
                    .log_message(
                        MessageType::WARNING,
                        format!("nib: change to {} not applied: {e}", uri.as_str()),
                    )
                    .await;
            }
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if let Some(repo) = self.repo() {
            let uri = params.text_document.uri.as_str().to_string();
            let open = self.open_paths.clone();
            let _ = tokio::task::spawn_blocking(move || repo.reindex(&uri, &open)).await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.open_paths.close(params.text_document.uri.as_str());
        self.ide.close(params.text_document.uri.as_str());
    }

    /// Files created, changed or deleted outside the editor: queued, applied in order off the
    /// event loop once the index exists (events before then are kept until it does).
    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        if self.state().root.is_none() {
            return;
        }
        let events: Vec<WatchEvent> = params
            .changes
            .into_iter()
            .filter_map(|e| {
                let change = match e.typ {
                    FileChangeType::CREATED => crate::repo::FileChange::Created,
                    FileChangeType::CHANGED => crate::repo::FileChange::Changed,
                    FileChangeType::DELETED => crate::repo::FileChange::Deleted,
                    _ => return None,
                };
                Some((crate::repo::uri_to_path(e.uri.as_str())?, change))
            })
            .collect();
        if !events.is_empty() && self.watch_tx.send(events).is_err() {
            tracing::warn!("file events dropped: the index is gone");
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        {
            let mut st = self.state();
            let problems = st.settings.merge(&params.settings);
            st.pending_problems.extend(problems);
        }
        self.apply_settings().await;
    }

    /// Offer nib's actions for the cursor (cheap: no model).
    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        if !crate::actions::kind_wanted(params.context.only.as_deref()) {
            return Ok(None);
        }
        let uri = params.text_document.uri;
        let snap = self.ide.snapshot(uri.as_str()).map_err(ide_error)?;
        let kinds = self
            .ide
            .code_actions(&snap, convert::range_in(params.range), self.encoding())
            .map_err(ide_error)?;
        let actions: Vec<CodeActionOrCommand> = kinds
            .into_iter()
            .map(|kind| {
                let data = crate::actions::ActionData {
                    uri: uri.as_str().to_string(),
                    version: snap.doc.version(),
                    position: params.range.start,
                    range: params.range,
                    action: kind.id().to_string(),
                };
                CodeActionOrCommand::CodeAction(crate::actions::offer(kind, &data))
            })
            .collect();
        Ok((!actions.is_empty()).then_some(actions))
    }

    /// Run an offered action: the model on a blocking thread, the safety gate, the edit.
    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        let data: crate::actions::ActionData = action
            .data
            .clone()
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| Error::invalid_params("code action without nib's data"))?;
        let kind = nib_ide::CodeActionKind::from_id(&data.action)
            .ok_or_else(|| Error::invalid_params(format!("unknown action {}", data.action)))?;
        let uri: Uri = data
            .uri
            .parse()
            .map_err(|_| Error::invalid_params(format!("bad uri {}", data.uri)))?;
        let enc = self.encoding();
        // Snapshot now, before yielding; the action was offered for one version only.
        let snap = self.ide.snapshot(&data.uri).map_err(ide_error)?;
        if snap.doc.version() != data.version {
            return Err(Error {
                code: ErrorCode::ContentModified,
                message: "the document changed since the action was offered".into(),
                data: None,
            });
        }
        let req = nib_ide::CodeActionRequest {
            kind,
            range: convert::range_in(data.range),
            encoding: enc,
        };
        let cancel = CancelToken::new();
        let guard = cancel.drop_guard();
        let ide = Arc::clone(&self.ide);
        let span =
            tracing::info_span!("code_action", uri = %data.uri, version = snap.doc.version());
        let task = tokio::task::spawn_blocking(move || {
            let _e = span.enter();
            ide.code_action(&snap, req, &cancel)
        });
        let result = task.await;
        guard.disarm();
        match result {
            Ok(Ok(r)) => {
                let versioned = self.state().versioned_edits;
                if let Some(reason) = &r.dropped {
                    let rule = crate::actions::blocking_rule(&r);
                    tracing::info!(rule = ?rule.map(|f| &f.rule_id), "code action dropped by the safety gate");
                    let hint = rule
                        .filter(|f| !f.fix_hint.is_empty())
                        .map(|f| format!("; fix: {}", f.fix_hint))
                        .unwrap_or_default();
                    self.client
                        .show_message(
                            MessageType::WARNING,
                            format!("nib: the generated code was not inserted: {reason}{hint}"),
                        )
                        .await;
                } else if r.insert_text.is_empty() {
                    let why = r.empty_reason.as_deref().unwrap_or("Empty");
                    self.client
                        .show_message(
                            MessageType::INFO,
                            format!("nib: the model wrote no code for this comment ({why})"),
                        )
                        .await;
                }
                Ok(crate::actions::resolve(action, uri, &r, versioned))
            }
            Ok(Err(IdeError::NoModel(msg))) => {
                let msg = format!("nib: cannot generate code: no model: {msg}");
                self.client.show_message(MessageType::ERROR, &msg).await;
                Err(Error {
                    code: ErrorCode::InternalError,
                    message: msg.into(),
                    data: None,
                })
            }
            Ok(Err(IdeError::Cancelled)) => Err(Error::request_cancelled()),
            Ok(Err(e)) => Err(ide_error(e)),
            Err(join) => {
                tracing::error!("code action task failed: {join}");
                Err(Error {
                    code: ErrorCode::InternalError,
                    message: format!("code action failed: {join}").into(),
                    data: None,
                })
            }
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let tdp = params.text_document_position;
        let trigger = match params.context.map(|c| c.trigger_kind) {
            Some(CompletionTriggerKind::INVOKED) => Trigger::Invoked,
            _ => Trigger::Automatic,
        };
        let uri = tdp.text_document.uri;
        let snap = self.ide.snapshot(uri.as_str()).map_err(ide_error)?;
        let Some(c) = self.run_completion(&uri, tdp.position, trigger).await? else {
            return Ok(Some(CompletionResponse::Array(vec![])));
        };
        if c.text.trim().is_empty() {
            return Ok(Some(CompletionResponse::Array(vec![])));
        }
        let items = convert::completion_items(&snap.doc, &c, self.encoding());
        Ok(Some(CompletionResponse::List(CompletionList {
            is_incomplete: true,
            items,
        })))
    }
}
