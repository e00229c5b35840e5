//! A headless LSP client: spawns the real `nib serve` binary and speaks Content-Length framed
//! JSON-RPC over its stdio, exactly like an editor. Every byte on stdout must be a frame.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const TIMEOUT: Duration = Duration::from_secs(180);

pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Result<Value, String>>,
    next_id: i64,
    /// Notifications and server requests seen so far.
    pub notifications: Vec<Value>,
    stderr_path: std::path::PathBuf,
}

pub fn fixture(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

pub fn uri(name: &str) -> String {
    format!("file:///workspace/{name}")
}

fn read_frame(r: &mut impl BufRead) -> Result<Option<Value>, String> {
    let mut len = None;
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        let Some((name, value)) = line.trim_end().split_once(": ") else {
            return Err(format!("stdout carried a non-frame line: {line:?}"));
        };
        if name.eq_ignore_ascii_case("Content-Length") {
            len = Some(value.parse::<usize>().map_err(|e| e.to_string())?);
        } else if !name.eq_ignore_ascii_case("Content-Type") {
            return Err(format!("unexpected header {line:?}"));
        }
    }
    let len = len.ok_or("frame without Content-Length")?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).map_err(|e| e.to_string())?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("frame is not JSON: {e}"))
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
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_nib"))
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env("NIB_LOG", "debug")
            .spawn()
            .expect("spawn nib serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                match read_frame(&mut r) {
                    Ok(Some(v)) => {
                        if tx.send(Ok(v)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        let mut s = Server {
            child,
            stdin,
            frames: rx,
            next_id: 0,
            notifications: Vec::new(),
            stderr_path,
        };
        let result = s
            .request("initialize", json!({ "processId": null, "rootUri": root_uri, "capabilities": caps, "initializationOptions": init_options }))
            .expect("initialize succeeds");
        s.notify("initialized", json!({}));
        (s, result)
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    pub fn send(&mut self, msg: &Value) {
        let body = msg.to_string();
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).unwrap();
        stdin.flush().unwrap();
    }

    /// Send a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// Wait for the response to `id`: Ok(result) or Err(error object).
    pub fn wait_response(&mut self, id: i64) -> Result<Value, Value> {
        let until = Instant::now() + TIMEOUT;
        loop {
            let msg = self.next_frame(until);
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return match msg.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            self.absorb(msg);
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params);
        self.wait_response(id)
    }

    fn next_frame(&mut self, until: Instant) -> Value {
        let left = until.saturating_duration_since(Instant::now());
        match self.frames.recv_timeout(left) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("protocol error from nib: {e}\n{}", self.stderr()),
            Err(RecvTimeoutError::Timeout) => {
                panic!("nib did not answer in time\n{}", self.stderr())
            }
            Err(RecvTimeoutError::Disconnected) => panic!("nib closed stdout\n{}", self.stderr()),
        }
    }

    /// Keep a notification; answer server-to-client requests (e.g. progress) with null.
    fn absorb(&mut self, msg: Value) {
        if let (Some(id), Some(_)) = (msg.get("id"), msg.get("method")) {
            let id = id.clone();
            self.send(&json!({ "jsonrpc": "2.0", "id": id, "result": null }));
        }
        self.notifications.push(msg);
    }

    /// Wait until a notification matching `pred` arrives (or was already seen).
    pub fn wait_notification(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some(n) = self.notifications.iter().find(|n| pred(n)) {
            return Some(n.clone());
        }
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            match self
                .frames
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(Ok(v)) => {
                    let hit = pred(&v);
                    self.absorb(v.clone());
                    if hit {
                        return Some(v);
                    }
                }
                Ok(Err(e)) => panic!("protocol error from nib: {e}"),
                Err(_) => return None,
            }
        }
        None
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
        self.request("shutdown", Value::Null)
            .expect("shutdown succeeds");
        self.notify("exit", Value::Null);
        self.stdin.take();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nib did not exit after shutdown/exit");
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
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}
