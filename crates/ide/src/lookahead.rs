//! The suggestion after the one shown: while a suggestion is on screen, what would be suggested
//! once it is accepted is computed in the background, so that the request the editor makes
//! after Tab (and typing into that next suggestion) answers without the model.
//!
//! Invariants:
//! - One lookahead at a time for the server: a newer one cancels the older one, and a request
//!   that cannot use it cancels it before it uses the engine (as background prefill).
//! - A lookahead runs the path of an automatic request at the end of the suggestion, on the
//!   document as it would be after the suggestion is accepted (same window plan and deadline,
//!   post-processing and safety gate), so it answers what that request would answer. Its
//!   answer is kept, nothing worth showing included, unless the deadline cut it before any
//!   text or a skip ran no model; only a complete one (not cut by the deadline) becomes the
//!   suggestion shown once used (typing into a cut one asks the model again, as usual).
//! - A request answers from a kept lookahead only when the text before the lookahead's cursor
//!   and after the request's cursor are what the lookahead saw (as the typeahead cache checks
//!   them); a request made exactly there while the lookahead runs waits for it, never past its
//!   own budget.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nib_engine::{CancelToken, StopReason};
use nib_text::{OffsetEncoding, Range, TextChange};

use crate::complete::{Outcome, PathOptions, Purpose};
use crate::session::{Next, Shown};
use crate::{lock, Completion, CompletionRequest, Ide, Snapshot, Trigger};

/// The lookahead running (or just finished).
pub(crate) struct Pending {
    uri: String,
    /// [`Shown::key`] of the document after acceptance at the lookahead's cursor.
    key: u64,
    cancel: CancelToken,
    done: Arc<Done>,
}

/// Set once the lookahead has finished (kept or not).
#[derive(Default)]
struct Done {
    finished: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    fn finish(&self) {
        *lock(&self.finished) = true;
        self.cv.notify_all();
    }

    /// Wait until finished, `until`, or `cancel` fires; true when finished.
    fn wait(&self, until: Option<Instant>, cancel: &CancelToken) -> bool {
        let mut finished = lock(&self.finished);
        loop {
            if *finished {
                return true;
            }
            if cancel.is_cancelled() {
                return false;
            }
            // Wake up now and then to see the request's cancellation.
            let mut step = Duration::from_millis(10);
            if let Some(u) = until {
                let now = Instant::now();
                if now >= u {
                    return false;
                }
                step = step.min(u - now);
            }
            finished = self
                .cv
                .wait_timeout(finished, step)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Ide {
    /// Compute, in the background, the suggestion a request at the end of `shown` would get
    /// once `shown` is accepted, and keep it for that request. Blocking (runs the model): call
    /// it off the request's thread, after the response. Does nothing when the caches or
    /// background work are off, with a remote provider for completions, before the model is
    /// loaded, or when `shown` is empty or replaces text.
    pub fn lookahead(&self, snap: &Snapshot, shown: &Completion, encoding: OffsetEncoding) {
        let config = self.config();
        if !(config.typeahead_cache && config.background_prefill && config.kv_reuse)
            || shown.text.trim().is_empty()
            || shown.range.start != shown.range.end
        {
            return;
        }
        // A remote provider answers completions itself; a model still loading has nothing to
        // run yet.
        let ready = matches!(self.engine.get(), crate::EngineState::Ready(_));
        if !ready || self.provider.remote().completion.is_some() {
            return;
        }
        let Ok(offset) = snap.doc.offset(shown.range.start, encoding) else {
            return;
        };
        let mut doc = snap.doc.clone();
        let accept = TextChange {
            range: Some(Range {
                start: shown.range.start,
                end: shown.range.start,
            }),
            text: shown.text.clone(),
        };
        let Ok(edits) = doc.apply(&[accept], snap.doc.version(), encoding) else {
            return;
        };
        let after = offset + shown.text.len();
        let key = Shown::key(&snap.uri, &doc, after);
        let known = lock(&self.sessions)
            .get(&snap.uri)
            .and_then(|s| s.next.as_ref())
            .is_some_and(|n| n.shown.matches_context(&doc, after, after));
        let running = lock(&self.lookahead)
            .as_ref()
            .is_some_and(|p| p.uri == snap.uri && p.key == key && !p.cancel.is_cancelled());
        if known || running {
            return;
        }
        let started = Instant::now();
        let cancel = CancelToken::new();
        let done = Arc::new(Done::default());
        let older = lock(&self.lookahead).replace(Pending {
            uri: snap.uri.clone(),
            key,
            cancel: cancel.clone(),
            done: Arc::clone(&done),
        });
        if let Some(p) = older {
            p.cancel.cancel();
        }
        // The snapshot's tree, reparsed incrementally: a whole parse of a long file would cost
        // more than the model's answer when Tab comes at once.
        let tree = match (snap.lang, &snap.tree, edits.first()) {
            (Some(lang), Some(old), Some(e)) => {
                nib_syntax::reparse_edited(lang, old, &crate::tree_edit(e), &doc.text())
            }
            (Some(lang), _, _) => nib_syntax::parse(lang, &doc.text()),
            _ => None,
        };
        let accepted = Snapshot {
            uri: snap.uri.clone(),
            doc,
            lang: snap.lang,
            tree,
        };
        let req = CompletionRequest::new(
            accepted.doc.position(after, encoding),
            encoding,
            Trigger::Automatic,
        );
        let opts = PathOptions {
            purpose: Purpose::Lookahead,
            remember: false,
            background: true,
            ..PathOptions::inline()
        };
        let answered = self.generate(&accepted, req, &opts, &cancel);
        if let Ok(Outcome::Answered { completion, .. }) = answered {
            let cut = completion.stop_reason == StopReason::Deadline;
            let empty = completion.text.trim().is_empty();
            // Nothing generated before the deadline says nothing about the place.
            if !cancel.is_cancelled() && (!cut || !empty) {
                self.stats.lookaheads.inc();
                let text = if empty { "" } else { &completion.text };
                let next = Next {
                    shown: Shown::new(&accepted.doc, after, text),
                    complete: !cut,
                };
                lock(&self.sessions)
                    .entry(snap.uri.clone())
                    .or_default()
                    .next = Some(next);
            }
        }
        done.finish();
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1000.0,
            cancelled = cancel.is_cancelled(),
            "lookahead done"
        );
        let mut current = lock(&self.lookahead);
        if current.as_ref().is_some_and(|p| p.cancel.same(&cancel)) {
            *current = None;
        }
    }

    /// A request at `offset` of `snap` made exactly where the running lookahead computes: wait
    /// for it (until `until` or the request's cancellation). True when it finished meanwhile.
    pub(crate) fn join_lookahead(
        &self,
        snap: &Snapshot,
        offset: usize,
        until: Option<Instant>,
        cancel: &CancelToken,
    ) -> bool {
        let done = {
            let current = lock(&self.lookahead);
            match current.as_ref() {
                Some(p)
                    if p.uri == snap.uri
                        && !p.cancel.is_cancelled()
                        && p.key == Shown::key(&snap.uri, &snap.doc, offset) =>
                {
                    Arc::clone(&p.done)
                }
                _ => return false,
            }
        };
        let waited = Instant::now();
        let finished = done.wait(until, cancel);
        tracing::debug!(
            finished,
            waited_ms = waited.elapsed().as_secs_f64() * 1000.0,
            "joined the lookahead"
        );
        finished
    }

    /// Cancel the running lookahead (a request needs the engine for something else).
    pub(crate) fn cancel_lookahead(&self) {
        if let Some(p) = lock(&self.lookahead).take() {
            p.cancel.cancel();
        }
    }
}
