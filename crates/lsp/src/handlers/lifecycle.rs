//! `initialize`: the position encoding, the workspace root, the client's capabilities, the
//! settings from `initializationOptions`, and nib's capabilities.

use nib_text::OffsetEncoding;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::lsp_types::*;

use crate::convert;
use crate::server::Backend;

impl Backend {
    pub(crate) fn on_initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let encoding = negotiate_encoding(&params);
        #[allow(deprecated)]
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|f| f.first())
            .map(|f| f.uri.as_str().to_string())
            .or_else(|| params.root_uri.as_ref().map(|u| u.as_str().to_string()))
            .and_then(|u| nib_workspace::uri_to_path(&u));
        self.state().root = root;
        self.state().versioned_edits = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref())
            .and_then(|e| e.document_changes)
            .unwrap_or(false);
        self.state().show_document = params
            .capabilities
            .window
            .as_ref()
            .and_then(|w| w.show_document.as_ref())
            .is_some_and(|s| s.support);
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
                        code_action_kinds: Some(crate::actions::advertised_kinds()),
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
