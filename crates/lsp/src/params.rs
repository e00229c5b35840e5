//! Decoding of the parameters of nib's own notifications and command arguments about
//! suggestions: the `nib.accepted` command, `textDocument/didPartiallyAcceptCompletion` and
//! `nib/didRejectCompletion`. Clients differ and some send partial or wrongly typed objects, so
//! every field is read on its own: a field that is missing or of the wrong type is `None`, the
//! others are kept, and decoding never fails.
//!
//! Pure (serde_json only): the `custom` fuzz target compiles this file as it is.

use serde::Serialize;
use serde_json::Value;

/// What identifies a shown suggestion: the `nib.accepted` command's first argument.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `nib/didRejectCompletion`: `{ textDocument: { uri }, position, reason, items, shownMs }`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub uri: Option<String>,
    /// The cursor when the suggestion was rejected: (line, character).
    pub position: Option<(u32, u32)>,
    /// `dismissed`, `typedOver` or what the client says.
    pub reason: Option<String>,
    /// The identity of the first item (the others are alternatives of the same suggestion).
    pub identity: Identity,
}

/// `textDocument/didPartiallyAcceptCompletion`: `{ item, acceptedLength }`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartialAcceptance {
    pub identity: Identity,
    /// Accepted length in UTF-16 code units.
    pub accepted_length: Option<usize>,
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn int<T: TryFrom<i64>>(v: Option<&Value>) -> Option<T> {
    v.and_then(Value::as_i64).and_then(|n| T::try_from(n).ok())
}

fn uint<T: TryFrom<u64>>(v: Option<&Value>) -> Option<T> {
    v.and_then(Value::as_u64).and_then(|n| T::try_from(n).ok())
}

/// The identity in a command argument object (anything else: no identity).
pub fn identity(v: Option<&Value>) -> Identity {
    let Some(Value::Object(o)) = v else {
        return Identity::default();
    };
    Identity {
        version: int(o.get("version")),
        confidence: string(o.get("confidence")),
        alternative: uint(o.get("alternative")),
        mode: string(o.get("mode")),
    }
}

/// The identity in an inline completion item: its command's first argument.
pub fn item_identity(item: Option<&Value>) -> Identity {
    identity(item.and_then(|i| i.pointer("/command/arguments/0")))
}

pub fn rejection(params: &Value) -> Rejection {
    let position = params
        .get("position")
        .and_then(|p| Some((uint(p.get("line"))?, uint(p.get("character"))?)));
    Rejection {
        uri: string(params.pointer("/textDocument/uri")),
        position,
        reason: string(params.get("reason")),
        identity: identity(params.pointer("/items/0")),
    }
}

pub fn partial_acceptance(params: &Value) -> PartialAcceptance {
    PartialAcceptance {
        identity: item_identity(params.get("item")),
        accepted_length: uint(params.get("acceptedLength")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identities_come_from_the_command_arguments() {
        let item = json!({
            "insertText": "sum(xs)",
            "command": { "command": "nib.accepted", "arguments": [
                { "version": 3, "confidence": "high", "alternative": 1, "mode": "single" }
            ]}
        });
        let id = item_identity(Some(&item));
        assert_eq!(id.version, Some(3));
        assert_eq!(id.alternative, Some(1));
        assert_eq!(id.confidence.as_deref(), Some("high"));
        assert_eq!(id.mode.as_deref(), Some("single"));
        assert_eq!(item_identity(None), Identity::default());
    }

    #[test]
    fn a_wrongly_typed_field_loses_only_itself() {
        let id = identity(Some(
            &json!({ "version": "3", "confidence": "low", "alternative": -1, "mode": 7 }),
        ));
        assert_eq!(
            id,
            Identity {
                confidence: Some("low".into()),
                ..Identity::default()
            }
        );
        assert_eq!(identity(Some(&json!([1, 2]))), Identity::default());
        assert_eq!(
            identity(Some(&json!({ "version": 1u64 << 40 }))).version,
            None,
            "out of range"
        );
    }

    #[test]
    fn rejections_and_partial_acceptances_decode_field_by_field() {
        let r = rejection(&json!({
            "textDocument": { "uri": "file:///a.py" },
            "position": { "line": 4, "character": 9 },
            "reason": "typedOver",
            "items": [{ "version": 2 }, { "version": 2, "alternative": 1 }],
            "shownMs": 800,
        }));
        assert_eq!(r.uri.as_deref(), Some("file:///a.py"));
        assert_eq!(r.position, Some((4, 9)));
        assert_eq!(r.reason.as_deref(), Some("typedOver"));
        assert_eq!(r.identity.version, Some(2));
        let r = rejection(&json!({ "position": { "line": -1, "character": 0 }, "items": {} }));
        assert_eq!(r, Rejection::default());
        assert_eq!(rejection(&json!(null)), Rejection::default());
        let p = partial_acceptance(&json!({
            "item": { "command": { "arguments": [{ "version": 5 }] } },
            "acceptedLength": 12,
        }));
        assert_eq!(p.identity.version, Some(5));
        assert_eq!(p.accepted_length, Some(12));
        assert_eq!(
            partial_acceptance(&json!({ "acceptedLength": 1.5 })),
            PartialAcceptance::default()
        );
    }
}
