//! The remote provider through the real `nib serve` binary: a scripted OpenAI-compatible
//! server on loopback records what it receives (real HTTP, no mocked functions), the local
//! answers come from the real default model.

#[allow(dead_code)]
#[path = "../harness/lsp.rs"]
mod lsp;
#[allow(dead_code)]
#[path = "../../crates/engine-openai/tests/server/mod.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp::{fixture, require_model, Server};
use serde_json::{json, Value};
use server::{chat_answer, completion_answer, status, Step};

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A workspace and a data directory (NIB_HOME, where the audit log goes) for one server.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    log: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("ws");
        let home = dir.path().canonicalize().unwrap().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let log = dir.path().join("nib.log");
        Setup {
            _dir: dir,
            root,
            home,
            log,
        }
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn start(&self, settings: Value) -> Server {
        let mut opts = json!({ "model": require_model(), "contextTokens": 1500, "maxTokens": 48, "deadlineMs": 0 });
        for (k, v) in settings.as_object().unwrap() {
            opts[k] = v.clone();
        }
        let (s, _) = Server::start_env(
            opts,
            json!({ "textDocument": { "inlineCompletion": {} } }),
            Some(&file_uri(&self.root)),
            &[
                ("NIB_HOME", self.home.to_str().unwrap()),
                ("NIB_TEST_REMOTE_KEY", "not-a-valid-key"),
            ],
            self.log.clone(),
        );
        s
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.home.join("remote-audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Every planted secret of the redaction fixtures' Python settings file.
fn planted() -> (String, Vec<String>) {
    let text = fixture("redact/settings.py");
    let secrets = fixture("redact/settings.py.secrets")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    (text, secrets)
}

/// The generate-from-comment action offered at `line`, resolved.
fn generate_at(s: &mut Server, u: &str, line: u32) -> Result<Value, Value> {
    let p = json!({ "line": line, "character": 6 });
    let actions = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": u }, "range": { "start": p, "end": p }, "context": { "diagnostics": [] } }),
        )
        .unwrap();
    let offered = actions
        .as_array()
        .and_then(|a| a.iter().find(|a| a["kind"] == "refactor.nib.generate"))
        .unwrap_or_else(|| panic!("the generate action is offered: {actions}"))
        .clone();
    s.request("codeAction/resolve", offered)
}

fn inserted(resolved: &Value) -> String {
    let changes = &resolved["edit"]["changes"];
    let edits = changes
        .as_object()
        .and_then(|o| o.values().next())
        .unwrap_or_else(|| panic!("an edit: {resolved}"));
    edits[0]["newText"].as_str().unwrap().to_string()
}

fn fallback_messages(s: &Server) -> usize {
    s.notifications()
        .iter()
        .filter(|n| {
            n["method"] == "window/showMessage"
                && n["params"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("instead of the remote provider"))
        })
        .count()
}

/// What the server received, as text (every request's body).
fn received(remote: &server::Server) -> String {
    remote
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_no_secret(bodies: &str, secrets: &[String]) {
    // Bodies are JSON: a secret arrives escaped where it has quotes or backslashes.
    for secret in secrets {
        let escaped = serde_json::to_string(secret).unwrap();
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(
            !bodies.contains(secret.as_str()) && !bodies.contains(escaped),
            "the secret {secret:?} reached the remote server"
        );
    }
}

const FUNCTION: &str = "\n\ndef circle_area(r):\n    # return the area of a circle of radius r\n\n\nprint(circle_area(2))\n";

#[test]
fn remote_chat_writes_the_code_without_any_planted_secret_and_logs_the_request() {
    let (planted_text, secrets) = planted();
    let answer = "```python\ndef circle_area(r):\n    # return the area of a circle of radius r\n    return 3.14159 * r * r\n```";
    let remote = server::serve(vec![chat_answer(&[&answer[..40], &answer[40..]])]);
    let setup = Setup::new();
    let text = format!("{planted_text}{FUNCTION}");
    let path = setup.write("shop/settings.py", &text);
    let mut s = setup.start(json!({
        "chatProvider": "remote",
        "remoteBaseUrl": remote.base_url(),
        "remoteModel": "remote-model",
    }));
    let u = file_uri(&path);
    s.open(&u, "python", &text);
    let line = text
        .lines()
        .position(|l| l.contains("# return the area"))
        .unwrap() as u32;
    let resolved = generate_at(&mut s, &u, line).expect("the action resolves");
    let result = &resolved["data"]["result"];
    assert_eq!(result["provider"]["name"], "remote", "{result}");
    assert_eq!(result["provider"]["fallback"], Value::Null, "{result}");
    assert_eq!(result["source"], "chat", "{result}");
    assert_eq!(inserted(&resolved).trim(), "return 3.14159 * r * r");

    let requests = remote.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    let bodies = received(&remote);
    assert_no_secret(&bodies, &secrets);
    // The code around the secrets arrives as it is (no over-redaction).
    let sent: String = requests[0].json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    for clean in [
        "ALLOWED_HOSTS = [\"shop.example.com\", \"localhost\"]",
        "PASSWORD_HASHERS = [\"django.contrib.auth.hashers.Argon2PasswordHasher\"]",
        "password = password or os.environ.get(\"SHOP_PASSWORD\")",
        "EMAIL_HOST_PASSWORD = os.environ[\"EMAIL_HOST_PASSWORD\"]",
        "def circle_area(r):\n    # return the area of a circle of radius r",
    ] {
        assert!(sent.contains(clean), "{clean:?} not sent as it is:\n{sent}");
    }
    assert!(sent.contains("NIB_REDACTED_1"), "{sent}");

    let audit = setup.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    let line = &audit[0];
    assert_eq!(line["provider"], "remote");
    assert_eq!(line["kind"], "chat");
    assert_eq!(line["model"], "remote-model");
    assert_eq!(line["host"], remote.addr.to_string());
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["files"], json!([u]));
    assert!(
        line["redactions"].as_u64().unwrap() >= secrets.len() as u64,
        "{line}"
    );
    assert!(
        line["bytes_sent"].as_u64().unwrap() > 0 && line["latency_ms"].is_u64(),
        "{line}"
    );
    let raw = std::fs::read_to_string(setup.home.join("remote-audit.jsonl")).unwrap();
    assert_no_secret(&raw, &secrets);
    assert!(
        !raw.contains("circle_area") && !raw.contains("ALLOWED_HOSTS"),
        "content in the audit log: {raw}"
    );

    let stats = s.request("nib/stats", Value::Null).unwrap();
    assert_eq!(stats["model"]["provider"], "remote chat", "{stats}");
    assert_eq!(fallback_messages(&s), 0);
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn remote_completion_never_sends_secrets_ignored_or_denied_files() {
    let (planted_text, secrets) = planted();
    let remote = server::serve(vec![completion_answer(&[
        "sum(i.price",
        " for i in items)",
    ])]);
    let setup = Setup::new();
    setup.write(".gitignore", "private/\n");
    let hidden = setup.write(
        "private/hidden.py",
        "def hidden_helper_xyz(a):\n    return a * 4242\n",
    );
    setup.write(
        "secrets.py",
        "def denied_helper_qrs(b):\n    return b - 5151\n",
    );
    // A workspace file used as context: its definitions hold planted secrets.
    let context_file = format!(
        "{planted_text}\n\ndef shop_total(items):\n    token = \"ghp_R8yUcbWqK2vLxN4mT7pZ1aQ9dF3sH6jE0kB5\"\n    return sum(i.price for i in items)\n"
    );
    let context_path = setup.write("shop/cart.py", &context_file);
    let doc = "from shop.cart import shop_total\nfrom private.hidden import hidden_helper_xyz\nfrom secrets import denied_helper_qrs\n\nSTRIPE_API_KEY = 'sk_live_8LEVC0Pfip4BXzoRzyFv23SYpu8y7n2l'\n\n\ndef checkout(items):\n    a = hidden_helper_xyz(1)\n    b = denied_helper_qrs(2)\n    total = shop_total(items)\n    return ".to_string();
    let doc_path = setup.write("shop/checkout.py", &doc);
    let mut s = setup.start(json!({
        "completionProvider": "remote",
        "remoteBaseUrl": remote.base_url(),
        "remoteModel": "qwen2.5-coder-remote",
        "repoContextTokens": 4000,
    }));
    s.stats_until(Duration::from_secs(60), |st| {
        st["index"]["files"].as_u64() >= Some(3)
    })
    .expect("the workspace is indexed");
    // The ignored file is open and edited in the editor (the index follows open documents).
    let hidden_uri = file_uri(&hidden);
    s.open(
        &hidden_uri,
        "python",
        "def hidden_helper_xyz(a):\n    return a * 4242\n",
    );
    s.change(
        &hidden_uri,
        2,
        json!([{ "text": "def hidden_helper_xyz(a):\n    return a * 4242\n\n" }]),
    );
    s.open(&file_uri(&context_path), "python", &context_file);
    let u = file_uri(&doc_path);
    s.open(&u, "python", &doc);
    let last = doc.lines().count() as u32 - 1;
    let col = doc.lines().last().unwrap().len() as u32;
    let items = s.inline(&u, last, col).expect("a completion");
    assert_eq!(
        items.first().and_then(|i| i["insertText"].as_str()),
        Some("sum(i.price for i in items)"),
        "{items:?}"
    );
    let requests = remote.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/completions");
    let prompt = requests[0].json()["prompt"].as_str().unwrap().to_string();
    assert!(
        prompt.starts_with("<|repo_name|>") || prompt.contains("<|fim_prefix|>"),
        "{prompt}"
    );
    assert!(
        prompt.contains("<|fim_middle|>"),
        "a Qwen infilling prompt: {prompt}"
    );
    let bodies = received(&remote);
    let mut all = secrets.clone();
    all.push("ghp_R8yUcbWqK2vLxN4mT7pZ1aQ9dF3sH6jE0kB5".into());
    assert_no_secret(&bodies, &all);
    for private in [
        "4242",
        "5151",
        "def hidden_helper_xyz",
        "def denied_helper_qrs",
    ] {
        assert!(!prompt.contains(private), "{private:?} was sent:\n{prompt}");
    }
    // The context file's definition was sent, and the document's code around its secret.
    assert!(prompt.contains("def shop_total(items):"), "{prompt}");
    assert!(
        prompt.contains("    return sum(i.price for i in items)"),
        "{prompt}"
    );
    assert!(
        prompt.contains("    total = shop_total(items)\n    return "),
        "{prompt}"
    );
    assert!(
        prompt.contains("STRIPE_API_KEY = 'NIB_REDACTED_"),
        "{prompt}"
    );
    // The pieces kept back were in the context (so leaving them out is what kept them here).
    let log = setup.server_log();
    assert!(
        log.contains("kept back from the remote prompt"),
        "no piece was kept back"
    );

    let audit = setup.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["kind"], "completion");
    let files: Vec<&str> = audit[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .all(|f| !f.contains("hidden") && !f.contains("secrets.py")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.contains("cart.py")), "{files:?}");
    assert_eq!(s.shutdown(), Some(0));
}

/// `nib ask` with `settings` on `loc`, NIB_HOME at `home`: its JSON result and its stderr.
fn ask(home: &Path, action: &str, loc: &str, settings: Value) -> (Value, String) {
    let mut all = json!({ "model": require_model(), "actionMaxTokens": 64, "threads": 1 });
    for (k, v) in settings.as_object().unwrap() {
        all[k] = v.clone();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nib"))
        .args(["ask", action, loc, "--json", "--settings", &all.to_string()])
        .env("NIB_HOME", home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[test]
fn nib_ask_uses_the_remote_provider_logs_it_and_falls_back_saying_so() {
    let remote = server::serve(vec![chat_answer(&["`circle_area` returns ", "the area."])]);
    let setup = Setup::new();
    let path = setup.write(
        "geo.py",
        "def circle_area(r):\n    return 3.14159 * r * r\n",
    );
    let loc = format!("{}:2", path.display());
    let (v, _) = ask(
        &setup.home,
        "explain",
        &loc,
        json!({
            "chatProvider": "remote",
            "remoteBaseUrl": remote.base_url(),
            "remoteModel": "remote-model",
        }),
    );
    assert_eq!(v["provider"]["name"], "remote", "{v}");
    assert_eq!(v["explanation"], "`circle_area` returns the area.", "{v}");
    let requests = remote.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    let audit = setup.audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (&audit[0]["kind"], &audit[0]["outcome"]),
        (&json!("chat"), &json!("ok"))
    );
    assert_eq!(audit[0]["host"], remote.addr.to_string());
    // Nothing listens: the local model answers, and stderr says why.
    let (v, stderr) = ask(
        &setup.home,
        "explain",
        &loc,
        json!({
            "chatProvider": "remote",
            "remoteBaseUrl": refused_url(),
            "remoteModel": "remote-model",
            "remoteTimeoutMs": 2000,
        }),
    );
    assert_eq!(v["provider"]["name"], "local", "{v}");
    assert!(v["provider"]["fallback"].is_string(), "{v}");
    assert!(
        stderr.contains("the local model answers instead of the remote provider"),
        "{stderr}"
    );
    assert_eq!(setup.audit().len(), 2);
}

/// A refused connection: a port nothing listens on.
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

fn repeated(script: Vec<Step>) -> Vec<Vec<Step>> {
    vec![script; 6]
}

#[test]
fn remote_failures_are_answered_by_the_local_model_and_the_user_is_told_once() {
    let setup = Setup::new();
    let text = format!("import math{FUNCTION}");
    let path = setup.write("geo.py", &text);
    let failing = [
        (
            "500",
            server::serve(repeated(status(500, &[], "{\"error\":\"boom\"}"))).base_url(),
            "500",
        ),
        (
            "401",
            server::serve(repeated(status(401, &[], "{\"error\":\"bad key\"}"))).base_url(),
            "NIB_TEST_REMOTE_KEY",
        ),
        (
            "garbage",
            server::serve(repeated(vec![
                server::sse_head(),
                Step::Chunk(b"data: {this is not json\n\n".to_vec()),
                Step::End,
            ]))
            .base_url(),
            "bad response",
        ),
        (
            "slow",
            server::serve(repeated(vec![Step::Sleep(Duration::from_secs(20))])).base_url(),
            "timed out",
        ),
        ("refused", refused_url(), "unreachable"),
    ];
    let mut s = setup.start(json!({
        "chatProvider": "remote",
        "remoteModel": "remote-model",
        "remoteApiKeyEnv": "NIB_TEST_REMOTE_KEY",
        "remoteTimeoutMs": 2000,
        "remoteBaseUrl": failing[0].1,
    }));
    let u = file_uri(&path);
    s.open(&u, "python", &text);
    let line = text
        .lines()
        .position(|l| l.contains("# return the area"))
        .unwrap() as u32;
    for (i, (name, url, why)) in failing.iter().enumerate() {
        if i > 0 {
            // Settings changed at runtime rebuild the remote engine.
            s.notify(
                "workspace/didChangeConfiguration",
                json!({ "settings": { "remoteBaseUrl": url } }),
            );
        }
        let resolved = generate_at(&mut s, &u, line)
            .unwrap_or_else(|e| panic!("{name}: the local model answers: {e}"));
        let result = &resolved["data"]["result"];
        assert_eq!(result["provider"]["name"], "local", "{name}: {result}");
        let reason = result["provider"]["fallback"].as_str().unwrap_or_default();
        assert!(
            reason.contains(why),
            "{name}: the reason names {why:?}: {reason}"
        );
        assert!(
            !inserted(&resolved).trim().is_empty(),
            "{name}: the local model wrote code"
        );
    }
    // Told once per session, not once per failure.
    s.stats_until(Duration::from_secs(5), |_| true).unwrap();
    assert_eq!(fallback_messages(&s), 1);
    let audit = setup.audit();
    assert_eq!(
        audit.len(),
        failing.len(),
        "one line per remote request: {audit:?}"
    );
    assert!(audit.iter().all(|l| l["outcome"] != "ok"), "{audit:?}");

    // Fallback off: a clear error, and the server keeps answering.
    s.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "fallback": false } }),
    );
    let e = generate_at(&mut s, &u, line).unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("remote provider failed"),
        "{e}"
    );
    let stats = s.request("nib/stats", Value::Null).unwrap();
    assert_eq!(stats["model"]["provider"], "remote chat", "{stats}");
    assert_eq!(s.shutdown(), Some(0));
}

#[test]
fn a_remote_completion_that_fails_is_answered_locally() {
    let setup = Setup::new();
    let text = "def add(a, b):\n    return ";
    let path = setup.write("calc.py", text);
    let mut s = setup.start(json!({
        "completionProvider": "remote",
        "remoteModel": "remote-model",
        "remoteBaseUrl": refused_url(),
    }));
    let u = file_uri(&path);
    s.open(&u, "python", text);
    let items = s.inline(&u, 1, 11).expect("a completion");
    assert!(
        items
            .first()
            .and_then(|i| i["insertText"].as_str())
            .is_some_and(|t| !t.trim().is_empty()),
        "the local model answers: {items:?}"
    );
    s.wait_notification(Duration::from_secs(10), |n| {
        n["method"] == "window/showMessage"
            && n["params"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("unreachable"))
    })
    .expect("the user is told");
    assert_eq!(setup.audit().len(), 1);
    assert_eq!(s.shutdown(), Some(0));
}

/// The real thing: nib against an OpenAI-compatible server (llama-cpp-python's, serving the
/// default model; `tests/remote/run.sh` starts it and sets `NIB_REMOTE_E2E_URL` and
/// `NIB_REMOTE_E2E_MODEL`). Ignored by default; without the variables it fails.
#[test]
#[ignore = "needs an OpenAI-compatible server: tests/remote/run.sh"]
fn e2e_a_real_openai_compatible_server() {
    let url = std::env::var("NIB_REMOTE_E2E_URL")
        .expect("NIB_REMOTE_E2E_URL names the server's API root (tests/remote/run.sh sets it)");
    let model = std::env::var("NIB_REMOTE_E2E_MODEL")
        .expect("NIB_REMOTE_E2E_MODEL names the served model (tests/remote/run.sh sets it)");
    let setup = Setup::new();
    let text = "import math\n\n\ndef circle_area(r):\n    # return the area of a circle of radius r\n\n\nprint(circle_area(2))\n";
    let path = setup.write("geo.py", text);
    let calc = "def add(a, b):\n    return ";
    let calc_path = setup.write("calc.py", calc);
    let mut s = setup.start(json!({
        "chatProvider": "remote",
        "completionProvider": "remote",
        "fallback": false,
        "remoteBaseUrl": url,
        "remoteModel": model,
        "remoteTimeoutMs": 300000,
        "remoteCompletionBudgetMs": 60000,
    }));
    let u = file_uri(&path);
    s.open(&u, "python", text);

    // A chat code action.
    let resolved = generate_at(&mut s, &u, 4)
        .unwrap_or_else(|e| panic!("the remote server answers: {e}\n{}", s.stderr()));
    let result = &resolved["data"]["result"];
    assert_eq!(result["provider"]["name"], "remote", "{result}");
    assert_eq!(result["source"], "chat", "{result}");
    assert!(!inserted(&resolved).trim().is_empty(), "{result}");

    // A fill-in-the-middle completion.
    let cu = file_uri(&calc_path);
    s.open(&cu, "python", calc);
    let items = s
        .inline(&cu, 1, 11)
        .unwrap_or_else(|e| panic!("a completion: {e}\n{}", s.stderr()));
    let first = items
        .first()
        .and_then(|i| i["insertText"].as_str())
        .unwrap_or_default();
    assert!(first.contains('a') && first.contains('b'), "{items:?}");

    // Cancelling a chat closes its stream: the request ends cancelled, and says so in the log.
    let p = json!({ "line": 4, "character": 6 });
    let actions = s
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": u }, "range": { "start": p, "end": p }, "context": { "diagnostics": [] } }),
        )
        .unwrap();
    let id = s.send_request("codeAction/resolve", actions[0].clone());
    std::thread::sleep(Duration::from_millis(300));
    s.notify("$/cancelRequest", json!({ "id": id }));
    let e = s.wait_response(id).expect_err("the request is cancelled");
    assert_eq!(e["code"], -32800, "{e}");
    // The work ends (and is logged) right after the answer.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while setup.audit().len() < 3 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let audit = setup.audit();
    let outcomes: Vec<&str> = audit
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "cancelled"], "{audit:?}");
    assert_eq!(s.shutdown(), Some(0));
}
