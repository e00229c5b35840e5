//! Debugging aid: run the post-processing on one case and print what it decides.
//!
//! `cargo run -p nib-postprocess --example pp -- CASE.json` where the file holds
//! `{"prompt": ..., "suffix": ..., "raw": ...}` (a HumanEval infilling task plus a raw output).

use nib_postprocess::{decide_mode, expected_indent, header_indent, process, Input, Language};

fn main() {
    let path = std::env::args().nth(1).expect("usage: pp CASE.json");
    let text = std::fs::read_to_string(&path).expect("read case");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let (prefix, suffix, raw) = (field("prompt"), field("suffix"), field("raw"));
    let lang = Some(Language::Python);
    let mode = decide_mode(lang, &prefix, &suffix);
    let out = process(&Input {
        lang,
        prefix: &prefix,
        suffix: &suffix,
        raw: &raw,
        mode,
    });
    println!("mode: {mode:?}");
    println!(
        "expected indent: {:?}",
        expected_indent(lang, &prefix, &suffix, mode)
    );
    println!("header indent: {:?}", header_indent(lang, &prefix, &suffix));
    println!("output: {:?}", out.text);
    println!("dropped: {:?}", out.dropped);
}
