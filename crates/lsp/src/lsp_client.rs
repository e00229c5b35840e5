//! A minimal LSP client over a child process's stdio (Content-Length framed JSON-RPC), used by
//! `nib bench replay` to drive the real `nib serve` binary exactly like an editor.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    frames: Receiver<Result<Value, String>>,
    next_id: i64,
    pub notifications: Vec<Value>,
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
    pub fn spawn(exe: &std::path::Path, stderr_log: Option<&std::path::Path>) -> Result<Client> {
        let stderr = match stderr_log {
            Some(p) => Stdio::from(std::fs::File::create(p)?),
            None => Stdio::null(),
        };
        let mut child = Command::new(exe)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stdin = child.stdin.take().context("no stdin")?;
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

    pub fn send(&mut self, msg: &Value) -> Result<()> {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body)?;
        self.stdin.flush()?;
        Ok(())
    }

    pub fn notify(&mut self, method: &str, params: Value) -> Result<()> {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }))
    }

    pub fn request(&mut self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))?;
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let msg = match self.frames.recv_timeout(left) {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => bail!("protocol error from the server: {e}"),
                Err(_) => bail!("no answer to {method} within {timeout:?}"),
            };
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                if let Some(e) = msg.get("error") {
                    return Err(anyhow!("{method} failed: {e}"));
                }
                return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
            }
            if let (Some(rid), Some(_)) = (msg.get("id"), msg.get("method")) {
                let rid = rid.clone();
                self.send(&json!({ "jsonrpc": "2.0", "id": rid, "result": null }))?;
            }
            self.notifications.push(msg);
        }
    }

    pub fn initialize(&mut self, options: Value) -> Result<Value> {
        let r = self.request(
            "initialize",
            json!({ "processId": null, "rootUri": null, "capabilities": {}, "initializationOptions": options }),
            Duration::from_secs(30),
        )?;
        self.notify("initialized", json!({}))?;
        Ok(r)
    }

    pub fn shutdown(mut self) -> Result<()> {
        self.request("shutdown", Value::Null, Duration::from_secs(30))?;
        self.notify("exit", Value::Null)?;
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        bail!("the server did not exit after shutdown")
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
