//! What happens to suggestions, recorded in the local event store (nib-events): `shown` when a
//! completion answer carries a suggestion, `accepted` from the `nib.accepted` command,
//! `partially_accepted` from `textDocument/didPartiallyAcceptCompletion` and `rejected` from
//! `nib/didRejectCompletion`. `textDocument/didShowCompletion` adds no row: the suggestion was
//! counted as shown when it was answered.
//!
//! Recording never blocks or fails a request: the store is opened in the background after
//! `initialized`, every write runs on the blocking pool, and an error is logged once the
//! store is known to be broken (nib then goes on without events).
//!
//! The edits after a suggestion are followed too (`nib_events::track`):
//! - For clients that report nothing, a shown suggestion whose text the user then types (or
//!   that one edit inserts) is recorded as accepted, and one the user types past with other
//!   text as rejected (source `inferred`). Such a verdict is written after [`GRACE`], and not
//!   at all when the client reports on the suggestion meanwhile; once a client has reported
//!   anything, nib infers nothing more from it.
//! - An accepted suggestion's text is followed through the document's edits: how much of it is
//!   left is recorded (`kept`) at the first save, and finally [`KEPT_AFTER`] after acceptance
//!   or when the document is closed before that.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nib_events::track::{ByteEdit, Kept, Pending, Step};
use nib_events::{Event, Kind, Options, Source, Store, Telemetry, Text, Trigger};
use nib_ide::{Completion, Snapshot};
use nib_text::OffsetEncoding;
use serde_json::Value;
use tower_lsp_server::lsp_types::Position;

use crate::params::{self, Identity, PartialAcceptance, Rejection};
use crate::server::Backend;

/// Suggestions remembered to give an acceptance or a rejection its context.
const RECENT: usize = 32;
/// Bytes of text kept on each side of a suggestion at `telemetry = full`.
const TEXT_BYTES: usize = 8 * 1024;
/// How long an inferred verdict waits for the client's own report.
const GRACE: Duration = Duration::from_secs(2);
/// When an accepted suggestion is checked for the last time.
const KEPT_AFTER: Duration = Duration::from_secs(30);
/// Suggestions followed at most (the oldest are dropped).
const WATCHED: usize = 64;

enum Slot {
    Closed,
    Opening,
    Open(Store),
    Failed,
}

/// A suggestion that was shown: what its later events are recorded with.
#[derive(Clone)]
struct Shown {
    /// Tells suggestions apart within this server's life.
    id: u64,
    uri: String,
    version: i32,
    confidence: &'static str,
    mode: &'static str,
    trigger: Trigger,
    language: String,
    model: String,
    latency_ms: f64,
    /// The suggestion and its alternatives, in the order of the items' `alternative` index.
    items: Vec<String>,
    /// Where the suggestion starts, in the request's encoding.
    start: Position,
    /// The text around it (only at `telemetry = full`).
    prefix: Option<String>,
    suffix: Option<String>,
}

/// Where events are written: shared with the timers that write later.
#[derive(Clone)]
struct Sink {
    slot: Arc<Mutex<Slot>>,
    telemetry: Arc<Mutex<Telemetry>>,
}

impl Sink {
    /// Write an event on the blocking pool.
    fn record(&self, event: Event) {
        let telemetry = *lock(&self.telemetry);
        if telemetry == Telemetry::Off {
            return;
        }
        let slot = Arc::clone(&self.slot);
        tokio::task::spawn_blocking(move || {
            let mut slot = lock(&slot);
            if let Slot::Open(store) = &mut *slot {
                store.set_telemetry(telemetry);
                if let Err(e) = store.record(&event) {
                    tracing::warn!("suggestion event not recorded: {e}");
                }
            }
        });
    }
}

/// A shown suggestion nobody has reported on yet, followed through the edits.
struct Watch {
    shown: Shown,
    pending: Pending,
    /// The client reported on it: its verdict is not inferred, only its text followed.
    reported: bool,
    /// Which of its items is followed (0 until the client accepts an alternative).
    alternative: usize,
}

/// An accepted suggestion's text, followed to see how much of it stays.
struct KeptWatch {
    shown: Shown,
    kept: Kept,
    saved: bool,
}

#[derive(Default)]
struct Tracking {
    next_id: u64,
    /// The client reported a verdict once: nib infers none from its edits.
    client_reports: bool,
    /// Suggestions the client reported on.
    reported: HashSet<u64>,
    pending: Vec<Watch>,
    kept: Vec<KeptWatch>,
}

/// The event store and the recent suggestions.
pub(crate) struct Events {
    sink: Sink,
    recent: Mutex<VecDeque<Shown>>,
    tracking: Arc<Mutex<Tracking>>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            sink: Sink {
                slot: Arc::new(Mutex::new(Slot::Closed)),
                telemetry: Arc::new(Mutex::new(Telemetry::Off)),
            },
            recent: Mutex::default(),
            tracking: Arc::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Events {
    /// Apply the `telemetry` setting: open the store in the background the first time it is
    /// not `off`.
    pub(crate) fn configure(&self, telemetry: Telemetry) {
        *lock(&self.sink.telemetry) = telemetry;
        let mut slot = lock(&self.sink.slot);
        if let Slot::Open(store) = &mut *slot {
            store.set_telemetry(telemetry);
            return;
        }
        if !matches!(*slot, Slot::Closed) || telemetry == Telemetry::Off {
            return;
        }
        *slot = Slot::Opening;
        let shared = Arc::clone(&self.sink.slot);
        tokio::task::spawn_blocking(move || {
            let opened = Store::open(&Options {
                telemetry,
                ..Options::default()
            });
            let mut slot = lock(&shared);
            // The setting may change while opening: each write applies the current one
            // ([`Events::record`]).
            *slot = match opened {
                Ok(store) => {
                    tracing::info!(path = %store.path().display(), "events recorded");
                    Slot::Open(store)
                }
                Err(e) => {
                    tracing::warn!("no suggestion events: {e}");
                    Slot::Failed
                }
            };
        });
    }

    fn full(&self) -> bool {
        *lock(&self.sink.telemetry) == Telemetry::Full
    }

    fn record(&self, event: Event) {
        self.sink.record(event);
    }

    /// A completion answer with a suggestion is going back to the client. `ide` tells whether
    /// the document is still at the suggestion's version (then its edits are followed).
    pub(crate) fn shown(
        &self,
        snap: &Snapshot,
        c: &Completion,
        trigger: nib_ide::Trigger,
        enc: OffsetEncoding,
        ide: &nib_ide::Ide,
    ) {
        if *lock(&self.sink.telemetry) == Telemetry::Off {
            return;
        }
        let (prefix, suffix) = if self.full() {
            let doc = &snap.doc;
            let start = doc.offset(c.range.start, enc).unwrap_or(0);
            let end = doc.offset(c.range.end, enc).unwrap_or(start);
            (
                Some(doc.slice(start.saturating_sub(TEXT_BYTES), start)),
                Some(doc.slice(end, end + TEXT_BYTES)),
            )
        } else {
            (None, None)
        };
        let mut tracking = lock(&self.tracking);
        tracking.next_id += 1;
        let shown = Shown {
            id: tracking.next_id,
            uri: snap.uri.clone(),
            version: c.version,
            confidence: c.confidence,
            mode: c.mode,
            trigger: match trigger {
                nib_ide::Trigger::Automatic => Trigger::Automatic,
                nib_ide::Trigger::Invoked => Trigger::Invoked,
            },
            language: snap.lang.map(|l| l.name().to_string()).unwrap_or_default(),
            model: c.model.clone(),
            latency_ms: c.latency_ms,
            items: std::iter::once(&c.text)
                .chain(&c.alternatives)
                .cloned()
                .collect(),
            start: Position::new(c.range.start.line, c.range.start.character),
            prefix,
            suffix,
        };
        self.record(self.event(Kind::Shown, &shown, 0));
        {
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(shown.clone());
        }
        // The newest suggestion replaces the older ones of the document.
        let (older, others): (Vec<Watch>, Vec<Watch>) = std::mem::take(&mut tracking.pending)
            .into_iter()
            .partition(|w| w.shown.uri == shown.uri);
        tracking.pending = others;
        for w in older {
            let step = w.pending.finish();
            self.resolve(&mut tracking, w, step);
        }
        // Followed only when no edit came since the version it was made for (checked under the
        // lock the edits take), and when it inserts at the cursor.
        let doc = &snap.doc;
        let at = doc.offset(c.range.start, enc).ok();
        let end = doc.offset(c.range.end, enc).ok();
        if let (Some(at), true) = (at, at == end && ide.version(&shown.uri) == Some(c.version)) {
            if tracking.pending.len() + tracking.kept.len() >= WATCHED {
                tracking.pending.remove(0);
            }
            tracking.pending.push(Watch {
                pending: Pending::new(at, &c.text),
                shown,
                reported: false,
                alternative: 0,
            });
        }
    }

    /// A followed suggestion got its verdict from the edits (or lost it): start following an
    /// accepted one's text, and record an inferred verdict after the grace period.
    fn resolve(&self, tracking: &mut Tracking, w: Watch, step: Step) {
        let (kind, instead) = match step {
            Step::Open | Step::Lost => return,
            Step::Accepted { start } => {
                self.follow_kept(tracking, &w.shown, w.alternative, start);
                (Kind::Accepted, None)
            }
            Step::Rejected { instead } => (Kind::Rejected, Some(instead)),
        };
        if w.reported || tracking.client_reports {
            return;
        }
        let mut event = self.event(kind, &w.shown, w.alternative);
        event.source = Source::Inferred;
        match kind {
            Kind::Accepted => event.accepted_len = Some(event.suggestion_len),
            _ => {
                event.reason = Some("typedOver".into());
                if let Some(text) = event.text.as_mut() {
                    text.instead = instead.filter(|i| !i.is_empty());
                }
            }
        }
        tracing::info!(
            kind = kind.as_str(),
            "suggestion verdict inferred from the edits"
        );
        let id = w.shown.id;
        let sink = self.sink.clone();
        let shared = Arc::clone(&self.tracking);
        tokio::spawn(async move {
            tokio::time::sleep(GRACE).await;
            let t = lock(&shared);
            if !t.client_reports && !t.reported.contains(&id) {
                sink.record(event);
            }
        });
    }

    /// Follow an accepted suggestion's text from byte `start`; its last check is
    /// [`KEPT_AFTER`] from now.
    fn follow_kept(
        &self,
        tracking: &mut Tracking,
        shown: &Shown,
        alternative: usize,
        start: usize,
    ) {
        let text = shown.items.get(alternative).cloned().unwrap_or_default();
        tracking.kept.retain(|k| k.shown.id != shown.id);
        if tracking.pending.len() + tracking.kept.len() >= WATCHED && !tracking.kept.is_empty() {
            tracking.kept.remove(0);
        }
        tracking.kept.push(KeptWatch {
            shown: shown.clone(),
            kept: Kept::new(start, &text),
            saved: false,
        });
        let id = shown.id;
        let sink = self.sink.clone();
        let shared = Arc::clone(&self.tracking);
        tokio::spawn(async move {
            tokio::time::sleep(KEPT_AFTER).await;
            let mut t = lock(&shared);
            if let Some(i) = t.kept.iter().position(|k| k.shown.id == id) {
                let k = t.kept.remove(i);
                sink.record(kept_event(&k, "30s"));
            }
        });
    }

    fn record_kept(&self, k: &KeptWatch, reason: &str) {
        self.record(kept_event(k, reason));
    }

    /// The document changed: `edits` in order, each with the text it inserted.
    pub(crate) fn edited(&self, uri: &str, edits: &[(nib_text::Edit, &str)]) {
        let mut tracking = lock(&self.tracking);
        if !tracking.pending.iter().any(|w| w.shown.uri == uri)
            && !tracking.kept.iter().any(|k| k.shown.uri == uri)
        {
            return;
        }
        for (e, text) in edits {
            let edit = ByteEdit {
                start: e.start_byte,
                end: e.old_end_byte,
                text,
            };
            for k in tracking.kept.iter_mut().filter(|k| k.shown.uri == uri) {
                k.kept.edit(edit);
            }
            let mut i = 0;
            while i < tracking.pending.len() {
                if tracking.pending[i].shown.uri != uri {
                    i += 1;
                    continue;
                }
                match tracking.pending[i].pending.edit(edit) {
                    Step::Open => i += 1,
                    step => {
                        let w = tracking.pending.remove(i);
                        self.resolve(&mut tracking, w, step);
                    }
                }
            }
        }
    }

    /// The document's edits could not be followed (a change was refused): forget its
    /// suggestions.
    pub(crate) fn lost(&self, uri: &str) {
        let mut tracking = lock(&self.tracking);
        tracking.pending.retain(|w| w.shown.uri != uri);
        tracking.kept.retain(|k| k.shown.uri != uri);
    }

    /// `didSave`: the first check of the accepted suggestions in the document.
    pub(crate) fn saved(&self, uri: &str) {
        let mut tracking = lock(&self.tracking);
        for k in tracking
            .kept
            .iter_mut()
            .filter(|k| k.shown.uri == uri && !k.saved)
        {
            k.saved = true;
            self.sink.record(kept_event(k, "save"));
        }
    }

    /// `didClose`: the last check of the document's accepted suggestions, and the verdict on
    /// its pending ones.
    pub(crate) fn closed(&self, uri: &str) {
        let mut tracking = lock(&self.tracking);
        let (kept, others): (Vec<KeptWatch>, Vec<KeptWatch>) = std::mem::take(&mut tracking.kept)
            .into_iter()
            .partition(|k| k.shown.uri == uri);
        tracking.kept = others;
        for k in &kept {
            self.record_kept(k, "close");
        }
        let (pending, others): (Vec<Watch>, Vec<Watch>) = std::mem::take(&mut tracking.pending)
            .into_iter()
            .partition(|w| w.shown.uri == uri);
        tracking.pending = others;
        for w in pending {
            let step = w.pending.finish();
            self.resolve(&mut tracking, w, step);
        }
    }

    /// The client reported on the suggestion `id`: nothing is inferred for it (nor, from now
    /// on, for this client). An accepted one still in the edits' reach is followed for the
    /// kept rate.
    fn client_reported(&self, id: Option<u64>, accepted: Option<usize>) {
        let mut tracking = lock(&self.tracking);
        tracking.client_reports = true;
        let Some(id) = id else {
            return;
        };
        tracking.reported.insert(id);
        if tracking.reported.len() > 4 * WATCHED {
            // Ids only grow: the oldest half is long resolved.
            let cut = id.saturating_sub(2 * WATCHED as u64);
            tracking.reported.retain(|&r| r >= cut);
        }
        let Some(i) = tracking.pending.iter().position(|w| w.shown.id == id) else {
            return;
        };
        match accepted {
            // Accepted before its text reached the document: the edit that inserts it starts
            // the following of its text.
            Some(alternative) => {
                let w = &mut tracking.pending[i];
                w.reported = true;
                if alternative != w.alternative {
                    let text = w.shown.items.get(alternative).cloned().unwrap_or_default();
                    w.pending = Pending::new(w.pending.start(), &text);
                    w.alternative = alternative;
                }
            }
            None => {
                tracking.pending.remove(i);
            }
        }
    }

    /// The newest shown suggestion with this identity (and document, when known).
    fn find(&self, id: &Identity, uri: Option<&str>) -> Option<Shown> {
        lock(&self.recent)
            .iter()
            .rev()
            .find(|s| {
                id.version.is_none_or(|v| v == s.version)
                    && id.confidence.as_deref().is_none_or(|c| c == s.confidence)
                    && id.mode.as_deref().is_none_or(|m| m == s.mode)
                    && uri.is_none_or(|u| u == s.uri)
            })
            .cloned()
    }

    fn event(&self, kind: Kind, s: &Shown, alternative: usize) -> Event {
        let suggestion = s.items.get(alternative).cloned().unwrap_or_default();
        let text = match (&s.prefix, &s.suffix) {
            (Some(prefix), Some(suffix)) => Some(Text {
                prefix: prefix.clone(),
                suffix: suffix.clone(),
                suggestion: suggestion.clone(),
                instead: None,
            }),
            _ => None,
        };
        Event {
            language: s.language.clone(),
            model: s.model.clone(),
            trigger: s.trigger,
            confidence: s.confidence.to_string(),
            latency_ms: Some(s.latency_ms),
            suggestion_len: nib_events::utf16_len(&suggestion),
            path: nib_workspace::uri_to_path(&s.uri).map(|p| p.to_string_lossy().into_owned()),
            text,
            ..Event::new(kind)
        }
    }

    /// Without the shown suggestion (forgotten, or from another server): the identity's
    /// confidence only.
    fn unknown(kind: Kind, id: &Identity) -> Event {
        Event {
            confidence: id.confidence.clone().unwrap_or_default(),
            ..Event::new(kind)
        }
    }

    /// `nib.accepted`.
    pub(crate) fn accepted(&self, args: Option<&Value>) {
        let id = params::identity(args);
        let alternative = id.alternative.unwrap_or(0);
        let shown = self.find(&id, None);
        self.client_reported(shown.as_ref().map(|s| s.id), Some(alternative));
        let mut event = match shown {
            Some(s) => self.event(Kind::Accepted, &s, alternative),
            None => Events::unknown(Kind::Accepted, &id),
        };
        event.accepted_len = Some(event.suggestion_len);
        self.record(event);
    }

    /// `textDocument/didPartiallyAcceptCompletion`: `{ item, acceptedLength }`.
    pub(crate) fn partially_accepted(&self, params: &Value) {
        let PartialAcceptance {
            identity: id,
            accepted_length: accepted,
        } = params::partial_acceptance(params);
        let shown = self.find(&id, None);
        self.client_reported(shown.as_ref().map(|s| s.id), None);
        let mut event = match shown {
            Some(s) => self.event(Kind::PartiallyAccepted, &s, id.alternative.unwrap_or(0)),
            None => Events::unknown(Kind::PartiallyAccepted, &id),
        };
        event.accepted_len = accepted;
        self.record(event);
    }

    /// `nib/didRejectCompletion`: `{ textDocument, position, reason, items, shownMs }`. One
    /// rejection per notification (its items are the alternatives of one suggestion). When the
    /// user typed over the suggestion, what they typed since its start is kept as what they
    /// wrote instead (`telemetry = full`).
    pub(crate) fn rejected(&self, params: &Value, current: Option<&Snapshot>, enc: OffsetEncoding) {
        let Rejection {
            uri,
            position,
            reason,
            identity: id,
        } = params::rejection(params);
        let cursor = position.map(|(line, character)| Position { line, character });
        let shown = self.find(&id, uri.as_deref());
        self.client_reported(shown.as_ref().map(|s| s.id), None);
        let mut event = match shown {
            Some(s) => {
                let mut event = self.event(Kind::Rejected, &s, id.alternative.unwrap_or(0));
                let typed_over = reason.as_deref() == Some("typedOver");
                if let (Some(text), Some(doc), Some(cursor), true) =
                    (event.text.as_mut(), current, cursor, typed_over)
                {
                    text.instead = typed_since(&doc.doc, s.start, cursor, enc);
                }
                event
            }
            None => Events::unknown(Kind::Rejected, &id),
        };
        event.reason = reason;
        self.record(event);
    }
}

/// How much of an accepted suggestion is left (`reason`: when it was checked).
fn kept_event(k: &KeptWatch, reason: &str) -> Event {
    let s = &k.shown;
    Event {
        language: s.language.clone(),
        model: s.model.clone(),
        trigger: s.trigger,
        confidence: s.confidence.to_string(),
        latency_ms: Some(s.latency_ms),
        suggestion_len: k.kept.suggestion_len(),
        accepted_len: Some(k.kept.kept()),
        reason: Some(reason.to_string()),
        source: Source::Inferred,
        ..Event::new(Kind::Kept)
    }
}

/// The text from `start` to `cursor` on one line of the current document, if the cursor is
/// after the start.
fn typed_since(
    doc: &nib_text::Document,
    start: Position,
    cursor: Position,
    enc: OffsetEncoding,
) -> Option<String> {
    if cursor.line != start.line || cursor.character <= start.character {
        return None;
    }
    let a = doc
        .offset(nib_text::Position::new(start.line, start.character), enc)
        .ok()?;
    let b = doc
        .offset(nib_text::Position::new(cursor.line, cursor.character), enc)
        .ok()?;
    Some(doc.slice(a, b)).filter(|t| !t.is_empty())
}

impl Backend {
    /// `textDocument/didShowCompletion`: logged; the suggestion was counted when answered.
    pub(crate) async fn did_show_completion(&self, params: Value) {
        tracing::debug!(params = %params, "suggestion shown by the client");
    }

    pub(crate) async fn did_partially_accept_completion(&self, params: Value) {
        tracing::info!("suggestion partially accepted");
        self.events.partially_accepted(&params);
    }

    pub(crate) async fn did_reject_completion(&self, params: Value) {
        let reason = params.get("reason").and_then(|r| r.as_str()).unwrap_or("");
        tracing::info!(reason, "suggestion rejected");
        let current = params
            .pointer("/textDocument/uri")
            .and_then(Value::as_str)
            .and_then(|uri| self.ide.snapshot(uri).ok());
        self.events
            .rejected(&params, current.as_ref(), self.encoding());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_is_what_lies_between_the_start_and_the_cursor() {
        let doc = nib_text::Document::new("x = len(xs)\n", 2);
        let enc = OffsetEncoding::Utf16;
        assert_eq!(
            typed_since(&doc, Position::new(0, 4), Position::new(0, 11), enc).as_deref(),
            Some("len(xs)")
        );
        assert_eq!(
            typed_since(&doc, Position::new(0, 4), Position::new(0, 4), enc),
            None
        );
        assert_eq!(
            typed_since(&doc, Position::new(0, 4), Position::new(1, 0), enc),
            None
        );
    }
}
