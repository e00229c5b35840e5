//! `textDocument/inlineCompletion` (ghost text) and `textDocument/completion` (the same
//! suggestion as a menu item, for editors without ghost text).

use std::sync::Arc;

use nib_ide::{Completion, CompletionRequest, IdeError, Trigger};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::lsp_types::*;

use crate::blocking::{self, ide_error};
use crate::convert;
use crate::server::Backend;

impl Backend {
    pub(crate) async fn inline_completion(
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

    pub(crate) async fn on_completion(
        &self,
        params: CompletionParams,
    ) -> Result<Option<CompletionResponse>> {
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

    /// Run a completion off the event loop; the request's cancellation (the future being
    /// dropped) cancels the model work. No model yet is an empty answer, not an error. A
    /// suggestion in the answer is recorded as shown.
    async fn run_completion(
        &self,
        uri: &Uri,
        position: Position,
        trigger: Trigger,
    ) -> Result<Option<Completion>> {
        let enc = self.encoding();
        // Snapshot now, before yielding: the version this request was sent for.
        let snap = self.ide.snapshot(uri.as_str()).map_err(ide_error)?;
        let shown = snap.clone();
        let ide = Arc::clone(&self.ide);
        let req = CompletionRequest::new(convert::position(position), enc, trigger);
        let span =
            tracing::info_span!("completion", uri = %uri.as_str(), version = snap.doc.version());
        let c = blocking::run("completion", span, move |cancel| {
            match ide.complete(&snap, req, cancel) {
                Ok(c) => Ok(Some(c)),
                Err(IdeError::NoModel(msg)) => {
                    tracing::debug!("no completion: {msg}");
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
        .await?;
        if let Some(c) = c.as_ref().filter(|c| !c.text.trim().is_empty()) {
            self.events.shown(&shown, c, trigger, enc, &self.ide);
            // Only while the document is still at the suggestion's version: the editor shows it.
            if trigger == Trigger::Automatic
                && self.ide.version(uri.as_str()) == Some(shown.doc.version())
            {
                self.look_ahead(shown, c.clone());
            }
        }
        Ok(c)
    }

    /// While `shown` is on screen, compute in the background what the request after Tab would
    /// get (see `Ide::lookahead`); the response does not wait for it.
    fn look_ahead(&self, snap: nib_ide::Snapshot, shown: Completion) {
        let ide = Arc::clone(&self.ide);
        let enc = self.encoding();
        let span = tracing::debug_span!("lookahead", uri = %snap.uri);
        tokio::spawn(blocking::run("lookahead", span, move |_| {
            ide.lookahead(&snap, &shown, enc);
            Ok(())
        }));
    }
}
