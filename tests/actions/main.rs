//! The assistant's actions (explain, fix, tests, refactor, generate from a description) and
//! `nib/chat` end to end: the real `nib serve` / `nib ask` binary with the real default model.
//! The assertions hold whatever the model writes: fields present, edits that parse, tests in
//! the right file, conversations that keep their turns, clear errors for bad input.
//! One llama.cpp thread per server, for completions and actions alike: on a shared machine
//! more threads than free cores make llama.cpp's spinning threads many times slower. Run with
//! `--test-threads=1`.

#[allow(dead_code)]
#[path = "../harness/lsp.rs"]
mod lsp;

use std::path::Path;
use std::time::{Duration, Instant};

use lsp::{require_model, Server};
use nib_syntax::Language;
use serde_json::{json, Value};

const CALC_PY: &str = "def mean(xs):\n    total = 0\n    for x in xs:\n        total = total + x\n    return total / len(xs)\n\n\ndef clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n";

const LIB_RS: &str = "/// The largest element, if any.\npub fn largest(xs: &[i32]) -> Option<i32> {\n    let mut best: Option<i32> = None;\n    for &x in xs {\n        if best.is_none() || x > best.unwrap() {\n            best = Some(x);\n        }\n    }\n    best\n}\n";

/// A Python project with pytest configured and a tests directory.
fn python_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(root.join("pyproject.toml"), "[tool.pytest.ini_options]\n").unwrap();
    std::fs::write(root.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(root.join("pkg/calc.py"), CALC_PY).unwrap();
    std::fs::write(
        root.join("tests/test_other.py"),
        "import pytest\n\n\ndef test_truth():\n    assert True\n",
    )
    .unwrap();
    dir
}

fn file_uri(p: &Path) -> String {
    format!("file://{}", std::fs::canonicalize(p).unwrap().display())
}

fn start(root: &Path) -> Server {
    let caps = json!({
        "textDocument": { "codeAction": { "resolveSupport": { "properties": ["edit"] } } },
        "window": { "workDoneProgress": true },
    });
    let (s, _) = Server::start_with(
        json!({ "deadlineMs": 0, "actionMaxTokens": 128, "threads": 1, "actionThreads": 1, "actionBudgetMs": 0 }),
        caps,
        Some(&file_uri(root)),
    );
    s
}

fn offers(s: &mut Server, u: &str, range: Value, diagnostics: Value) -> Vec<Value> {
    s.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": u }, "range": range, "context": { "diagnostics": diagnostics } }),
    )
    .unwrap()
    .as_array()
    .cloned()
    .unwrap_or_default()
}

fn at(line: u32, character: u32) -> Value {
    json!({ "start": { "line": line, "character": character }, "end": { "line": line, "character": character } })
}

fn offered(actions: &[Value], kind: &str) -> Value {
    actions
        .iter()
        .find(|a| a["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} offered: {actions:?}"))
        .clone()
}

fn kinds(actions: &[Value]) -> Vec<String> {
    actions
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Resolve an offered action and check the result's fields.
fn resolve(s: &mut Server, action: Value) -> Value {
    let t = Instant::now();
    let resolved = s.request("codeAction/resolve", action).unwrap();
    let r = &resolved["data"]["result"];
    eprintln!("{} resolved in {:?}: {r}", resolved["kind"], t.elapsed());
    for field in [
        "explanation",
        "generatedCode",
        "testStubs",
        "confidence",
        "alternatives",
        "findings",
        "provider",
        "latencyMs",
    ] {
        assert!(r.get(field).is_some(), "{field} in {r}");
    }
    assert!(
        r["explanation"].is_string() && r["generatedCode"].is_string(),
        "{r}"
    );
    assert!(
        r["testStubs"].is_array() && r["alternatives"].is_array() && r["findings"].is_array(),
        "{r}"
    );
    assert!(
        ["low", "medium", "high"].contains(&r["confidence"].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["provider"]["name"], "local", "{r}");
    assert!(
        r["provider"]["model"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    assert!(r["latencyMs"].as_f64().is_some_and(|l| l > 0.0), "{r}");
    resolved
}

/// The text edits of a resolved action by URI, and the URIs it creates.
fn edits(resolved: &Value) -> (Vec<(String, Value)>, Vec<String>) {
    let mut out = Vec::new();
    let mut created = Vec::new();
    let edit = &resolved["edit"];
    if let Some(changes) = edit["changes"].as_object() {
        for (u, es) in changes {
            for e in es.as_array().unwrap() {
                out.push((u.clone(), e.clone()));
            }
        }
    }
    for op in edit["documentChanges"].as_array().into_iter().flatten() {
        if op["kind"] == "create" {
            created.push(op["uri"].as_str().unwrap().to_string());
        } else {
            for e in op["edits"].as_array().unwrap() {
                out.push((
                    op["textDocument"]["uri"].as_str().unwrap().to_string(),
                    e.clone(),
                ));
            }
        }
    }
    (out, created)
}

/// Apply one LSP text edit (the texts are ASCII).
fn apply(text: &str, edit: &Value) -> String {
    let offset = |p: &Value| {
        let (line, ch) = (
            p["line"].as_u64().unwrap() as usize,
            p["character"].as_u64().unwrap() as usize,
        );
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let line_len = text[start..].find('\n').unwrap_or(text.len() - start);
        start + ch.min(line_len)
    };
    let (a, b) = (
        offset(&edit["range"]["start"]),
        offset(&edit["range"]["end"]),
    );
    format!(
        "{}{}{}",
        &text[..a],
        edit["newText"].as_str().unwrap(),
        &text[b..]
    )
}

fn parses(lang: Language, text: &str) -> bool {
    nib_syntax::parse(lang, text).is_some_and(|t| !t.root_node().has_error())
}

/// A code result either edits the document into code that parses, or says why it has none.
/// The sandbox run of generated Python tests, whatever the model wrote: the counts add up,
/// every kept test passed and is in the written file, every dropped one failed and is not,
/// the mutation score is within its total, and the explanation carries the summary.
fn check_verification(r: &Value, written: &str) {
    let v = &r["verification"];
    assert!(v.is_object(), "a verification: {r}");
    let summary = v["summary"].as_str().unwrap();
    assert!(r["explanation"].as_str().unwrap().contains(summary), "{r}");
    let tests = v["tests"].as_array().unwrap();
    let (kept, dropped) = (v["kept"].as_u64().unwrap(), v["dropped"].as_u64().unwrap());
    let (killed, total) = (
        v["mutants_killed"].as_u64().unwrap(),
        v["mutants_total"].as_u64().unwrap(),
    );
    assert!(killed <= total, "{v}");
    if v["ran"] == false {
        // The tests could not run: nothing is claimed.
        assert!(summary.contains("not verified"), "{v}");
        assert_eq!((kept, dropped, total, tests.len()), (0, 0, 0, 0), "{v}");
        assert_eq!(v["verified"], false, "{v}");
        return;
    }
    assert_eq!(kept + dropped, tests.len() as u64, "{v}");
    assert!(kept > 0, "tests were offered, so some were kept: {v}");
    assert_eq!(v["verified"], true, "{v}");
    assert!(
        summary.contains(&format!("kill {killed} of {total} simple mutants")),
        "{v}"
    );
    let def = |t: &Value| {
        let name = t["name"].as_str().unwrap();
        let base = name.split('[').next().unwrap();
        format!("def {}(", base.rsplit('.').next().unwrap())
    };
    let mut counted = 0;
    for t in tests {
        if t["kept"] == true {
            counted += 1;
            assert_eq!(t["passed"], true, "a kept test passed in the sandbox: {v}");
            assert!(
                written.contains(&def(t)),
                "{} is written: {written}",
                t["name"]
            );
        } else {
            assert!(
                !written.contains(&def(t)),
                "{} was dropped: {written}",
                t["name"]
            );
            assert!(summary.contains("dropped"), "{v}");
        }
    }
    assert_eq!(counted, kept, "{v}");
}

fn check_document_edit(resolved: &Value, u: &str, text: &str, lang: Language) {
    let r = &resolved["data"]["result"];
    let (es, _) = edits(resolved);
    if es.is_empty() {
        assert!(
            r["emptyReason"].is_string() || r["dropped"].is_string(),
            "no edit and no reason: {resolved}"
        );
        return;
    }
    assert!(es.iter().all(|(eu, _)| eu == u), "{resolved}");
    let after = apply(text, &es[0].1);
    assert!(parses(lang, &after), "the edited file parses:\n{after}");
    assert!(!r["generatedCode"].as_str().unwrap().is_empty(), "{r}");
}

#[test]
fn python_actions_resolve_with_the_real_model() {
    require_model();
    let project = python_project();
    let root = project.path();
    let mut s = start(root);
    let u = file_uri(&root.join("pkg/calc.py"));
    s.open(&u, "python", CALC_PY);

    // Cheap offers: in a function, explain, tests and refactor; fix only with a diagnostic.
    let in_mean = offers(&mut s, &u, at(3, 8), json!([]));
    let k = kinds(&in_mean);
    for want in [
        "refactor.nib.explain",
        "refactor.nib.tests",
        "refactor.nib.refactor",
    ] {
        assert!(k.contains(&want.to_string()), "{want} in {k:?}");
    }
    assert!(!k.contains(&"quickfix.nib.fix".to_string()), "{k:?}");
    let diagnostic = json!([{ "range": at(4, 11), "message": "ZeroDivisionError: division by zero when xs is empty", "source": "pytest" }]);
    let with_error = offers(&mut s, &u, at(4, 11), diagnostic);
    let fix = offered(&with_error, "quickfix.nib.fix");
    assert!(
        fix["data"]["diagnostics"][0]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError"),
        "{fix}"
    );
    // `only` filters by kind.
    let only_fix = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": u }, "range": at(3, 8), "context": { "diagnostics": [], "only": ["quickfix"] } }),
        )
        .unwrap();
    assert!(only_fix.is_null() || only_fix == json!([]), "{only_fix}");
    // Asked for by name (an editor's fix command), fix is offered without a diagnostic.
    let asked = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": u }, "range": at(3, 8), "context": { "diagnostics": [], "only": ["quickfix.nib.fix"] } }),
        )
        .unwrap();
    assert_eq!(
        kinds(asked.as_array().unwrap()),
        vec!["quickfix.nib.fix"],
        "{asked}"
    );

    let explained = resolve(&mut s, offered(&in_mean, "refactor.nib.explain"));
    let explanation = explained["data"]["result"]["explanation"].as_str().unwrap();
    assert!(!explanation.trim().is_empty(), "{explained}");
    assert!(
        explained.get("edit").is_none_or(Value::is_null),
        "explain edits nothing: {explained}"
    );
    // Shown to the user: a message (short) or a message when the client cannot open documents.
    assert!(
        s.wait_notification(Duration::from_secs(5), |n| n["method"]
            == "window/showMessage"
            && n["params"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("nib: ")))
            .is_some(),
        "the explanation is shown"
    );

    let refactored = resolve(&mut s, offered(&in_mean, "refactor.nib.refactor"));
    check_document_edit(&refactored, &u, CALC_PY, Language::Python);
    // The project has no tests for pkg/calc.py yet: an offered rewrite says it is unverified.
    let r = &refactored["data"]["result"];
    if !r["generatedCode"].as_str().unwrap().is_empty() {
        let v = &r["verification"];
        assert_eq!(
            (&v["ran"], &v["verified"]),
            (&json!(false), &json!(false)),
            "{r}"
        );
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .contains("tests/test_calc.py"),
            "{r}"
        );
    }
    let fixed = resolve(&mut s, fix);
    check_document_edit(&fixed, &u, CALC_PY, Language::Python);

    // Tests go where the project keeps them: tests/test_calc.py (new), importing pkg.calc.
    let tested = resolve(&mut s, offered(&in_mean, "refactor.nib.tests"));
    let r = &tested["data"]["result"];
    let test_file = file_uri(&root.join("tests")) + "/test_calc.py";
    assert_eq!(r["testFile"], test_file.as_str(), "{r}");
    let (es, created) = edits(&tested);
    if es.is_empty() {
        assert!(
            r["emptyReason"].is_string() || r["dropped"].is_string(),
            "{tested}"
        );
    } else {
        assert_eq!(created, vec![test_file.clone()], "{tested}");
        assert!(es.iter().all(|(eu, _)| *eu == test_file), "{tested}");
        let written = apply("", &es[0].1);
        assert!(
            written.starts_with("from pkg.calc import mean\n"),
            "{written}"
        );
        assert!(written.contains("def test"), "{written}");
        assert!(
            parses(Language::Python, &written),
            "the tests parse:\n{written}"
        );
        check_verification(r, &written);
    }
    if let Some(why) = r["emptyReason"].as_str() {
        // Nothing offered because every test failed: the verification says so.
        if why.starts_with("every generated test failed") {
            let v = &r["verification"];
            assert_eq!(v["kept"], 0, "{r}");
            assert!(v["dropped"].as_u64().unwrap() > 0, "{r}");
        }
    }

    // Bad input: clear errors, and the server goes on.
    let mut bad = offered(&in_mean, "refactor.nib.explain");
    bad["data"]["range"] = at(999, 0);
    let e = s.request("codeAction/resolve", bad).unwrap_err();
    assert_eq!(e["code"], -32602, "InvalidParams: {e}");
    let mut unknown = offered(&in_mean, "refactor.nib.explain");
    unknown["data"]["action"] = json!("frobnicate");
    let e = s.request("codeAction/resolve", unknown).unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown action frobnicate"),
        "{e}"
    );
    let e = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": u }, "range": at(999, 0), "context": { "diagnostics": [] } }),
        )
        .unwrap_err();
    assert_eq!(e["code"], -32602, "{e}");
    s.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": u } }),
    );
    let e = s
        .request(
            "codeAction/resolve",
            offered(&in_mean, "refactor.nib.refactor"),
        )
        .unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("not open"), "{e}");
    assert!(
        s.request("nib/stats", Value::Null).is_ok(),
        "the server goes on"
    );
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn rust_actions_resolve_with_the_real_model() {
    require_model();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"t\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(root.join("src/lib.rs"), LIB_RS).unwrap();
    let mut s = start(root);
    let u = file_uri(&root.join("src/lib.rs"));
    s.open(&u, "rust", LIB_RS);
    let in_fn = offers(&mut s, &u, at(4, 12), json!([]));

    let explained = resolve(&mut s, offered(&in_fn, "refactor.nib.explain"));
    assert!(
        !explained["data"]["result"]["explanation"]
            .as_str()
            .unwrap()
            .trim()
            .is_empty(),
        "{explained}"
    );

    // A selection: the loop only.
    let selection =
        json!({ "start": { "line": 3, "character": 0 }, "end": { "line": 8, "character": 0 } });
    let sel = offers(&mut s, &u, selection, json!([]));
    let refactored = resolve(&mut s, offered(&sel, "refactor.nib.refactor"));
    check_document_edit(&refactored, &u, LIB_RS, Language::Rust);

    // Tests go into a `#[cfg(test)] mod tests` of the file itself.
    let tested = resolve(&mut s, offered(&in_fn, "refactor.nib.tests"));
    let r = &tested["data"]["result"];
    assert_eq!(r["testFile"], u.as_str(), "{r}");
    let (es, created) = edits(&tested);
    assert!(created.is_empty(), "{tested}");
    if es.is_empty() {
        assert!(
            r["emptyReason"].is_string() || r["dropped"].is_string(),
            "{tested}"
        );
    } else {
        let after = apply(LIB_RS, &es[0].1);
        assert!(after.starts_with(LIB_RS), "appended: {after}");
        assert!(
            after.contains("#[cfg(test)]\nmod tests {\n    use super::*;"),
            "{after}"
        );
        assert!(
            parses(Language::Rust, &after),
            "the file with tests parses:\n{after}"
        );
        // The tests were compiled with the file by rustc and run in the sandbox; the ones
        // offered passed there.
        let v = &r["verification"];
        assert_eq!(
            (&v["ran"], &v["verified"]),
            (&json!(true), &json!(true)),
            "{r}"
        );
        assert!(
            v["summary"]
                .as_str()
                .unwrap()
                .contains("Compiled with the file by rustc"),
            "{r}"
        );
        for t in v["tests"].as_array().unwrap() {
            assert!(
                t["kept"] == json!(false) || t["passed"] == json!(true),
                "{r}"
            );
            if t["kept"] == json!(false) {
                let name = t["name"].as_str().unwrap();
                assert!(!after.contains(&format!("fn {name}(")), "{after}");
            }
        }
    }
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn chat_keeps_the_conversation_and_streams_progress() {
    require_model();
    let project = python_project();
    let root = project.path();
    let mut s = start(root);
    let u = file_uri(&root.join("pkg/calc.py"));
    s.open(&u, "python", CALC_PY);
    let first = s
        .request(
            "nib/chat",
            json!({
                "conversationId": "c1",
                "message": "What does this function return for an empty list?",
                "textDocument": { "uri": u },
                "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 5, "character": 0 } },
                "workDoneToken": "chat-1",
            }),
        )
        .unwrap();
    eprintln!("first turn: {first}");
    assert_eq!(first["turns"], 1, "{first}");
    assert!(
        !first["reply"].as_str().unwrap().trim().is_empty(),
        "{first}"
    );
    assert_eq!(first["provider"]["name"], "local", "{first}");
    assert!(
        ["low", "medium", "high"].contains(&first["confidence"].as_str().unwrap()),
        "{first}"
    );
    // Partial answers came as `$/progress` on the token, ending with `end` (notifications and
    // the response travel separately: the end may come just after the response).
    assert!(
        s.wait_notification(Duration::from_secs(10), |n| n["method"] == "$/progress"
            && n["params"]["token"] == "chat-1"
            && n["params"]["value"]["kind"] == "end")
            .is_some(),
        "progress ends"
    );
    let progress: Vec<&Value> = s
        .notifications()
        .iter()
        .filter(|n| n["method"] == "$/progress" && n["params"]["token"] == "chat-1")
        .collect();
    assert!(
        progress
            .iter()
            .any(|n| n["params"]["value"]["kind"] == "report"),
        "{progress:?}"
    );
    assert_eq!(
        progress.last().unwrap()["params"]["value"]["kind"],
        "end",
        "{progress:?}"
    );

    let follow = s
        .request("nib/chat", json!({ "conversationId": "c1", "message": "Now make it return 0 for an empty list instead." }))
        .unwrap();
    eprintln!("follow-up: {follow}");
    assert_eq!(
        follow["turns"], 2,
        "the follow-up continues the conversation: {follow}"
    );
    assert_eq!(follow["droppedMessages"], 0, "{follow}");
    let other = s
        .request(
            "nib/chat",
            json!({ "conversationId": "c2", "message": "Say hello." }),
        )
        .unwrap();
    assert_eq!(
        other["turns"], 1,
        "another conversation starts afresh: {other}"
    );
    let e = s
        .request(
            "nib/chat",
            json!({ "conversationId": "c1", "message": "  " }),
        )
        .unwrap_err();
    assert_eq!(e["code"], -32602, "{e}");
    let e = s
        .request("nib/chat", json!({ "conversationId": "c1", "message": "hi", "textDocument": { "uri": "file:///nowhere.py" } }))
        .unwrap_err();
    assert!(e["message"].as_str().unwrap().contains("not open"), "{e}");
    assert_eq!(s.shutdown(), Some(0));
}

fn nib(args: &[&str], home: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nib"))
        .args(args)
        .env("NIB_HOME", home)
        .output()
        .unwrap()
}

/// `nib ARGS` run to success, its JSON output.
fn ask_json(args: &[&str], home: &Path) -> Value {
    let out = nib(args, home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// `nib ARGS` failing with `message` in its error output.
fn fails_saying(args: &[&str], home: &Path, message: &str) {
    let out = nib(args, home);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(message), "{err}");
}

/// The default model's file, for a test whose NIB_HOME is private.
fn model_path() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nib"))
        .args(["model", "path"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn nib_ask_prints_json_with_the_result_fields() {
    require_model();
    let project = python_project();
    let root = project.path();
    // NIB_HOME is private to the test (conversations are kept there): the model by its path.
    let model_path = model_path();
    let home = root.join(".nib-home");
    let settings =
        json!({ "model": model_path, "actionMaxTokens": 128, "threads": 1, "actionThreads": 1, "actionBudgetMs": 0 })
            .to_string();
    let file = root.join("pkg/calc.py");
    let loc = format!("{}:3", file.display());
    let v = ask_json(
        &[
            "ask",
            "explain",
            &loc,
            "--json",
            "--settings",
            &settings,
            "--conversation",
            "t1",
        ],
        &home,
    );
    for field in [
        "generated_code",
        "explanation",
        "test_stubs",
        "confidence",
        "alternatives",
        "findings",
        "provider",
        "latency_ms",
        "edits",
    ] {
        assert!(v.get(field).is_some(), "{field} in {v}");
    }
    assert_eq!(v["action"], "explain");
    assert!(!v["explanation"].as_str().unwrap().trim().is_empty(), "{v}");
    assert_eq!(v["provider"]["name"], "local");
    // The exchange is kept: a chat follow-up continues it.
    let v = ask_json(
        &[
            "ask",
            "chat",
            &loc,
            "--json",
            "--settings",
            &settings,
            "--conversation",
            "t1",
            "--prompt",
            "Is it safe for an empty list?",
        ],
        &home,
    );
    assert_eq!(v["turns"], 2, "{v}");

    // Alternatives where asked: distinct from the answer and from each other, each parses.
    let clamp = format!("{}:10", file.display());
    let v = ask_json(
        &[
            "ask",
            "refactor",
            &clamp,
            "--json",
            "--settings",
            &settings,
            "--alternatives",
            "2",
        ],
        &home,
    );
    let alternatives: Vec<&str> = v["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(alternatives.len() <= 2, "{v}");
    let squash = |c: &str| c.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut seen = vec![squash(v["generated_code"].as_str().unwrap())];
    for a in &alternatives {
        assert!(!seen.contains(&squash(a)), "distinct: {v}");
        seen.push(squash(a));
        assert!(parses(Language::Python, a), "parses: {a}");
    }
    if v["generated_code"].as_str().unwrap().is_empty() {
        assert!(alternatives.is_empty(), "{v}");
    }
    let out = nib(&["ask", "refactor", &clamp, "--alternatives", "4"], &home);
    assert!(!out.status.success(), "at most 3 alternatives");

    // Bad input: a clear error and a failing exit status.
    fails_saying(
        &["ask", "frobnicate", &loc],
        &home,
        "unknown action \"frobnicate\"",
    );
    fails_saying(
        &[
            "ask",
            "explain",
            &format!("{}:999", file.display()),
            "--settings",
            &settings,
        ],
        &home,
        "past the end",
    );
    fails_saying(
        &[
            "ask",
            "generate",
            &format!("{}:14", file.display()),
            "--settings",
            &settings,
            "--prompt",
            " ",
        ],
        &home,
        "needs the description",
    );
}

/// A fix of a documented function with the real model: whatever the model answers, an offered
/// fix has been run against the docstring's examples in the sandbox, and says so.
/// Actions run on their own context with `actionThreads` threads (by default every physical
/// core), the completions' engine keeping `threads`; equal counts share one engine.
#[test]
fn actions_run_on_their_own_threads() {
    require_model();
    let project = python_project();
    let root = project.path();
    let home = root.join(".nib-home");
    let loc = format!("{}:3", root.join("pkg/calc.py").display());
    for action_threads in [2, 1] {
        let settings = json!({ "model": model_path(), "actionMaxTokens": 48, "threads": 1, "actionThreads": action_threads }).to_string();
        let v = ask_json(
            &["ask", "explain", &loc, "--json", "--settings", &settings],
            &home,
        );
        assert_eq!(v["provider"]["name"], "local", "{v}");
        assert_eq!(v["provider"]["threads"], action_threads, "{v}");
        assert!(!v["explanation"].as_str().unwrap().trim().is_empty(), "{v}");
    }
}

#[test]
fn a_fix_runs_the_docstring_examples_with_the_real_model() {
    require_model();
    let project = python_project();
    let root = project.path();
    let model_path = model_path();
    let home = root.join(".nib-home");
    let settings =
        json!({ "model": model_path, "threads": 1, "actionThreads": 1, "actionBudgetMs": 0 })
            .to_string();
    let file = root.join("pkg/double.py");
    std::fs::write(
        &file,
        "def double(x):\n    \"\"\"Twice x.\n\n    >>> double(3)\n    6\n    \"\"\"\n    return x + 2\n",
    )
    .unwrap();
    let error = root.join("error.txt");
    std::fs::write(&error, "AssertionError: double(3) returned 5, expected 6\n").unwrap();
    let loc = format!("{}:7", file.display());
    let v = ask_json(
        &[
            "ask",
            "fix",
            &loc,
            "--json",
            "--settings",
            &settings,
            "--error-file",
            error.to_str().unwrap(),
        ],
        &home,
    );
    if v["edits"].as_array().is_none_or(|e| e.is_empty()) {
        assert!(
            v["empty_reason"].is_string() || v["dropped"].is_string(),
            "{v}"
        );
        return;
    }
    let check = &v["verification"];
    assert_eq!(check["ran"], true, "{v}");
    assert!(
        check["tests_from"]
            .as_str()
            .unwrap()
            .contains("the docstring examples"),
        "{v}"
    );
    let tests = check["tests"].as_array().unwrap();
    assert!(
        tests
            .iter()
            .any(|t| t["name"] == "test_double_docstring_line_4"),
        "{v}"
    );
    // Verified exactly when the example passes on the fix.
    let passed = tests.iter().all(|t| t["passed"] == true);
    assert_eq!(check["verified"], passed, "{v}");
}

/// A refactor of an annotated function with the real model, in a project without tests for
/// it and without docstring examples: whatever the model answers, an offered rewrite has run on
/// the inputs nib recorded from the signature, and says how it did.
#[test]
fn a_refactor_runs_the_recorded_cases_with_the_real_model() {
    require_model();
    let project = python_project();
    let root = project.path();
    let home = root.join(".nib-home");
    let settings =
        json!({ "model": model_path(), "threads": 1, "actionThreads": 1, "actionBudgetMs": 0 })
            .to_string();
    let file = root.join("pkg/stats.py");
    std::fs::write(
        &file,
        "def total(xs: list[int]) -> int:\n    result = 0\n    for x in xs:\n        result = result + x\n    return result\n",
    )
    .unwrap();
    let loc = format!("{}:2", file.display());
    let v = ask_json(
        &["ask", "refactor", &loc, "--json", "--settings", &settings],
        &home,
    );
    if v["edits"].as_array().is_none_or(|e| e.is_empty()) {
        assert!(
            v["empty_reason"].is_string() || v["dropped"].is_string(),
            "{v}"
        );
        return;
    }
    let check = &v["verification"];
    assert_eq!(check["ran"], true, "{v}");
    if check["verified"] == true {
        let from = check["tests_from"].as_str().unwrap_or_default();
        assert!(from.starts_with("the recorded cases"), "{v}");
        let tests = check["tests"].as_array().unwrap();
        assert!(
            tests.iter().any(|t| t["name"]
                .as_str()
                .unwrap()
                .starts_with("test_total_recorded")),
            "{v}"
        );
        assert!(tests.iter().all(|t| t["passed"] == true), "{v}");
    } else {
        let summary = check["summary"].as_str().unwrap();
        assert!(summary.contains("differ from the current code's"), "{v}");
        assert!(summary.contains("total("), "{v}");
    }
}

/// A one-change slip in a function with two docstring examples, through `nib ask fix`: repaired
/// by the search (the model is loaded but not asked), verified against the examples.
#[test]
fn nib_ask_fix_repairs_a_one_change_slip() {
    require_model();
    let project = python_project();
    let root = project.path();
    let home = root.join(".nib-home");
    let settings =
        json!({ "model": model_path(), "threads": 1, "actionThreads": 1, "actionBudgetMs": 0 })
            .to_string();
    let file = root.join("pkg/grade.py");
    let text = "def passed(score, bar=50):\n    \"\"\"Whether score reaches bar.\n\n    >>> passed(70)\n    True\n    >>> passed(50)\n    True\n    >>> passed(20)\n    False\n    \"\"\"\n    return score < bar\n";
    std::fs::write(&file, text).unwrap();
    let loc = format!("{}:11", file.display());
    let v = ask_json(
        &["ask", "fix", &loc, "--json", "--settings", &settings],
        &home,
    );
    assert_eq!(v["source"], "repair", "{v}");
    assert_eq!(v["verification"]["verified"], true, "{v}");
    assert!(
        v["generated_code"]
            .as_str()
            .unwrap()
            .contains("return score >= bar"),
        "{v}"
    );
    assert!(
        v["explanation"]
            .as_str()
            .unwrap()
            .contains("line 11 has `<`"),
        "{v}"
    );
    assert_eq!(v["edits"].as_array().map(Vec::len), Some(1), "{v}");
}
