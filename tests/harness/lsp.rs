//! A headless editor for the tests: the real `nib serve` binary driven over stdio by the LSP
//! client `nib bench` uses (nib-bench), with helpers for documents and completions.

use std::time::{Duration, Instant};

use nib_bench::client::{Client, Spawn};
use serde_json::{json, Value};

pub const TIMEOUT: Duration = Duration::from_secs(180);

/// The shared LSP client (nib-bench) with the test's conveniences: a failure panics with the
/// tail of the server's log.
pub struct Server {
    client: Client,
    stderr_path: std::path::PathBuf,
}

pub fn fixture(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// The default model must be present: these tests use the real one, never a fake. Returns
/// its path.
pub fn require_model() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nib"))
        .args(["model", "path"])
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        std::path::Path::new(&path).is_file(),
        "the default model is missing at {path}: run `nib model pull` (or `bash .ci/run`) first"
    );
    path
}

pub fn uri(name: &str) -> String {
    format!("file:///workspace/{name}")
}

impl Server {
    /// Start `nib serve` and complete the initialize handshake.
    pub fn start(init_options: Value, position_encodings: &[&str]) -> (Server, Value) {
        let mut caps = json!({
            "textDocument": { "inlineCompletion": {}, "completion": { "completionItem": {} } },
        });
        if !position_encodings.is_empty() {
            caps["general"] = json!({ "positionEncodings": position_encodings });
        }
        Server::start_with(init_options, caps, None)
    }

    /// Start `nib serve` with these client capabilities and workspace root.
    pub fn start_with(init_options: Value, caps: Value, root_uri: Option<&str>) -> (Server, Value) {
        let stderr_path = std::env::temp_dir().join(format!(
            "nib-harness-{}-{}.log",
            std::process::id(),
            rand_suffix()
        ));
        Server::start_env(init_options, caps, root_uri, &[], stderr_path)
    }

    /// Start `nib serve` with extra environment variables.
    pub fn start_env(
        init_options: Value,
        caps: Value,
        root_uri: Option<&str>,
        env: &[(&str, &str)],
        stderr_path: std::path::PathBuf,
    ) -> (Server, Value) {
        let nib = std::path::Path::new(env!("CARGO_BIN_EXE_nib"));
        Server::start_program(nib, init_options, caps, root_uri, env, stderr_path)
    }

    /// Start `PROGRAM serve` (nib itself, or a wrapper that runs it in a prepared place) with
    /// extra environment variables.
    pub fn start_program(
        program: &std::path::Path,
        init_options: Value,
        caps: Value,
        root_uri: Option<&str>,
        env: &[(&str, &str)],
        stderr_path: std::path::PathBuf,
    ) -> (Server, Value) {
        // The whole log on stderr (NIB_LOG_FILE=-), where a failing test shows its tail.
        let mut vars = vec![
            ("NIB_LOG".to_string(), "debug".to_string()),
            ("NIB_LOG_FILE".to_string(), "-".to_string()),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let client = Client::spawn_with(
            program,
            &Spawn {
                stderr_log: Some(stderr_path.clone()),
                env: vars,
            },
        )
        .expect("spawn nib serve");
        let mut s = Server {
            client,
            stderr_path,
        };
        let result = s
            .request("initialize", json!({ "processId": null, "rootUri": root_uri, "capabilities": caps, "initializationOptions": init_options }))
            .expect("initialize succeeds");
        s.notify("initialized", json!({}));
        (s, result)
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let r = self.client.notify(method, params);
        self.check(r)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let r = self.client.send_raw(bytes);
        self.check(r)
    }

    /// Send a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let r = self.client.send_request(method, params);
        self.check(r)
    }

    /// Wait for the response to `id`: Ok(result) or Err(error object).
    pub fn wait_response(&mut self, id: i64) -> Result<Value, Value> {
        let r = self.client.wait_response(id, TIMEOUT);
        self.check(r)
    }

    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params);
        self.wait_response(id)
    }

    /// Notifications and server requests seen so far.
    pub fn notifications(&self) -> &[Value] {
        &self.client.notifications
    }

    /// Wait until a notification matching `pred` arrives (or was already seen).
    pub fn wait_notification(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let r = self.client.wait_notification(timeout, pred);
        self.check(r)
    }

    fn check<T>(&self, r: anyhow::Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e:#}\n{}", self.stderr()))
    }

    pub fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": language, "version": 1, "text": text } }),
        );
    }

    pub fn change(&mut self, uri: &str, version: i32, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": changes }),
        );
    }

    pub fn inline_params(uri: &str, line: u32, character: u32) -> Value {
        json!({
            "textDocument": { "uri": uri },
            "position": { "line": line, "character": character },
            "context": { "triggerKind": 2 }
        })
    }

    /// `textDocument/inlineCompletion` -> items.
    pub fn inline(&mut self, uri: &str, line: u32, character: u32) -> Result<Vec<Value>, Value> {
        let r = self.request(
            "textDocument/inlineCompletion",
            Server::inline_params(uri, line, character),
        )?;
        Ok(match r {
            Value::Array(items) => items,
            Value::Object(ref o) => o
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    /// Ask `nib/stats` until `pred` holds of the answer (within `timeout`); the last answer.
    pub fn stats_until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, Value> {
        let until = Instant::now() + timeout;
        loop {
            let stats = self
                .request("nib/stats", Value::Null)
                .expect("nib/stats answers");
            if pred(&stats) {
                return Ok(stats);
            }
            if Instant::now() > until {
                return Err(stats);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Orderly shutdown; returns the exit status code.
    pub fn shutdown(mut self) -> Option<i32> {
        let r = self.client.shutdown();
        self.check(r)
    }

    /// The server's process id (for the soak test's memory readings).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.client.pid()
    }

    pub fn stderr(&self) -> String {
        let s = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(40).collect();
        format!(
            "--- nib stderr (last lines) ---\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}
