//! ide: the facade the language server (and the CLI) call.
//!
//! Invariants and boundary:
//! - Knows the engine *traits*, never a concrete engine; the binary wires one in.
//! - No async runtime and no LSP types: positions are `nib_text` positions, calls that run the
//!   model are blocking (callers move them off their event loop).
//! - Document updates are synchronous and ordered by the caller; a completion is computed
//!   against a [`Snapshot`] taken when the request arrives, and the result names its version.
//! - A newer completion request for a document cancels the older one still in flight.
//! - Without a model the facade still answers: completions are empty and say why.

mod complete;
mod engine_slot;

pub use complete::{Completion, CompletionRequest, Trigger};
pub use engine_slot::EngineState;
pub use nib_postprocess::Mode;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nib_context::WindowConfig;
use nib_engine::{CancelToken, CompletionEngine};
use nib_syntax::{Language, ParsedDocument};
use nib_text::{Document, OffsetEncoding, PositionError, TextChange};

/// Knobs of the completion path.
#[derive(Debug, Clone, PartialEq)]
pub struct IdeConfig {
    pub window: WindowConfig,
    /// Output cap for multi-line completions.
    pub max_tokens: usize,
    /// Output cap when the cursor is mid-line (one line).
    pub max_tokens_single_line: usize,
    /// Time budget of a completion request; `None` = no deadline.
    pub deadline: Option<Duration>,
    /// How long a request waits for a model that is still loading.
    pub load_wait: Duration,
}

impl Default for IdeConfig {
    fn default() -> IdeConfig {
        IdeConfig {
            window: WindowConfig::default(),
            max_tokens: 64,
            max_tokens_single_line: 24,
            deadline: None,
            load_wait: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdeError {
    #[error("document not open: {0}")]
    UnknownDocument(String),
    #[error("invalid position")]
    Position(#[from] PositionError),
    #[error("no model: {0}")]
    NoModel(String),
    #[error("request cancelled")]
    Cancelled,
    #[error("{0}")]
    Engine(String),
}

/// An immutable view of a document at one version (cheap: the rope is shared).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub uri: String,
    pub doc: Document,
    pub lang: Option<Language>,
}

struct DocEntry {
    doc: Document,
    lang: Option<Language>,
    parsed: Option<ParsedDocument>,
}

/// The analysis host: open documents, the engine, the configuration.
pub struct Ide {
    docs: Mutex<HashMap<String, DocEntry>>,
    engine: engine_slot::EngineSlot,
    config: Mutex<IdeConfig>,
    inflight: Mutex<HashMap<String, CancelToken>>,
}

impl Default for Ide {
    fn default() -> Ide {
        Ide::new(IdeConfig::default())
    }
}

impl Ide {
    pub fn new(config: IdeConfig) -> Ide {
        Ide {
            docs: Mutex::default(),
            engine: engine_slot::EngineSlot::default(),
            config: Mutex::new(config),
            inflight: Mutex::default(),
        }
    }

    pub fn config(&self) -> IdeConfig {
        lock(&self.config).clone()
    }

    pub fn set_config(&self, config: IdeConfig) {
        *lock(&self.config) = config;
    }

    pub fn set_engine_state(&self, state: EngineState) {
        self.engine.set(state);
    }

    pub fn set_engine(&self, engine: Arc<dyn CompletionEngine>) {
        self.engine.set(EngineState::Ready(engine));
    }

    pub fn engine_state(&self) -> EngineState {
        self.engine.get()
    }

    /// `textDocument/didOpen`.
    pub fn open(&self, uri: &str, language_id: Option<&str>, version: i32, text: &str) {
        let lang = Language::detect(language_id, uri);
        let parsed = lang.and_then(|l| ParsedDocument::new(l, text));
        lock(&self.docs).insert(
            uri.to_string(),
            DocEntry {
                doc: Document::new(text, version),
                lang,
                parsed,
            },
        );
    }

    /// `textDocument/didChange`: apply the changes in order, reparse incrementally.
    pub fn change(
        &self,
        uri: &str,
        version: i32,
        changes: &[TextChange],
        enc: OffsetEncoding,
    ) -> Result<(), IdeError> {
        let mut docs = lock(&self.docs);
        let entry = docs
            .get_mut(uri)
            .ok_or_else(|| IdeError::UnknownDocument(uri.to_string()))?;
        let edits = entry.doc.apply(changes, version, enc)?;
        if let Some(parsed) = &mut entry.parsed {
            for e in &edits {
                parsed.edit(&nib_syntax::input_edit(
                    e.start_byte,
                    e.old_end_byte,
                    e.new_end_byte,
                    e.start_point,
                    e.old_end_point,
                    e.new_end_point,
                ));
            }
            let rope = entry.doc.rope();
            parsed.reparse_with(|byte| {
                if byte >= rope.len_bytes() {
                    return &[];
                }
                let (chunk, start, _, _) = rope.chunk_at_byte(byte);
                &chunk.as_bytes()[byte - start..]
            });
        }
        drop(docs);
        // The text changed under any request still running for the old version.
        if let Some(t) = lock(&self.inflight).get(uri) {
            t.cancel();
        }
        Ok(())
    }

    /// `textDocument/didClose`.
    pub fn close(&self, uri: &str) {
        lock(&self.docs).remove(uri);
        if let Some(t) = lock(&self.inflight).remove(uri) {
            t.cancel();
        }
    }

    pub fn snapshot(&self, uri: &str) -> Result<Snapshot, IdeError> {
        let docs = lock(&self.docs);
        let e = docs
            .get(uri)
            .ok_or_else(|| IdeError::UnknownDocument(uri.to_string()))?;
        Ok(Snapshot {
            uri: uri.to_string(),
            doc: e.doc.clone(),
            lang: e.lang,
        })
    }

    /// Whether the document's current syntax tree has errors (for diagnostics and tests).
    pub fn has_syntax_errors(&self, uri: &str) -> Option<bool> {
        let docs = lock(&self.docs);
        let tree = docs.get(uri)?.parsed.as_ref()?.tree()?.clone();
        Some(tree.root_node().has_error())
    }

    /// Register `cancel` as the one in-flight request of `uri`, cancelling the one before.
    fn supersede(&self, uri: &str, cancel: &CancelToken) {
        if let Some(old) = lock(&self.inflight).insert(uri.to_string(), cancel.clone()) {
            old.cancel();
        }
    }
}

/// Lock a mutex, recovering from poisoning (a panicked request must not take the server down).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
