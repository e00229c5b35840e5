//! End-to-end tests of the server's log file and of suggestion events inferred from edits: the
//! real `nib serve` binary over stdio, with a data directory (`NIB_HOME`) of the test's own.

#[path = "../harness/lsp.rs"]
#[allow(dead_code)]
mod lsp;

use lsp::{require_model, Server};
use serde_json::{json, Value};

fn caps() -> Value {
    json!({ "textDocument": { "inlineCompletion": {}, "completion": { "completionItem": {} } } })
}

/// The server's log lines at INFO level (tracing's fmt writes the level after the time).
fn info_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" INFO ")).collect()
}

#[test]
fn the_server_logs_to_a_file_in_its_data_directory_and_only_warnings_to_stderr() {
    let home = tempfile::tempdir().unwrap();
    let stderr_path = home.path().join("stderr.log");
    let (mut s, _) = Server::start_env(
        json!({ "model": "/nonexistent/model.gguf" }),
        caps(),
        None,
        // An empty NIB_LOG_FILE is unset: the default file.
        &[
            ("NIB_HOME", home.path().to_str().unwrap()),
            ("NIB_LOG_FILE", ""),
        ],
        stderr_path.clone(),
    );
    assert!(s.request("nib/stats", Value::Null).is_ok());
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let log = std::fs::read_to_string(home.path().join("nib.log")).unwrap_or_default();
    assert!(
        log.contains("initialize"),
        "the file has the info lines:\n{log}"
    );
    assert!(
        info_lines(&stderr).is_empty(),
        "no info lines on stderr:\n{stderr}"
    );
    // The missing model is an error: on stderr and in the file.
    assert!(stderr.contains("ERROR"), "{stderr}");
    assert!(log.contains("ERROR"), "{log}");
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn a_log_file_that_cannot_be_opened_is_reported_and_the_server_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let blocker = home.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let stderr_path = home.path().join("stderr.log");
    let (mut s, result) = Server::start_env(
        json!({ "model": "/nonexistent/model.gguf" }),
        caps(),
        None,
        &[
            ("NIB_HOME", home.path().to_str().unwrap()),
            // A directory under a file cannot be created.
            ("NIB_LOG_FILE", blocker.join("nib.log").to_str().unwrap()),
        ],
        stderr_path.clone(),
    );
    assert_eq!(result["serverInfo"]["name"], "nib");
    assert!(s.request("nib/stats", Value::Null).is_ok());
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        stderr.contains("cannot open the log file") && stderr.contains("logging to stderr"),
        "{stderr}"
    );
    assert!(
        !info_lines(&stderr).is_empty(),
        "stderr carries the whole log:\n{stderr}"
    );
    assert_eq!(s.shutdown(), Some(0));
}

/// `nib stats --json` with this data directory, asked until `pred` holds (or 60 s passed).
fn stats_until(home: &std::path::Path, pred: impl Fn(&Value) -> bool) -> Value {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nib"))
            .args(["stats", "--json"])
            .env("NIB_HOME", home)
            .output()
            .unwrap();
        let stats: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if pred(&stats) || std::time::Instant::now() > until {
            return stats;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

fn utf16(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// The position after `text` inserted at (line, col).
fn end_of(line: u32, col: u32, text: &str) -> (u32, u32) {
    match text.rfind('\n') {
        Some(i) => (
            line + text.matches('\n').count() as u32,
            utf16(&text[i + 1..]),
        ),
        None => (line, col + utf16(text)),
    }
}

fn range(a: (u32, u32), b: (u32, u32)) -> Value {
    json!({ "start": { "line": a.0, "character": a.1 }, "end": { "line": b.0, "character": b.1 } })
}

/// A client that reports nothing: inserting the suggestion in one edit counts as accepted,
/// typing something else past it as rejected (both inferred), and how much of the accepted
/// text is left when the document closes is its kept rate.
#[test]
fn verdicts_are_inferred_from_edits_and_the_kept_rate_is_measured() {
    let model = require_model();
    let home = tempfile::tempdir().unwrap();
    let (mut s, _) = Server::start_env(
        json!({ "model": model, "contextTokens": 768, "maxTokens": 48, "deadlineMs": 0 }),
        caps(),
        None,
        &[("NIB_HOME", home.path().to_str().unwrap())],
        home.path().join("stderr.log"),
    );
    s.stats_until(std::time::Duration::from_secs(120), |v| {
        v["engine"].is_object()
    })
    .expect("the model loads");
    let py = lsp::fixture("python/inventory.py");
    let last = py.lines().count() as u32 - 1;
    let col = utf16(py.lines().last().unwrap());

    // Accepted: the client inserts the suggestion, then the user deletes its first character.
    let u = lsp::uri("inventory.py");
    s.open(&u, "python", &py);
    let items = s.inline(&u, last, col).unwrap();
    assert_eq!(items.len(), 1, "one suggestion at the end of average_price");
    let text = items[0]["insertText"].as_str().unwrap().to_string();
    let at = (last, col);
    s.change(&u, 2, json!([{ "range": range(at, at), "text": text }]));
    let first = text.chars().next().unwrap();
    let after_first = end_of(last, col, &first.to_string());
    s.change(
        &u,
        3,
        json!([{ "range": range(at, after_first), "text": "" }]),
    );
    s.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": u } }),
    );

    // Rejected: the user types other text past the suggestion and ends the line.
    let u2 = lsp::uri("inventory2.py");
    s.open(&u2, "python", &py);
    let items = s.inline(&u2, last, col).unwrap();
    assert_eq!(items.len(), 1);
    let text2 = items[0]["insertText"].as_str().unwrap();
    let other = if text2.starts_with('q') { "z" } else { "q" };
    s.change(&u2, 2, json!([{ "range": range(at, at), "text": other }]));
    let next = (last, col + 1);
    s.change(
        &u2,
        3,
        json!([{ "range": range(next, next), "text": "\n" }]),
    );

    let want = |v: &Value| {
        v["total"]["accepted"] == 1 && v["total"]["rejected"] == 1 && v["total"]["checked"] == 1
    };
    let stats = stats_until(home.path(), want);
    assert!(want(&stats), "{stats:#}\n{}", s.stderr());
    let total = &stats["total"];
    assert_eq!(total["shown"], 2, "{stats:#}");
    // The acceptance and the rejection.
    assert_eq!(stats["inferred"], 2, "{stats:#}");
    assert_eq!(total["checkedLen"], utf16(&text), "{stats:#}");
    assert_eq!(
        total["keptLen"],
        utf16(&text) - utf16(&first.to_string()),
        "{stats:#}"
    );
    assert_eq!(s.shutdown(), Some(0));
}

/// A `loraAdapter` that is missing, or is no adapter for this model, is reported in a message
/// naming it, and the model completes without it.
#[test]
fn a_lora_adapter_that_cannot_be_applied_is_reported_and_the_model_runs_without_it() {
    let model = require_model();
    let dir = tempfile::tempdir().unwrap();
    let not_gguf = dir.path().join("not-an-adapter.gguf");
    std::fs::write(&not_gguf, "not a GGUF file").unwrap();
    let missing = dir.path().join("missing.gguf");
    for (adapter, says) in [
        (&missing, "does not exist"),
        (&not_gguf, "cannot be applied"),
    ] {
        let adapter = adapter.to_str().unwrap();
        let (mut s, _) = Server::start_env(
            json!({ "model": model, "loraAdapter": adapter, "contextTokens": 768,
                    "maxTokens": 48, "deadlineMs": 0 }),
            caps(),
            None,
            &[("NIB_HOME", dir.path().to_str().unwrap())],
            dir.path().join("stderr.log"),
        );
        let msg = s
            .wait_notification(lsp::TIMEOUT, |n| {
                n["method"] == "window/showMessage"
                    && n["params"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("LoRA adapter"))
            })
            .unwrap_or_else(|| panic!("no message about the adapter\n{}", s.stderr()));
        let text = msg["params"]["message"].as_str().unwrap();
        assert!(
            text.contains(adapter) && text.contains(says) && text.contains("runs without it"),
            "{text}"
        );
        assert_eq!(msg["params"]["type"], 1, "an error: {text}");
        s.stats_until(std::time::Duration::from_secs(120), |v| {
            v["engine"].is_object()
        })
        .expect("the model loads without the adapter");
        let py = lsp::fixture("python/inventory.py");
        let u = lsp::uri("inventory.py");
        s.open(&u, "python", &py);
        let last = py.lines().count() as u32 - 1;
        let col = utf16(py.lines().last().unwrap());
        let items = s.inline(&u, last, col).unwrap();
        assert_eq!(items.len(), 1, "a suggestion without the adapter");
        assert_eq!(s.shutdown(), Some(0));
    }
}

/// A LoRA adapter in GGUF for the default model (Qwen2.5-Coder 0.5B: 24 layers, 896 wide),
/// rank 1, on every layer's query projection, with every weight `value`.
fn write_lora_gguf(path: &std::path::Path, value: f32) {
    const N_EMBD: u64 = 896;
    const LAYERS: usize = 24;
    const ALIGN: usize = 32;
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    let tensors: Vec<(String, [u64; 2])> = (0..LAYERS)
        .flat_map(|l| {
            [
                (format!("blk.{l}.attn_q.weight.lora_a"), [N_EMBD, 1]),
                (format!("blk.{l}.attn_q.weight.lora_b"), [1, N_EMBD]),
            ]
        })
        .collect();
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend(4u64.to_le_bytes());
    for (key, value) in [
        ("general.architecture", "qwen2"),
        ("general.type", "adapter"),
        ("adapter.type", "lora"),
    ] {
        string(&mut out, key);
        out.extend(8u32.to_le_bytes());
        string(&mut out, value);
    }
    string(&mut out, "adapter.lora.alpha");
    out.extend(6u32.to_le_bytes());
    out.extend(1.0f32.to_le_bytes());
    let size = (N_EMBD * 4) as usize;
    for (i, (name, ne)) in tensors.iter().enumerate() {
        string(&mut out, name);
        out.extend(2u32.to_le_bytes());
        out.extend(ne[0].to_le_bytes());
        out.extend(ne[1].to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(((i * size.div_ceil(ALIGN) * ALIGN) as u64).to_le_bytes());
    }
    for _ in 0..tensors.len() {
        while !out.len().is_multiple_of(ALIGN) {
            out.push(0);
        }
        for _ in 0..N_EMBD {
            out.extend(value.to_le_bytes());
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The completion at the end of the inventory fixture, with these settings.
fn complete_with(options: Value, home: &std::path::Path) -> (Vec<Value>, Vec<Value>) {
    let (mut s, _) = Server::start_env(
        options,
        caps(),
        None,
        &[("NIB_HOME", home.to_str().unwrap())],
        home.join("stderr.log"),
    );
    s.stats_until(std::time::Duration::from_secs(120), |v| {
        v["engine"].is_object()
    })
    .expect("the model loads");
    let py = lsp::fixture("python/inventory.py");
    let u = lsp::uri("inventory.py");
    s.open(&u, "python", &py);
    let last = py.lines().count() as u32 - 1;
    let col = utf16(py.lines().last().unwrap());
    let items = s.inline(&u, last, col).unwrap();
    let messages = s
        .notifications()
        .iter()
        .filter(|n| n["method"] == "window/showMessage")
        .cloned()
        .collect();
    assert_eq!(s.shutdown(), Some(0));
    (items, messages)
}

/// A LoRA adapter made for the model (built here, rank 1 on every query projection) loads
/// without complaint and changes what the model writes.
#[test]
fn a_lora_adapter_for_the_model_is_applied() {
    let model = require_model();
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter.gguf");
    write_lora_gguf(&adapter, 0.5);
    let options = json!({ "model": model, "contextTokens": 768, "maxTokens": 24, "deadlineMs": 0 });
    let (plain, _) = complete_with(options.clone(), dir.path());
    let mut with = options;
    with["loraAdapter"] = json!(adapter.to_str().unwrap());
    let (adapted, messages) = complete_with(with, dir.path());
    assert!(messages.is_empty(), "{messages:?}");
    assert_eq!(plain.len(), 1, "a suggestion without the adapter");
    let text = |items: &[Value]| items.first().map(|i| i["insertText"].clone());
    assert_ne!(
        text(&plain),
        text(&adapted),
        "the adapter changes the output: {plain:?}"
    );
}
