//! nib's settings decoding (crates/lsp/src/settings.rs, compiled here as it is) on arbitrary
//! JSON: never panics, keeps every value inside its key's range, reports each bad or unknown
//! key, and applying the same settings twice changes nothing more.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "../../crates/lsp/src/settings.rs"]
#[allow(dead_code)]
mod settings;

use settings::{Kind, Settings, KEYS};

fn in_range(s: &Settings) {
    let get = |name: &str| match KEYS.iter().find(|k| k.name == name).unwrap().kind {
        Kind::Integer { min, max } => (min, max),
        _ => unreachable!(),
    };
    for (name, v) in [
        ("contextTokens", s.context_tokens as u64),
        ("maxTokens", s.max_tokens as u64),
        ("repoContextTokens", s.repo_context_tokens as u64),
        ("threads", s.threads as u64),
        ("deadlineMs", s.deadline_ms),
        ("coldDeadlineMs", s.cold_deadline_ms),
    ] {
        let (min, max) = get(name);
        assert!((min..=max).contains(&v), "{name} = {v}");
    }
    assert!(!s.model.is_empty());
    let _ = s.ide_config();
    assert!(s.context_length() >= 4096);
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut s = Settings::default();
    let problems = s.merge(&value);
    in_range(&s);
    let once = s.clone();
    let again = s.merge(&value);
    assert_eq!(s, once, "merging twice is merging once");
    assert_eq!(problems, again);
    if let Value::Object(o) = &value {
        let inner = match o.get("nib") {
            Some(Value::Object(i)) => i,
            _ => o,
        };
        let unknown = inner
            .keys()
            .filter(|k| !KEYS.iter().any(|key| key.name == *k))
            .count();
        assert!(problems.len() >= unknown);
        assert!(problems.len() <= inner.len());
    }
});
