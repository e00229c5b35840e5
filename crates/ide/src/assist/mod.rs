//! The assistant's other jobs: explain, fix, write tests, refactor, write code from a
//! description, and a conversation. Each asks the chat provider through [`Ide::chat`] (so
//! routing, redaction and fallback apply) and then checks what came back: the code is taken out
//! of its fence, the edited file must parse no worse than before (tree-sitter), and the safety
//! gate runs on every piece of code, as for completions.
//!
//! The prompt holds the code the action is about (the selection, or the enclosing function or
//! class), the environment header and the definitions it uses (the repository context
//! source), within the model's context as its tokenizer counts it.

mod pure;
mod verify;

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use nib_engine::{
    CancelToken, ChatMessage, ChatRequest, ChatResponse, DeltaCallback, Role, StopReason,
};
use nib_syntax::Language;
use nib_text::{Document, Range};

use crate::complete::{confidence_name, Purpose};
use crate::{
    ChatAnswer, ChatContext, CodeActionKind, CodeActionRequest, CodeActionResult, Ide, IdeError,
    ProviderInfo, Snapshot,
};
pub use pure::{plan_tests, trim_conversation, Framework, TestPlan};
use pure::{PromptInput, Target};
pub use verify::{TestOutcome, Verification};

/// What an action is given besides the document and the range.
#[derive(Debug, Clone, Default)]
pub struct AssistInput {
    /// For `fix`: the diagnostics' messages (any source) or an error text / traceback.
    pub errors: Vec<String>,
    /// For `generate` from a description: the description; for `refactor`: a wish.
    pub prompt: Option<String>,
    /// For `tests`: where the project keeps tests (the caller reads the project). `None`:
    /// pytest in `test_<module>.py` next to the file, or a Rust `mod tests` in it. For
    /// `refactor` and `fix`: the project's tests for the file (its `existing` text), run on
    /// the result; `None`: not verified.
    pub tests: Option<TestTarget>,
    /// For fix, refactor and generate: distinct other versions wanted (at most
    /// [`MAX_ALTERNATIVES`]), from further answers of the model, each checked like the first.
    pub alternatives: usize,
}

/// What the first and the second try of an action differ in.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    /// Look for a one-change repair before asking the model (a fix's first try).
    search: bool,
    /// The first answer, shown as the model's turn when a rewrite is asked again.
    previous: Option<&'a str>,
    /// The function's recorded behaviour: recorded by the first try that needs it.
    recorded: &'a OnceCell<verify::Recorded>,
    /// When the action began (its first try): what the action budget counts from.
    begun: Instant,
}

/// The "model" of a fix found by nib's one-change repair search.
const REPAIR_SEARCH: &str = "nib one-change repair search";

/// Alternatives an action gives at most.
pub const MAX_ALTERNATIVES: usize = 3;
/// Temperature of the further answers (a remote model samples; a local one starts each from
/// another first token instead).
const ALTERNATIVE_TEMPERATURE: f32 = 0.8;

/// The test file of a `tests` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestTarget {
    pub plan: TestPlan,
    /// The test file's URI.
    pub uri: String,
    /// Its text, when it exists.
    pub existing: Option<String>,
}

/// One edit of an action's result, in the request's position encoding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEdit {
    pub uri: String,
    pub range: Range,
    pub new_text: String,
    /// The file does not exist yet: create it (the range is then empty at 0:0).
    pub create: bool,
}

/// A conversation turn's answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatTurn {
    /// The user message as it is kept in the conversation (with the code it quotes).
    pub user: String,
    pub reply: String,
    /// The code in the reply's first fenced block, if any.
    pub code: Option<String>,
    /// Earlier messages left out to fit the model's context.
    pub dropped_messages: usize,
    pub confidence: &'static str,
    pub provider: ProviderInfo,
    pub latency_ms: f64,
    pub generated_tokens: usize,
}

/// Output caps per action (at most the configured code action cap). A fix or a rewrite
/// repeats the whole function (with its docstring) after a sentence of explanation: a
/// 40-line function needs about 500 tokens, and an answer cut inside its code is lost.
fn max_tokens(kind: CodeActionKind, configured: usize) -> usize {
    let cap = match kind {
        CodeActionKind::Explain => 200,
        CodeActionKind::Tests => 320,
        _ => 512,
    };
    cap.min(configured)
}

/// When the answer to an action must end under an action budget of `budget` for a request
/// started at `started`: tests leave [`TESTS_CHECK_SHARE`] of it to be run against the code
/// (and its mutants), an explanation [`EXPLAIN_MARGIN`], a fix or a rewrite
/// [`REWRITE_CHECK_SHARE`] for the tests it must pass. A fix or a rewrite cut inside its code
/// is completed from the original where it was copying it ([`pure::complete_from_original`]);
/// its second try ends at the same time as its first would have.
fn answer_deadline(
    kind: CodeActionKind,
    started: Instant,
    budget: Option<Duration>,
) -> Option<Instant> {
    let budget = budget?;
    match kind {
        CodeActionKind::Tests => Some(started + budget.mul_f64(1.0 - TESTS_CHECK_SHARE)),
        CodeActionKind::Explain => Some(started + budget.saturating_sub(EXPLAIN_MARGIN)),
        CodeActionKind::Fix | CodeActionKind::Refactor => {
            Some(started + budget.mul_f64(1.0 - REWRITE_CHECK_SHARE))
        }
        _ => None,
    }
}

/// The share of an action budget generated tests keep for running them: three sandbox runs
/// of a few hundred milliseconds each, and the mutants in what is left.
const TESTS_CHECK_SHARE: f64 = 0.25;
/// The share of an action budget a fix or a rewrite keeps for its checks: the docstring's
/// examples, the project's tests and the recorded results, a few sandbox runs.
const REWRITE_CHECK_SHARE: f64 = 0.15;
/// The time an explanation keeps after its answer (the safety gate).
const EXPLAIN_MARGIN: Duration = Duration::from_millis(300);

/// Prompt-lookup drafting for answers that copy much of their prompt: a fixed or rewritten
/// function repeats most of the original, tests repeat its calls. A local model then confirms
/// several tokens per decoding step (measured in docs/evaluation.md, "Code actions": 4% less
/// time in all on one llama.cpp thread, the same answers).
fn draft_tokens(kind: CodeActionKind) -> Option<usize> {
    match kind {
        CodeActionKind::Fix | CodeActionKind::Refactor | CodeActionKind::Tests => {
            Some(ACTION_DRAFT_TOKENS)
        }
        _ => None,
    }
}

const ACTION_DRAFT_TOKENS: usize = 8;

/// Tokens kept free in the model's context besides the answer (template markers, rounding).
const CONTEXT_MARGIN_TOKENS: usize = 64;
/// Output cap of a conversation turn.
const CHAT_MAX_TOKENS: usize = 384;

fn file_name(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

impl Ide {
    /// Which of the assistant's actions apply at `start..end` (bytes) of `snap`: explain,
    /// tests and refactor on a selection or in a function (explain also in a class); fix when
    /// the request carries diagnostics. Cheap: a look at the syntax tree.
    pub(crate) fn assist_offers(
        &self,
        snap: &Snapshot,
        start: usize,
        end: usize,
        has_diagnostics: bool,
    ) -> Vec<CodeActionKind> {
        let Some(lang) = snap.lang else {
            return Vec::new();
        };
        let text = snap.doc.text();
        let mut out = Vec::new();
        for kind in [
            CodeActionKind::Explain,
            CodeActionKind::Tests,
            CodeActionKind::Refactor,
        ] {
            if pure::target(kind, lang, snap.tree.as_ref(), &text, start, end).is_some() {
                out.push(kind);
            }
        }
        if has_diagnostics {
            out.insert(0, CodeActionKind::Fix);
        }
        out
    }

    /// Run one of the assistant's actions against `snap`. Blocking: asks the chat provider.
    /// A fix that leaves tests failing (the project's, or the docstring examples) is tried once
    /// more with their new output as the error; a rewrite not offered because it broke a test
    /// is tried once more, told what broke; so is a rewrite that changed only comments,
    /// docstrings or layout, asked for a real change.
    pub fn assist(
        &self,
        snap: &Snapshot,
        req: CodeActionRequest,
        input: &AssistInput,
        cancel: &CancelToken,
    ) -> Result<CodeActionResult, IdeError> {
        // A rewrite's recorded behaviour is the current code's: recorded once for both tries.
        let recorded = OnceCell::new();
        let begun = Instant::now();
        let first_try = Attempt {
            search: true,
            previous: None,
            recorded: &recorded,
            begun,
        };
        let (mut first, retry) = self.assist_once(snap, req, input, cancel, first_try)?;
        let Some(output) = retry else {
            return Ok(first);
        };
        let fix = req.kind == CodeActionKind::Fix;
        // Another answer costs about as long as the first: none when both would not fit.
        if let Some(budget) = self.config().action_budget {
            let took = Duration::from_secs_f64(first.latency_ms.max(0.0) / 1000.0);
            if took * 2 > budget {
                tracing::info!(
                    fix,
                    ?took,
                    ?budget,
                    "no second try: it would not fit the action's time"
                );
                let note = format!(
                    "nib did not try again: the first answer took {:.1} s of the {:.0} s an action should take (`actionBudgetMs`).",
                    took.as_secs_f64(),
                    budget.as_secs_f64()
                );
                first.explanation = format!("{}\n\n{note}", first.explanation.trim_end());
                if let Some(r) = first.empty_reason.as_mut().filter(|_| !fix) {
                    r.push_str(&format!(" ({note})"));
                }
                return Ok(first);
            }
        }
        tracing::info!(fix, "one more try with what the tests said");
        let again = AssistInput {
            errors: vec![output.clone()],
            ..input.clone()
        };
        let unchanged = output == pure::UNCHANGED;
        // A rewrite is asked again in the conversation: the model sees its own answer and is
        // told it is the same code, or what it broke.
        let previous = (!fix && !first.raw.trim().is_empty()).then(|| first.raw.clone());
        let second_try = Attempt {
            search: false,
            previous: previous.as_deref(),
            recorded: &recorded,
            begun,
        };
        let (mut second, second_retry) = self.assist_once(snap, req, &again, cancel, second_try)?;
        let failing = |r: &CodeActionResult| {
            r.verification
                .as_ref()
                .map_or(usize::MAX, |v| v.tests.iter().filter(|t| !t.passed).count())
        };
        // A rewrite offered but changing results nib recorded.
        let differs = !fix && !unchanged && !first.edits.is_empty();
        let better = if fix {
            second.verification.as_ref().is_some_and(|v| v.verified)
                || (!second.edits.is_empty() && failing(&second) < failing(&first))
        } else if unchanged {
            // Better when it changed the code itself, keeping every result the first kept; or,
            // after a first answer with no change at all, keeping the tests (its recorded
            // results may differ: it says so).
            !second.edits.is_empty()
                && (second_retry.is_none()
                    || (first.edits.is_empty() && second_retry.as_deref() != Some(pure::UNCHANGED)))
        } else if differs {
            !second.edits.is_empty() && second_retry.is_none()
        } else {
            !second.edits.is_empty()
        };
        if better {
            second.explanation = format!(
                "{}\n\n({})",
                second.explanation.trim_end(),
                if fix && !second.verification.as_ref().is_some_and(|v| v.verified) {
                    "The first fix left more tests failing; this one is from a second try with their output."
                } else if fix {
                    "The first fix left the tests failing; this one is from a second try with their output."
                } else if unchanged {
                    "The first rewrite changed nothing but comments, docstrings or layout; this one is from a second try."
                } else if differs {
                    "The first rewrite changed the function's results on inputs nib recorded; this one is from a second try."
                } else {
                    "The first rewrite broke a test and was not offered; this one is from a second try."
                }
            );
            second.latency_ms += first.latency_ms;
            Ok(second)
        } else {
            let note = if fix {
                "A second try with the tests' new output did not make them pass either."
            } else if unchanged && !first.edits.is_empty() {
                "This rewrite changes only comments, docstrings or layout: a second try for a change of the code itself did not give one that keeps the behaviour."
            } else if unchanged {
                "A second try did not change the code either."
            } else if differs {
                "A second try did not keep the recorded results either."
            } else {
                "A second try did not keep the behaviour either."
            };
            first.explanation = format!("{}\n\n{note}", first.explanation.trim_end());
            if let Some(r) = first.empty_reason.as_mut().filter(|_| !fix) {
                r.push_str(&format!(" ({note})"));
            }
            first.latency_ms += second.latency_ms;
            Ok(first)
        }
    }

    /// One answer for an action, and what one more try would be told: for a fix the output of
    /// the tests it leaves failing, for a rewrite not offered why. With `search`, a Python fix
    /// whose docstring examples or project tests fail first looks for a one-change repair that
    /// makes them pass (see [`verify::repair`]); the model is asked when there is none.
    fn assist_once(
        &self,
        snap: &Snapshot,
        req: CodeActionRequest,
        input: &AssistInput,
        cancel: &CancelToken,
        attempt: Attempt<'_>,
    ) -> Result<(CodeActionResult, Option<String>), IdeError> {
        let Attempt {
            search,
            previous,
            recorded,
            begun,
        } = attempt;
        let started = Instant::now();
        let kind = req.kind;
        let lang = snap.lang.ok_or_else(|| {
            IdeError::NotApplicable("nib's actions know Python and Rust documents only".into())
        })?;
        let doc = &snap.doc;
        let text = doc.text();
        let a = doc.offset(req.range.start, req.encoding)?;
        let b = doc.offset(req.range.end, req.encoding)?.max(a);
        tracing::debug!(kind = kind.id(), a, b, range = ?req.range, has_tree = snap.tree.is_some(), "assistant action");
        let target = match kind {
            CodeActionKind::GenerateFromComment => {
                return Err(IdeError::NotApplicable(
                    "generate from a comment is not an assistant action".into(),
                ))
            }
            CodeActionKind::GenerateFromPrompt => {
                if input.prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
                    return Err(IdeError::NotApplicable(
                        "generate from a description needs the description (a prompt)".into(),
                    ));
                }
                let line = doc.line_of(a);
                let (s, e) = doc.line_bounds(line).unwrap_or((a, a));
                let l = doc.slice(s, e);
                let e = s + l.trim_end_matches(['\n', '\r']).len();
                Target {
                    start: s,
                    end: e,
                    name: None,
                    what: "line",
                    indent: l[..l.len() - l.trim_start().len()]
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                    owner: None,
                }
            }
            k => pure::target(k, lang, snap.tree.as_ref(), &text, a, b).ok_or_else(|| {
                IdeError::NotApplicable(format!(
                    "{} needs a selection or the cursor in a {}",
                    k.id(),
                    if k == CodeActionKind::Explain {
                        "function or class"
                    } else {
                        "function"
                    }
                ))
            })?,
        };
        let config = self.config();
        self.supersede(&snap.uri, Purpose::CodeAction, cancel);
        self.cancel_background();
        let engine = self.engine.wait_ready(config.load_wait, cancel)?;
        let counter = engine.token_counter();
        let budget = engine.info().context_length.saturating_sub(
            max_tokens(kind, config.code_action_max_tokens) + CONTEXT_MARGIN_TOKENS,
        );
        let target_text = &text[target.start..target.end];
        let code = pure::dedent(target_text);
        if counter.count(&code) > budget / 2 {
            return Err(IdeError::NotApplicable(format!(
                "the {} is too long for the model's context ({} tokens)",
                target.what,
                counter.count(&code)
            )));
        }
        let (repo, _) = self.repo_files(snap, &text, target.start, &config, counter.as_ref());
        let context: Vec<(String, String)> = repo
            .iter()
            .map(|f| (f.path.clone(), f.text.clone()))
            .collect();
        let tests_target = match kind {
            CodeActionKind::Tests => Some(self.tests_target(snap, lang, input)),
            _ => None,
        };
        let window = nib_context::cursor_window(
            &text[..target.start],
            text[target.end..].trim_start_matches(['\r', '\n']),
            counter.as_ref(),
            nib_context::WindowConfig {
                prefix_tokens: budget / 4,
                suffix_tokens: budget / 8,
            },
        );
        let (before, after) = match kind {
            CodeActionKind::GenerateFromPrompt => (window.prefix.as_str(), window.suffix.as_str()),
            _ => ("", ""),
        };
        let path = file_name(&snap.uri);
        let module = verify::module_name(
            input.tests.as_ref().and_then(|t| t.plan.module.as_deref()),
            path,
        );
        // The docstring examples of the code a fix or a rewrite touches are tests it must pass.
        let examples = match (lang, kind) {
            (Language::Python, CodeActionKind::Fix | CodeActionKind::Refactor) => {
                verify::examples_tests(&text, target.start, target.end, &module)
            }
            _ => None,
        };
        // A rewrite of a function should also keep its current results on the inputs nib
        // records: on ordinary ones like a test; edge inputs often lie outside what its
        // documentation promises, so a rewrite changing a result there is still offered when
        // nothing better comes, saying where it differs.
        let recorded = recorded.get_or_init(|| match (lang, kind) {
            (Language::Python, CodeActionKind::Refactor) => {
                let function = match (&target.name, target.what, &target.owner) {
                    (Some(name), "function", None) => Some(name.clone()),
                    (None, _, _) => {
                        pure::only_function(lang, &pure::dedent(&text[target.start..target.end]))
                    }
                    _ => None,
                };
                function
                    .map(|f| {
                        verify::recorded_tests(
                            &text,
                            &f,
                            &module,
                            input.tests.as_ref().and_then(|t| t.existing.as_deref()),
                            examples.as_deref(),
                        )
                    })
                    .unwrap_or_default()
            }
            _ => verify::Recorded::default(),
        });
        let check_recorded = |after_edit: &str| -> Option<Result<Verification, String>> {
            let change = verify::Change {
                source: &text,
                rewritten: after_edit,
                function: target.name.as_deref(),
            };
            recorded.edge.as_ref().map(|r| {
                verify::check_rewrite(
                    lang,
                    Framework::Pytest,
                    &module,
                    &change,
                    verify::RECORDED_EDGE,
                    Some(r),
                )
            })
        };
        let check_rewrite = |after_edit: &str| -> Result<Verification, String> {
            let change = verify::Change {
                source: &text,
                rewritten: after_edit,
                function: target.name.as_deref(),
            };
            let project = match &input.tests {
                Some(t) => verify::check_rewrite(
                    lang,
                    t.plan.framework,
                    &module,
                    &change,
                    &t.plan.path,
                    t.existing.as_deref(),
                ),
                None => Ok(Verification::not_run(
                    "",
                    "Not verified: no test file was looked for.".into(),
                )),
            }?;
            let mut checked = project;
            for (from, tests) in [
                (verify::EXAMPLES, &examples),
                (verify::RECORDED, &recorded.plain),
            ] {
                if let Some(t) = tests {
                    let more = verify::check_rewrite(
                        lang,
                        Framework::Pytest,
                        &module,
                        &change,
                        from,
                        Some(t),
                    )?;
                    checked = verify::merge(checked, more);
                }
            }
            Ok(checked)
        };
        // Tests of a method build its owner: the prompt says how (its constructor and the
        // other methods' signatures).
        let owner_code = match (kind, &target.owner) {
            (CodeActionKind::Tests, Some(o)) => Some(pure::dedent(&text[o.start..o.end])),
            _ => None,
        };
        let owner_uses = match (&owner_code, &target.owner, lang) {
            (Some(code), Some(o), Language::Python) => {
                pure::used_class_constructors(&text, code, &o.name)
            }
            _ => Vec::new(),
        };
        let prompt_input = PromptInput {
            owner_code: owner_code.as_deref(),
            owner_uses: &owner_uses,
            kind,
            lang,
            path,
            code: &code,
            target: &target,
            context: &context,
            errors: &input.errors,
            prompt: input.prompt.as_deref(),
            framework: tests_target.as_ref().map(|t| t.plan.framework),
            before,
            after,
            previous,
        };
        let (messages, dropped_context) =
            pure::action_messages(&prompt_input, counter.as_ref(), budget);
        drop(engine);
        let mut creq = ChatRequest::new(messages, cancel.clone());
        creq.max_tokens = max_tokens(kind, config.code_action_max_tokens);
        creq.draft_tokens = draft_tokens(kind);
        // Under an action budget, actions are answered in time: the answer is cut where the
        // budget says (keeping whole tests, whole lines, a rewrite completed from the
        // original), early enough for what it says to be checked before it is offered.
        creq.deadline = answer_deadline(kind, begun, config.action_budget);
        creq.answer_start = pure::answer_start(kind, lang, &code);
        // Tests under a budget start as tests: a function repeated before them (its docstring
        // too) can take the whole time the answer has.
        if let (Some(_), CodeActionKind::Tests, Some(t)) =
            (config.action_budget, kind, &tests_target)
        {
            creq.answer_start = pure::tests_answer_start(lang, t.plan.framework);
        }
        // The docstring the answer starts with is read there in full; under an action budget
        // the question shows it by its first line. That saves a local model a second read
        // (a 300-token docstring costs about 3 s on two cores) at some cost in quality: with
        // the docstring only in its own answer, the 1.5B model's rewrites change less and
        // break more (docs/evaluation.md, 2026-12-06, session 26). Without a budget
        // (`actionBudgetMs` 0) the question shows it whole.
        if config.action_budget.is_some() {
            creq.shortened = pure::shortened_docstring(kind, lang, &code)
                .into_iter()
                .collect();
        }
        // A rewrite asked again because it changed nothing may not begin the function's body
        // as that answer did: its first line of code changes.
        if let (Some(start), Some(previous), true) = (
            &creq.answer_start,
            previous,
            input.errors == [pure::UNCHANGED],
        ) {
            creq.avoid = previous
                .strip_prefix(start.as_str())
                .map(str::to_string)
                .into_iter()
                .collect();
        }
        if !matches!(kind, CodeActionKind::Explain | CodeActionKind::Fix) {
            // Prose after the closing fence is not used: stop there (a fix explains its cause
            // after the code).
            creq.stop = vec!["\n```\n\n".into()];
        }
        let mut files = vec![snap.uri.clone()];
        files.extend(context.iter().map(|(p, _)| p.clone()));
        let base_request = creq.clone();
        // The function a fix of a selection is in (or that it starts).
        let function = target.name.clone().or_else(|| {
            let tree = snap.tree.as_ref()?;
            pure::function_at(lang, tree, &text, target.start)
        });
        let repaired = match (search, kind, lang, function.as_deref()) {
            (true, CodeActionKind::Fix, Language::Python, Some(function)) => verify::repair(
                &module,
                &text,
                function,
                examples.as_deref(),
                input
                    .tests
                    .as_ref()
                    .and_then(|t| Some((t.plan.framework, t.existing.as_deref()?))),
            )
            .and_then(|r| {
                let why = r.explanation(function);
                pure::repair_answer(lang, &text, &r.source, target.start, target.end, &why)
            }),
            _ => None,
        };
        let searched = repaired.is_some();
        let answer = match repaired {
            Some(text) => ChatAnswer {
                response: ChatResponse {
                    text,
                    tokens: Vec::new(),
                    stop_reason: StopReason::EndOfGeneration,
                    model: REPAIR_SEARCH.to_string(),
                    prompt_tokens: None,
                    completion_tokens: None,
                    first_token_time: started.elapsed(),
                    total_time: started.elapsed(),
                },
                provider: ProviderInfo {
                    name: "local",
                    model: REPAIR_SEARCH.to_string(),
                    fallback: None,
                    threads: None,
                },
            },
            None => {
                self.stats.model_requests.inc();
                self.chat(
                    creq,
                    &ChatContext {
                        files: files.clone(),
                    },
                )?
            }
        };
        if answer.response.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        tracing::debug!(kind = kind.id(), dropped_context, provider = ?answer.provider, tokens = answer.response.tokens.len(), "assistant action answered");
        let raw = answer.response.text.clone();
        let logprobs: Vec<f32> = answer.response.tokens.iter().map(|t| t.logprob).collect();
        let mut confidence = confidence_name(nib_postprocess::confidence_per_token(&logprobs));
        let mut parts = pure::split_answer(&raw);
        let late = answer.response.stop_reason == StopReason::Deadline;
        // Cut at the output cap or the action's time inside its code block: the code is
        // incomplete.
        let mut cut = !parts.closed
            && matches!(
                answer.response.stop_reason,
                StopReason::MaxTokens | StopReason::Deadline
            );
        // A fix or a rewrite cut by the action's time where it was copying the original is
        // completed from it (and checked like any other).
        let rewrite = matches!(kind, CodeActionKind::Fix | CodeActionKind::Refactor);
        let mut completed = None;
        if cut && late && rewrite {
            if let Some(c) = parts
                .code
                .as_deref()
                .and_then(|c| pure::complete_from_original(&code, c))
            {
                tracing::info!(
                    copied = c.copied_lines,
                    "answer cut by the action's time, completed from the original"
                );
                parts.code = Some(c.code);
                completed = Some(c.copied_lines);
                cut = false;
            }
        }
        // Prose after the code that the action's time cut ends on its last complete line.
        if late && parts.closed && rewrite {
            let prose = pure::complete_explanation(&parts.prose);
            parts.prose = if prose.is_empty() {
                prose
            } else {
                format!("{prose}\n\n(The explanation ends where the action's time did: `actionBudgetMs`.)")
            };
        }
        let errors_before = pure::syntax_errors(lang, &text);
        // A fixed or rewritten function (the one at the cursor, or the one a selection holds)
        // keeps the name its callers use.
        let own_name = match (&target.name, target.what) {
            (Some(name), "function" | "method") => Some(name.clone()),
            (None, _) => pure::only_function(lang, &pure::dedent(&text[target.start..target.end])),
            _ => None,
        };
        // The file around the code a fix or a rewrite replaces.
        let elsewhere = format!("{}\n{}", &text[..target.start], &text[target.end..]);
        let named_back = |code: String| -> String {
            match &own_name {
                Some(name) => pure::with_name(lang, &code, name).unwrap_or(code),
                None => code,
            }
        };

        let mut explanation = String::new();
        let mut edits: Vec<FileEdit> = Vec::new();
        let mut generated = String::new();
        let mut test_stubs = Vec::new();
        let mut empty_reason = None;
        let mut verification = None;
        // For a fix the failure output of the tests it leaves failing, for a rewrite why it was
        // not offered: what one more try is told.
        let mut retry = None;
        // The code's surroundings, for the safety gate.
        let mut around = (String::new(), String::new());
        // Imports nib added to a rewrite, said after its explanation.
        let mut import_note = None;
        match kind {
            CodeActionKind::Explain => {
                explanation = match answer.response.stop_reason {
                    StopReason::Deadline => format!(
                        "{}\n\n(The explanation ends where the action's time did: `actionBudgetMs`.)",
                        pure::complete_explanation(&raw)
                    ),
                    StopReason::MaxTokens => pure::complete_explanation(&raw),
                    _ => raw.trim().to_string(),
                };
                if explanation.is_empty() {
                    empty_reason = Some("the model gave no explanation".to_string());
                }
            }
            CodeActionKind::Fix | CodeActionKind::Refactor | CodeActionKind::GenerateFromPrompt => {
                explanation = parts.prose.clone();
                match &parts.code {
                    None => empty_reason = Some("no code block in the answer".into()),
                    Some(_) if cut && late => {
                        empty_reason = Some(
                            "the action's time (`actionBudgetMs`) ended before the answer's code did, where it was not copying the original"
                                .into(),
                        )
                    }
                    Some(_) if cut => {
                        empty_reason = Some(format!(
                            "the answer reached the output cap ({} tokens) before its code ended",
                            answer.response.tokens.len()
                        ))
                    }
                    Some(c) => {
                        let c = match kind {
                            CodeActionKind::GenerateFromPrompt => {
                                pure::without_existing_definitions(lang, c, &text)
                            }
                            _ => pure::without_existing_imports(
                                lang,
                                &named_back(c.clone()),
                                &elsewhere,
                            ),
                        };
                        let new_code = pure::reindent(&c, &target.indent);
                        let (start, end, new_text) =
                            placement(kind, &target, target_text, &new_code);
                        let after_edit = pure::replaced(&text, start, end, &new_text);
                        let errors_after = pure::syntax_errors(lang, &after_edit);
                        // A rewrite of comments, docstrings or layout alone is no refactoring.
                        let same = kind == CodeActionKind::Refactor
                            && pure::same_code(
                                lang,
                                &pure::dedent(target_text),
                                &pure::dedent(&new_code),
                            );
                        let changed =
                            !new_code.trim().is_empty() && new_code.trim() != target_text.trim();
                        // A rewrite that parses and binds every name it uses runs the
                        // project's tests before it is offered. Names the standard library
                        // has get their import, above a top-level function (where a model's
                        // own new import goes), in a fix too (whose tests then say the rest).
                        let unbound =
                            (matches!(kind, CodeActionKind::Refactor | CodeActionKind::Fix)
                                && changed
                                && errors_after <= errors_before)
                                .then(|| verify::undefined_names(lang, &text, &after_edit))
                                .flatten();
                        let (new_code, new_text, after_edit, unbound) = match unbound {
                            Some(verify::Unbound {
                                imports: Some(imports),
                                ..
                            }) if target.indent.is_empty() => {
                                let code = format!("{}\n\n\n{new_code}", imports.join("\n"));
                                let (_, _, new_text) = placement(kind, &target, target_text, &code);
                                let after_edit = pure::replaced(&text, start, end, &new_text);
                                import_note = Some(format!(
                                    "nib added {}, which the {} uses.",
                                    imports
                                        .iter()
                                        .map(|i| format!("`{i}`"))
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                    if kind == CodeActionKind::Fix {
                                        "fix"
                                    } else {
                                        "rewrite"
                                    }
                                ));
                                (code, new_text, after_edit, None)
                            }
                            Some(u) if kind == CodeActionKind::Refactor => {
                                (new_code, new_text, after_edit, Some(u.why))
                            }
                            _ => (new_code, new_text, after_edit, None),
                        };
                        let checked = (kind == CodeActionKind::Refactor
                            && changed
                            && errors_after <= errors_before
                            && unbound.is_none())
                        .then(|| check_rewrite(&after_edit));
                        let fix_checked = (kind == CodeActionKind::Fix
                            && changed
                            && errors_after <= errors_before)
                            .then(|| {
                                let project = match &input.tests {
                                    Some(t) => verify::check_fix(
                                        lang,
                                        t.plan.framework,
                                        &module,
                                        &text,
                                        &after_edit,
                                        &t.plan.path,
                                        t.existing.as_deref(),
                                    ),
                                    None => verify::FixCheck {
                                        verification: Verification::not_run(
                                            "",
                                            "Not verified: no test file was looked for.".into(),
                                        ),
                                        still_failing: None,
                                    },
                                };
                                let Some(ex) = &examples else {
                                    return project;
                                };
                                let doc = verify::check_fix(
                                    lang,
                                    Framework::Pytest,
                                    &module,
                                    &text,
                                    &after_edit,
                                    verify::EXAMPLES,
                                    Some(ex),
                                );
                                verify::FixCheck {
                                    verification: verify::merge(
                                        project.verification,
                                        doc.verification,
                                    ),
                                    still_failing: match (project.still_failing, doc.still_failing)
                                    {
                                        (Some(a), Some(b)) => Some(format!("{a}{b}")),
                                        (a, b) => a.or(b),
                                    },
                                }
                            });
                        if new_code.trim().is_empty() {
                            empty_reason = Some("the answer only repeats code the file has".into());
                        } else if errors_after > errors_before {
                            empty_reason = Some(format!(
                                "the answer does not parse as {} ({errors_after} syntax errors where the file had {errors_before})",
                                lang.name()
                            ));
                        } else if kind != CodeActionKind::GenerateFromPrompt
                            && new_code.trim() == target_text.trim()
                        {
                            empty_reason = Some(if completed.is_some() {
                                "the action's time (`actionBudgetMs`) ended before the answer changed anything".into()
                            } else {
                                "the answer changes nothing".into()
                            });
                            if kind == CodeActionKind::Refactor {
                                retry = Some(pure::UNCHANGED.to_string());
                            }
                        } else if kind != CodeActionKind::GenerateFromPrompt
                            && pure::empty_body(lang, &pure::dedent(&new_code)) == Some(true)
                            && pure::empty_body(lang, &code) == Some(false)
                        {
                            empty_reason = Some("the answer leaves the function without its body".into());
                        } else if let Some(why) = unbound {
                            tracing::info!(%why, "refactoring not offered");
                            empty_reason = Some(format!("not offered: {why}"));
                            retry = Some(why);
                        } else if let Some(Err(why)) = &checked {
                            tracing::info!(%why, "refactoring not offered");
                            empty_reason = Some(format!("not offered: {why}"));
                            retry = Some(why.clone());
                        } else {
                            verification = checked.and_then(Result::ok);
                            match check_recorded(&after_edit) {
                                Some(Ok(v)) => {
                                    verification = Some(match verification.take() {
                                        Some(p) => verify::merge(p, v),
                                        None => v,
                                    })
                                }
                                // Offered, saying where the results differ, and asked once more
                                // to keep them.
                                Some(Err(why)) => {
                                    verification = Some(verify::differs(verification.take(), &why));
                                    retry = Some(why);
                                }
                                None => {}
                            }
                            if same {
                                // Offered (it keeps the behaviour), and asked once more for a
                                // real change.
                                retry = Some(pure::UNCHANGED.to_string());
                            }
                            if let Some(f) = fix_checked {
                                verification = Some(f.verification);
                                retry = f.still_failing;
                            }
                            generated = new_code;
                            around = (text[..start].to_string(), text[end..].to_string());
                            edits.push(FileEdit {
                                uri: snap.uri.clone(),
                                range: Range {
                                    start: doc.position(start, req.encoding),
                                    end: doc.position(end, req.encoding),
                                },
                                new_text,
                                create: false,
                            });
                            if let Some(name) =
                                defined_name(lang, &generated).or(target.name.clone())
                            {
                                test_stubs.push(pure::test_stub(lang, &name, None));
                            }
                        }
                    }
                }
                if explanation.is_empty() && !generated.is_empty() {
                    explanation = match kind {
                        CodeActionKind::Refactor => format!(
                            "The {} rewritten with the same behaviour ({} lines, were {}).",
                            target.what,
                            generated.lines().count(),
                            target_text.lines().count()
                        ),
                        CodeActionKind::Fix => pure::describe_change(
                            target.what,
                            doc.line_of(target.start),
                            target_text,
                            &generated,
                        ),
                        _ => format!(
                            "Code for: {}",
                            input.prompt.as_deref().unwrap_or_default().trim()
                        ),
                    };
                }
                if let Some(note) = import_note.filter(|_| !generated.is_empty()) {
                    explanation = format!("{}\n\n{note}", explanation.trim_end());
                }
                if let Some(n) = completed.filter(|_| !generated.is_empty()) {
                    let copied = match n {
                        1 => "its last line is".to_string(),
                        n => format!("its last {n} lines are"),
                    };
                    explanation = format!(
                        "{}\n\nThe answer was cut where the action's time ended (`actionBudgetMs`), while it was copying the original: {copied} the original's.",
                        explanation.trim_end()
                    );
                }
                if let Some(v) = &verification {
                    explanation = format!("{}\n\n{}", explanation.trim_end(), v.summary);
                }
            }
            CodeActionKind::Tests => {
                let t = tests_target.as_ref().expect("set for tests");
                let name = target.name.clone().unwrap_or_default();
                // A method is tested through its class: the tests file imports the class, and
                // the sandbox finds the method as `Class.method`.
                let (subject, name) = match (&target.owner, lang) {
                    (Some(o), Language::Python) => (o.name.clone(), format!("{}.{name}", o.name)),
                    _ => (name.clone(), name),
                };
                let own_names = match lang {
                    Language::Python => {
                        let mut n = pure::top_level_names(&text);
                        n.push(subject.clone());
                        n
                    }
                    Language::Rust => Vec::new(),
                };
                let imports = |tests: &str| match lang {
                    Language::Python => pure::tests_imports(&text, tests, &subject),
                    Language::Rust => Vec::new(),
                };
                // Cut at the output cap: the tests finished before the cut are kept (and run
                // like the others).
                let (code, cut) = match (&parts.code, lang) {
                    (Some(c), Language::Python) if cut => match pure::complete_python_tests(c) {
                        Some(whole) => (Some(whole), false),
                        None => (Some(c.clone()), true),
                    },
                    (Some(c), Language::Rust) if cut => match pure::complete_rust_tests(c) {
                        Some(whole) => (Some(whole), false),
                        None => (Some(c.clone()), true),
                    },
                    (c, _) => (c.clone(), cut),
                };
                // Why the answer gave no tests to run (then, for Python, the docstring's
                // examples and recorded cases may still be offered).
                let mut no_tests = None;
                let written = match code
                    .as_deref()
                    .and_then(|c| pure::tests_from_code(lang, c, &own_names))
                {
                    Some(_) if cut => {
                        no_tests = Some(format!(
                            "the answer reached the output cap ({} tokens) before its tests ended",
                            answer.response.tokens.len()
                        ));
                        None
                    }
                    None => {
                        no_tests = Some("no tests in the answer".to_string());
                        None
                    }
                    Some(tests) => match test_edit(lang, t, &tests, &imports(&tests), req.encoding)
                    {
                        Err(why) => {
                            no_tests = Some(why);
                            None
                        }
                        Ok(_) => Some(match lang {
                            Language::Python => pure::split_assert_tests(&tests),
                            Language::Rust => tests,
                        }),
                    },
                };
                if written.is_none() && lang != Language::Python {
                    empty_reason = no_tests.clone();
                } else {
                    // Run them against the current code before offering them.
                    let module = verify::module_name(t.plan.module.as_deref(), path);
                    let checked = verify::check_generated_tests(
                        lang,
                        t.plan.framework,
                        &module,
                        &text,
                        &name,
                        written.as_deref().unwrap_or_default(),
                        config.action_budget.map(|b| started + b),
                    );
                    tracing::debug!(summary = %checked.verification.summary, "generated tests checked");
                    let mut summary = checked.verification.summary.clone();
                    if let Some(why) = &no_tests {
                        summary = format!("Of the model's answer: {why}. {summary}");
                    }
                    verification = Some(Verification {
                        summary: summary.clone(),
                        ..checked.verification
                    });
                    match checked.tests {
                        None => {
                            empty_reason = Some(match &no_tests {
                                Some(why) => why.clone(),
                                None => format!(
                                    "every generated test failed on the current code. {summary}"
                                ),
                            });
                            explanation = summary;
                        }
                        Some(tests) => {
                            match test_edit(lang, t, &tests, &imports(&tests), req.encoding) {
                                Err(why) => empty_reason = Some(why),
                                Ok((edit, before, after)) => {
                                    let count = match lang {
                                        Language::Python => tests.matches("def test").count(),
                                        Language::Rust => tests.matches("#[test]").count(),
                                    };
                                    explanation = format!(
                                        "{count} test{} for `{name}` ({}) in {}.\n\n{summary}",
                                        if count == 1 { "" } else { "s" },
                                        match t.plan.framework {
                                            Framework::Pytest => "pytest",
                                            Framework::Unittest => "unittest",
                                            Framework::RustModule => "#[cfg(test)] mod tests",
                                        },
                                        t.plan.path
                                    );
                                    around = (before, after);
                                    generated = edit.new_text.clone();
                                    test_stubs.push(tests);
                                    edits.push(edit);
                                }
                            }
                        }
                    }
                }
            }
            CodeActionKind::GenerateFromComment => unreachable!("returned above"),
        }

        let (findings, dropped) = if generated.is_empty() {
            (Vec::new(), None)
        } else {
            self.gate_check(&config, Some(lang), &around.0, &generated, &around.1)
        };
        if let Some(why) = &dropped {
            tracing::info!(%why, kind = kind.id(), "action result dropped by the safety gate");
            self.stats.gated.inc();
            edits.clear();
            generated.clear();
        }
        let mut alternatives = Vec::new();
        let wanted = input.alternatives.min(MAX_ALTERNATIVES);
        if wanted > 0
            && !generated.is_empty()
            && matches!(
                kind,
                CodeActionKind::Fix | CodeActionKind::Refactor | CodeActionKind::GenerateFromPrompt
            )
        {
            let mut seen = vec![pure::normalized(lang, &generated)];
            // One further answer more than wanted, for the ones that repeat or fail a check.
            for rank in 1..=wanted + 1 {
                if alternatives.len() >= wanted || cancel.is_cancelled() {
                    break;
                }
                let mut r = base_request.clone();
                // Asked for on top of the answer: each has the time of a first answer.
                r.deadline = answer_deadline(kind, Instant::now(), config.action_budget);
                r.first_rank = rank;
                r.temperature = ALTERNATIVE_TEMPERATURE;
                self.stats.model_requests.inc();
                let a = match self.chat(
                    r,
                    &ChatContext {
                        files: files.clone(),
                    },
                ) {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "no further answer");
                        break;
                    }
                };
                if a.response.stop_reason == StopReason::Cancelled {
                    return Err(IdeError::Cancelled);
                }
                let p = pure::split_answer(&a.response.text);
                let cut = !p.closed
                    && matches!(
                        a.response.stop_reason,
                        StopReason::MaxTokens | StopReason::Deadline
                    );
                let Some(c) = p.code.filter(|_| !cut) else {
                    continue;
                };
                let c = match kind {
                    CodeActionKind::GenerateFromPrompt => {
                        pure::without_existing_definitions(lang, &c, &text)
                    }
                    _ => pure::without_existing_imports(lang, &named_back(c), &elsewhere),
                };
                let code = pure::reindent(&c, &target.indent);
                let (start, end, new_text) = placement(kind, &target, target_text, &code);
                let after_edit = pure::replaced(&text, start, end, &new_text);
                let norm = pure::normalized(lang, &code);
                let fails = code.trim().is_empty()
                    || seen.contains(&norm)
                    || pure::syntax_errors(lang, &after_edit) > errors_before
                    || (kind != CodeActionKind::GenerateFromPrompt
                        && code.trim() == target_text.trim());
                if fails {
                    continue;
                }
                if kind == CodeActionKind::Refactor && check_rewrite(&after_edit).is_err() {
                    continue;
                }
                let (_, dropped) =
                    self.gate_check(&config, Some(lang), &text[..start], &code, &text[end..]);
                if dropped.is_some() {
                    continue;
                }
                seen.push(norm);
                alternatives.push(code);
            }
        }
        if searched && verification.as_ref().is_some_and(|v| v.verified) {
            confidence = "high";
        }
        let primary = edits.iter().find(|e| e.uri == snap.uri);
        let (range, insert_text) = match primary {
            Some(e) => (e.range, e.new_text.clone()),
            None => (
                Range {
                    start: doc.position(target.start, req.encoding),
                    end: doc.position(target.end, req.encoding),
                },
                String::new(),
            ),
        };
        if kind == CodeActionKind::Fix && edits.is_empty() {
            retry = None;
        }
        let result = CodeActionResult {
            kind,
            version: doc.version(),
            range,
            insert_text,
            generated_code: generated,
            explanation,
            test_stubs,
            confidence,
            alternatives,
            findings,
            dropped,
            empty_reason,
            model: answer.provider.model.clone(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            generated_tokens: answer.response.tokens.len(),
            source: if searched { "repair" } else { "chat" },
            raw,
            edits,
            provider: answer.provider,
            test_file: tests_target.map(|t| t.uri),
            verification,
        };
        Ok((result, retry))
    }

    /// Where the tests go when the caller did not say: next to the file.
    fn tests_target(&self, snap: &Snapshot, lang: Language, input: &AssistInput) -> TestTarget {
        if let Some(t) = &input.tests {
            return t.clone();
        }
        let name = file_name(&snap.uri);
        let plan = plan_tests(lang, name, &[], &[], &[]);
        let dir = &snap.uri[..snap.uri.len() - name.len()];
        let uri = format!("{dir}{}", plan.path);
        let existing = (uri == snap.uri).then(|| snap.doc.text());
        TestTarget {
            plan,
            uri,
            existing,
        }
    }

    /// One turn of a conversation: `history` (earlier user and assistant messages, oldest
    /// first), then `message`, with the code at `code` (a snapshot and byte range) quoted when
    /// given. Older turns are left out to fit the model's context. Blocking.
    pub fn converse(
        &self,
        history: &[ChatMessage],
        message: &str,
        code: Option<(&Snapshot, usize, usize)>,
        on_delta: Option<DeltaCallback>,
        cancel: &CancelToken,
    ) -> Result<ChatTurn, IdeError> {
        let started = Instant::now();
        let config = self.config();
        let engine = self.engine.wait_ready(config.load_wait, cancel)?;
        let counter = engine.token_counter();
        let budget = engine.info().context_length.saturating_sub(
            CHAT_MAX_TOKENS.min(config.code_action_max_tokens) + CONTEXT_MARGIN_TOKENS,
        );
        drop(engine);
        let mut files = Vec::new();
        let user = match code {
            Some((snap, a, b)) => {
                let text = snap.doc.text();
                let (a, b) = (a.min(text.len()), b.min(text.len()));
                let lang = snap.lang.map_or("", |l| l.name());
                files.push(snap.uri.clone());
                format!(
                    "{message}\n\n`{}`:\n```{lang}\n{}\n```",
                    file_name(&snap.uri),
                    pure::dedent(&text[a..b]).trim_end()
                )
            }
            None => message.to_string(),
        };
        let mut all = vec![ChatMessage::new(Role::System, pure::SYSTEM)];
        all.extend(history.iter().cloned());
        all.push(ChatMessage::new(Role::User, user.clone()));
        let (messages, dropped_messages) = trim_conversation(&all, counter.as_ref(), budget);
        let mut req = ChatRequest::new(messages, cancel.clone());
        req.max_tokens = CHAT_MAX_TOKENS.min(config.code_action_max_tokens);
        req.on_delta = on_delta;
        self.stats.model_requests.inc();
        let answer = self.chat(req, &ChatContext { files })?;
        if answer.response.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        let logprobs: Vec<f32> = answer.response.tokens.iter().map(|t| t.logprob).collect();
        let reply = answer.response.text.trim().to_string();
        Ok(ChatTurn {
            user,
            code: pure::split_answer(&reply).code,
            reply,
            dropped_messages,
            confidence: confidence_name(nib_postprocess::confidence_per_token(&logprobs)),
            generated_tokens: answer.response.tokens.len(),
            provider: answer.provider,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

/// Where an action's code goes: `(start, end, text)` in the document.
fn placement(
    kind: CodeActionKind,
    target: &Target,
    target_text: &str,
    code: &str,
) -> (usize, usize, String) {
    match kind {
        // A blank line takes the code; otherwise it goes on a new line.
        CodeActionKind::GenerateFromPrompt if !target_text.trim().is_empty() => {
            (target.end, target.end, format!("\n{code}"))
        }
        _ => (target.start, target.end, code.to_string()),
    }
}

/// The first function a piece of code defines.
fn defined_name(lang: Language, code: &str) -> Option<String> {
    let kw = match lang {
        Language::Python => "def ",
        Language::Rust => "fn ",
    };
    code.lines().find_map(|l| {
        let t = l.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("async ").unwrap_or(t);
        let rest = t.strip_prefix(kw)?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        (!name.is_empty()).then_some(name)
    })
}

/// The edit putting `tests` into the test file, and the file's text before and after it;
/// an error when the file would not parse.
fn test_edit(
    lang: Language,
    t: &TestTarget,
    tests: &str,
    imports: &[String],
    encoding: nib_text::OffsetEncoding,
) -> Result<(FileEdit, String, String), String> {
    let existing = t.existing.clone().unwrap_or_default();
    let (at, chunk) = match lang {
        Language::Rust => pure::rust_tests_insertion(&existing, tests),
        Language::Python => {
            let mut head = String::new();
            if t.plan.framework == Framework::Unittest && !existing.contains("import unittest") {
                head.push_str("import unittest\n");
            }
            if let Some(module) = &t.plan.module {
                // The names an earlier `from module import ...` line of the file brings in.
                let from = format!("from {module} import ");
                let have: Vec<&str> = existing
                    .lines()
                    .filter(|l| l.starts_with(&from))
                    .flat_map(pure::imported)
                    .collect();
                let new: Vec<&str> = imports
                    .iter()
                    .map(String::as_str)
                    .filter(|n| !have.contains(n))
                    .collect();
                if !new.is_empty() {
                    head.push_str(&format!("{from}{}\n", new.join(", ")));
                }
            }
            let mut body = if head.is_empty() {
                format!("{}\n", tests.trim_end())
            } else {
                format!("{head}\n\n{}\n", tests.trim_end())
            };
            if t.plan.framework == Framework::Unittest
                && !existing.contains("__main__")
                && !tests.contains("__main__")
            {
                body.push_str("\n\nif __name__ == \"__main__\":\n    unittest.main()\n");
            }
            let sep = if existing.is_empty() {
                ""
            } else if existing.ends_with('\n') {
                "\n\n"
            } else {
                "\n\n\n"
            };
            (existing.len(), format!("{sep}{body}"))
        }
    };
    let after = pure::replaced(&existing, at, at, &chunk);
    let errors = pure::syntax_errors(lang, &after);
    if errors > pure::syntax_errors(lang, &existing) {
        return Err(format!(
            "the tests do not parse as {} ({errors} syntax errors)",
            lang.name()
        ));
    }
    let doc = Document::new(&existing, 0);
    let pos = doc.position(at, encoding);
    Ok((
        FileEdit {
            uri: t.uri.clone(),
            range: Range {
                start: pos,
                end: pos,
            },
            new_text: chunk,
            create: t.existing.is_none(),
        },
        existing[..at].to_string(),
        existing[at..].to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_answered_within_the_action_budget() {
        let t0 = Instant::now();
        let budget = Some(Duration::from_secs(10));
        assert_eq!(
            answer_deadline(CodeActionKind::Tests, t0, budget),
            Some(t0 + Duration::from_millis(7500))
        );
        assert_eq!(
            answer_deadline(CodeActionKind::Explain, t0, budget),
            Some(t0 + Duration::from_millis(9700))
        );
        for kind in [CodeActionKind::Fix, CodeActionKind::Refactor] {
            assert_eq!(
                answer_deadline(kind, t0, budget),
                Some(t0 + Duration::from_millis(8500))
            );
        }
        // No budget, nothing cut; a description's code is not cut.
        assert_eq!(answer_deadline(CodeActionKind::Tests, t0, None), None);
        assert_eq!(
            answer_deadline(CodeActionKind::GenerateFromPrompt, t0, budget),
            None
        );
    }
}
