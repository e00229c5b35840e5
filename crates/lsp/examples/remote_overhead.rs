//! The time nib adds around a remote call, and the fallback's cost with the remote down.
//!
//! `cargo run --release -p nib-lsp --example remote_overhead [N]`
//!
//! A scripted OpenAI-compatible server on loopback answers every chat at once; the generate
//! action runs N times through the remote chat path (prompt, redaction, the call, extraction,
//! post-processing, safety gate). The engine call is timed by a wrapper, so what nib adds is
//! the action's latency less the call's. Then the same action with the remote refused (the
//! local model answers) against the local path alone. Needs the default model.

#[allow(dead_code)]
#[path = "../../engine-openai/tests/server/mod.rs"]
mod server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nib_engine::{CancelToken, ChatEngine, ChatRequest, ChatResponse, EngineError};
use nib_engine_openai::{OpenAiConfig, OpenAiEngine};
use nib_ide::{CodeActionKind, CodeActionRequest, RemoteProvider};
use nib_text::{OffsetEncoding, Position, Range};

/// Times each call of the engine it wraps.
struct Timed {
    inner: OpenAiEngine,
    calls: Mutex<Vec<Duration>>,
}

impl ChatEngine for Timed {
    fn model_name(&self) -> String {
        self.inner.model_name()
    }

    fn chat(&self, req: ChatRequest) -> Result<ChatResponse, EngineError> {
        let t = Instant::now();
        let r = self.inner.chat(req);
        self.calls.lock().unwrap().push(t.elapsed());
        r
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let settings = nib_lsp::local::settings_for(None, None, None, None);
    let ide = nib_lsp::local::load_ide(&settings)?;
    let secrets = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/redact/settings.py"
    ))?;
    let text = format!("{secrets}\n\ndef circle_area(r):\n    # return the area of a circle of radius r\n\n\nprint(circle_area(2))\n");
    let line = text
        .lines()
        .position(|l| l.contains("# return the area"))
        .unwrap() as u32;
    let uri = "file:///bench/settings.py";
    ide.open(uri, Some("python"), 1, &text);
    let snap = ide.snapshot(uri)?;
    let at = Position::new(line, 6);
    let req = CodeActionRequest {
        kind: CodeActionKind::GenerateFromComment,
        range: Range { start: at, end: at },
        encoding: OffsetEncoding::Utf16,
    };
    let answer = "```python\ndef circle_area(r):\n    # return the area of a circle of radius r\n    return 3.14159 * r * r\n```";
    let remote = server::serve(vec![server::chat_answer(&[answer]); n + 5]);
    let timed = Arc::new(Timed {
        inner: OpenAiEngine::new(OpenAiConfig::new(remote.base_url(), "remote-model"))
            .map_err(|e| anyhow::anyhow!(e))?,
        calls: Mutex::default(),
    });
    ide.set_remote(RemoteProvider {
        chat: Some(timed.clone()),
        fallback: true,
        ..RemoteProvider::default()
    });
    let mut added = Vec::new();
    let mut totals = Vec::new();
    for i in 0..n + 5 {
        let t = Instant::now();
        let r = ide.code_action(&snap, req, &CancelToken::new())?;
        let total = t.elapsed();
        assert_eq!(r.provider.name, "remote", "{:?}", r.provider);
        let call = *timed.calls.lock().unwrap().last().unwrap();
        if i >= 5 {
            totals.push(total.as_secs_f64() * 1000.0);
            added.push((total - call).as_secs_f64() * 1000.0);
        }
    }
    println!(
        "remote chat action over loopback, {n} runs: total p50 {:.2} ms p95 {:.2} ms; added by nib (total - HTTP call) p50 {:.2} ms p95 {:.2} ms",
        pct(&mut totals, 0.5),
        pct(&mut totals, 0.95),
        pct(&mut added, 0.5),
        pct(&mut added, 0.95)
    );

    // The remote down: the local model answers.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?
    };
    let down = OpenAiEngine::new(OpenAiConfig::new(format!("http://{refused}/v1"), "m"))
        .map_err(|e| anyhow::anyhow!(e))?;
    let runs = 5;
    let mut fallback = Vec::new();
    let mut local = Vec::new();
    let mut failed_call = Vec::new();
    for _ in 0..runs {
        let timed_down = Arc::new(Timed {
            inner: down_clone(&down)?,
            calls: Mutex::default(),
        });
        ide.set_remote(RemoteProvider {
            chat: Some(timed_down.clone()),
            fallback: true,
            ..RemoteProvider::default()
        });
        let t = Instant::now();
        let r = ide.code_action(&snap, req, &CancelToken::new())?;
        assert_eq!(r.provider.name, "local");
        fallback.push(t.elapsed().as_secs_f64() * 1000.0);
        failed_call.push(timed_down.calls.lock().unwrap()[0].as_secs_f64() * 1000.0);
        ide.set_remote(RemoteProvider::default());
        let t = Instant::now();
        ide.code_action(&snap, req, &CancelToken::new())?;
        local.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "remote refused, {runs} runs: fallback action p50 {:.0} ms vs local only p50 {:.0} ms; the failed remote call (retries included) p50 {:.0} ms max {:.0} ms",
        pct(&mut fallback, 0.5),
        pct(&mut local, 0.5),
        pct(&mut failed_call, 0.5),
        pct(&mut failed_call, 1.0)
    );
    Ok(())
}

/// A fresh engine for the same refused address (the default retries and backoff).
fn down_clone(e: &OpenAiEngine) -> anyhow::Result<OpenAiEngine> {
    OpenAiEngine::new(e.config().clone()).map_err(|e| anyhow::anyhow!(e))
}
