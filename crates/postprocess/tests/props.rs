//! Property tests: `process` never panics and keeps its output invariants on any input.

use nib_postprocess::{
    decide_mode, may_extend, process, should_stop, Input, Language, Mode, MAX_LAYOUT_LINES,
};
use proptest::prelude::*;

fn lang() -> impl Strategy<Value = Option<Language>> {
    prop_oneof![
        Just(None),
        Just(Some(Language::Python)),
        Just(Some(Language::Rust))
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::SingleLine), Just(Mode::MultiLine)]
}

/// Code-ish text: brackets, quotes, comments, indentation, CR/LF, non-ASCII.
fn text(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z_]{1,6}",
        Just(" ".to_string()),
        Just("    ".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("\t".to_string()),
        "[(){}\\[\\]:;,.=+'\"#/*\\\\r]",
        Just("\"\"\"".to_string()),
        Just("é".to_string()),
        Just("🌍".to_string()),
        Just("return x".to_string()),
        Just("def f(a):".to_string()),
        Just("fn f() {".to_string()),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

/// The suffix's first non-blank line as the crate sees it (`\r\n` and `\r` are line breaks).
fn first_suffix_line(suffix: &str) -> Option<String> {
    let s = suffix.replace("\r\n", "\n").replace('\r', "\n");
    s.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn process_keeps_invariants(
        lang in lang(), mode in mode(), prefix in text(30), suffix in text(30), raw in text(40),
    ) {
        let input = Input { lang, prefix: &prefix, suffix: &suffix, raw: &raw, mode };
        let out = process(&input);
        let _ = should_stop(&input);
        let _ = decide_mode(lang, &prefix, &suffix);

        prop_assert_eq!(out.text.is_empty(), out.dropped.is_some());
        if mode == Mode::SingleLine {
            // One final line break only for a line of its own above code on the cursor's line.
            let body = out.text.strip_suffix('\n').map(|b| b.strip_suffix('\r').unwrap_or(b));
            if body.is_some() {
                let line_prefix = prefix.rsplit(['\n', '\r']).next().unwrap_or("");
                let line_suffix = suffix.split(['\n', '\r']).next().unwrap_or("");
                prop_assert!(line_prefix.trim().is_empty() && !line_suffix.trim().is_empty(), "{:?}", out.text);
            }
            let body = body.unwrap_or(&out.text);
            // More lines only where Python's layout may need them, and never more than the cap.
            let lines = body.replace("\r\n", "\n").split(['\n', '\r']).count();
            let most = if may_extend(lang, &prefix, &suffix, mode) { MAX_LAYOUT_LINES } else { 1 };
            prop_assert!(lines <= most, "{:?}", out.text);
        }
        if let Some(line) = first_suffix_line(&suffix).filter(|l| l.len() >= 8) {
            prop_assert!(!out.text.replace("\r\n", "\n").contains(&line), "{:?} has {:?}", out.text, line);
        }
        // Never mixed line endings: with a CRLF document every break is CRLF, else none is.
        let crlf = prefix.contains("\r\n") || suffix.contains("\r\n");
        let lf_only = out.text.replace("\r\n", "");
        prop_assert!(!lf_only.contains('\r'));
        if crlf {
            prop_assert!(!lf_only.contains('\n'));
        } else {
            prop_assert!(!out.text.contains('\r'));
        }
    }

    #[test]
    fn suffix_rewrites_never_shown(
        lang in lang(), mode in mode(), prefix in text(20), middle in text(10), suffix in text(30),
    ) {
        // A model that writes something and then the whole suffix.
        let raw = format!("{middle}{suffix}");
        let out = process(&Input { lang, prefix: &prefix, suffix: &suffix, raw: &raw, mode });
        if let Some(line) = first_suffix_line(&suffix).filter(|l| l.len() >= 8) {
            prop_assert!(!out.text.replace("\r\n", "\n").contains(&line));
        }
    }
}

#[test]
fn huge_and_degenerate_inputs() {
    let big = "x = foo(1, [2, {3: '4'}])  # é\n".repeat(40_000);
    for lang in [None, Some(Language::Python), Some(Language::Rust)] {
        for mode in [Mode::SingleLine, Mode::MultiLine] {
            for (prefix, suffix, raw) in [
                ("", "", ""),
                ("", "", &big[..]),
                ("def f():\n    ", "\n", &big[..]),
                ("\r\n\r\n", "\r", "\r\n\r\n"),
                ("(((((", ")))))", ")))))))))"),
                ("\"\"\"", "'''", "\\"),
                ("🌍", "🌍", "🌍\n🌍"),
            ] {
                let input = Input {
                    lang,
                    prefix,
                    suffix,
                    raw,
                    mode,
                };
                let out = process(&input);
                assert!(out.text.len() <= nib_postprocess::MAX_RAW_BYTES + 64);
                let _ = should_stop(&input);
            }
        }
    }
}
