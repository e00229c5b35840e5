//! Document sync: `didOpen`, `didChange`, `didSave`, `didClose`. Edits are applied before the
//! handler first yields (see the ordering note in `server.rs`); the idle work they start
//! (safety diagnostics, background prefill) is debounced per document.

use std::sync::Arc;

use nib_text::TextChange;
use tower_lsp_server::lsp_types::*;

use crate::blocking;
use crate::convert;
use crate::server::Backend;

/// Documents larger than this get no safety diagnostics.
const MAX_DIAGNOSE_BYTES: usize = 1 << 20;

impl Backend {
    pub(crate) fn on_did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        let opened = blocking::guard("didOpen", || {
            self.open_paths.open(d.uri.as_str());
            self.ide
                .open(d.uri.as_str(), Some(&d.language_id), d.version, &d.text);
        });
        if opened.is_ok() {
            self.diagnose_when_idle(d.uri, d.version);
        }
    }

    pub(crate) async fn on_did_change(&self, params: DidChangeTextDocumentParams) {
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
        let applied = blocking::guard("didChange", || {
            let edits = self.ide.change_edits(uri.as_str(), version, &changes, enc);
            match &edits {
                Ok(edits) => {
                    let with_text: Vec<_> = edits
                        .iter()
                        .zip(&changes)
                        .map(|(e, c)| (*e, c.text.as_str()))
                        .collect();
                    self.events.edited(uri.as_str(), &with_text);
                }
                Err(_) => self.events.lost(uri.as_str()),
            }
            edits.map(|e| e.last().map(|e| e.new_end_byte))
        });
        let problem = match applied {
            Ok(Ok(Some(at))) => {
                self.prefill_when_idle(uri.as_str().to_string(), version, at);
                self.diagnose_when_idle(uri.clone(), version);
                return;
            }
            Ok(Ok(None)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.message.to_string(),
        };
        tracing::warn!(uri = %uri.as_str(), "didChange not applied: {problem}");
        self.client
            .log_message(
                MessageType::WARNING,
                format!("nib: change to {} not applied: {problem}", uri.as_str()),
            )
            .await;
    }

    pub(crate) async fn on_did_save(&self, params: DidSaveTextDocumentParams) {
        self.events.saved(params.text_document.uri.as_str());
        if let Some(repo) = self.repo() {
            let uri = params.text_document.uri.as_str().to_string();
            let open = self.open_paths.clone();
            let _ = tokio::task::spawn_blocking(move || repo.reindex(&uri, &open)).await;
        }
    }

    pub(crate) fn on_did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri.as_str();
        self.events.closed(uri);
        self.diagnose.cancel(uri);
        self.prefill.cancel(uri);
        let _ = blocking::guard("didClose", || {
            self.open_paths.close(uri);
            self.ide.close(uri);
        });
    }

    /// After a short idle time with no newer version, publish the safety gate's findings for
    /// the whole document (so inserted code gets diagnostics with rule ids and fix hints).
    pub(crate) fn diagnose_when_idle(&self, uri: Uri, version: i32) {
        let ide = Arc::clone(&self.ide);
        let repo = self.repo();
        let client = self.client.clone();
        let enc = self.encoding();
        let key = uri.as_str().to_string();
        self.diagnose.schedule(&key.clone(), async move {
            if ide.version(&key) != Some(version) {
                return;
            }
            let ide2 = Arc::clone(&ide);
            let findings = blocking::run("diagnostics", tracing::Span::current(), move |_| {
                Ok(ide2.document_findings(&key, MAX_DIAGNOSE_BYTES))
            })
            .await;
            let Ok(findings) = findings else {
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
    pub(crate) fn prefill_when_idle(&self, uri: String, version: i32, at: usize) {
        let ide = Arc::clone(&self.ide);
        self.prefill.schedule(&uri.clone(), async move {
            if ide.version(&uri) == Some(version) {
                let _ = blocking::run("prefill", tracing::Span::current(), move |_| {
                    ide.prefill_at(&uri, at);
                    Ok(())
                })
                .await;
            }
        });
    }
}
