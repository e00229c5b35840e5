//! Wires the concrete engine (llama.cpp) behind the `CompletionEngine` trait.

use std::sync::Arc;

use nib_engine::CompletionEngine;
use nib_engine_llama::{LlamaConfig, LlamaEngine};

use crate::models::{self, Resolved};
use crate::settings::Settings;

/// What an engine is built from: a change means a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineKey {
    pub resolved: Resolved,
    pub threads: Option<usize>,
    pub context_length: u32,
}

impl EngineKey {
    pub fn from_settings(s: &Settings) -> EngineKey {
        EngineKey {
            resolved: models::resolve(&s.model),
            threads: (s.threads > 0).then_some(s.threads),
            context_length: s.context_length(),
        }
    }
}

/// Load the model (blocking). The error is one line for the user.
pub fn load(key: &EngineKey) -> Result<Arc<dyn CompletionEngine>, String> {
    if let Some(msg) = models::check_present(&key.resolved) {
        return Err(msg);
    }
    let mut config = LlamaConfig::new(&key.resolved.path);
    config.threads = key.threads;
    config.context_length = key.context_length;
    LlamaEngine::load(&config)
        .map(|e| Arc::new(e) as Arc<dyn CompletionEngine>)
        .map_err(|e| e.to_string())
}
