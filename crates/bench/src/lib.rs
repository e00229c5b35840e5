//! `nib bench`: latency measurements printed as p50 / p95 (never timed unit tests): typing
//! traces ([`trace`]) replayed against the real `nib serve` through the LSP client ([`client`])
//! that the end-to-end tests use too, and in-process completions at spread positions.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nib_engine::CancelToken;
use nib_ide::{CompletionRequest, Trigger};
use nib_text::{OffsetEncoding, Position};

use nib_lsp::local as cli;
use simulate::Sample;

pub mod client;
pub mod simulate;
pub mod trace;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Complete at N positions spread over a file with one loaded model: the cold first request,
    /// each position once (a jump: new context), and each position again (warm cache).
    Complete {
        file: PathBuf,
        #[arg(long, default_value_t = 20)]
        positions: usize,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        context_tokens: Option<usize>,
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Turn a source file into a human typing session (JSON Lines; format in src/trace.rs).
    Trace {
        file: PathBuf,
        /// Where to write the trace (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Share of the file's lines typed back: FROM,TO.
        #[arg(long, default_value = "0.25,0.75")]
        region: String,
        /// Use the file repeated N times (e.g. to make a 2,000-line file).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Typed lines between jumps elsewhere in the file (0: never).
        #[arg(long, default_value_t = 0)]
        jump_every: usize,
        /// Typing speed in characters a second (each trace varies it by up to 15% from the
        /// seed, each keystroke varies around it).
        #[arg(long, default_value_t = 6.0)]
        cps: f64,
        /// The first request after opening is explicit (trigger kind Invoked), as when the
        /// user asks for a suggestion in a file just opened.
        #[arg(long)]
        invoked: bool,
    },
    /// Replay traces against the real `nib serve` over stdio as a simulated user who presses
    /// Tab when the suggestion shown is what they go on to type, and print requests, shown,
    /// accepted / shown, the share of characters from suggestions, p50/p95/p99, cache share,
    /// tokens prefilled per request and peak RSS.
    Replay {
        traces: Vec<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 2000)]
        context_tokens: usize,
        /// The automatic requests' budget (the server's default `deadlineMs`).
        #[arg(long, default_value_t = 190)]
        deadline_ms: u64,
        /// Also replay the first N requests of each trace with KV reuse, background prefill and
        /// the caches off, and print the ratio.
        #[arg(long, num_args = 0..=1, default_missing_value = "15")]
        baseline: Option<usize>,
        /// The server binary to replay against (default: this one), e.g. an older build.
        #[arg(long)]
        server: Option<PathBuf>,
        /// Keep N threads busy (spinning) while replaying, as a build would.
        #[arg(long, default_value_t = 0)]
        load: usize,
        /// Stop each trace after N typed lines.
        #[arg(long)]
        limit_lines: Option<usize>,
        /// Stop each trace after this many seconds of replay.
        #[arg(long)]
        max_seconds: Option<f64>,
        /// The user's reaction time: how long a suggestion they accept is on screen before
        /// they press Tab (0: at once).
        #[arg(long, default_value_t = 0)]
        accept_ms: u64,
        /// A server setting, KEY=VALUE (VALUE as JSON, else a string), e.g.
        /// `--set doubtCutPercent=0`; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Print the figures as one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `KEY=VALUE` settings into JSON (VALUE as JSON when it parses, else a string).
fn parse_settings(settings: &[String]) -> Result<serde_json::Map<String, serde_json::Value>> {
    settings
        .iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .with_context(|| format!("`{s}`: a setting is KEY=VALUE"))?;
            let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::from(v));
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Complete {
            file,
            positions,
            model,
            context_tokens,
            threads,
        } => bench_complete(file, positions, model, context_tokens, threads),
        BenchCommand::Trace {
            file,
            output,
            seed,
            region,
            repeat,
            jump_every,
            cps,
            invoked,
        } => {
            let text = cli::read_source(&file)?.repeat(repeat.max(1));
            let (a, b) = region.split_once(',').context("--region is FROM,TO")?;
            let cfg = crate::trace::GenConfig {
                seed,
                region: (a.trim().parse()?, b.trim().parse()?),
                jump_every_lines: jump_every,
                cps,
                invoked_first: invoked,
            };
            let language = nib_syntax::Language::from_path(&file).map_or("plaintext", |l| l.name());
            let name = file
                .file_name()
                .map_or("file".into(), |n| n.to_string_lossy().to_string());
            let events =
                crate::trace::generate(&format!("file:///trace/{name}"), language, &text, &cfg);
            let out = crate::trace::write(&events);
            match output {
                Some(p) => std::fs::write(&p, out)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => print!("{out}"),
            }
            Ok(())
        }
        BenchCommand::Replay {
            traces,
            model,
            context_tokens,
            deadline_ms,
            baseline,
            server,
            load,
            limit_lines,
            max_seconds,
            accept_ms,
            settings,
            json,
        } => {
            if traces.is_empty() {
                bail!("give at least one trace (see fixtures/traces/)");
            }
            let how = ReplayOptions {
                server: match server {
                    Some(s) => s,
                    None => std::env::current_exe()?,
                },
                limit_requests: None,
                limit_lines,
                max_seconds,
                accept_delay: Duration::from_millis(accept_ms),
            };
            let settings = parse_settings(&settings)?;
            let _load = Load::start(load);
            bench_replay(
                &traces,
                &how,
                model,
                context_tokens,
                deadline_ms,
                &settings,
                baseline,
                json,
            )
        }
    }
}

/// Positions spread evenly over the file's non-blank lines, mid-line (after the indentation
/// and half of the line's text), as when a user stops typing inside a line.
pub fn spread_positions(text: &str, n: usize) -> Vec<Position> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim().len() >= 8 && !l.trim_start().starts_with(['#', '/']))
        .collect();
    if lines.is_empty() || n == 0 {
        return Vec::new();
    }
    (0..n.min(lines.len()))
        .map(|i| {
            let (no, l) = lines[i * lines.len() / n.min(lines.len())];
            let indent = l.chars().take_while(|c| c.is_whitespace()).count();
            let len = l.chars().count();
            Position::new(no as u32, (indent + (len - indent) / 2) as u32)
        })
        .collect()
}

pub use simulate::percentile;

fn summary(label: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<28} n={:<3} p50={:>7.0} ms  p95={:>7.0} ms  max={:>7.0} ms",
        v.len(),
        percentile(&v, 50.0),
        percentile(&v, 95.0),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

fn bench_complete(
    file: PathBuf,
    n: usize,
    model: Option<String>,
    context_tokens: Option<usize>,
    threads: Option<usize>,
) -> Result<()> {
    let text = cli::read_source(&file)?;
    // Caches off: "warm" must measure the KV-cache reuse, not a cache hit.
    let settings = nib_lsp::Settings {
        typeahead_cache: false,
        ..cli::settings_for(model.as_deref(), context_tokens, None, threads)
    };
    let t0 = Instant::now();
    let ide = cli::load_ide(&settings)?;
    cli::attach_repo(&ide, &settings, &file);
    println!(
        "model loaded in {:.0} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    let uri = cli::file_uri(&file);
    ide.open(&uri, None, 0, &text);
    let snap = ide.snapshot(&uri)?;
    let positions = spread_positions(&text, n);
    if positions.is_empty() {
        bail!("{} has no line to complete in", file.display());
    }
    let run = |pos: Position| -> Result<(f64, nib_ide::Completion)> {
        let req = CompletionRequest::new(pos, OffsetEncoding::Utf32, Trigger::Automatic);
        let c = ide.complete(&snap, req, &CancelToken::new())?;
        Ok((c.latency_ms, c))
    };
    let (cold, c) = run(positions[0])?;
    println!(
        "cold (first request, {} prompt tokens): {cold:.0} ms -> {:?}",
        c.prompt_tokens, c.text
    );
    let mut jumps = Vec::new();
    let mut warm = Vec::new();
    for &p in &positions {
        let (jump, c1) = run(p)?;
        let (again, c2) = run(p)?;
        println!(
            "{:>4}:{:<3} jump {jump:>6.0} ms (reused {:>4}/{:>4})  warm {again:>5.0} ms (reused {:>4})  {:?}",
            p.line + 1,
            p.character + 1,
            c1.reused_tokens,
            c1.prompt_tokens,
            c2.reused_tokens,
            c1.text
        );
        jumps.push(jump);
        warm.push(again);
    }
    summary("jump to a new position", jumps);
    summary("warm (same position again)", warm);
    Ok(())
}

/// What one replay run measured.
#[derive(Debug, Clone, Default)]
pub struct ReplayResult {
    pub samples: Vec<Sample>,
    /// Characters the replay typed (not counting those of accepted suggestions).
    pub typed_chars: usize,
    pub stats: serde_json::Value,
    pub wall_s: f64,
    /// From `initialize` until the server reported the model loaded (the trace starts then).
    pub model_ready_ms: Vec<f64>,
}

/// Where and how far a replay goes.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The server binary (`nib`, run as `nib serve`).
    pub server: PathBuf,
    /// Stop after this many completion requests.
    pub limit_requests: Option<usize>,
    /// Stop after this many typed lines.
    pub limit_lines: Option<usize>,
    /// Stop after this many seconds.
    pub max_seconds: Option<f64>,
    /// How long an accepted suggestion is on screen before Tab.
    pub accept_delay: Duration,
}

/// Busy threads competing with the server for the CPU while they live.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(n: usize) -> Load {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..100_000 {
                            x = std::hint::black_box(x.wrapping_mul(6364136223846793005) ^ 1);
                        }
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// How long a replay waits for the model to load before giving up.
const MODEL_LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Requests slower than this are reported on stderr as they happen (to find outliers).
const SLOW_REQUEST_MS: f64 = 3000.0;

/// The first inline completion item of an answer: its text, its range and its command.
/// LSP `InlineCompletionTriggerKind`: `invoked` events are explicit requests (1), every other
/// kind is automatic (2).
fn trigger_kind(kind: &str) -> u8 {
    if kind == "invoked" {
        1
    } else {
        2
    }
}

fn first_item(r: &serde_json::Value) -> Option<(String, [u32; 2], [u32; 2], serde_json::Value)> {
    let item = r["items"].as_array().or(r.as_array())?.first()?;
    let text = match &item["insertText"] {
        serde_json::Value::String(s) => s.clone(),
        v => v["value"].as_str()?.to_string(),
    };
    let pos = |p: &serde_json::Value| -> Option<[u32; 2]> {
        Some([p["line"].as_u64()? as u32, p["character"].as_u64()? as u32])
    };
    let (start, end) = match item.get("range") {
        Some(r) if !r.is_null() => (pos(&r["start"])?, pos(&r["end"])?),
        _ => return Some((text, [u32::MAX; 2], [u32::MAX; 2], item.clone())),
    };
    Some((text, start, end, item.clone()))
}

fn lsp_range(start: [u32; 2], end: [u32; 2]) -> serde_json::Value {
    serde_json::json!({
        "start": { "line": start[0], "character": start[1] },
        "end": { "line": end[0], "character": end[1] },
    })
}

/// Replay a trace against a fresh server as a simulated user: the trace's edits, waits and
/// requests on the real clock; a suggestion that is exactly what the trace types next is
/// accepted (the accepting edit and `nib.accepted` are sent, the trace moves past those
/// characters, the editor asks again at once); any other suggestion shown is rejected
/// (`nib/didRejectCompletion`) and typing goes on. The time a request holds the replay is
/// taken from the waits that follow, so the typing keeps its pace.
pub fn replay(
    events: &[crate::trace::Event],
    options: serde_json::Value,
    how: &ReplayOptions,
) -> Result<ReplayResult> {
    use crate::simulate::{advance, decide, pay_wait, skip_typed, upcoming, Decision};
    use crate::trace::Event;
    use nib_text::{Document, Range, TextChange};
    use serde_json::json;
    let log = std::env::var_os("NIB_BENCH_SERVER_LOG").map(std::path::PathBuf::from);
    let mut client = crate::client::Client::spawn(&how.server, log.as_deref())?;
    client.initialize(options)?;
    // The trace starts once the model is loaded: the first completion after opening a file
    // measures the file, not the server's start (reported apart).
    let loading = Instant::now();
    loop {
        let stats = client.request(
            "nib/stats",
            serde_json::Value::Null,
            Duration::from_secs(30),
        )?;
        if stats["engine"] != "Loading" {
            break;
        }
        if loading.elapsed() > MODEL_LOAD_TIMEOUT {
            anyhow::bail!("the model was not loaded after {MODEL_LOAD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let mut out = ReplayResult {
        model_ready_ms: vec![loading.elapsed().as_secs_f64() * 1000.0],
        ..ReplayResult::default()
    };
    let mut version = 1;
    let mut uri = String::new();
    let mut doc = Document::new("", 0);
    let mut owed_ms = 0.0;
    let mut lines = 0;
    let verbose = std::env::var_os("NIB_BENCH_VERBOSE").is_some();
    let mut queue: std::collections::VecDeque<Event> = events.iter().cloned().collect();
    let apply = |doc: &mut Document, start: [u32; 2], end: [u32; 2], text: &str, version| {
        let range = Range {
            start: Position::new(start[0], start[1]),
            end: Position::new(end[0], end[1]),
        };
        doc.apply(
            &[TextChange {
                range: Some(range),
                text: text.to_string(),
            }],
            version,
            OffsetEncoding::Utf16,
        )
        .map(drop)
        .map_err(|e| anyhow::anyhow!("the trace does not apply: {e:?}"))
    };
    while let Some(e) = queue.pop_front() {
        if how
            .max_seconds
            .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
        {
            break;
        }
        match e {
            Event::Open {
                uri: u,
                language,
                text,
            } => {
                uri = u.clone();
                doc = Document::new(&text, version);
                client.notify(
                    "textDocument/didOpen",
                    json!({ "textDocument": { "uri": u, "languageId": language, "version": version, "text": text } }),
                )?;
            }
            Event::Edit { start, end, text } => {
                version += 1;
                apply(&mut doc, start, end, &text, version)?;
                client.notify(
                    "textDocument/didChange",
                    json!({
                        "textDocument": { "uri": uri, "version": version },
                        "contentChanges": [{ "range": lsp_range(start, end), "text": text }],
                    }),
                )?;
                out.typed_chars += text.chars().count();
                lines += text.matches('\n').count();
                if how.limit_lines.is_some_and(|l| lines >= l) {
                    break;
                }
            }
            Event::Wait { ms } => {
                let (sleep, owed) = pay_wait(ms as f64, owed_ms);
                owed_ms = owed;
                std::thread::sleep(Duration::from_secs_f64(sleep / 1000.0));
            }
            Event::Complete { at, kind } => {
                let t = Instant::now();
                let r = client.request(
                    "textDocument/inlineCompletion",
                    json!({
                        "textDocument": { "uri": uri },
                        "position": { "line": at[0], "character": at[1] },
                        "context": { "triggerKind": trigger_kind(&kind) },
                    }),
                    Duration::from_secs(600),
                )?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                owed_ms += ms;
                if ms > SLOW_REQUEST_MS {
                    eprintln!(
                        "slow request: {ms:.0} ms, {kind} at {}:{} (request {}, {:.1} s into the replay)",
                        at[0] + 1,
                        at[1] + 1,
                        out.samples.len() + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
                let item = first_item(&r);
                let offset = |p: [u32; 2]| {
                    doc.offset(Position::new(p[0], p[1]), OffsetEncoding::Utf16)
                        .ok()
                };
                let decision = match &item {
                    None => Decision::Empty,
                    Some((text, start, end, _)) => {
                        let (start, end) = if start[0] == u32::MAX {
                            (at, at)
                        } else {
                            (*start, *end)
                        };
                        match (offset(start), offset(at), offset(end)) {
                            (Some(a), Some(c), Some(b)) if a <= c && c <= b => decide(
                                text,
                                &doc.slice(a, c),
                                &doc.slice(c, b),
                                &upcoming(&queue, at),
                            ),
                            _ => Decision::Reject,
                        }
                    }
                };
                if verbose {
                    eprintln!(
                        "{kind} {}:{} {ms:.0} ms {decision:?} {:?} then {:?}",
                        at[0] + 1,
                        at[1] + 1,
                        item.as_ref().map(|i| i.0.as_str()),
                        upcoming(&queue, at).chars().take(40).collect::<String>()
                    );
                }
                match (&decision, item) {
                    (Decision::Accept { chars }, Some((text, start, end, item))) => {
                        std::thread::sleep(how.accept_delay);
                        let (start, end) = if start[0] == u32::MAX {
                            (at, at)
                        } else {
                            (start, end)
                        };
                        version += 1;
                        apply(&mut doc, start, end, &text, version)?;
                        client.notify(
                            "textDocument/didChange",
                            json!({
                                "textDocument": { "uri": uri, "version": version },
                                "contentChanges": [{ "range": lsp_range(start, end), "text": text }],
                            }),
                        )?;
                        if let Some(cmd) = item.get("command").filter(|c| !c.is_null()) {
                            // An older server may not know the command: not an error here.
                            let _ = client.request(
                                "workspace/executeCommand",
                                json!({ "command": cmd["command"], "arguments": cmd["arguments"] }),
                                Duration::from_secs(10),
                            );
                        }
                        lines += upcoming(&queue, at)
                            .chars()
                            .take(*chars)
                            .filter(|&c| c == '\n')
                            .count();
                        skip_typed(&mut queue, *chars, at);
                        // Tab ends the wait for the suggestion; the editor asks again at once.
                        owed_ms = 0.0;
                        queue.push_front(Event::Complete {
                            at: advance(start, &text),
                            kind: "accept".into(),
                        });
                    }
                    (Decision::Partial { .. } | Decision::Reject, Some((_, _, _, item))) => {
                        client.notify(
                            "nib/didRejectCompletion",
                            json!({
                                "textDocument": { "uri": uri },
                                "position": { "line": at[0], "character": at[1] },
                                "reason": "typedOver",
                                "items": [item],
                                "shownMs": ms,
                            }),
                        )?;
                    }
                    _ => {}
                }
                out.samples.push(Sample {
                    kind: kind.clone(),
                    ms,
                    shown: !matches!(decision, Decision::Empty),
                    decision,
                });
                if how.limit_requests.is_some_and(|l| out.samples.len() >= l)
                    || how.limit_lines.is_some_and(|l| lines >= l)
                {
                    break;
                }
            }
        }
    }
    out.wall_s = started.elapsed().as_secs_f64();
    out.stats = client.request(
        "nib/stats",
        serde_json::Value::Null,
        Duration::from_secs(30),
    )?;
    client.shutdown()?;
    Ok(out)
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    percentile(&s, p)
}

/// The figures of a replay as JSON: the summary, per request kind, and the server's counters.
fn replay_json(label: &str, r: &ReplayResult) -> serde_json::Value {
    let summary = crate::simulate::summarize(&r.samples, r.typed_chars);
    let mut kinds = serde_json::Map::new();
    for kind in ["typing", "open", "invoked", "jump", "accept"] {
        let v: Vec<Sample> = r
            .samples
            .iter()
            .filter(|s| s.kind == kind)
            .cloned()
            .collect();
        if !v.is_empty() {
            kinds.insert(
                kind.into(),
                serde_json::to_value(crate::simulate::summarize(&v, 0)).unwrap_or_default(),
            );
        }
    }
    serde_json::json!({
        "trace": label,
        "summary": summary,
        "kinds": kinds,
        "wall_s": r.wall_s,
        "model_ready_ms": r.model_ready_ms,
        "ide": r.stats["ide"],
        "peak_rss_kb": r.stats["peak_rss_kb"],
    })
}

fn print_replay(label: &str, r: &ReplayResult) {
    let s = crate::simulate::summarize(&r.samples, r.typed_chars);
    let ide = &r.stats["ide"];
    let n = ide["requests"].as_u64().unwrap_or(0).max(1) as f64;
    let count = |k: &str| ide[k].as_u64().unwrap_or(0);
    let hits = count("typeahead_hits") + count("lru_hits") + count("lookahead_hits");
    println!(
        "{label:<34} requests {:>4}  shown {:>4.1}%  accepted/shown {:>4.1}% (partly right {:>4.1}%)  chars from suggestions {:>4.1}% ({} of {})",
        s.requests,
        s.shown_pct,
        s.accepted_of_shown_pct,
        s.partial_of_shown_pct,
        s.chars_from_suggestions_pct,
        s.accepted_chars,
        s.accepted_chars + s.typed_chars,
    );
    println!(
        "{:<34}   p50 {:>6.0} ms  p95 {:>6.0} ms  p99 {:>6.0} ms  max {:>6.0} ms  cache {:>4.1}%  prefill/request {:>6.1} tok (+{:.1} background)  shrunk {} (skipped {})  peak RSS {} MB  ({:.0} s)",
        "",
        s.p50_ms,
        s.p95_ms,
        s.p99_ms,
        s.max_ms,
        100.0 * hits as f64 / n,
        ide["prefilled_tokens"].as_u64().unwrap_or(0) as f64 / n,
        ide["background_prefilled_tokens"].as_u64().unwrap_or(0) as f64 / n,
        ide["shrunk"].as_u64().unwrap_or(0),
        ide["skipped"].as_u64().unwrap_or(0),
        r.stats["peak_rss_kb"].as_u64().unwrap_or(0) / 1024,
        r.wall_s,
    );
    println!(
        "{:<34}   lookahead: {} computed and kept, {} requests answered from one; {} suggestions cut where the model doubted",
        "",
        count("lookaheads"),
        count("lookahead_hits"),
        count("doubt_cuts"),
    );
    if !r.model_ready_ms.is_empty() {
        println!(
            "{:<34}   model loaded {:.0} ms after initialize (max; before the trace starts)",
            "",
            pct(&r.model_ready_ms, 100.0)
        );
    }
    for kind in ["open", "invoked", "jump", "accept"] {
        let v: Vec<f64> = r
            .samples
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.ms)
            .collect();
        if !v.is_empty() {
            println!(
                "{:<34}   {kind:<6} n={:<3} p50 {:>6.0} ms  max {:>6.0} ms",
                "",
                v.len(),
                pct(&v, 50.0),
                pct(&v, 100.0)
            );
        }
    }
}

fn add(all: &mut ReplayResult, r: &ReplayResult) {
    all.samples.extend(r.samples.iter().cloned());
    all.typed_chars += r.typed_chars;
    all.wall_s += r.wall_s;
    all.model_ready_ms.extend(&r.model_ready_ms);
    all.stats = merge_stats(&all.stats, &r.stats);
}

#[allow(clippy::too_many_arguments)]
pub fn bench_replay(
    traces: &[PathBuf],
    how: &ReplayOptions,
    model: Option<String>,
    context_tokens: usize,
    deadline_ms: u64,
    settings: &serde_json::Map<String, serde_json::Value>,
    baseline: Option<usize>,
    json_out: bool,
) -> Result<()> {
    use serde_json::json;
    let mut options = json!({ "contextTokens": context_tokens, "deadlineMs": deadline_ms });
    if let Some(m) = &model {
        options["model"] = json!(m);
    }
    for (k, v) in settings {
        options[k] = v.clone();
    }
    let mut all = ReplayResult::default();
    let mut base_all = ReplayResult::default();
    let mut reports = Vec::new();
    for path in traces {
        let events = crate::trace::read(path)?;
        let r = replay(&events, options.clone(), how)?;
        let label = path.display().to_string();
        if json_out {
            reports.push(replay_json(&label, &r));
        } else {
            print_replay(&label, &r);
        }
        add(&mut all, &r);
        if let Some(n) = baseline {
            let mut off = options.clone();
            off["kvReuse"] = json!(false);
            off["backgroundPrefill"] = json!(false);
            off["typeaheadCache"] = json!(false);
            off["deadlineMs"] = json!(0);
            let b = replay(
                &events,
                off,
                &ReplayOptions {
                    limit_requests: Some(n),
                    ..how.clone()
                },
            )?;
            if !json_out {
                print_replay(&format!("  baseline (first {n} requests)"), &b);
            }
            add(&mut base_all, &b);
        }
    }
    if json_out {
        let mut out = json!({ "traces": reports, "overall": replay_json("overall", &all) });
        if baseline.is_some() {
            out["baseline"] = replay_json("baseline", &base_all);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if traces.len() > 1 {
        print_replay("overall", &all);
    }
    if baseline.is_some() {
        print_replay("baseline overall", &base_all);
        let nib: Vec<f64> = all.samples.iter().map(|s| s.ms).collect();
        let base: Vec<f64> = base_all.samples.iter().map(|s| s.ms).collect();
        println!(
            "speed-up vs no-reuse baseline: p50 {:.1}x  p95 {:.1}x",
            pct(&base, 50.0) / pct(&nib, 50.0).max(0.001),
            pct(&base, 95.0) / pct(&nib, 95.0).max(0.001)
        );
    }
    Ok(())
}

fn merge_stats(a: &serde_json::Value, b: &serde_json::Value) -> serde_json::Value {
    let mut out = b.clone();
    if let (Some(ai), Some(oi)) = (a["ide"].as_object(), out["ide"].as_object_mut()) {
        for (k, v) in ai {
            if let (Some(x), Some(y)) = (v.as_u64(), oi.get(k).and_then(|y| y.as_u64())) {
                oi.insert(k.clone(), serde_json::json!(x + y));
            }
        }
    }
    let peak = a["peak_rss_kb"]
        .as_u64()
        .unwrap_or(0)
        .max(b["peak_rss_kb"].as_u64().unwrap_or(0));
    out["peak_rss_kb"] = serde_json::json!(peak);
    out
}
