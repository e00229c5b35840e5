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
//! - Code actions run the completion path (same prompt, post-processing and safety gate) at a
//!   point the action chooses, or, for an instruct model and a comment inside a function, ask
//!   the model in its chat format and keep the function's new body (same post-processing and
//!   safety gate); finding which actions apply needs no model.

mod action;
mod assist;
mod cache;
mod chat;
mod complete;
mod diagnosed;
mod engine_slot;
mod gate;
mod heal;
mod lookahead;
mod output;
mod plan;
mod prompt;
mod provider;
mod remote_complete;
mod retry;
mod session;

pub use action::{CodeActionKind, CodeActionRequest, CodeActionResult};
pub use assist::{
    plan_tests, trim_conversation, AssistInput, ChatTurn, FileEdit, Framework, TestOutcome,
    TestPlan, TestTarget, Verification,
};
pub use complete::{Completion, CompletionRequest, Trigger};
pub use engine_slot::EngineState;
pub use gate::GatePolicy;
pub use nib_checks::{Finding, Severity};
pub use nib_context::repo::{OpenFile, RepoContext, RepoContextSource, RepoReport};
pub use nib_postprocess::Mode;
pub use nib_syntax::Language;
pub use provider::{
    AuditRecord, ChatAnswer, ChatContext, ProviderEvents, ProviderInfo, RemoteProvider,
};

pub use session::IdeStats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nib_context::WindowConfig;
use nib_engine::{CancelToken, CompletionEngine, Slot};
use nib_syntax::ParsedDocument;
use nib_text::{Document, OffsetEncoding, PositionError, TextChange};

/// Knobs of the completion path.
#[derive(Debug, Clone, PartialEq)]
pub struct IdeConfig {
    pub window: WindowConfig,
    /// Output cap for multi-line completions.
    pub max_tokens: usize,
    /// Output cap when the cursor is mid-line (one line).
    pub max_tokens_single_line: usize,
    /// Time budget of an automatic completion request; `None` = no deadline.
    pub deadline: Option<Duration>,
    /// Budget when the context is cold (first request after opening a file or a jump): at least
    /// this long, so that a shrunk context is still large enough to be useful.
    pub cold_deadline: Duration,
    /// Time budget of an explicitly requested completion (the context shrinks to fit);
    /// `None` = no deadline.
    pub invoked_deadline: Option<Duration>,
    /// How long a request waits for a model that is still loading.
    pub load_wait: Duration,
    /// Reuse the engine's KV cache across requests (off only for baseline measurements).
    pub kv_reuse: bool,
    /// Evaluate the context ahead of requests (after edits, after a shrunk request).
    pub background_prefill: bool,
    /// Answer from the suggestion shown when the user types its start, and from an LRU.
    pub typeahead_cache: bool,
    /// What the safety gate does with high/critical findings.
    pub gate: GatePolicy,
    /// Tokens of repository context (definitions, similar snippets, versions); 0 = none.
    pub repo_tokens: usize,
    /// Output cap of a code action (code written from a comment).
    pub code_action_max_tokens: usize,
    /// How long a code action should take: its second try (after a rewrite that changed
    /// nothing or broke a test, or a fix the tests still fail) is made only when the first
    /// took at most half of this. `None`: always.
    pub action_budget: Option<Duration>,
    /// An automatic suggestion ends before its first token with a log-probability under
    /// this (what follows is likely wrong); `None` = never cut.
    pub doubt_cut: Option<f32>,
}

impl Default for IdeConfig {
    fn default() -> IdeConfig {
        IdeConfig {
            window: WindowConfig::default(),
            max_tokens: 64,
            max_tokens_single_line: 32,
            deadline: None,
            cold_deadline: Duration::from_millis(1000),
            invoked_deadline: None,
            load_wait: Duration::from_secs(120),
            kv_reuse: true,
            background_prefill: true,
            typeahead_cache: true,
            gate: GatePolicy::Drop,
            repo_tokens: 1024,
            code_action_max_tokens: 512,
            action_budget: Some(Duration::from_secs(10)),
            doubt_cut: None,
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
    #[error("no code action here: {0}")]
    NotApplicable(String),
    #[error("{0}")]
    Engine(String),
    /// The remote provider could not answer and fallback to the local model is off.
    #[error("{0}")]
    Remote(String),
}

/// An immutable view of a document at one version (cheap: the rope is shared).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub uri: String,
    pub doc: Document,
    pub lang: Option<Language>,
    /// The syntax tree of this version (cheap to clone).
    pub tree: Option<nib_syntax::tree_sitter::Tree>,
}

struct DocEntry {
    doc: Document,
    lang: Option<Language>,
    parsed: Option<ParsedDocument>,
    /// The last safety findings, kept through edits ([`Ide::document_findings`]).
    diagnosed: Option<diagnosed::Diagnosed>,
    /// Counts `change` calls, refused ones included (they may apply part of a batch).
    changes: u64,
}

/// The analysis host: open documents, the engine, the configuration.
pub struct Ide {
    docs: Mutex<HashMap<String, DocEntry>>,
    engine: engine_slot::EngineSlot,
    config: Mutex<IdeConfig>,
    inflight: Mutex<HashMap<(String, complete::Purpose), CancelToken>>,
    sessions: Mutex<HashMap<String, session::Session>>,
    lru: Mutex<session::Lru>,
    stats: Arc<session::Stats>,
    prefiller: session::Prefiller,
    lookahead: Mutex<Option<lookahead::Pending>>,
    gate: gate::Gate,
    repo: Mutex<Option<Arc<dyn RepoContextSource>>>,
    provider: provider::ProviderSlot,
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
            sessions: Mutex::default(),
            lru: Mutex::new(session::Lru::new(256)),
            stats: Arc::default(),
            prefiller: session::Prefiller::new(),
            lookahead: Mutex::new(None),
            gate: gate::Gate::default(),
            repo: Mutex::new(None),
            provider: provider::ProviderSlot::default(),
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
        lock(&self.lru).clear();
        self.engine.set(EngineState::Ready(engine));
    }

    /// Use `source` for repository context from now on.
    pub fn set_repo_source(&self, source: Arc<dyn RepoContextSource>) {
        *lock(&self.repo) = Some(source);
    }

    fn repo_source(&self) -> Option<Arc<dyn RepoContextSource>> {
        lock(&self.repo).clone()
    }

    /// Texts of up to `n` other open documents (for similar-snippet context).
    fn other_documents(&self, uri: &str, n: usize) -> Vec<(String, String)> {
        let docs = lock(&self.docs);
        docs.iter()
            .filter(|(u, e)| u.as_str() != uri && e.doc.len_bytes() <= 256 * 1024)
            .take(n)
            .map(|(u, e)| (u.clone(), e.doc.text()))
            .collect()
    }

    /// Replace the suggestion checker (e.g. once the project's environment is known).
    pub fn set_checker(&self, checker: nib_checks::Checker) {
        self.gate.set(checker);
    }

    /// Security findings for a whole open document (for diagnostics); empty for unknown
    /// languages and documents over `max_bytes`.
    ///
    /// Incremental: after edits inside top-level definitions only those definitions are
    /// checked again, on the incrementally reparsed tree (see `diagnosed`); the answer equals
    /// a whole-document check (tested).
    pub fn document_findings(&self, uri: &str, max_bytes: usize) -> Vec<Finding> {
        let (snap, kept, changes) = {
            let docs = lock(&self.docs);
            let Some(e) = docs.get(uri) else {
                return Vec::new();
            };
            (
                Snapshot {
                    uri: uri.to_string(),
                    doc: e.doc.clone(),
                    lang: e.lang,
                    tree: e.parsed.as_ref().and_then(|p| p.tree().cloned()),
                },
                e.diagnosed.clone(),
                e.changes,
            )
        };
        let lang = match snap.lang {
            Some(lang) if snap.doc.len_bytes() <= max_bytes => lang,
            _ => return Vec::new(),
        };
        let text = snap.doc.text();
        let incremental = match (kept, &snap.tree) {
            (Some(d), _) if d.dirty.is_none() => Some(d.findings),
            (Some(d), Some(tree)) => d.dirty.and_then(|dirty| {
                let (a, b) = diagnosed::region(lang, tree, dirty)?;
                let new = self
                    .gate
                    .check_document_range(lang, uri, &text, tree, a..b)?;
                Some(diagnosed::merge(d.findings, new, (a, b), &text))
            }),
            _ => None,
        };
        let findings = incremental.unwrap_or_else(|| self.gate.check_document(lang, uri, &text));
        if let Some(e) = lock(&self.docs).get_mut(uri) {
            // Edits since the snapshot keep the entry's own findings (and their span).
            if e.changes == changes {
                e.diagnosed = Some(diagnosed::Diagnosed::new(findings.clone()));
            }
        }
        findings
    }

    pub fn stats(&self) -> IdeStats {
        self.stats.snapshot()
    }

    fn cancel_background(&self) {
        self.prefiller.cancel();
        self.cancel_lookahead();
    }

    /// Evaluate `prompts` in the background, in order, each into its slot (the newest
    /// schedule replaces what has not run yet).
    fn schedule_prefill(&self, engine: Arc<dyn CompletionEngine>, prompts: Vec<(Slot, String)>) {
        self.prefiller
            .schedule(engine, prompts, Arc::clone(&self.stats));
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
                diagnosed: None,
                changes: 0,
            },
        );
    }

    /// `textDocument/didChange`: apply the changes in order, reparse incrementally. Returns
    /// the byte offset where the last change ends (a good guess of the cursor).
    pub fn change(
        &self,
        uri: &str,
        version: i32,
        changes: &[TextChange],
        enc: OffsetEncoding,
    ) -> Result<Option<usize>, IdeError> {
        Ok(self
            .change_edits(uri, version, changes, enc)?
            .last()
            .map(|e| e.new_end_byte))
    }

    /// [`Ide::change`], returning what each change did in byte offsets (one edit per change,
    /// in order).
    pub fn change_edits(
        &self,
        uri: &str,
        version: i32,
        changes: &[TextChange],
        enc: OffsetEncoding,
    ) -> Result<Vec<nib_text::Edit>, IdeError> {
        let mut docs = lock(&self.docs);
        let entry = docs
            .get_mut(uri)
            .ok_or_else(|| IdeError::UnknownDocument(uri.to_string()))?;
        entry.changes += 1;
        let applied = entry.doc.apply(changes, version, enc);
        let edits = match applied {
            Ok(edits) => edits,
            Err(e) => {
                // Changes before the refused one were applied: the tree and the findings
                // start again from the text.
                entry.diagnosed = None;
                entry.parsed = entry
                    .lang
                    .and_then(|l| ParsedDocument::new(l, &entry.doc.text()));
                return Err(e.into());
            }
        };
        if let Some(d) = &mut entry.diagnosed {
            for e in &edits {
                d.edit(e);
            }
        }
        if let Some(parsed) = &mut entry.parsed {
            for e in &edits {
                parsed.edit(&tree_edit(e));
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
        self.cancel_inflight(uri, false);
        Ok(edits)
    }

    /// The document's current version, if open.
    pub fn version(&self, uri: &str) -> Option<i32> {
        lock(&self.docs).get(uri).map(|e| e.doc.version())
    }

    /// `textDocument/didClose`.
    pub fn close(&self, uri: &str) {
        lock(&self.docs).remove(uri);
        lock(&self.sessions).remove(uri);
        self.cancel_inflight(uri, true);
    }

    /// Cancel the requests running for `uri` (and forget them when `forget`).
    fn cancel_inflight(&self, uri: &str, forget: bool) {
        let mut inflight = lock(&self.inflight);
        for purpose in [complete::Purpose::Completion, complete::Purpose::CodeAction] {
            let key = (uri.to_string(), purpose);
            if let Some(t) = inflight.get(&key) {
                t.cancel();
            }
            if forget {
                inflight.remove(&key);
            }
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
            tree: e.parsed.as_ref().and_then(|p| p.tree().cloned()),
        })
    }

    /// Whether the document's current syntax tree has errors (for diagnostics and tests).
    pub fn has_syntax_errors(&self, uri: &str) -> Option<bool> {
        let docs = lock(&self.docs);
        let tree = docs.get(uri)?.parsed.as_ref()?.tree()?.clone();
        Some(tree.root_node().has_error())
    }

    /// Register `cancel` as the one in-flight request of `uri` for `purpose`, cancelling the one
    /// before.
    fn supersede(&self, uri: &str, purpose: complete::Purpose, cancel: &CancelToken) {
        let key = (uri.to_string(), purpose);
        if let Some(old) = lock(&self.inflight).insert(key, cancel.clone()) {
            // Registering the same request again (a code action falling back from the chat
            // path to the infilling one) must not cancel it.
            if !old.same(cancel) {
                old.cancel();
            }
        }
    }
}

/// A text edit as tree-sitter's edit of the old tree.
fn tree_edit(e: &nib_text::Edit) -> nib_syntax::InputEdit {
    nib_syntax::input_edit(
        e.start_byte,
        e.old_end_byte,
        e.new_end_byte,
        e.start_point,
        e.old_end_point,
        e.new_end_point,
    )
}

/// Lock a mutex, recovering from poisoning (a panicked request must not take the server down).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
