//! An LSP client over a child process's stdio (Content-Length framed JSON-RPC): it drives the
//! real `nib serve` binary exactly like an editor, for `nib bench replay` and for the
//! end-to-end tests (tests/harness wraps it). Every byte the server writes on stdout must be a
//! frame; anything else is a protocol error.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Result<Value, String>>,
    next_id: i64,
    /// Notifications and server-to-client requests seen so far.
    pub notifications: Vec<Value>,
}

/// How to start the server.
#[derive(Debug, Default, Clone)]
pub struct Spawn {
    /// Where the server's stderr goes (discarded when `None`).
    pub stderr_log: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

fn read_frame(r: &mut impl BufRead) -> Result<Option<Value>, String> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        match line.trim_end().split_once(": ") {
            Some((name, v)) if name.eq_ignore_ascii_case("Content-Length") => {
                len = Some(v.parse::<usize>().map_err(|e| e.to_string())?)
            }
            Some((name, _)) if name.eq_ignore_ascii_case("Content-Type") => {}
            _ => return Err(format!("stdout carried a non-frame line: {line:?}")),
        }
    }
    let mut body = vec![0; len.ok_or("frame without Content-Length")?];
    r.read_exact(&mut body).map_err(|e| e.to_string())?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("frame is not JSON: {e}"))
}

impl Client {
    /// Spawn `exe serve` (stderr to `stderr_log` or discarded).
    pub fn spawn(exe: &Path, stderr_log: Option<&Path>) -> Result<Client> {
        Client::spawn_with(
            exe,
            &Spawn {
                stderr_log: stderr_log.map(Path::to_path_buf),
                env: Vec::new(),
            },
        )
    }

    pub fn spawn_with(exe: &Path, how: &Spawn) -> Result<Client> {
        let stderr = match &how.stderr_log {
            Some(p) => Stdio::from(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ),
            None => Stdio::null(),
        };
        let mut cmd = Command::new(exe);
        cmd.arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in &how.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stdin = child.stdin.take();
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
        Ok(Client {
            child,
            stdin,
            frames: rx,
            next_id: 0,
            notifications: Vec::new(),
        })
    }

    /// Write raw bytes to the server's stdin (for malformed-input tests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    pub fn send(&mut self, msg: &Value) -> Result<()> {
        let body = msg.to_string();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{}", body.len(), body).as_bytes())
    }

    pub fn notify(&mut self, method: &str, params: Value) -> Result<()> {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }

    /// Send a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> Result<i64> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))?;
        Ok(id)
    }

    /// The next frame from the server before `until`.
    fn next_frame(&mut self, until: Instant) -> Result<Value> {
        let left = until.saturating_duration_since(Instant::now());
        match self.frames.recv_timeout(left) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => bail!("protocol error from the server: {e}"),
            Err(RecvTimeoutError::Timeout) => bail!("the server did not answer in time"),
            Err(RecvTimeoutError::Disconnected) => bail!("the server closed stdout"),
        }
    }

    /// Keep a notification; answer a server-to-client request (progress, registration) with
    /// null.
    fn absorb(&mut self, msg: Value) -> Result<()> {
        if let (Some(id), Some(_)) = (msg.get("id"), msg.get("method")) {
            let id = id.clone();
            self.send(&json!({ "jsonrpc": "2.0", "id": id, "result": null }))?;
        }
        self.notifications.push(msg);
        Ok(())
    }

    /// Wait for the response to `id`: `Ok(Ok(result))`, `Ok(Err(error object))`, or `Err` when
    /// the server is gone, broke the protocol or took longer than `timeout`.
    pub fn wait_response(&mut self, id: i64, timeout: Duration) -> Result<Result<Value, Value>> {
        let until = Instant::now() + timeout;
        loop {
            let msg = self.next_frame(until)?;
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return Ok(match msg.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                });
            }
            self.absorb(msg)?;
        }
    }

    /// A request and its result; a JSON-RPC error is an `Err` too.
    pub fn request(&mut self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        let id = self.send_request(method, params)?;
        self.wait_response(id, timeout)
            .with_context(|| format!("no answer to {method} within {timeout:?}"))?
            .map_err(|e| anyhow!("{method} failed: {e}"))
    }

    /// Wait until a notification matching `pred` arrives (or was already seen).
    pub fn wait_notification(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Option<Value>> {
        if let Some(n) = self.notifications.iter().find(|n| pred(n)) {
            return Ok(Some(n.clone()));
        }
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            match self
                .frames
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(Ok(v)) => {
                    let hit = pred(&v);
                    self.absorb(v.clone())?;
                    if hit {
                        return Ok(Some(v));
                    }
                }
                Ok(Err(e)) => bail!("protocol error from the server: {e}"),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => bail!("the server closed stdout"),
            }
        }
        Ok(None)
    }

    /// `initialize` with these parameters, then `initialized`.
    pub fn initialize_with(&mut self, params: Value, timeout: Duration) -> Result<Value> {
        let r = self.request("initialize", params, timeout)?;
        self.notify("initialized", json!({}))?;
        Ok(r)
    }

    pub fn initialize(&mut self, options: Value) -> Result<Value> {
        self.initialize_with(
            json!({ "processId": null, "rootUri": null, "capabilities": {}, "initializationOptions": options }),
            Duration::from_secs(30),
        )
    }

    /// Orderly shutdown; the exit status code.
    pub fn shutdown(&mut self) -> Result<Option<i32>> {
        self.request("shutdown", Value::Null, Duration::from_secs(30))?;
        self.notify("exit", Value::Null)?;
        self.stdin.take();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
                    bail!("the server was killed by signal {signal} while exiting");
                }
                return Ok(status.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        bail!("the server did not exit after shutdown/exit")
    }

    /// The server process has exited (its status code), or `None` while it runs.
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
