//! What happens to suggestions, recorded in the local event store (nib-events): `shown` when a
//! completion answer carries a suggestion, `accepted` from the `nib.accepted` command,
//! `partially_accepted` from `textDocument/didPartiallyAcceptCompletion` and `rejected` from
//! `nib/didRejectCompletion`. `textDocument/didShowCompletion` adds no row: the suggestion was
//! counted as shown when it was answered.
//!
//! Recording never blocks or fails a request: the store is opened in the background after
//! `initialized`, every write runs on the blocking pool, and an error is logged once the
//! store is known to be broken (nib then goes on without events).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use nib_events::{Event, Kind, Options, Store, Telemetry, Text, Trigger};
use nib_ide::{Completion, Snapshot};
use nib_text::OffsetEncoding;
use serde::Deserialize;
use serde_json::Value;
use tower_lsp_server::lsp_types::Position;

use crate::server::Backend;

/// Suggestions remembered to give an acceptance or a rejection its context.
const RECENT: usize = 32;
/// Bytes of text kept on each side of a suggestion at `telemetry = full`.
const TEXT_BYTES: usize = 8 * 1024;

enum Slot {
    Closed,
    Opening,
    Open(Store),
    Failed,
}

/// A suggestion that was shown: what its later events are recorded with.
#[derive(Clone)]
struct Shown {
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

/// The event store and the recent suggestions.
pub(crate) struct Events {
    slot: Arc<Mutex<Slot>>,
    telemetry: Mutex<Telemetry>,
    recent: Mutex<VecDeque<Shown>>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            slot: Arc::new(Mutex::new(Slot::Closed)),
            telemetry: Mutex::new(Telemetry::Off),
            recent: Mutex::default(),
        }
    }
}

/// The `nib.accepted` command's arguments, which identify a suggestion.
#[derive(Deserialize, Debug, Default)]
struct Identity {
    version: Option<i32>,
    confidence: Option<String>,
    alternative: Option<usize>,
    mode: Option<String>,
}

fn identity(v: Option<&Value>) -> Identity {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// The identity in an inline completion item: its command's first argument.
fn item_identity(item: Option<&Value>) -> Identity {
    identity(item.and_then(|i| i.pointer("/command/arguments/0")))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Events {
    /// Apply the `telemetry` setting: open the store in the background the first time it is
    /// not `off`.
    pub(crate) fn configure(&self, telemetry: Telemetry) {
        *lock(&self.telemetry) = telemetry;
        let mut slot = lock(&self.slot);
        if let Slot::Open(store) = &mut *slot {
            store.set_telemetry(telemetry);
            return;
        }
        if !matches!(*slot, Slot::Closed) || telemetry == Telemetry::Off {
            return;
        }
        *slot = Slot::Opening;
        let shared = Arc::clone(&self.slot);
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
        *lock(&self.telemetry) == Telemetry::Full
    }

    /// Write an event on the blocking pool.
    fn record(&self, event: Event) {
        if *lock(&self.telemetry) == Telemetry::Off {
            return;
        }
        let slot = Arc::clone(&self.slot);
        let telemetry = *lock(&self.telemetry);
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

    /// A completion answer with a suggestion is going back to the client.
    pub(crate) fn shown(
        &self,
        snap: &Snapshot,
        c: &Completion,
        trigger: nib_ide::Trigger,
        enc: OffsetEncoding,
    ) {
        if *lock(&self.telemetry) == Telemetry::Off {
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
        let shown = Shown {
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
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(shown);
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
        let id = identity(args);
        let alternative = id.alternative.unwrap_or(0);
        let mut event = match self.find(&id, None) {
            Some(s) => self.event(Kind::Accepted, &s, alternative),
            None => Events::unknown(Kind::Accepted, &id),
        };
        event.accepted_len = Some(event.suggestion_len);
        self.record(event);
    }

    /// `textDocument/didPartiallyAcceptCompletion`: `{ item, acceptedLength }`.
    pub(crate) fn partially_accepted(&self, params: &Value) {
        let id = item_identity(params.get("item"));
        let accepted = params
            .get("acceptedLength")
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        let mut event = match self.find(&id, None) {
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
        let uri = params.pointer("/textDocument/uri").and_then(Value::as_str);
        let id = identity(params.pointer("/items/0"));
        let reason = params
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        let cursor: Option<Position> = params
            .get("position")
            .and_then(|p| serde_json::from_value(p.clone()).ok());
        let mut event = match self.find(&id, uri) {
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

    #[test]
    fn identities_come_from_the_command_arguments() {
        let item = serde_json::json!({
            "insertText": "sum(xs)",
            "command": { "command": "nib.accepted", "arguments": [
                { "version": 3, "confidence": "high", "alternative": 1, "mode": "single" }
            ]}
        });
        let id = item_identity(Some(&item));
        assert_eq!(id.version, Some(3));
        assert_eq!(id.alternative, Some(1));
        assert_eq!(id.confidence.as_deref(), Some("high"));
        assert_eq!(item_identity(None).version, None);
    }
}
