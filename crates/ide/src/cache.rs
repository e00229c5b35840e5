//! Answers without the model: the typeahead cache (the user typed the start of the suggestion
//! shown), the lookahead (the suggestion after the one accepted, see [`crate::lookahead`]) and
//! an LRU of recent contexts.
//!
//! Invariants:
//! - A typeahead answer is the rest of the suggestion last shown for the document, only while
//!   the text before the suggestion's start and after the cursor is what it was when shown,
//!   and only when something of it remains. A lookahead answer follows the same rule (or
//!   is nothing, exactly where the lookahead found nothing worth showing), and a complete one
//!   becomes the suggestion shown.
//! - The LRU is keyed by the document and the text around the cursor; it is cleared when the
//!   engine changes.
//! - Only complete suggestions are remembered (the caller does not remember one cut by the
//!   deadline).

use std::time::Instant;

use nib_context::Report;
use nib_engine::StopReason;
use nib_text::{Position, Range};

use crate::session::Shown;
use crate::{lock, Completion, Ide, Snapshot};

/// Confidence reported for an answer from a cache (no log-probabilities to judge it by).
const CACHED_CONFIDENCE: &str = "medium";

impl Ide {
    /// A completion from a cache for a cursor at `offset`, if one matches.
    pub(crate) fn cached_completion(
        &self,
        snap: &Snapshot,
        offset: usize,
        cursor: Position,
        started: Instant,
    ) -> Option<Completion> {
        let (text, kind) = self.cached(snap, offset)?;
        Some(Completion::from_cache(
            text,
            kind,
            cursor,
            snap.doc.version(),
            started,
        ))
    }

    /// The typeahead cache (the user typed the start of the suggestion shown), the lookahead,
    /// then the LRU.
    fn cached(&self, snap: &Snapshot, offset: usize) -> Option<(String, &'static str)> {
        let doc = &snap.doc;
        let (shown, next) = lock(&self.sessions)
            .get(&snap.uri)
            .map(|s| (s.shown.clone(), s.next.clone()))
            .unwrap_or_default();
        if let Some(rest) = shown.and_then(|s| s.rest(doc, offset)) {
            self.stats.typeahead_hits.inc();
            return Some((rest, "typeahead"));
        }
        if let Some((next, rest)) = next.and_then(|n| n.answer(doc, offset).map(|r| (n, r))) {
            if let Some(s) = lock(&self.sessions).get_mut(&snap.uri) {
                // A complete suggestion after the one accepted is now the one shown.
                if next.complete && !next.shown.text.is_empty() {
                    s.shown = Some(next.shown);
                }
                s.next = None;
            }
            self.stats.lookahead_hits.inc();
            return Some((rest, "lookahead"));
        }
        let key = Shown::key(&snap.uri, doc, offset);
        let hit = lock(&self.lru).get(key);
        hit.map(|text| {
            self.stats.lru_hits.inc();
            (text, "lru")
        })
    }

    /// Remember `text` as the suggestion shown at `offset` (typeahead) and for its context
    /// (LRU).
    pub(crate) fn remember(&self, snap: &Snapshot, offset: usize, text: &str) {
        let shown = Shown::new(&snap.doc, offset, text);
        lock(&self.lru).put(Shown::key(&snap.uri, &snap.doc, offset), text.to_string());
        lock(&self.sessions)
            .entry(snap.uri.clone())
            .or_default()
            .shown = Some(shown);
    }
}

impl Completion {
    fn from_cache(
        text: String,
        kind: &'static str,
        cursor: Position,
        version: i32,
        started: Instant,
    ) -> Completion {
        Completion {
            mode: if text.contains('\n') {
                "multi_line"
            } else {
                "single_line"
            },
            text,
            range: Range {
                start: cursor,
                end: cursor,
            },
            version,
            confidence: CACHED_CONFIDENCE,
            logprob_sum: None,
            logprob_mean: None,
            logprob_min: None,
            alternatives: Vec::new(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: 0,
            reused_tokens: 0,
            prefilled_tokens: 0,
            generated_tokens: 0,
            stop_reason: StopReason::EndOfGeneration,
            cache: Some(kind),
            shrunk: false,
            skipped: None,
            raw: String::new(),
            dropped: None,
            findings: Vec::new(),
            context: Report::default(),
            repo_context: None,
            model: String::new(),
            provider: "local",
            fallback: None,
        }
    }
}
