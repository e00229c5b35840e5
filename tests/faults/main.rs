//! Faults from outside the protocol: the model file deleted or truncated under a running
//! server, a data directory that cannot be written or sits on a full disk, a prompt longer
//! than the model's context, a code action resolved after its document closed. Each gives a
//! clear error, and the server goes on answering.

#[path = "../harness/lsp.rs"]
#[allow(dead_code)]
mod lsp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp::{fixture, Server};
use serde_json::{json, Value};

fn default_model() -> PathBuf {
    PathBuf::from(lsp::require_model())
}

fn caps() -> Value {
    json!({ "textDocument": { "inlineCompletion": {}, "completion": { "completionItem": {} } } })
}

/// A server on `model`, with its data directory in `dir`, once the model is loaded.
fn start(dir: &Path, model: &Path, extra: Value, env: &[(&str, &str)]) -> Server {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut options =
        json!({ "model": model, "contextTokens": 256, "maxTokens": 16, "deadlineMs": 0 });
    for (k, v) in extra.as_object().unwrap() {
        options[k] = v.clone();
    }
    let mut vars = vec![("NIB_HOME", home.to_str().unwrap()), ("NIB_DEBUG", "1")];
    vars.extend_from_slice(env);
    let (mut s, _) = Server::start_env(options, caps(), None, &vars, dir.join("nib.log"));
    s.stats_until(Duration::from_secs(180), |v| v["engine"].is_object())
        .expect("the model loads");
    s
}

/// A copy of the default model in `dir`: the tests damage the copy, never the real file.
fn model_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("model.gguf");
    std::fs::copy(default_model(), &copy).unwrap();
    copy
}

fn open_inventory(s: &mut Server) -> (String, u32, u32) {
    let py = fixture("python/inventory.py");
    let u = lsp::uri("inventory.py");
    s.open(&u, "python", &py);
    let last = py.lines().count() as u32 - 1;
    let col = py.lines().last().unwrap().len() as u32;
    (u, last, col)
}

/// The server still answers requests and keeps its documents.
fn still_answers(s: &mut Server, uri: &str) {
    assert!(s.request("nib/stats", Value::Null).is_ok());
    let doc = s
        .request("nib/debug/document", json!({ "uri": uri }))
        .expect("the document is still there");
    assert!(doc["text"].as_str().unwrap().contains("def average_price"));
}

/// Tab on `item`: its acceptance command, as the editor runs it.
fn accept(s: &mut Server, item: &Value) {
    let command = &item["command"];
    if command.is_object() {
        let r = s.request(
            "workspace/executeCommand",
            json!({ "command": command["command"], "arguments": command["arguments"] }),
        );
        assert!(r.is_ok(), "{r:?}");
    }
}

fn show_message(s: &mut Server, needle: &str) -> Option<Value> {
    s.wait_notification(Duration::from_secs(60), |n| {
        n["method"] == "window/showMessage"
            && n["params"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))
    })
}

#[test]
fn model_file_truncated_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(dir.path());
    let mut s = start(dir.path(), &model, json!({}), &[]);
    let (u, line, col) = open_inventory(&mut s);
    assert_eq!(
        s.inline(&u, line, col).unwrap().len(),
        1,
        "a suggestion first"
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&model)
        .unwrap();
    f.set_len(1 << 20).unwrap();
    drop(f);
    // The loaded model does not read its file again: completions go on, those that run the
    // model too (an explicit request is not answered from a cache).
    s.change(&u, 2, json!([{ "range": { "start": { "line": line, "character": col }, "end": { "line": line, "character": col } }, "text": "t" }]));
    let r = s.inline(&u, line, col + 1);
    assert!(r.is_ok(), "{r:?}");
    let mut invoked = Server::inline_params(&u, line, col + 1);
    invoked["context"]["triggerKind"] = json!(1);
    let r = s.request("textDocument/inlineCompletion", invoked);
    assert!(r.is_ok(), "{r:?}");
    still_answers(&mut s, &u);
    // A reload from the damaged file is a clear error; the loaded model stays in use.
    s.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "threads": 1, "actionThreads": 1 } }),
    );
    let msg = show_message(&mut s, "model.gguf").expect("an error about the model file");
    assert_eq!(msg["params"]["type"], 1, "{msg}");
    assert!(s.inline(&u, line, col + 1).is_ok());
    still_answers(&mut s, &u);
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn model_file_deleted_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(dir.path());
    let mut s = start(dir.path(), &model, json!({}), &[]);
    let (u, line, col) = open_inventory(&mut s);
    std::fs::remove_file(&model).unwrap();
    assert_eq!(
        s.inline(&u, line, col).unwrap().len(),
        1,
        "the loaded model goes on"
    );
    s.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "threads": 1, "actionThreads": 1 } }),
    );
    let msg = show_message(&mut s, "does not exist").expect("an error about the missing model");
    assert_eq!(msg["params"]["type"], 1, "{msg}");
    assert!(
        s.inline(&u, line, col).is_ok(),
        "the loaded model stays in use"
    );
    still_answers(&mut s, &u);
    assert_eq!(s.shutdown(), Some(0));
}

/// The data directory is a file (so nothing can be created in it, even by root) and the log
/// file is a directory: suggestions are still made and accepted, the failure is logged.
#[test]
fn data_directory_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("home-is-a-file");
    std::fs::write(&not_a_dir, "not a directory").unwrap();
    let log_dir = dir.path().join("log-is-a-dir");
    std::fs::create_dir_all(&log_dir).unwrap();
    let model = default_model();
    let (mut s, _) = Server::start_env(
        json!({ "model": model, "contextTokens": 256, "maxTokens": 16, "deadlineMs": 0, "telemetry": "full" }),
        caps(),
        None,
        &[
            ("NIB_HOME", not_a_dir.to_str().unwrap()),
            ("NIB_LOG_FILE", log_dir.to_str().unwrap()),
            ("NIB_DEBUG", "1"),
        ],
        dir.path().join("stderr.log"),
    );
    s.stats_until(Duration::from_secs(180), |v| v["engine"].is_object())
        .expect("the model loads");
    let (u, line, col) = open_inventory(&mut s);
    let items = s.inline(&u, line, col).unwrap();
    assert_eq!(items.len(), 1);
    accept(&mut s, &items[0]);
    still_answers(&mut s, &u);
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("no suggestion events"), "{log}");
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn code_action_resolved_after_its_document_closed() {
    let dir = tempfile::tempdir().unwrap();
    let model = default_model();
    let mut s = start(dir.path(), &model, json!({}), &[]);
    let u = lsp::uri("closed.py");
    s.open(
        &u,
        "python",
        "def sum_squares(xs):\n    # return the sum of the squares of xs\n\n",
    );
    let p = json!({ "line": 1, "character": 8 });
    let actions = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": u }, "range": { "start": p, "end": p }, "context": { "diagnostics": [] } }),
        )
        .unwrap();
    let offered = actions.as_array().unwrap()[0].clone();
    s.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": u } }),
    );
    let e = s
        .request("codeAction/resolve", offered)
        .expect_err("resolving an action of a closed document is an error");
    assert!(
        e["message"].as_str().unwrap().contains("not open"),
        "a clear error: {e}"
    );
    assert!(s.request("nib/stats", Value::Null).is_ok());
    let (u2, line, col) = open_inventory(&mut s);
    assert!(s.inline(&u2, line, col).is_ok());
    assert_eq!(s.shutdown(), Some(0));
}

/// A chat message and an explained selection far longer than the model's context window: a
/// clear answer (the input is trimmed or refused with the sizes), never a hang or a dead server.
#[test]
fn a_prompt_longer_than_the_context() {
    let dir = tempfile::tempdir().unwrap();
    let model = default_model();
    let mut s = start(
        dir.path(),
        &model,
        json!({ "actionMaxTokens": 32, "threads": 1, "actionThreads": 1 }),
        &[],
    );
    let (u, line, col) = open_inventory(&mut s);
    // About 30,000 tokens against a context of 4,096.
    let message = "Explain what this list of numbers means: ".to_string()
        + &(0..6000).map(|i| format!("{i}, ")).collect::<String>();
    let r = s.request(
        "nib/chat",
        json!({ "conversationId": "long", "message": message }),
    );
    eprintln!("long chat: {r:?}");
    answered_or_too_long(&r, "reply");
    // A selection of 9,000 lines to explain.
    let big = u_big(&mut s);
    let range =
        json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 9000, "character": 0 } });
    let actions = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": big }, "range": range, "context": { "diagnostics": [] } }),
        )
        .unwrap();
    let explain = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "refactor.nib.explain")
        .cloned()
        .expect("explain is offered");
    let r = s.request("codeAction/resolve", explain);
    eprintln!("explain: {r:?}");
    answered_or_too_long(&r, "title");
    // Completions and the documents go on.
    assert!(s.inline(&u, line, col).is_ok());
    still_answers(&mut s, &u);
    assert_eq!(s.shutdown(), Some(0));
}

fn u_big(s: &mut Server) -> String {
    let u = lsp::uri("big.py");
    let text: String = (0..9000)
        .map(|i| format!("    total_{i} = compute(values[{i}]) + offset_{i}\n"))
        .collect();
    s.open(
        &u,
        "python",
        &format!("def huge(values):\n{text}    return 0\n"),
    );
    u
}

/// The data directory lives on a full file system (a 1 MB tmpfs filled up, mounted in a user
/// namespace by a wrapper around `nib serve`): events and the log cannot be written, the server
/// still completes, accepts and shuts down cleanly.
#[test]
fn data_directory_on_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("full");
    std::fs::create_dir_all(&mnt).unwrap();
    let wrapper = dir.path().join("nib-on-full-disk");
    std::fs::write(
        &wrapper,
        r#"#!/bin/sh
# Runs `$NIB "$@"` with $MNT a 1 MB tmpfs whose free space has been used up.
exec unshare --user --map-root-user --mount sh -c '
  mount -t tmpfs -o size=1m nib-full "$MNT" || exit 97
  mkdir -p "$MNT/home" || exit 97
  dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
  if echo x > "$MNT/probe" 2>/dev/null && [ -s "$MNT/probe" ]; then exit 98; fi
  exec "$NIB" "$@"' nib-on-full-disk "$@"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = mnt.join("home");
    let model = default_model();
    let stderr = dir.path().join("stderr.log");
    let (mut s, _) = Server::start_program(
        &wrapper,
        json!({ "model": model, "contextTokens": 256, "maxTokens": 16, "deadlineMs": 0, "telemetry": "full" }),
        caps(),
        None,
        &[
            ("NIB", env!("CARGO_BIN_EXE_nib")),
            ("MNT", mnt.to_str().unwrap()),
            ("NIB_HOME", home.to_str().unwrap()),
            ("NIB_LOG_FILE", home.join("nib.log").to_str().unwrap()),
            ("NIB_DEBUG", "1"),
        ],
        stderr.clone(),
    );
    s.stats_until(Duration::from_secs(180), |v| v["engine"].is_object())
        .expect("the model loads");
    let (u, line, col) = open_inventory(&mut s);
    for round in 0..3 {
        let items = s.inline(&u, line, col).unwrap();
        assert_eq!(items.len(), 1, "round {round}");
        accept(&mut s, &items[0]);
        s.notify(
            "textDocument/didSave",
            json!({ "textDocument": { "uri": u } }),
        );
    }
    still_answers(&mut s, &u);
    let log = std::fs::read_to_string(&stderr).unwrap();
    eprintln!("{log}");
    assert!(!log.contains("panicked"), "no panic on a full disk: {log}");
    assert!(
        log.contains("No space left") || log.contains("full"),
        "the failed writes are reported: {log}"
    );
    assert_eq!(s.shutdown(), Some(0));
}

/// A request over the model's context either answers (`field` is a string) or fails with an
/// error that says the input is too long for the context.
fn answered_or_too_long(r: &Result<Value, Value>, field: &str) {
    match r {
        Ok(v) => assert!(v[field].is_string(), "{v}"),
        Err(e) => {
            let m = e["message"].as_str().unwrap();
            assert!(m.contains("context") || m.contains("too long"), "{e}");
        }
    }
}
