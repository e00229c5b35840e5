//! Per-document completion state: the prompt anchor, the suggestion last shown and the one
//! after it (lookahead), an LRU of recent contexts, background prefill and counters.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use nib_context::Report;
use nib_engine::{CancelToken, CompletionEngine, Slot};
use nib_text::Document;

/// Where the prompt's prefix ends: text before it is stable while the user types after it.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    /// Byte offset of the window start.
    pub start: usize,
    /// Byte offset of the anchor (a line start).
    pub end: usize,
    /// The document text `start..end` when the anchor was set (to validate it later).
    pub prefix: Arc<String>,
    /// Header lines of the scopes enclosing the window's start that lie before it (class /
    /// impl / function signatures, outermost first), put before `prefix` in the prompt.
    pub headers: Arc<String>,
    pub report: Report,
    /// Repository context chosen when the window was set up; kept while the window is pinned.
    pub files: Arc<Vec<nib_engine::RepoFile>>,
    pub repo_report: Option<Arc<nib_context::repo::RepoReport>>,
    /// Completion requests served with this anchor.
    pub uses: u32,
}

/// Context bytes compared around the cursor for cache hits.
const TAIL: usize = 384;
const HEAD: usize = 192;

/// The suggestion last shown for a document, with enough context to recognise typing into it.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub at: usize,
    before_tail: String,
    after_head: String,
    pub text: String,
}

impl Shown {
    pub fn new(doc: &Document, at: usize, text: &str) -> Shown {
        Shown {
            at,
            before_tail: doc.slice(at.saturating_sub(TAIL), at),
            after_head: doc.slice(at, at + HEAD),
            text: text.to_string(),
        }
    }

    /// The text before `self.at` and after `cursor` are what they were when shown.
    pub fn matches_context(&self, doc: &Document, at: usize, cursor: usize) -> bool {
        at == self.at
            && doc.slice(self.at.saturating_sub(self.before_tail.len()), self.at)
                == self.before_tail
            && doc.slice(cursor, cursor + self.after_head.len()) == self.after_head
    }

    /// What remains of the suggestion for a cursor at `cursor`: the user typed its start (or
    /// nothing of it) and the context around it is unchanged; `None` when nothing remains.
    pub fn rest(&self, doc: &Document, cursor: usize) -> Option<String> {
        if cursor < self.at || !self.matches_context(doc, self.at, cursor) {
            return None;
        }
        let typed = doc.slice(self.at, cursor);
        let rest = self.text.strip_prefix(typed.as_str())?;
        (!rest.is_empty()).then(|| rest.to_string())
    }

    /// LRU key of a context: document, text around the cursor.
    pub fn key(uri: &str, doc: &Document, at: usize) -> u64 {
        let mut h = DefaultHasher::new();
        uri.hash(&mut h);
        doc.slice(at.saturating_sub(TAIL * 2), at).hash(&mut h);
        doc.slice(at, at + HEAD).hash(&mut h);
        h.finish()
    }
}

/// A lookahead's answer: a suggestion (or nothing worth showing) for the cursor at the end of
/// the suggestion shown, once accepted.
#[derive(Debug, Clone)]
pub(crate) struct Next {
    pub shown: Shown,
    /// Not cut by the deadline: it may become the suggestion shown (typing into it answers
    /// from it).
    pub complete: bool,
}

impl Next {
    /// The answer for a request at `cursor`: the rest of the suggestion (see [`Shown::rest`]),
    /// or nothing when nothing was worth showing there.
    pub fn answer(&self, doc: &Document, cursor: usize) -> Option<String> {
        if self.shown.text.is_empty() {
            let here = cursor == self.shown.at && self.shown.matches_context(doc, cursor, cursor);
            return here.then(String::new);
        }
        self.shown.rest(doc, cursor)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Recent anchors, newest first.
    pub anchors: Vec<Anchor>,
    pub shown: Option<Shown>,
    /// The suggestion after `shown`, computed as if it were accepted ([`crate::lookahead`]).
    pub next: Option<Next>,
    /// The small window last used in the scratch slot.
    pub small: Option<SmallWindow>,
}

/// A small context window for the scratch slot, used while the main slot's full context is
/// not yet evaluated. Like the full window it is anchored: its prefix ends at the anchor and
/// its suffix is a fixed number of tokens after the cursor, so typing (across lines too) only
/// appends tokens to what the scratch slot holds.
#[derive(Debug, Clone)]
pub(crate) struct SmallWindow {
    /// The anchor (a line start) the window's prefix ends at.
    pub end: usize,
    /// Byte offset of the window start.
    pub start: usize,
    /// The document text `start..end` when the window was set (to validate it later).
    pub prefix: Arc<String>,
    /// Tokens of `prefix` (for the context report).
    pub prefix_tokens: usize,
    /// Scope header lines put before `prefix` (see [`Anchor::headers`]).
    pub headers: Arc<String>,
    /// Suffix budget in tokens.
    pub suffix_tokens: usize,
}

/// A small LRU map from context hashes to suggestions.
pub(crate) struct Lru {
    cap: usize,
    items: VecDeque<(u64, String)>,
}

impl Lru {
    pub fn new(cap: usize) -> Lru {
        Lru {
            cap,
            items: VecDeque::new(),
        }
    }

    pub fn get(&mut self, key: u64) -> Option<String> {
        let i = self.items.iter().position(|(k, _)| *k == key)?;
        let item = self.items.remove(i)?;
        let text = item.1.clone();
        self.items.push_front(item);
        Some(text)
    }

    pub fn put(&mut self, key: u64, text: String) {
        self.items.retain(|(k, _)| *k != key);
        self.items.push_front((key, text));
        self.items.truncate(self.cap);
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: Counter,
    pub model_requests: Counter,
    pub typeahead_hits: Counter,
    pub lru_hits: Counter,
    pub lookaheads: Counter,
    pub lookahead_hits: Counter,
    pub doubt_cuts: Counter,
    pub shrunk: Counter,
    pub skipped: Counter,
    pub gated: Counter,
    pub prefilled_tokens: Counter,
    pub background_prefilled_tokens: Counter,
}

/// Counters since start (the `nib/stats` request and the benchmarks read them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IdeStats {
    pub requests: u64,
    pub model_requests: u64,
    pub typeahead_hits: u64,
    pub lru_hits: u64,
    /// Suggestions computed in the background as if the one shown were accepted, and kept.
    pub lookaheads: u64,
    /// Requests answered from a lookahead.
    pub lookahead_hits: u64,
    /// Suggestions cut before a token the model doubted (`doubt_cut`).
    pub doubt_cuts: u64,
    pub shrunk: u64,
    /// Shrunk requests answered at once with nothing while their small window was evaluated in
    /// the background.
    pub skipped: u64,
    /// Suggestions dropped by the safety gate.
    pub gated: u64,
    pub prefilled_tokens: u64,
    pub background_prefilled_tokens: u64,
}

impl Stats {
    pub fn snapshot(&self) -> IdeStats {
        IdeStats {
            requests: self.requests.get(),
            model_requests: self.model_requests.get(),
            typeahead_hits: self.typeahead_hits.get(),
            lru_hits: self.lru_hits.get(),
            lookaheads: self.lookaheads.get(),
            lookahead_hits: self.lookahead_hits.get(),
            doubt_cuts: self.doubt_cuts.get(),
            shrunk: self.shrunk.get(),
            skipped: self.skipped.get(),
            gated: self.gated.get(),
            prefilled_tokens: self.prefilled_tokens.get(),
            background_prefilled_tokens: self.background_prefilled_tokens.get(),
        }
    }
}

/// A prefill to do: the engine, the prompts to evaluate in order, each into its slot.
type PrefillJob = (Arc<dyn CompletionEngine>, Vec<(Slot, String)>, CancelToken);

/// One background thread that prefills the latest prompt it was given (older ones are dropped).
pub(crate) struct Prefiller {
    tx: Mutex<Option<mpsc::Sender<PrefillJob>>>,
    current: Mutex<Option<CancelToken>>,
}

impl Prefiller {
    pub fn new() -> Prefiller {
        Prefiller {
            tx: Mutex::new(None),
            current: Mutex::new(None),
        }
    }

    pub fn cancel(&self) {
        if let Some(t) = crate::lock(&self.current).take() {
            t.cancel();
        }
    }

    pub fn schedule(
        &self,
        engine: Arc<dyn CompletionEngine>,
        prompts: Vec<(Slot, String)>,
        stats: Arc<Stats>,
    ) {
        let cancel = CancelToken::new();
        if let Some(old) = crate::lock(&self.current).replace(cancel.clone()) {
            old.cancel();
        }
        let mut tx = crate::lock(&self.tx);
        if tx.is_none() {
            let (s, r) = mpsc::channel::<PrefillJob>();
            let spawned = std::thread::Builder::new()
                .name("nib-prefill".into())
                .spawn(move || {
                    while let Ok(mut job) = r.recv() {
                        // Only the newest prompt matters.
                        while let Ok(newer) = r.try_recv() {
                            job = newer;
                        }
                        let (engine, prompts, cancel) = job;
                        for (slot, prompt) in prompts {
                            if cancel.is_cancelled() {
                                break;
                            }
                            match engine.prefill(slot, &prompt, cancel.clone()) {
                                Ok(n) => {
                                    stats.background_prefilled_tokens.add(n as u64);
                                    tracing::debug!(?slot, tokens = n, "background prefill");
                                }
                                Err(e) => {
                                    tracing::debug!("background prefill failed: {e}");
                                    break;
                                }
                            }
                        }
                    }
                });
            if spawned.is_err() {
                return;
            }
            *tx = Some(s);
        }
        if let Some(s) = tx.as_ref() {
            let _ = s.send((engine, prompts, cancel));
        }
    }
}
