//! The workspace: the index behind repository context (built in the background after
//! `initialized`, with `$/progress`), the file watchers nib registers, and
//! `workspace/didChangeWatchedFiles`.

use std::sync::Arc;

use nib_workspace::{FileChange, OpenPaths, WorkspaceSource};
use tower_lsp_server::lsp_types::*;

use crate::server::{Backend, WatchEvent};

impl Backend {
    /// Build the workspace index in the background, reporting `$/progress`; the ide uses it for
    /// repository context once it is ready.
    pub(crate) async fn index_workspace(&self) {
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
                WorkspaceSource::index(&root, &mut |done, total| {
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
    pub(crate) async fn register_watchers(&self) {
        let wanted = {
            let st = self.state();
            st.watch_dynamic && st.root.is_some()
        };
        if !wanted {
            return;
        }
        let watchers: Vec<FileSystemWatcher> = nib_workspace::WATCH_GLOBS
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

    /// Files created, changed or deleted outside the editor: queued, applied in order off the
    /// event loop once the index exists (events before then are kept until it does).
    pub(crate) fn on_watched_files(&self, params: DidChangeWatchedFilesParams) {
        if self.state().root.is_none() {
            return;
        }
        let events: Vec<WatchEvent> = params
            .changes
            .into_iter()
            .filter_map(|e| {
                let change = match e.typ {
                    FileChangeType::CREATED => FileChange::Created,
                    FileChangeType::CHANGED => FileChange::Changed,
                    FileChangeType::DELETED => FileChange::Deleted,
                    _ => return None,
                };
                Some((nib_workspace::uri_to_path(e.uri.as_str())?, change))
            })
            .collect();
        if !events.is_empty() && self.watch_tx.send(events).is_err() {
            tracing::warn!("file events dropped: the index is gone");
        }
    }
}

/// Apply file events in arrival order, batches that queued up together at once, the IO on a
/// blocking thread.
async fn apply_watch_events(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<WatchEvent>>,
    source: Arc<WorkspaceSource>,
    open: OpenPaths,
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
