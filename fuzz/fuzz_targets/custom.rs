//! The parameters of nib's own methods about suggestions (crates/lsp/src/params.rs, compiled
//! here as it is): on arbitrary JSON, decoding never panics and is deterministic; every field
//! sent with the right type and range is decoded to exactly that value, whatever else the
//! object holds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

#[path = "../../crates/lsp/src/params.rs"]
#[allow(dead_code)]
mod params;

use params::{identity, item_identity, partial_acceptance, rejection};

/// An object made well-typed fields and arbitrary noise from the fuzzer's JSON.
fn with_noise(mut fields: Value, noise: &Value) -> Value {
    if let (Value::Object(o), Value::Object(n)) = (&mut fields, noise) {
        for (k, v) in n {
            o.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    fields
}

fuzz_target!(|data: &[u8]| {
    // First: arbitrary JSON straight into every decoder.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let id = identity(Some(&value));
    assert_eq!(id, identity(Some(&value)));
    let _ = item_identity(Some(&value));
    let r = rejection(&value);
    assert_eq!(r, rejection(&value));
    let p = partial_acceptance(&value);
    assert_eq!(p, partial_acceptance(&value));

    // Then: well-typed values derived from the input, with the input as noise around them.
    let n = data
        .iter()
        .fold(0u64, |a, b| a.wrapping_mul(131).wrapping_add(*b as u64));
    let line = (n % 100_000) as u32;
    let character = ((n >> 17) % 10_000) as u32;
    let version = (n >> 7) as i32;
    let text = String::from_utf8_lossy(&data[..data.len().min(24)]).into_owned();
    let sent =
        json!({ "version": version, "confidence": text, "alternative": n % 3, "mode": "single" });
    let got = identity(Some(&with_noise(sent, &value)));
    assert_eq!(got.version, Some(version));
    assert_eq!(got.confidence.as_deref(), Some(text.as_str()));
    assert_eq!(got.alternative, Some((n % 3) as usize));
    assert_eq!(serde_json::to_value(&got).unwrap()["mode"], "single");
    let params = with_noise(
        json!({
            "textDocument": { "uri": text },
            "position": { "line": line, "character": character },
            "reason": "typedOver",
            "items": [{ "version": version }],
        }),
        &value,
    );
    let r = rejection(&params);
    assert_eq!(r.uri.as_deref(), Some(text.as_str()));
    assert_eq!(r.position, Some((line, character)));
    assert_eq!(r.reason.as_deref(), Some("typedOver"));
    assert_eq!(r.identity.version, Some(version));
    let p = partial_acceptance(&with_noise(
        json!({ "item": { "command": { "arguments": [{ "version": version }] } }, "acceptedLength": line }),
        &value,
    ));
    assert_eq!(p.identity.version, Some(version));
    assert_eq!(p.accepted_length, Some(line as usize));
});
