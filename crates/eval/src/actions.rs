//! `nib eval actions`: the code actions (tests, fix, refactor, explain) on HumanEval problems,
//! the raw model and nib side by side, every verdict from the sandbox ([`nib_verify`]).
//!
//! - Problems: the HumanEval infilling records (embedded); a record's prompt + reference middle
//!   + suffix is the problem's whole reference module, `test` + `entry_point` its tests.
//! - Raw: the local model asked directly through its chat template, a plain prompt without
//!   context; its answer is the first fenced code block (or the whole answer when it has none).
//! - nib: `nib ask ACTION solution.py:L1-L2 --json` (the binary, `--nib`) on a temporary
//!   project holding the problem's module, the function selected; its JSON is scored.
//! - Code an answer gives is appended to the module it replaces (a later `def` wins in
//!   Python), so an answer may give one function or a whole file.
//! - Tests: generated tests on the reference: share passing, and the share of the reference
//!   function's mutants the passing tests kill (problems without a passing test kill none).
//! - Fix: the reference with one mutant the HumanEval tests catch (seeded), the failing test's
//!   traceback as the error: pass@1 of the answer on the HumanEval tests.
//! - Refactor: the answer passes the HumanEval tests; the function's tokens (comments and
//!   docstring aside) differ from the reference's.
//! - Explain: the explanation, without its code blocks, and the function's signature go to the
//!   raw model (the same regenerator for both sides), which writes the function again; the
//!   round trip succeeds when that passes the HumanEval tests.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nib_engine::{CancelToken, ChatEngine, ChatMessage, ChatRequest, Role, TemplateChat};
use nib_ide::EngineState;
use nib_syntax::tree_sitter::Node;
use nib_syntax::{parse, Language};
use nib_verify::{
    check_tests, mutants, run_tests, Framework, Module, Mutant, Sandbox, SandboxConfig,
};
use serde::Serialize;

use crate::data::{self, InfillSet};
use crate::MakeIde;

const MODULE: &str = "solution";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Tests,
    Fix,
    Refactor,
    Explain,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Tests => "tests",
            Action::Fix => "fix",
            Action::Refactor => "refactor",
            Action::Explain => "explain",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Raw,
    Nib,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ActionsArgs {
    /// Problems: a seeded subset of this many of the 164.
    #[arg(long, default_value_t = 80)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only these problems (e.g. HumanEval/12), after the subset.
    #[arg(long, value_delimiter = ',')]
    pub task: Vec<String>,
    /// Model name (see `nib model list`) or path to a .gguf file, for both sides.
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    pub model: String,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tests,fix,refactor,explain"
    )]
    pub actions: Vec<Action>,
    #[arg(long, value_enum, value_delimiter = ',', default_value = "raw,nib")]
    pub sides: Vec<Side>,
    /// The nib binary whose `nib ask` is evaluated (default: this one).
    #[arg(long)]
    pub nib: Option<PathBuf>,
    /// Output cap of each raw answer.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Seconds a test program may run before it is killed.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Print the results as JSON (per problem and the summary) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON (per problem and the summary) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print each answer on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// The nib side's `actionBudgetMs` setting (when a second try is made; 0: always);
    /// default: nib's own default.
    #[arg(long)]
    pub action_budget_ms: Option<u64>,
    /// The nib side asks this remote OpenAI-compatible server (its API root, `/v1` included)
    /// instead of the local model, with no fallback (a failed request counts as no answer);
    /// the raw side stays the local `--model`.
    #[arg(long)]
    pub remote: Option<String>,
    /// The model name the remote server knows (with `--remote`).
    #[arg(long, default_value = "")]
    pub remote_model: String,
}

/// The settings the nib side's `nib ask` runs with.
fn nib_settings(args: &ActionsArgs) -> serde_json::Value {
    let mut settings = serde_json::json!({ "model": args.model });
    if let Some(ms) = args.action_budget_ms {
        settings["actionBudgetMs"] = ms.into();
    }
    if let Some(url) = &args.remote {
        settings["chatProvider"] = "remote".into();
        settings["remoteBaseUrl"] = url.as_str().into();
        settings["remoteModel"] = args.remote_model.as_str().into();
        settings["fallback"] = false.into();
        settings["remoteTimeoutMs"] = REMOTE_TIMEOUT_MS.into();
    }
    settings
}

/// A remote answer's time limit in the evaluation: a CPU server on loopback writes a whole
/// function slowly.
const REMOTE_TIMEOUT_MS: u64 = 300_000;

/// One HumanEval problem as a module.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub id: String,
    /// The whole reference module.
    pub module: String,
    pub entry: String,
    /// HumanEval's `check(candidate)` and what it needs.
    pub test: String,
    /// 1-based first and last line of the entry function in `module`.
    pub lines: (usize, usize),
    /// The module's top-level imports.
    pub imports: String,
    /// The entry function's `def` line(s), up to the colon.
    pub header: String,
}

impl Problem {
    /// HumanEval's tests as a test file for [`run_tests`].
    pub fn test_file(&self) -> String {
        format!(
            "{}\n\ndef test_humaneval():\n    check({})\n",
            self.test, self.entry
        )
    }

    fn passes(&self, module: &str, sandbox: &Sandbox) -> bool {
        run_tests(
            &Module {
                name: MODULE,
                source: module,
            },
            &self.test_file(),
            Framework::Pytest,
            None,
            false,
            sandbox,
        )
        .all_passed()
    }
}

/// The last top-level definition of function `name` (the one Python keeps).
fn top_level_function<'t>(root: Node<'t>, src: &str, name: &str) -> Option<Node<'t>> {
    let mut cursor = root.walk();
    let found = root.children(&mut cursor).filter(|n| {
        let def = match n.kind() {
            "decorated_definition" => n.child_by_field_name("definition"),
            _ => Some(*n),
        };
        def.is_some_and(|def| {
            def.kind() == "function_definition"
                && def
                    .child_by_field_name("name")
                    .is_some_and(|x| &src[x.byte_range()] == name)
        })
    });
    found.last()
}

fn defines(code: &str, name: &str) -> bool {
    parse(Language::Python, code)
        .is_some_and(|t| top_level_function(t.root_node(), code, name).is_some())
}

/// The problems, one per HumanEval task, in task order.
pub fn problems() -> Result<Vec<Problem>> {
    let records = data::infill_tasks(InfillSet::MultiLine)?;
    let mut by_id: BTreeMap<usize, Problem> = BTreeMap::new();
    for r in records {
        // `MultiLineInfilling/HumanEval/12/L3_L5`
        let mut parts = r.id.split('/').skip(1);
        let (Some(set), Some(num)) = (parts.next(), parts.next()) else {
            bail!("unexpected task id {}", r.id)
        };
        let num: usize = num.parse().with_context(|| format!("task id {}", r.id))?;
        if by_id.contains_key(&num) {
            continue;
        }
        let module = r.document_with(&r.canonical);
        let tree = parse(Language::Python, &module).context("no Python grammar")?;
        let root = tree.root_node();
        let Some(def) = top_level_function(root, &module, &r.entry_point) else {
            bail!("{}: no function {}", r.id, r.entry_point)
        };
        let body = def
            .child_by_field_name("definition")
            .unwrap_or(def)
            .child_by_field_name("body")
            .with_context(|| format!("{}: a function without a body", r.id))?;
        let header = module[def.start_byte()..body.start_byte()]
            .trim_end()
            .to_string();
        let mut cursor = root.walk();
        let imports: Vec<&str> = root
            .children(&mut cursor)
            .filter(|n| matches!(n.kind(), "import_statement" | "import_from_statement"))
            .map(|n| &module[n.byte_range()])
            .collect();
        by_id.insert(
            num,
            Problem {
                id: format!("{set}/{num}"),
                lines: (def.start_position().row + 1, def.end_position().row + 1),
                imports: imports.join("\n"),
                header,
                entry: r.entry_point.clone(),
                test: r.test.clone(),
                module,
            },
        );
    }
    Ok(by_id.into_values().collect())
}

/// The first fenced code block of a chat answer (preferring one marked `python`), or the whole
/// answer when it has none.
pub fn code_block(answer: &str) -> String {
    let mut blocks = Vec::new();
    let mut rest = answer;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let (lang, body) = after.split_once('\n').unwrap_or((after, ""));
        let end = body.find("```").unwrap_or(body.len());
        blocks.push((lang.trim().to_lowercase(), body[..end].to_string()));
        rest = body.get(end + 3..).unwrap_or("");
    }
    blocks
        .iter()
        .find(|(l, _)| l == "python" || l == "py")
        .or(blocks.first())
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| answer.to_string())
}

/// Prose only: the answer without its fenced code blocks.
pub fn without_code_blocks(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `base` with `code` appended when `code` defines `entry` at top level.
pub fn assemble(base: &str, code: &str, entry: &str) -> Option<String> {
    defines(code, entry).then(|| format!("{base}\n\n{code}\n"))
}

/// The leaves of function `name`, comments and its docstring left out.
fn function_tokens(src: &str, name: &str) -> Option<Vec<String>> {
    let tree = parse(Language::Python, src)?;
    let def = top_level_function(tree.root_node(), src, name)?;
    let def = def.child_by_field_name("definition").unwrap_or(def);
    let docstring = def
        .child_by_field_name("body")
        .and_then(|b| b.named_child(0))
        .filter(|s| {
            s.kind() == "expression_statement"
                && s.named_child(0).is_some_and(|x| x.kind() == "string")
        })
        .map(|s| s.id());
    let mut out = Vec::new();
    let mut stack = vec![def];
    while let Some(n) = stack.pop() {
        if n.kind() == "comment" || Some(n.id()) == docstring {
            continue;
        }
        if n.child_count() == 0 {
            out.push(src[n.byte_range()].to_string());
            continue;
        }
        let mut cursor = n.walk();
        let children: Vec<Node> = n.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    Some(out)
}

/// The refactored code's `entry` differs from the reference's in more than comments, layout
/// and docstring.
pub fn changed(reference: &str, code: &str, entry: &str) -> bool {
    match (
        function_tokens(reference, entry),
        function_tokens(code, entry),
    ) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// One mutant of the entry function that HumanEval's tests catch (tried in a seeded order), and
/// the failing run's traceback.
pub fn inject_bug(p: &Problem, seed: u64, sandbox: &Sandbox) -> Option<(Mutant, String)> {
    let all = mutants(&p.module, &p.entry);
    let salt = p.id.bytes().fold(seed, |h, b| {
        h.wrapping_mul(0x100_0000_01b3).wrapping_add(u64::from(b))
    });
    for i in data::permutation(all.len(), salt).into_iter().take(12) {
        let m = &all[i];
        let program = format!("{}\n\n{}\n\ncheck({})\n", m.source, p.test, p.entry);
        let run = sandbox.run_files(&[], &program);
        if !run.outcome.passed() {
            let lines: Vec<&str> = run.stderr.lines().collect();
            let tail = lines[lines.len().saturating_sub(25)..].join("\n");
            let error = if tail.trim().is_empty() {
                format!("the tests failed: {}", run.outcome.kind())
            } else {
                tail
            };
            return Some((m.clone(), error));
        }
    }
    None
}

fn prompt_tests(p: &Problem) -> String {
    format!(
        "Write pytest unit tests for the function `{entry}` below. The code is in the module `{MODULE}`: import it with `from {MODULE} import {entry}`. Reply with the test file in one Python code block.\n\n```python\n{code}\n```",
        entry = p.entry,
        code = p.module.trim_end()
    )
}

fn prompt_fix(buggy: &str, error: &str) -> String {
    format!(
        "This Python code fails its tests with the error below. Fix the bug. Reply with the corrected function in one Python code block.\n\n```python\n{}\n```\n\nError:\n```\n{}\n```",
        buggy.trim_end(),
        error.trim_end()
    )
}

fn prompt_refactor(p: &Problem) -> String {
    format!(
        "Refactor the function `{}` below for clarity or speed without changing its behaviour. Reply with the refactored function in one Python code block.\n\n```python\n{}\n```",
        p.entry,
        p.module.trim_end()
    )
}

fn prompt_explain(p: &Problem) -> String {
    format!(
        "Explain what the function `{}` below does: its inputs and outputs, side effects, and anything surprising.\n\n```python\n{}\n```",
        p.entry,
        p.module.trim_end()
    )
}

fn prompt_regenerate(p: &Problem, explanation: &str) -> String {
    let imports = if p.imports.is_empty() {
        String::new()
    } else {
        format!("{}\n\n", p.imports)
    };
    format!(
        "Write the Python function with this signature that does what the explanation says. Reply with the function in one Python code block.\n\nSignature:\n```python\n{imports}{}\n```\n\nExplanation:\n{}",
        p.header,
        explanation.trim()
    )
}

/// The raw model: a plain chat request, the answer as it comes.
struct Raw {
    chat: TemplateChat,
    max_tokens: usize,
}

impl Raw {
    fn ask(&self, prompt: &str) -> (String, Duration) {
        let mut req = ChatRequest::new(
            vec![ChatMessage::new(Role::User, prompt)],
            CancelToken::new(),
        );
        req.max_tokens = self.max_tokens;
        let start = Instant::now();
        let text = match self.chat.chat(req) {
            Ok(r) => r.text,
            Err(e) => {
                eprintln!("raw model error: {e}");
                String::new()
            }
        };
        (text, start.elapsed())
    }
}

/// `nib ask` as a user runs it.
struct NibCli {
    exe: PathBuf,
    settings: String,
}

/// What `nib ask --json` answered.
#[derive(Debug, Clone, Default)]
struct NibAnswer {
    generated_code: String,
    explanation: String,
    test_stubs: String,
    /// Why the answer has no code, and the model's text (shown with `--verbose`).
    empty_reason: String,
    raw: String,
    /// Which path wrote the code (`chat`, `repair`: nib's one-change repair search).
    source: String,
    /// The module after the answer's `edits` to it, when it has some.
    module_after: Option<String>,
    /// The text the answer's `edits` give any other file (the tests' file), when it has some.
    other_file: Option<String>,
    /// The answer's own latency field when it has one, else the process's wall time (which
    /// includes loading the model).
    latency: Duration,
}

impl NibCli {
    fn available(&self) -> bool {
        Command::new(&self.exe)
            .args(["ask", "--help"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn ask(
        &self,
        action: &str,
        module: &str,
        lines: (usize, usize),
        error: Option<&str>,
    ) -> Result<NibAnswer, String> {
        let dir = tempdir().map_err(|e| e.to_string())?;
        let run = || -> Result<NibAnswer, String> {
            let file = dir.join(format!("{MODULE}.py"));
            std::fs::write(&file, module).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&self.exe);
            cmd.arg("ask")
                .arg(action)
                .arg(format!("{}:{}-{}", file.display(), lines.0, lines.1))
                .args(["--json", "--settings", &self.settings])
                .current_dir(&dir);
            if let Some(e) = error {
                let f = dir.join("error.txt");
                std::fs::write(&f, e).map_err(|e| e.to_string())?;
                cmd.arg("--error-file").arg(f);
            }
            let start = Instant::now();
            let out = cmd.output().map_err(|e| format!("cannot run nib: {e}"))?;
            let wall = start.elapsed();
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(format!(
                    "nib ask {action} failed ({}): {}",
                    out.status,
                    err.trim()
                ));
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("nib ask {action}: not JSON: {e}"))?;
            let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let stubs = match &v["test_stubs"] {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
                s => s.as_str().unwrap_or("").to_string(),
            };
            let own = v
                .as_object()
                .and_then(|o| {
                    o.iter()
                        .find(|(k, x)| k.contains("latency") && x.is_number())
                        .and_then(|(_, x)| x.as_f64())
                })
                .map(|ms| Duration::from_secs_f64(ms / 1000.0));
            let (mut module_after, mut other_file) = (None, None);
            if let Some(edits) = v["edits"].as_array() {
                for e in edits {
                    let path = e["uri"].as_str().unwrap_or("");
                    let path = path.strip_prefix("file://").unwrap_or(path);
                    let same =
                        std::fs::canonicalize(path).ok() == std::fs::canonicalize(&file).ok();
                    let slot = if same && e["create"] != true {
                        module_after.get_or_insert_with(|| module.to_string())
                    } else {
                        other_file.get_or_insert_with(String::new)
                    };
                    apply_edit(slot, e);
                }
            }
            Ok(NibAnswer {
                module_after,
                other_file,
                generated_code: text("generated_code"),
                explanation: text("explanation"),
                test_stubs: stubs,
                empty_reason: text("empty_reason"),
                raw: text("raw"),
                source: text("source"),
                latency: own.unwrap_or(wall),
            })
        };
        let r = run();
        let _ = std::fs::remove_dir_all(&dir);
        r
    }
}

/// Apply one JSON edit (`range` in 0-based lines and characters, `new_text`) to `text`.
fn apply_edit(text: &mut String, edit: &serde_json::Value) {
    let offset = |pos: &serde_json::Value| -> usize {
        let line = pos["line"].as_u64().unwrap_or(0) as usize;
        let ch = pos["character"].as_u64().unwrap_or(0) as usize;
        let mut start = 0;
        for _ in 0..line {
            match text[start..].find('\n') {
                Some(i) => start += i + 1,
                None => return text.len(),
            }
        }
        let line_text = &text[start..];
        let line_end = line_text.find('\n').unwrap_or(line_text.len());
        let col = line_text[..line_end]
            .char_indices()
            .nth(ch)
            .map_or(line_end, |(i, _)| i);
        start + col
    };
    let (a, b) = (
        offset(&edit["range"]["start"]),
        offset(&edit["range"]["end"]),
    );
    let new_text = edit["new_text"].as_str().unwrap_or("");
    if a <= b {
        text.replace_range(a..b, new_text);
    }
}

fn tempdir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "nib-eval-actions-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TestsScore {
    pub tests: usize,
    pub passed: usize,
    pub mutants: usize,
    pub killed: usize,
    pub error: Option<String>,
}

/// Everything one side got on one problem (`None`: not asked, or no answer).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SideResult {
    pub tests: Option<TestsScore>,
    pub fix: Option<bool>,
    /// For nib: whether the fix came from its one-change repair search.
    pub fix_by_search: Option<bool>,
    /// (the module after applying the answer passes the tests, changed the function); an
    /// answer giving no rewrite leaves the module as it was.
    pub refactor: Option<(bool, bool)>,
    /// The answer gave no rewrite to apply (nib declined, or the raw answer has no code for
    /// the function).
    pub refactor_declined: Option<bool>,
    pub explain: Option<bool>,
    /// Answer latencies, ms.
    pub latency_ms: Vec<u64>,
    /// Why an action gave no answer.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProblemResult {
    pub id: String,
    /// The injected bug of the fix task.
    pub bug: Option<String>,
    pub raw: Option<SideResult>,
    pub nib: Option<SideResult>,
}

fn score_tests(p: &Problem, tests: &str, sandbox: &Sandbox) -> TestsScore {
    let framework = if tests.contains("unittest") && !tests.contains("import pytest") {
        Framework::Unittest
    } else {
        Framework::Pytest
    };
    let c = check_tests(
        &Module {
            name: MODULE,
            source: &p.module,
        },
        &p.entry,
        tests,
        framework,
        sandbox,
    );
    let total_mutants = mutants(&p.module, &p.entry).len();
    TestsScore {
        tests: c.current.tests.len(),
        passed: c.current.passing().len(),
        mutants: total_mutants,
        killed: c.killed(),
        error: c.current.error.clone(),
    }
}

struct Ctx<'a> {
    sandbox: &'a Sandbox,
    raw: Option<&'a Raw>,
    verbose: bool,
}

impl Ctx<'_> {
    fn show(&self, id: &str, what: &str, text: &str) {
        if self.verbose {
            eprintln!("--- {id} {what}\n{}\n", text.trim_end());
        }
    }

    /// The round trip: the raw model writes the function from the explanation and signature.
    fn round_trip(&self, p: &Problem, explanation: &str) -> bool {
        let Some(raw) = self.raw else { return false };
        let prose = without_code_blocks(explanation);
        if prose.trim().is_empty() {
            return false;
        }
        let (answer, _) = raw.ask(&prompt_regenerate(p, &prose));
        self.show(&p.id, "regenerated", &answer);
        assemble(&p.imports, &code_block(&answer), &p.entry)
            .is_some_and(|m| p.passes(&m, self.sandbox))
    }
}

fn run_raw(
    ctx: &Ctx,
    raw: &Raw,
    p: &Problem,
    actions: &[Action],
    bug: Option<&(Mutant, String)>,
) -> SideResult {
    let mut r = SideResult::default();
    for &a in actions {
        let prompt = match a {
            Action::Tests => prompt_tests(p),
            Action::Fix => match bug {
                Some((m, err)) => prompt_fix(&m.source, err),
                None => continue,
            },
            Action::Refactor => prompt_refactor(p),
            Action::Explain => prompt_explain(p),
        };
        let (answer, took) = raw.ask(&prompt);
        r.latency_ms.push(took.as_millis() as u64);
        ctx.show(&p.id, &format!("raw {}", a.name()), &answer);
        let code = code_block(&answer);
        match a {
            Action::Tests => r.tests = Some(score_tests(p, &code, ctx.sandbox)),
            Action::Fix => {
                let (m, _) = bug.expect("checked above");
                r.fix = Some(
                    assemble(&m.source, &code, &p.entry).is_some_and(|f| p.passes(&f, ctx.sandbox)),
                );
            }
            Action::Refactor => {
                let after = assemble(&p.module, &code, &p.entry);
                r.refactor_declined = Some(after.is_none());
                let applied = after.as_deref().unwrap_or(&p.module);
                let kept = p.passes(applied, ctx.sandbox);
                r.refactor = Some((kept, changed(&p.module, &code, &p.entry)));
            }
            Action::Explain => r.explain = Some(ctx.round_trip(p, &answer)),
        }
    }
    r
}

fn run_nib(
    ctx: &Ctx,
    nib: &NibCli,
    p: &Problem,
    actions: &[Action],
    bug: Option<&(Mutant, String)>,
) -> SideResult {
    let mut r = SideResult::default();
    for &a in actions {
        let (module, error) = match (a, bug) {
            (Action::Fix, Some((m, err))) => (m.source.as_str(), Some(err.as_str())),
            (Action::Fix, None) => continue,
            _ => (p.module.as_str(), None),
        };
        let answer = match nib.ask(a.name(), module, p.lines, error) {
            Ok(x) => x,
            Err(e) => {
                r.errors.push(e);
                continue;
            }
        };
        r.latency_ms.push(answer.latency.as_millis() as u64);
        ctx.show(
            &p.id,
            &format!(
                "nib {} ({:.1} s, {})",
                a.name(),
                answer.latency.as_secs_f64(),
                if answer.source.is_empty() {
                    "chat"
                } else {
                    &answer.source
                }
            ),
            &if answer.empty_reason.is_empty() {
                format!("{}\n{}", answer.explanation, answer.generated_code)
            } else {
                format!(
                    "(no code: {})\n{}\n--- the model's answer:\n{}",
                    answer.empty_reason, answer.explanation, answer.raw
                )
            },
        );
        match a {
            Action::Tests => {
                let tests = match &answer.other_file {
                    Some(f) => f,
                    None if answer.generated_code.trim().is_empty() => &answer.test_stubs,
                    None => &answer.generated_code,
                };
                r.tests = Some(score_tests(p, tests, ctx.sandbox));
            }
            Action::Fix => {
                let fixed = match &answer.module_after {
                    Some(m) => Some(m.clone()),
                    None => assemble(module, &answer.generated_code, &p.entry),
                };
                r.fix = Some(fixed.is_some_and(|f| p.passes(&f, ctx.sandbox)));
                r.fix_by_search = Some(answer.source == "repair");
            }
            Action::Refactor => {
                let after = match &answer.module_after {
                    Some(m) => Some(m.clone()),
                    None => assemble(&p.module, &answer.generated_code, &p.entry),
                };
                // Declined: the module stays as it was.
                r.refactor_declined = Some(after.is_none());
                let kept = p.passes(after.as_deref().unwrap_or(&p.module), ctx.sandbox);
                let differs = after.is_some_and(|f| changed(&p.module, &f, &p.entry));
                r.refactor = Some((kept, differs));
            }
            Action::Explain => r.explain = Some(ctx.round_trip(p, &answer.explanation)),
        }
    }
    r
}

/// A metric over the problems: numerator and denominator.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Ratio {
    pub hit: usize,
    pub of: usize,
}

impl Ratio {
    fn add(&mut self, hit: usize, of: usize) {
        self.hit += hit;
        self.of += of;
    }

    fn show(self) -> String {
        if self.of == 0 {
            return "-".to_string();
        }
        format!(
            "{:5.1}% ({}/{})",
            100.0 * self.hit as f64 / self.of as f64,
            self.hit,
            self.of
        )
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Generated tests passing on the reference (all tests of all problems; a test file that
    /// does not load counts as one failing test).
    pub tests_pass: Ratio,
    /// Problems whose generated tests all pass on the reference.
    pub tests_all_pass: Ratio,
    pub mutation_score: Ratio,
    pub fix_pass1: Ratio,
    /// Fixes passing that nib's one-change repair search found (of the fixes nib made).
    pub fix_by_search: Ratio,
    /// Refactors after which the tests pass (a declined one leaves the code as it was).
    pub refactor_kept: Ratio,
    pub refactor_changed: Ratio,
    /// Refactors declined: no rewrite given.
    pub refactor_declined: Ratio,
    /// Refactors that changed the code and kept its behaviour: a working refactoring (an
    /// answer repeating the code keeps it trivially).
    pub refactor_changed_kept: Ratio,
    pub explain_round_trip: Ratio,
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub no_answer: usize,
}

pub fn summarize(results: &[&SideResult]) -> Summary {
    let mut s = Summary::default();
    let mut lat: Vec<u64> = Vec::new();
    for r in results {
        if let Some(t) = &r.tests {
            let tests = t.tests.max(1);
            s.tests_pass.add(t.passed, tests);
            s.tests_all_pass.add(
                usize::from(t.passed == t.tests && t.tests > 0 && t.error.is_none()),
                1,
            );
            s.mutation_score.add(t.killed, t.mutants);
        }
        if let Some(f) = r.fix {
            s.fix_pass1.add(usize::from(f), 1);
            if let Some(searched) = r.fix_by_search {
                s.fix_by_search.add(usize::from(f && searched), 1);
            }
        }
        if let Some((kept, changed)) = r.refactor {
            s.refactor_kept.add(usize::from(kept), 1);
            s.refactor_changed.add(usize::from(changed), 1);
            s.refactor_changed_kept.add(usize::from(changed && kept), 1);
            s.refactor_declined
                .add(usize::from(r.refactor_declined.unwrap_or(false)), 1);
        }
        if let Some(e) = r.explain {
            s.explain_round_trip.add(usize::from(e), 1);
        }
        lat.extend(&r.latency_ms);
        s.no_answer += r.errors.len();
    }
    lat.sort_unstable();
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q).round() as usize)
            .copied()
    };
    s.latency_p50_ms = pct(0.5);
    s.latency_p95_ms = pct(0.95);
    s
}

pub fn run(args: ActionsArgs, make_ide: MakeIde) -> Result<()> {
    let all = problems()?;
    let total = all.len();
    let picked: Vec<Problem> = data::subset(total, Some(args.n), args.seed)
        .into_iter()
        .map(|i| all[i].clone())
        .filter(|p| args.task.is_empty() || args.task.contains(&p.id))
        .collect();
    let sandbox = Sandbox::new(SandboxConfig {
        timeout: Duration::from_secs(args.timeout),
        ..SandboxConfig::default()
    });
    eprintln!(
        "actions: {} of {total} HumanEval problems (seed {}); model {}; actions {:?}; sandbox network isolation {:?}",
        picked.len(),
        args.seed,
        args.model,
        args.actions,
        sandbox.network_isolated()
    );
    // Self-check: every reference passes its tests through the same runner.
    let failing: Vec<&str> = picked
        .iter()
        .filter(|p| !p.passes(&p.module, &sandbox))
        .map(|p| p.id.as_str())
        .collect();
    if !failing.is_empty() {
        bail!("self-check: reference solutions fail their tests: {failing:?}");
    }
    let bugs: Vec<Option<(Mutant, String)>> = if args.actions.contains(&Action::Fix) {
        picked
            .iter()
            .map(|p| inject_bug(p, args.seed, &sandbox))
            .collect()
    } else {
        vec![None; picked.len()]
    };
    let with_bug = bugs.iter().filter(|b| b.is_some()).count();
    eprintln!(
        "self-check: {} references pass their tests; {with_bug} have a bug the tests catch",
        picked.len()
    );
    // The raw model also regenerates functions from explanations (for both sides).
    let need_raw = args.sides.contains(&Side::Raw) || args.actions.contains(&Action::Explain);
    let raw = if need_raw {
        let ide = make_ide(&args.model, None, Some(args.max_tokens))
            .with_context(|| format!("cannot load model {}", args.model))?;
        let EngineState::Ready(engine) = ide.engine_state() else {
            bail!("model {} is not loaded", args.model)
        };
        Some(Raw {
            chat: TemplateChat::new(engine).context("the model has no chat template")?,
            max_tokens: args.max_tokens,
        })
    } else {
        None
    };
    let nib = NibCli {
        exe: match &args.nib {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("cannot find this executable")?,
        },
        settings: nib_settings(&args).to_string(),
    };
    let nib_available = args.sides.contains(&Side::Nib) && nib.available();
    if args.sides.contains(&Side::Nib) && !nib_available {
        eprintln!(
            "{} has no `ask` command: the nib side is not measured",
            nib.exe.display()
        );
    }
    let ctx = Ctx {
        sandbox: &sandbox,
        raw: raw.as_ref(),
        verbose: args.verbose,
    };
    let started = Instant::now();
    let mut results = Vec::new();
    for (i, (p, bug)) in picked.iter().zip(&bugs).enumerate() {
        let raw_r = match (&raw, args.sides.contains(&Side::Raw)) {
            (Some(raw), true) => Some(run_raw(&ctx, raw, p, &args.actions, bug.as_ref())),
            _ => None,
        };
        let nib_r = nib_available.then(|| run_nib(&ctx, &nib, p, &args.actions, bug.as_ref()));
        eprintln!(
            "[{}/{}] {} ({:.0}s)",
            i + 1,
            picked.len(),
            p.id,
            started.elapsed().as_secs_f64()
        );
        results.push(ProblemResult {
            id: p.id.clone(),
            bug: bug.as_ref().map(|(m, _)| m.describe()),
            raw: raw_r,
            nib: nib_r,
        });
    }
    let raw_sum = summarize(
        &results
            .iter()
            .filter_map(|r| r.raw.as_ref())
            .collect::<Vec<_>>(),
    );
    let nib_sum = nib_available.then(|| {
        summarize(
            &results
                .iter()
                .filter_map(|r| r.nib.as_ref())
                .collect::<Vec<_>>(),
        )
    });
    let header = format!(
        "nib eval actions: {} of {total} HumanEval problems (seed {}), model {}{}{}, {:.0}s",
        picked.len(),
        args.seed,
        args.model,
        args.action_budget_ms
            .map(|ms| format!(", actionBudgetMs {ms}"))
            .unwrap_or_default(),
        args.remote
            .as_ref()
            .map(|url| format!(", nib side remote {url} ({})", args.remote_model))
            .unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    let json = serde_json::json!({
        "header": header,
        "raw": args.sides.contains(&Side::Raw).then_some(&raw_sum),
        "nib": nib_sum,
        "problems": results,
    });
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &json)?;
        writeln!(stdout)?;
    } else {
        let raw_col = args.sides.contains(&Side::Raw).then_some(&raw_sum);
        write!(stdout, "{}", table(&header, raw_col, nib_sum.as_ref()))?;
    }
    Ok(())
}

/// (action, metric, the cell of a side).
type Row = (&'static str, &'static str, fn(&Summary) -> String);

pub fn table(header: &str, raw: Option<&Summary>, nib: Option<&Summary>) -> String {
    let rows: [Row; 13] = [
        ("tests", "generated tests passing on the reference", |s| {
            s.tests_pass.show()
        }),
        ("tests", "problems whose tests all pass", |s| {
            s.tests_all_pass.show()
        }),
        ("tests", "mutation score (mutants killed)", |s| {
            s.mutation_score.show()
        }),
        ("fix", "pass@1 after the fix", |s| s.fix_pass1.show()),
        ("fix", "passing fixes by the one-change search", |s| {
            s.fix_by_search.show()
        }),
        ("refactor", "keeps behaviour (tests pass after it)", |s| {
            s.refactor_kept.show()
        }),
        ("refactor", "declined (no rewrite given)", |s| {
            s.refactor_declined.show()
        }),
        ("refactor", "changed the code", |s| {
            s.refactor_changed.show()
        }),
        ("refactor", "changed it and kept the behaviour", |s| {
            s.refactor_changed_kept.show()
        }),
        ("explain", "round trip (regenerated function passes)", |s| {
            s.explain_round_trip.show()
        }),
        ("latency", "answer p50", |s| ms(s.latency_p50_ms)),
        ("latency", "answer p95", |s| ms(s.latency_p95_ms)),
        ("errors", "actions without an answer", |s| {
            s.no_answer.to_string()
        }),
    ];
    let col = |s: Option<&Summary>, f: fn(&Summary) -> String| {
        s.map(f).unwrap_or_else(|| "not run".to_string())
    };
    let mut out = format!("{header}\n");
    out += &format!(
        "{:<9} {:<42} {:>22} {:>22}\n",
        "action", "metric", "raw model", "nib"
    );
    for (action, metric, f) in rows {
        out += &format!(
            "{:<9} {:<42} {:>22} {:>22}\n",
            action,
            metric,
            col(raw, f),
            col(nib, f)
        );
    }
    out
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.1}s", v as f64 / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::new(SandboxConfig {
            timeout: Duration::from_secs(60),
            ..SandboxConfig::default()
        })
    }

    #[test]
    fn the_nib_side_asks_a_remote_server_without_fallback_when_given_one() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ActionsArgs,
        }
        let local = Cli::parse_from(["eval", "--action-budget-ms", "0"]).args;
        assert_eq!(
            nib_settings(&local),
            serde_json::json!({ "model": "qwen2.5-coder-0.5b", "actionBudgetMs": 0 })
        );
        let remote = Cli::parse_from([
            "eval",
            "--remote",
            "http://127.0.0.1:8000/v1",
            "--remote-model",
            "coder",
        ])
        .args;
        let s = nib_settings(&remote);
        assert_eq!(s["chatProvider"], "remote");
        assert_eq!(s["remoteBaseUrl"], "http://127.0.0.1:8000/v1");
        assert_eq!(s["remoteModel"], "coder");
        assert_eq!(s["fallback"], false);
    }

    #[test]
    fn every_problem_is_a_module_whose_reference_passes() {
        let all = problems().unwrap();
        assert_eq!(all.len(), 164);
        assert_eq!(all[0].id, "HumanEval/0");
        let p = &all[0];
        assert_eq!(p.entry, "has_close_elements");
        assert_eq!(
            p.header,
            "def has_close_elements(numbers: List[float], threshold: float) -> bool:"
        );
        assert_eq!(p.imports, "from typing import List");
        let lines: Vec<&str> = p.module.lines().collect();
        assert!(lines[p.lines.0 - 1].starts_with("def has_close_elements"));
        let sb = sandbox();
        // A few across the set (all of them run in `nib eval actions`' self-check).
        for p in [&all[0], &all[57], &all[163]] {
            assert!(p.passes(&p.module, &sb), "{}", p.id);
            assert!(!p.passes(&p.imports, &sb), "{}", p.id);
        }
    }

    #[test]
    fn injected_bugs_are_caught_by_the_tests() {
        let all = problems().unwrap();
        let sb = sandbox();
        let p = &all[0];
        let (m, error) = inject_bug(p, 0, &sb).unwrap();
        assert!(!p.passes(&m.source, &sb));
        assert!(
            error.contains("AssertionError") || error.contains("Error"),
            "{error}"
        );
        assert_eq!(inject_bug(p, 0, &sb).unwrap().0, m, "seeded");
    }

    #[test]
    fn answers_are_assembled_and_compared() {
        let answer = "Here you go:\n```python\ndef f(x):\n    return x + 1\n```\nDone.\n```text\nnot this\n```";
        assert_eq!(code_block(answer), "def f(x):\n    return x + 1\n");
        assert_eq!(code_block("def f(): pass"), "def f(): pass");
        assert_eq!(without_code_blocks(answer), "Here you go:\nDone.\n");
        let base = "import math\n\ndef f(x):\n    return x\n";
        let code = code_block(answer);
        let m = assemble(base, &code, "f").unwrap();
        assert!(m.starts_with(base) && m.contains("return x + 1"));
        assert!(assemble(base, "def g(): pass", "f").is_none());
        assert!(changed(base, &code, "f"));
        assert!(
            changed(base, &m, "f"),
            "the appended definition is the one compared"
        );
        let same = "def f(x):\n    \"\"\"Doc.\"\"\"\n    # the same\n    return x\n";
        assert!(!changed(base, same, "f"));
        assert!(!changed(base, "", "f"));
    }

    #[test]
    fn generated_tests_are_scored_on_the_reference_and_mutants() {
        let all = problems().unwrap();
        let p = &all[0];
        let sb = sandbox();
        let good = "from solution import has_close_elements\n\ndef test_close():\n    assert has_close_elements([1.0, 2.0, 2.05], 0.1)\n\ndef test_far():\n    assert not has_close_elements([1.0, 2.0, 3.0], 0.5)\n\ndef test_wrong():\n    assert has_close_elements([], 1.0)\n";
        let s = score_tests(p, good, &sb);
        assert_eq!((s.tests, s.passed), (3, 2));
        assert!(
            s.mutants > 0 && s.killed > 0 && s.killed <= s.mutants,
            "{s:?}"
        );
        let broken = score_tests(p, "def test_x(:\n", &sb);
        assert_eq!((broken.tests, broken.passed, broken.killed), (0, 0, 0));
        assert!(broken.error.is_some());
        let sum = summarize(&[
            &SideResult {
                tests: Some(s.clone()),
                fix: Some(true),
                fix_by_search: Some(true),
                refactor: Some((true, false)),
                refactor_declined: Some(true),
                explain: Some(false),
                latency_ms: vec![100, 300],
                errors: vec![],
            },
            &SideResult {
                tests: Some(broken),
                fix: Some(false),
                refactor: Some((true, true)),
                ..SideResult::default()
            },
            &SideResult {
                refactor: Some((false, true)),
                ..SideResult::default()
            },
        ]);
        assert_eq!((sum.tests_pass.hit, sum.tests_pass.of), (2, 4));
        assert_eq!((sum.fix_pass1.hit, sum.fix_pass1.of), (1, 2));
        assert_eq!((sum.fix_by_search.hit, sum.fix_by_search.of), (1, 1));
        assert_eq!((sum.refactor_changed.hit, sum.refactor_changed.of), (2, 3));
        assert_eq!((sum.refactor_kept.hit, sum.refactor_kept.of), (2, 3));
        assert_eq!(
            (sum.refactor_declined.hit, sum.refactor_declined.of),
            (1, 3)
        );
        assert_eq!(
            (sum.refactor_changed_kept.hit, sum.refactor_changed_kept.of),
            (1, 3)
        );
        assert_eq!(sum.latency_p95_ms, Some(300));
        let t = table("h", Some(&sum), None);
        assert!(t.contains(" 50.0% (1/2)"), "{t}");
        assert!(t.contains("not run"), "{t}");
    }

    /// The nib side against a stand-in `nib` that answers `nib ask --json` as the real one
    /// promises: the arguments it gets and the scoring of its JSON.
    #[test]
    fn nib_side_runs_nib_ask_and_scores_its_json() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempdir().unwrap();
        let log = dir.join("args.log");
        let script = dir.join("nib");
        let answer = |code: &str| {
            serde_json::json!({"generated_code": code, "explanation": "", "latency_ms": 1500})
                .to_string()
        };
        let tests = serde_json::json!({
            "generated_code": "not the tests",
            "latency_ms": 1500,
            "edits": [{
                "uri": "file://@DIR@/tests/test_solution.py",
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                "new_text": "from solution import f\n\ndef test_two():\n    assert f(2) == 4\n\ndef test_bad():\n    assert f(1) == 3\n",
                "create": true
            }]
        });
        let refactor = serde_json::json!({
            "generated_code": "return x + x",
            "latency_ms": 1500,
            "edits": [{
                "uri": "file://@FILE@",
                "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 16}},
                "new_text": "return x + x",
                "create": false
            }]
        });
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$2\" = --help ] && exit 0\necho \"$@\" >> '{}'\nf=${{3%%:*}}\nd=$(dirname \"$f\")\ncase \"$2\" in\n  tests) printf '%s' '{}' | sed \"s|@DIR@|$d|\" ;;\n  fix) printf '%s' '{}' ;;\n  refactor) printf '%s' '{}' | sed \"s|@FILE@|$f|\" ;;\n  *) exit 3 ;;\nesac\n",
                log.display(),
                tests,
                answer("def f(x):\n    return x * 2\n"),
                refactor,
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = Problem {
            id: "T/1".into(),
            module: "def f(x):\n    return x * 2\n".into(),
            entry: "f".into(),
            test: "def check(c):\n    assert c(2) == 4\n    assert c(0) == 0\n".into(),
            lines: (1, 2),
            imports: String::new(),
            header: "def f(x):".into(),
        };
        let sb = sandbox();
        let bug = inject_bug(&p, 0, &sb).unwrap();
        let nib = NibCli {
            exe: script,
            settings: "{}".into(),
        };
        assert!(nib.available());
        let ctx = Ctx {
            sandbox: &sb,
            raw: None,
            verbose: false,
        };
        let all = [
            Action::Tests,
            Action::Fix,
            Action::Refactor,
            Action::Explain,
        ];
        let r = run_nib(&ctx, &nib, &p, &all, Some(&bug));
        let t = r.tests.clone().unwrap_or_else(|| panic!("{:?}", r.errors));
        assert_eq!((t.tests, t.passed), (2, 1));
        assert!(t.killed > 0, "{t:?}");
        assert_eq!(r.fix, Some(true));
        assert_eq!(r.refactor, Some((true, true)));
        assert_eq!(r.refactor_declined, Some(false));
        assert_eq!(r.explain, None);
        assert_eq!(
            r.errors.len(),
            1,
            "explain fails in the stand-in: {:?}",
            r.errors
        );
        assert_eq!(r.latency_ms, vec![1500, 1500, 1500]);
        let args = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = args.lines().collect();
        assert!(
            lines[0].starts_with("ask tests ")
                && lines[0].contains("solution.py:1-2 --json --settings {}"),
            "{args}"
        );
        assert!(
            lines[1].starts_with("ask fix ") && lines[1].contains("--error-file"),
            "{args}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
