//! Settings (`initializationOptions`, `workspace/didChangeConfiguration`) and what they drive:
//! the log level, the ide's knobs, the safety gate, and the model (reloaded when its key
//! changes).

use std::sync::Arc;

use nib_ide::EngineState;
use tower_lsp_server::lsp_types::*;

use crate::server::Backend;
use crate::settings::Settings;

impl Backend {
    pub(crate) async fn on_configuration(&self, params: DidChangeConfigurationParams) {
        {
            let mut st = self.state();
            let problems = st.settings.merge(&params.settings);
            st.pending_problems.extend(problems);
        }
        self.apply_settings().await;
    }

    /// Apply settings: logging and IDE knobs at once, the engine reloaded if its key changed.
    pub(crate) async fn apply_settings(&self) {
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
        self.log.set_level(settings.log_level.as_str());
        self.events.configure(settings.telemetry);
        self.ide.set_config(crate::local::ide_config(&settings));
        self.build_gate(&settings);
        self.configure_remote(&settings).await;
        let key = crate::local::engine_key(&settings);
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

    /// Build the remote engines again when their settings changed (nothing is built, so
    /// nothing can be sent, unless a provider is `remote` and a base URL is set).
    async fn configure_remote(&self, settings: &Settings) {
        let key = crate::remote::RemoteKey::of(settings);
        {
            let mut st = self.state();
            if st.remote_key.as_ref() == Some(&key) {
                return;
            }
            st.remote_key = Some(key.clone());
        }
        if let Some(p) = key.problem() {
            tracing::warn!("{p}");
            self.client
                .show_message(MessageType::WARNING, format!("nib: {p}"))
                .await;
        }
        match crate::remote::build(&key) {
            Ok(remote) => {
                tracing::info!(provider = key.label(), host = %key.host(), "remote provider configured");
                self.provider_events.configure(&key);
                self.ide.set_remote(remote);
            }
            Err(e) => {
                let msg = format!("remote provider not usable: {e}");
                tracing::error!("{msg}");
                self.ide.set_remote(nib_ide::RemoteProvider::default());
                self.client
                    .show_message(MessageType::ERROR, format!("nib: {msg}"))
                    .await;
            }
        }
    }

    async fn load_engine(&self, key: nib_models::EngineKey) {
        if let Some(msg) = nib_models::check_present(&key.resolved) {
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
            let result =
                tokio::task::spawn_blocking(move || nib_models::load_reporting(&key)).await;
            let result = result.unwrap_or_else(|e| Err(format!("model loader panicked: {e}")));
            match result {
                Ok((engine, lora_problem)) => {
                    let info = engine.info();
                    ide.set_engine(engine);
                    if let Some(msg) = lora_problem {
                        tracing::error!("{msg}");
                        client
                            .show_message(MessageType::ERROR, format!("nib: {msg}"))
                            .await;
                    }
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
                nib_workspace::gate_checker(root.as_deref(), corpus.as_deref())
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
}
