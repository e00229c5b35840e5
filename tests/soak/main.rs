//! Soak: the real `nib serve` with the real default model, driven by N random operations from a
//! seed (edits at valid and out-of-range positions, huge pastes, deletes of everything,
//! non-ASCII and NUL, completions, code actions, cancellations, file events, settings, a 5 MB
//! file, a file with invalid UTF-8 on disk, malformed frames). Afterwards every request has an
//! answer, every document equals the client's copy, the resident memory stayed within 1.5x of
//! what it was after warm-up (the first tenth of the operations), and the log has no panic.
//!
//! `NIB_SOAK_OPS` (default 1000) and `NIB_SOAK_SEED` (default fixed) size and seed a run; the
//! seed is printed so that a failure can be replayed.

#[path = "../harness/lsp.rs"]
#[allow(dead_code)]
mod lsp;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use lsp::{require_model, Server};
use serde_json::json;

/// splitmix64: small, deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// (start, end of content) of every line: `\n`, `\r\n` and `\r` end a line, as in LSP.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        if b[i] == b'\n' || b[i] == b'\r' {
            out.push((start, i));
            if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push((start, b.len()));
    out
}

/// The client's own conversion of a UTF-16 position to a byte offset, lenient as editors and
/// nib are for edits: past the end of a line is its end, past the last line the document's end,
/// inside a character its start.
fn offset(text: &str, line: u32, character: u32) -> usize {
    let ls = lines(text);
    let Some(&(start, end)) = ls.get(line as usize) else {
        return text.len();
    };
    let mut units = 0;
    for (i, c) in text[start..end].char_indices() {
        units += c.len_utf16();
        if units > character as usize {
            return start + i;
        }
    }
    end
}

/// A valid UTF-16 position in `text`.
fn random_position(rng: &mut Rng, text: &str) -> (u32, u32) {
    let ls = lines(text);
    let line = rng.below(ls.len());
    let (s, e) = ls[line];
    let chars: Vec<char> = text[s..e].chars().collect();
    let k = rng.below(chars.len() + 1);
    let character: usize = chars[..k].iter().map(|c| c.len_utf16()).sum();
    (line as u32, character as u32)
}

const PIECES: &[&str] = &[
    "x",
    "a",
    " ",
    "\n",
    "\r\n",
    "\t",
    "    ",
    "(",
    ")",
    ":",
    "é",
    "😀",
    "中文",
    "\0",
    "def f(a, b):\n    return a + b\n",
    "fn g() -> u8 { 0 }\n",
    "\"\"\"doc\"\"\"",
    "# TODO: write the parser\n",
    "import os\n",
    "\u{2028}",
];

fn random_text(rng: &mut Rng) -> String {
    (0..1 + rng.below(6))
        .map(|_| *rng.pick(PIECES))
        .collect::<String>()
}

struct Doc {
    text: String,
    version: i32,
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A response (or an error answer) to request `id` has arrived, or arrives within `timeout`.
fn answered(s: &mut Server, id: i64, timeout: Duration) -> bool {
    s.wait_notification(timeout, |m| {
        m.get("id") == Some(&json!(id)) && m.get("method").is_none()
    })
    .is_some()
}

const MALFORMED: &[&str] = &[
    "{",
    "[]",
    "null",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"meth",
    "{}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"x7\",\"method\":3}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":7}",
];

#[test]
fn soak_random_operations_against_the_real_server() {
    let ops: usize = std::env::var("NIB_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seed: u64 = std::env::var("NIB_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    eprintln!("soak: {ops} operations, NIB_SOAK_SEED={seed}");
    let mut rng = Rng(seed);
    let model = require_model();

    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    std::fs::create_dir_all(ws.join("pkg")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(ws.join("pkg/util.py"), "def helper(x):\n    return x * 2\n").unwrap();
    // Invalid UTF-8 on disk, in the workspace the server indexes.
    std::fs::write(
        ws.join("pkg/broken.py"),
        b"def ok():\n    return 1\n\xff\xfe\xc3(\n",
    )
    .unwrap();
    // A 5 MB file.
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 5 << 20 {
        big.push_str(&format!(
            "def function_{i}(value):\n    total = value + {i}\n    return total * 2\n\n"
        ));
        i += 1;
    }
    std::fs::write(ws.join("big.py"), &big).unwrap();
    let root = format!("file://{}", ws.display());
    let log = dir.path().join("nib.log");
    let caps = json!({
        "textDocument": { "inlineCompletion": {}, "completion": { "completionItem": {} } },
        "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } },
    });
    let (mut s, _) = Server::start_env(
        json!({ "model": model, "contextTokens": 256, "maxTokens": 16 }),
        caps,
        Some(&root),
        &[
            ("NIB_DEBUG", "1"),
            ("NIB_HOME", home.to_str().unwrap()),
            ("NIB_LOG", "info"),
        ],
        log.clone(),
    );
    REPLAY
        .set(format!("NIB_SOAK_SEED={seed} NIB_SOAK_OPS={ops}"))
        .unwrap();
    s.stats_until(Duration::from_secs(180), |v| v["engine"].is_object())
        .unwrap_or_else(|v| fail(&s, format!("the model did not load: {v}")));

    let mut docs: BTreeMap<String, Doc> = BTreeMap::new();
    let open = |s: &mut Server, docs: &mut BTreeMap<String, Doc>, name: &str, text: String| {
        let uri = format!("{root}/{name}");
        let language = if name.ends_with(".rs") {
            "rust"
        } else if name.ends_with(".py") {
            "python"
        } else {
            "plaintext"
        };
        s.open(&uri, language, &text);
        docs.insert(uri, Doc { text, version: 1 });
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let read = |rel: &str| std::fs::read_to_string(fixtures.join(rel)).unwrap();
    let names = ["inventory.py", "ring_buffer.rs", "notes.txt", "big.py"];
    open(&mut s, &mut docs, names[0], read("python/inventory.py"));
    open(&mut s, &mut docs, names[1], read("rust/ring_buffer.rs"));
    open(&mut s, &mut docs, names[2], "plain text ☃\n".into());
    open(&mut s, &mut docs, names[3], big.clone());

    // Warm-up: a completion in each language, then the baseline of resident memory.
    for (uri, line) in docs
        .iter()
        .map(|(u, d)| (u.clone(), lines(&d.text).len() as u32 / 2))
        .collect::<Vec<_>>()
    {
        let id = s.send_request(
            "textDocument/inlineCompletion",
            Server::inline_params(&uri, line, 0),
        );
        if !answered(&mut s, id, lsp::TIMEOUT) {
            fail(&s, format!("warm-up completion {id} unanswered"));
        }
    }
    let pid = s.pid();
    // Warm-up ends after a tenth of the operations (at least 50): by then every kind of work
    // (parses, the model's buffers, the index) has run once; memory is measured from there.
    let warm_up = (ops / 10).max(50).min(ops);
    let mut baseline = 0;
    let mut peak = 0;
    let mut pending: Vec<i64> = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let started = Instant::now();

    for op in 0..ops {
        let uris: Vec<String> = docs.keys().cloned().collect();
        let roll = rng.below(100);
        let kind = match roll {
            0..=39 => "edit",
            40..=44 => "edit out of range",
            45 => "huge paste",
            46..=47 => "delete everything",
            48..=61 => "inline completion",
            62..=66 => "completion",
            67..=71 => "code action",
            72..=77 => "cancel",
            78..=80 => "watched files",
            81..=83 => "configuration",
            84..=85 => "malformed frame",
            86..=87 => "close and reopen",
            88..=89 => "bad request",
            _ => "document check",
        };
        *counts.entry(kind).or_default() += 1;
        match kind {
            "edit" | "edit out of range" | "huge paste" | "delete everything" => {
                let uri = rng.pick(&uris).clone();
                let doc = docs.get_mut(&uri).unwrap();
                // Keep the big document big but bounded: its edits are small ones.
                let is_big = doc.text.len() > (4 << 20);
                let (range, text) = match kind {
                    "edit" => {
                        let a = random_position(&mut rng, &doc.text);
                        let b = if rng.chance(30) {
                            random_position(&mut rng, &doc.text)
                        } else {
                            a
                        };
                        let (a, b) = if a <= b { (a, b) } else { (b, a) };
                        (Some((a, b)), random_text(&mut rng))
                    }
                    "edit out of range" => {
                        let n = lines(&doc.text).len() as u32;
                        let a = (
                            rng.below(n as usize + 3) as u32,
                            1000 + rng.below(50) as u32,
                        );
                        let b = (a.0 + rng.below(3) as u32, a.1 + rng.below(10) as u32);
                        (Some((a, b)), random_text(&mut rng))
                    }
                    "huge paste" if !is_big => {
                        let block = read("python/inventory.py");
                        let text = block.repeat(1 + (200_000 / block.len()));
                        (
                            Some((random_position(&mut rng, &doc.text), (u32::MAX / 2, 0))),
                            text,
                        )
                    }
                    "delete everything" if !is_big => {
                        let n = lines(&doc.text).len() as u32;
                        if rng.chance(50) {
                            (None, String::new())
                        } else {
                            (Some(((0, 0), (n + 1, 0))), String::new())
                        }
                    }
                    _ => {
                        let a = random_position(&mut rng, &doc.text);
                        (Some((a, a)), random_text(&mut rng))
                    }
                };
                doc.version += 1;
                let change = match range {
                    None => {
                        doc.text = text.clone();
                        json!({ "text": text })
                    }
                    Some(((l1, c1), (l2, c2))) => {
                        let start = offset(&doc.text, l1, c1);
                        let end = offset(&doc.text, l2, c2).max(start);
                        doc.text.replace_range(start..end, &text);
                        json!({ "range": { "start": { "line": l1, "character": c1 }, "end": { "line": l2, "character": c2 } }, "text": text })
                    }
                };
                s.change(&uri, doc.version, json!([change]));
            }
            "inline completion" | "completion" => {
                let uri = rng.pick(&uris).clone();
                let (line, character) = if rng.chance(10) {
                    (100_000, 3)
                } else {
                    random_position(&mut rng, &docs[&uri].text)
                };
                let id = if kind == "completion" {
                    s.send_request(
                        "textDocument/completion",
                        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } }),
                    )
                } else {
                    let mut p = Server::inline_params(&uri, line, character);
                    // Automatic (2) as the user types, or invoked (1).
                    p["context"]["triggerKind"] = json!(if rng.chance(70) { 2 } else { 1 });
                    s.send_request("textDocument/inlineCompletion", p)
                };
                pending.push(id);
            }
            "code action" => {
                let uri = rng.pick(&uris).clone();
                let (line, character) = random_position(&mut rng, &docs[&uri].text);
                let p = json!({ "line": line, "character": character });
                let id = s.send_request(
                    "textDocument/codeAction",
                    json!({ "textDocument": { "uri": uri }, "range": { "start": p, "end": p }, "context": { "diagnostics": [] } }),
                );
                if !answered(&mut s, id, lsp::TIMEOUT) {
                    fail(&s, format!("codeAction {id} unanswered"));
                }
                let actions = s
                    .notifications()
                    .iter()
                    .rev()
                    .find(|m| m.get("id") == Some(&json!(id)))
                    .and_then(|m| m["result"].as_array().cloned())
                    .unwrap_or_default();
                if let Some(a) = actions.first() {
                    // Resolving runs the model for seconds: rare, and cancelled half the time.
                    if rng.chance(20) {
                        let rid = s.send_request("codeAction/resolve", a.clone());
                        if rng.chance(50) {
                            s.notify("$/cancelRequest", json!({ "id": rid }));
                        }
                        pending.push(rid);
                    }
                }
            }
            "cancel" => {
                if let Some(&id) = pending.last() {
                    s.notify("$/cancelRequest", json!({ "id": id }));
                }
            }
            "watched files" => {
                let name = format!("pkg/gen_{}.py", rng.below(5));
                let path = ws.join(&name);
                let typ = if path.exists() && rng.chance(30) {
                    std::fs::remove_file(&path).unwrap();
                    3
                } else {
                    let existed = path.exists();
                    std::fs::write(&path, format!("def gen_{op}(x):\n    return x\n")).unwrap();
                    if existed {
                        2
                    } else {
                        1
                    }
                };
                let mut changes = vec![json!({ "uri": format!("{root}/{name}"), "type": typ })];
                if rng.chance(20) {
                    changes.push(json!({ "uri": format!("{root}/pkg/broken.py"), "type": 2 }));
                }
                s.notify(
                    "workspace/didChangeWatchedFiles",
                    json!({ "changes": changes }),
                );
            }
            "configuration" => {
                let settings = rng
                    .pick(&[
                        json!({ "nib": { "logLevel": "debug" } }),
                        json!({ "nib": { "logLevel": "info", "safetyGate": "warn" } }),
                        json!({ "safetyGate": "drop", "typeaheadCache": false }),
                        json!({ "typeaheadCache": true, "deadlineMs": 300 }),
                        json!({ "nib": { "threads": -3, "maxTokens": "lots", "colour": "blue" } }),
                        json!({ "nib": 5 }),
                        json!([1, 2]),
                        json!(null),
                        json!({ "telemetry": "loud" }),
                    ])
                    .clone();
                s.notify(
                    "workspace/didChangeConfiguration",
                    json!({ "settings": settings }),
                );
            }
            "malformed frame" => {
                let body = rng.pick(MALFORMED);
                s.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
                if rng.chance(30) {
                    s.send_raw(b"this is not a header\r\n");
                }
            }
            "close and reopen" => {
                let uri = rng.pick(&uris).clone();
                s.notify(
                    "textDocument/didClose",
                    json!({ "textDocument": { "uri": uri } }),
                );
                let doc = docs.remove(&uri).unwrap();
                let name = uri.rsplit('/').next().unwrap().to_string();
                open(&mut s, &mut docs, &name, doc.text);
            }
            "bad request" => {
                let id = match rng.below(3) {
                    0 => s.send_request("nib/noSuchMethod", json!({})),
                    1 => s.send_request(
                        "textDocument/inlineCompletion",
                        json!({ "textDocument": 5, "position": "here" }),
                    ),
                    _ => s.send_request(
                        "textDocument/completion",
                        json!({ "textDocument": { "uri": "file:///never/opened.py" }, "position": { "line": 0, "character": 0 } }),
                    ),
                };
                pending.push(id);
            }
            _ => {
                let uri = rng.pick(&uris).clone();
                check_document(&mut s, &uri, &docs[&uri]);
            }
        }
        // Bounded concurrency, as an editor that waits for its answers.
        while pending.len() > 6 {
            let id = pending.remove(0);
            if !answered(&mut s, id, lsp::TIMEOUT) {
                fail(&s, format!("request {id} unanswered after op {op}"));
            }
        }
        if op + 1 == warm_up {
            baseline = rss_kb(pid);
            peak = baseline;
        }
        if op >= warm_up && op % 25 == 0 {
            peak = peak.max(rss_kb(pid));
        }
    }
    for id in pending.drain(..) {
        if !answered(&mut s, id, lsp::TIMEOUT) {
            fail(&s, format!("request {id} unanswered at the end"));
        }
    }
    peak = peak.max(rss_kb(pid));
    let uris: Vec<String> = docs.keys().cloned().collect();
    for uri in &uris {
        check_document(&mut s, uri, &docs[uri]);
    }
    let elapsed = started.elapsed();
    if baseline == 0 {
        baseline = peak;
    }
    eprintln!(
        "soak: {ops} operations in {elapsed:.1?}; resident memory {} MB after warm-up ({warm_up} operations), peak {} MB; {counts:?}",
        baseline / 1024,
        peak / 1024
    );
    if peak as f64 > 1.5 * baseline as f64 {
        fail(
            &s,
            format!("resident memory grew from {baseline} kB to {peak} kB (more than 1.5x)"),
        );
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Some(line) = log_text.lines().find(|l| l.contains("panicked")) {
        fail(&s, format!("a panic in the log: {line}"));
    }
    assert_eq!(s.shutdown(), Some(0));
}

/// How to replay this run.
static REPLAY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn fail(s: &Server, what: String) -> ! {
    panic!(
        "soak failed (replay with {}): {what}\n{}",
        REPLAY.get().map(String::as_str).unwrap_or("?"),
        s.stderr()
    )
}

fn check_document(s: &mut Server, uri: &str, doc: &Doc) {
    let id = s.send_request("nib/debug/document", json!({ "uri": uri }));
    if !answered(s, id, lsp::TIMEOUT) {
        fail(s, format!("nib/debug/document {id} unanswered"));
    }
    let got = s
        .notifications()
        .iter()
        .rev()
        .find(|m| m.get("id") == Some(&json!(id)))
        .cloned()
        .unwrap();
    let text = got["result"]["text"].as_str().unwrap_or_default();
    if text != doc.text || got["result"]["version"] != doc.version {
        let at = text
            .bytes()
            .zip(doc.text.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(text.len().min(doc.text.len()));
        fail(
            s,
            format!(
                "{uri}: nib holds version {} ({} bytes), the client version {} ({} bytes); first difference at byte {at}: nib {:?}, client {:?}",
                got["result"]["version"],
                text.len(),
                doc.version,
                doc.text.len(),
                &text.get(at.saturating_sub(20)..(at + 20).min(text.len())),
                &doc.text.get(at.saturating_sub(20)..(at + 20).min(doc.text.len())),
            ),
        );
    }
}
