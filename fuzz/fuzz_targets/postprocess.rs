//! The postprocess and checks crates on arbitrary text, a random cursor and a random model
//! output: no panic, findings inside the text, and redaction that restores what it hid.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nib_checks::{CheckConfig, Checker};
use nib_postprocess::{decide_mode, process, Input, Language};

#[derive(Arbitrary, Debug)]
struct Case {
    lang: u8,
    text: String,
    cursor: u16,
    raw: String,
    logprobs: Vec<f32>,
}

fn checker() -> &'static Checker {
    static C: std::sync::OnceLock<Checker> = std::sync::OnceLock::new();
    C.get_or_init(|| Checker::new(CheckConfig::standard()))
}

fuzz_target!(|case: Case| {
    let lang = match case.lang % 3 {
        0 => Some(Language::Python),
        1 => Some(Language::Rust),
        _ => None,
    };
    let mut at = case.cursor as usize % (case.text.len() + 1);
    while !case.text.is_char_boundary(at) {
        at -= 1;
    }
    let (prefix, suffix) = case.text.split_at(at);
    let mode = decide_mode(lang, prefix, suffix);
    let input = Input {
        lang,
        prefix,
        suffix,
        raw: &case.raw,
        mode,
    };
    let out = process(&input);
    assert!(out.text.is_empty() || out.dropped.is_none());
    let _ = nib_postprocess::repeats_later_line(&input, &out.text);
    let _ = nib_postprocess::makes_code_unreachable(&input, &out.text);
    let _ = nib_postprocess::should_stop(&input);
    let _ = nib_postprocess::confidence(&case.logprobs);
    let _ = nib_postprocess::confidence_per_token(&case.logprobs);
    if let Some(lang) = lang {
        for f in checker().check(lang, &case.text) {
            assert!(
                f.start_byte <= f.end_byte && f.end_byte <= case.text.len(),
                "{f:?}"
            );
        }
        let _ = checker().check_suggestion(lang, prefix, &out.text, suffix);
        let _ = checker().check_suggestion(lang, prefix, &case.raw, suffix);
    }
    let r = nib_checks::redact(&case.text);
    if !case.text.contains("NIB_REDACTED") {
        assert_eq!(r.restore(&r.text), case.text, "redaction restores");
    }
});
