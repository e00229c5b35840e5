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
        let only = params.context.only.as_deref();
        if !nib_ide::CodeActionKind::ALL
            .iter()
            .any(|k| actions::lsp_kind_wanted(only, actions::lsp_kind(*k)))
        {
            return Ok(None);
        }
        let uri = params.text_document.uri;
        let snap = self.ide.snapshot(uri.as_str()).map_err(ide_error)?;
        let enc = self.encoding();
        let diagnostics: Vec<String> = params
            .context
            .diagnostics
            .iter()
            .map(|d| match &d.source {
                Some(source) => {
                    format!("line {}: {} ({source})", d.range.start.line + 1, d.message)
                }
                None => format!("line {}: {}", d.range.start.line + 1, d.message),
            })
            .collect();
        let kinds = blocking::guard("codeAction", || {
            self.ide.code_actions_with(
                &snap,
                convert::range_in(params.range),
                enc,
                !diagnostics.is_empty() || actions::fix_asked(only),
            )
        })?
        .map_err(ide_error)?;
        let offered: Vec<CodeActionOrCommand> = kinds
            .into_iter()
            .filter(|k| actions::lsp_kind_wanted(only, actions::lsp_kind(*k)))
            .map(|kind| {
                let data = actions::ActionData {
                    uri: uri.as_str().to_string(),
                    version: snap.doc.version(),
                    position: params.range.start,
                    range: params.range,
                    action: kind.id().to_string(),
                    diagnostics: if kind == nib_ide::CodeActionKind::Fix {
                        diagnostics.clone()
                    } else {
                        Vec::new()
                    },
                    alternatives: 0,
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
        let input = if kind == nib_ide::CodeActionKind::GenerateFromComment {
            None
        } else {
            let root = self.state().root.clone();
            Some(self.assist_input(&snap, kind, &data, root))
        };
        let ide = Arc::clone(&self.ide);
        let span = tracing::info_span!("code_action", uri = %data.uri, version = snap.doc.version(), action = kind.id());
        let result = blocking::run("code action", span, move |cancel| {
            let r = match &input {
                Some(input) => ide.assist(&snap, req, input, cancel),
                None => ide.code_action(&snap, req, cancel),
            };
            match r {
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
        if kind == nib_ide::CodeActionKind::Explain {
            self.show_explanation(&data, &r).await;
        } else if kind != nib_ide::CodeActionKind::GenerateFromComment
            && r.dropped.is_none()
            && r.edits.is_empty()
        {
            let why = r.empty_reason.as_deref().unwrap_or("no result");
            self.client
                .show_message(
                    MessageType::INFO,
                    format!("nib: {}: nothing to apply ({why})", kind.title()),
                )
                .await;
        } else if let Some(reason) = &r.dropped {
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
        } else if kind == nib_ide::CodeActionKind::GenerateFromComment && r.insert_text.is_empty() {
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

impl Backend {
    /// What an assistant action gets besides the range: the diagnostics it was offered for,
    /// and where the project keeps tests (read from the disk, for tests, and for refactor and
    /// fix: the result runs the project's tests).
    fn assist_input(
        &self,
        snap: &nib_ide::Snapshot,
        kind: nib_ide::CodeActionKind,
        data: &actions::ActionData,
        root: Option<std::path::PathBuf>,
    ) -> nib_ide::AssistInput {
        let tests = match (kind, snap.lang, nib_workspace::uri_to_path(&data.uri)) {
            (
                nib_ide::CodeActionKind::Tests
                | nib_ide::CodeActionKind::Refactor
                | nib_ide::CodeActionKind::Fix,
                Some(lang),
                Some(path),
            ) => {
                let root = root.unwrap_or_else(|| nib_workspace::project_root(&path));
                Some(crate::assist::tests_target(&path, &root, lang))
            }
            _ => None,
        };
        nib_ide::AssistInput {
            errors: data.diagnostics.clone(),
            prompt: None,
            tests,
            alternatives: data.alternatives,
        }
    }

    /// Show an explanation: a message when short, else a markdown file nib writes, opened
    /// read-only by `window/showDocument` (a message when the client cannot).
    async fn show_explanation(&self, data: &actions::ActionData, r: &nib_ide::CodeActionResult) {
        if r.explanation.trim().is_empty() {
            let why = r.empty_reason.as_deref().unwrap_or("empty answer");
            self.client
                .show_message(MessageType::INFO, format!("nib: no explanation ({why})"))
                .await;
            return;
        }
        if crate::assist::is_short(&r.explanation) {
            self.client
                .show_message(MessageType::INFO, format!("nib: {}", r.explanation))
                .await;
            return;
        }
        let written =
            crate::assist::write_explanation(&data.uri, data.range.start.line, &r.explanation);
        let can_show = self.state().show_document;
        let shown = match written {
            Ok(_) if !can_show => false,
            Ok(path) => match format!("file://{}", path.display()).parse::<Uri>() {
                Ok(uri) => self
                    .client
                    .show_document(ShowDocumentParams {
                        uri,
                        external: Some(false),
                        take_focus: Some(false),
                        selection: None,
                    })
                    .await
                    .unwrap_or(false),
                Err(_) => false,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the explanation");
                false
            }
        };
        if !shown {
            self.client
                .show_message(MessageType::INFO, format!("nib: {}", r.explanation))
                .await;
        }
    }
}
