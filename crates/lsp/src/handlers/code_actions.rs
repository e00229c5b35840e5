//! `textDocument/codeAction` (cheap: offers, no model) and `codeAction/resolve` (the model,
//! the safety gate and the edit).

use std::sync::Arc;

use nib_ide::IdeError;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::lsp_types::*;

use crate::actions;
use crate::blocking::{self, ide_error};
use crate::convert;
use crate::server::Backend;

impl Backend {
    /// Offer nib's actions for the cursor.
    pub(crate) fn on_code_action(
        &self,
        params: CodeActionParams,
    ) -> Result<Option<CodeActionResponse>> {
        if !actions::kind_wanted(params.context.only.as_deref()) {
            return Ok(None);
        }
        let uri = params.text_document.uri;
        let snap = self.ide.snapshot(uri.as_str()).map_err(ide_error)?;
        let enc = self.encoding();
        let kinds = blocking::guard("codeAction", || {
            self.ide
                .code_actions(&snap, convert::range_in(params.range), enc)
        })?
        .map_err(ide_error)?;
        let offered: Vec<CodeActionOrCommand> = kinds
            .into_iter()
            .map(|kind| {
                let data = actions::ActionData {
                    uri: uri.as_str().to_string(),
                    version: snap.doc.version(),
                    position: params.range.start,
                    range: params.range,
                    action: kind.id().to_string(),
                };
                CodeActionOrCommand::CodeAction(actions::offer(kind, &data))
            })
            .collect();
        Ok((!offered.is_empty()).then_some(offered))
    }

    /// Run an offered action: the model on a blocking thread, the safety gate, the edit.
    pub(crate) async fn on_code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        let data: actions::ActionData = action
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
        let ide = Arc::clone(&self.ide);
        let span =
            tracing::info_span!("code_action", uri = %data.uri, version = snap.doc.version());
        let result = blocking::run("code action", span, move |cancel| {
            match ide.code_action(&snap, req, cancel) {
                Err(IdeError::NoModel(msg)) => Ok(Err(format!("no model: {msg}"))),
                Err(IdeError::Remote(msg)) => Ok(Err(msg)),
                other => other.map(Ok),
            }
        })
        .await?;
        let r = match result {
            Ok(r) => r,
            Err(why) => {
                let msg = format!("nib: cannot generate code: {why}");
                self.client.show_message(MessageType::ERROR, &msg).await;
                return Err(blocking::internal(msg));
            }
        };
        let versioned = self.state().versioned_edits;
        if let Some(reason) = &r.dropped {
            let rule = actions::blocking_rule(&r);
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
        Ok(actions::resolve(action, uri, &r, versioned))
    }
}
