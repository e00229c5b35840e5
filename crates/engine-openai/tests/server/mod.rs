//! A scripted HTTP server on loopback: real bytes over a real socket. Each connection plays
//! the next script of the list (one request per connection: every reply closes it) and the
//! requests are recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One step of a reply.
#[derive(Debug, Clone)]
pub enum Step {
    Sleep(Duration),
    /// Bytes as they are.
    Raw(Vec<u8>),
    /// One chunk of a chunked body.
    Chunk(Vec<u8>),
    /// The chunked body's last chunk.
    End,
    /// Wait (up to 10 s) for the client to close the connection, and report it.
    AwaitClose,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    /// How long after the reply's `AwaitClose` began the client closed the connection.
    pub closed: Receiver<Duration>,
}

impl Server {
    /// The engine's base URL for this server.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

pub fn serve(scripts: Vec<Vec<Step>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (closed_tx, closed) = channel();
    let recorded = requests.clone();
    std::thread::spawn(move || {
        let mut scripts = scripts.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let script = scripts
                .next()
                .unwrap_or_else(|| status(500, &[], "no reply scripted for this request"));
            let recorded = recorded.clone();
            let closed_tx = closed_tx.clone();
            std::thread::spawn(move || handle(stream, script, recorded, closed_tx));
        }
    });
    Server {
        addr,
        requests,
        closed,
    }
}

fn handle(
    stream: TcpStream,
    script: Vec<Step>,
    recorded: Arc<Mutex<Vec<Request>>>,
    closed: Sender<Duration>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    recorded.lock().unwrap().push(Request {
        path,
        headers,
        body,
    });
    let mut out = stream;
    for step in script {
        // Write errors mean the client went away: the rest of the script is moot.
        let ok = match step {
            Step::Sleep(d) => {
                std::thread::sleep(d);
                true
            }
            Step::Raw(bytes) => out.write_all(&bytes).and_then(|_| out.flush()).is_ok(),
            Step::Chunk(bytes) => {
                let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
                framed.extend_from_slice(&bytes);
                framed.extend_from_slice(b"\r\n");
                out.write_all(&framed).and_then(|_| out.flush()).is_ok()
            }
            Step::End => out.write_all(b"0\r\n\r\n").is_ok(),
            Step::AwaitClose => {
                let start = Instant::now();
                out.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let mut buf = [0u8; 256];
                while start.elapsed() < Duration::from_secs(10) {
                    match reader.read(&mut buf) {
                        Ok(0) => {
                            let _ = closed.send(start.elapsed());
                            break;
                        }
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => {
                            let _ = closed.send(start.elapsed());
                            break;
                        }
                    }
                }
                false
            }
        };
        if !ok {
            break;
        }
    }
}

/// A complete non-streamed reply.
pub fn status(code: u16, headers: &[(&str, &str)], body: &str) -> Vec<Step> {
    let mut head = format!(
        "HTTP/1.1 {code} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    vec![Step::Raw(head.into_bytes())]
}

/// The head of a streamed (chunked, server-sent events) reply.
pub fn sse_head() -> Step {
    Step::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
}

/// One event carrying `json`.
pub fn event(json: &serde_json::Value) -> Step {
    Step::Chunk(format!("data: {json}\n\n").into_bytes())
}

pub fn chat_delta(text: &str) -> Step {
    event(&serde_json::json!({
        "model": "remote-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    }))
}

pub fn completion_delta(text: &str) -> Step {
    event(&serde_json::json!({
        "model": "remote-model",
        "choices": [{"index": 0, "text": text, "finish_reason": null}]
    }))
}

/// The last chunk (finish reason and usage), `[DONE]`, and the end of the body.
pub fn finish(chat: bool, reason: &str) -> Vec<Step> {
    let choice = if chat {
        serde_json::json!({"index": 0, "delta": {}, "finish_reason": reason})
    } else {
        serde_json::json!({"index": 0, "text": "", "finish_reason": reason})
    };
    vec![
        event(&serde_json::json!({
            "model": "remote-model",
            "choices": [choice],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3}
        })),
        Step::Chunk(b"data: [DONE]\n\n".to_vec()),
        Step::End,
    ]
}

/// A whole streamed chat answer made of `pieces`.
pub fn chat_answer(pieces: &[&str]) -> Vec<Step> {
    let mut steps = vec![sse_head()];
    steps.extend(pieces.iter().map(|p| chat_delta(p)));
    steps.extend(finish(true, "stop"));
    steps
}

/// A whole streamed completion made of `pieces`.
pub fn completion_answer(pieces: &[&str]) -> Vec<Step> {
    let mut steps = vec![sse_head()];
    steps.extend(pieces.iter().map(|p| completion_delta(p)));
    steps.extend(finish(false, "stop"));
    steps
}
