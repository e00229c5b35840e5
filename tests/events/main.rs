//! End-to-end tests of the server's log file and of suggestion events inferred from edits: the
//! real `nib serve` binary over stdio, with a data directory (`NIB_HOME`) of the test's own.

#[path = "../harness/lsp.rs"]
#[allow(dead_code)]
mod lsp;

use lsp::Server;
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
