//! The assistant's actions with a scripted chat model and the real sandbox: what the ide
//! decides from running the answer (a generated test failing on the current code is dropped
//! and named, a rewrite breaking the project's tests is not offered, alternatives are
//! distinct). The real model is exercised end to end by tests/actions.

use std::sync::{Arc, Mutex};

use nib_engine::{
    ApproxTokenCounter, CancelToken, CompletionEngine, EngineError, GenerateRequest, Generation,
    ModelInfo, PromptFormat, PromptPlan, Slot, StopReason, Throughput, TokenCounter,
};
use nib_ide::{
    AssistInput, CodeActionKind, CodeActionRequest, CodeActionResult, Framework, Ide, IdeConfig,
    TestPlan, TestTarget,
};
use nib_text::{OffsetEncoding, Position, Range};

/// An instruct model answering every request with the next scripted answer.
struct Scripted {
    answers: Mutex<Vec<String>>,
    /// The `first_rank` of each request.
    ranks: Mutex<Vec<usize>>,
    prompts: Mutex<Vec<String>>,
    /// The rejected answers (`avoid`) of each request.
    avoids: Mutex<Vec<Vec<String>>>,
}

impl Scripted {
    fn new(answers: &[&str]) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.iter().rev().map(|s| s.to_string()).collect()),
            ranks: Mutex::default(),
            prompts: Mutex::default(),
            avoids: Mutex::default(),
        })
    }
}

impl CompletionEngine for Scripted {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "scripted".into(),
            format: PromptFormat::Qwen,
            chat: Some(nib_engine::ChatFormat::ChatMl),
            default_system: None,
            context_length: 8192,
            threads: 1,
        }
    }
    fn token_counter(&self) -> Arc<dyn TokenCounter> {
        Arc::new(ApproxTokenCounter)
    }
    fn throughput(&self) -> Throughput {
        Throughput {
            prefill_tokens_per_s: 300.0,
            decode_tokens_per_s: 60.0,
        }
    }
    fn plan(&self, _slot: Slot, prompt: &str) -> PromptPlan {
        PromptPlan {
            prompt_tokens: ApproxTokenCounter.count(prompt),
            cached_tokens: 0,
            slot_tokens: 0,
        }
    }
    fn prefill(
        &self,
        _slot: Slot,
        prompt: &str,
        _cancel: CancelToken,
    ) -> Result<usize, EngineError> {
        Ok(ApproxTokenCounter.count(prompt))
    }
    fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError> {
        self.ranks.lock().unwrap().push(req.first_rank);
        self.prompts.lock().unwrap().push(req.prompt.clone());
        self.avoids.lock().unwrap().push(req.avoid.clone());
        let text = self.answers.lock().unwrap().pop().unwrap_or_default();
        let mut text = after_given_start(&req.prompt, text);
        // The action's time ends where the answer has `CUT`.
        let late = text.find(CUT).inspect(|&i| text.truncate(i)).is_some();
        if let Some(i) = req
            .stop
            .stop_strings
            .iter()
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            text.truncate(i);
        }
        Ok(Generation {
            tokens: vec![nib_engine::GeneratedToken {
                text: text.clone(),
                logprob: -0.1,
            }],
            text,
            stop_reason: if late {
                StopReason::Deadline
            } else {
                StopReason::EndOfGeneration
            },
            alternatives: Vec::new(),
            prompt_tokens: 10,
            reused_tokens: 0,
            prefill_time: Default::default(),
            decode_time: Default::default(),
            drafted_tokens: 0,
        })
    }
}

/// Where a scripted answer is cut by the action's time.
const CUT: &str = "<the deadline>";

const CLAMP: &str = "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n";
const URI: &str = "file:///proj/mathutil.py";

/// Like a model given the start of its answer (the prompt's end after the assistant's turn
/// opens, `ChatRequest::answer_start`): a scripted answer that repeats it goes on after it.
fn after_given_start(prompt: &str, text: String) -> String {
    match prompt.rsplit_once("<|im_start|>assistant\n") {
        Some((_, given)) if !given.is_empty() => {
            text.strip_prefix(given).map(str::to_string).unwrap_or(text)
        }
        _ => text,
    }
}

fn ide_with(engine: Arc<Scripted>) -> Ide {
    let ide = Ide::new(IdeConfig {
        deadline: None,
        // Second tries whatever the first took (the sandbox's runs take longer on a busy
        // machine).
        action_budget: None,
        ..IdeConfig::default()
    });
    ide.set_engine(engine);
    ide.open(URI, Some("python"), 1, CLAMP);
    ide
}

fn target(existing: Option<&str>) -> TestTarget {
    TestTarget {
        plan: TestPlan {
            framework: Framework::Pytest,
            path: "tests/test_mathutil.py".into(),
            module: Some("mathutil".into()),
        },
        uri: "file:///proj/tests/test_mathutil.py".into(),
        existing: existing.map(str::to_string),
    }
}

fn run(ide: &Ide, kind: CodeActionKind, input: &AssistInput) -> CodeActionResult {
    let p = Position::new(1, 4);
    run_in(ide, kind, input, Range { start: p, end: p })
}

fn run_in(ide: &Ide, kind: CodeActionKind, input: &AssistInput, range: Range) -> CodeActionResult {
    let snap = ide.snapshot(URI).unwrap();
    ide.assist(
        &snap,
        CodeActionRequest {
            kind,
            range,
            encoding: OffsetEncoding::Utf8,
        },
        input,
        &CancelToken::new(),
    )
    .unwrap()
}

fn tests_input() -> AssistInput {
    AssistInput {
        tests: Some(target(None)),
        ..AssistInput::default()
    }
}

#[test]
fn a_generated_test_failing_on_the_current_code_is_dropped_and_named() {
    let engine = Scripted::new(&["```python\nfrom mathutil import clamp\n\ndef test_inside():\n    assert clamp(5, 0, 10) == 5\n\ndef test_negative():\n    assert clamp(-1, 0, 10) == -1\n\ndef test_above():\n    assert clamp(11, 0, 10) == 10\n```\n"]);
    let ide = ide_with(engine);
    let r = run(&ide, CodeActionKind::Tests, &tests_input());
    let v = r.verification.as_ref().expect("the tests ran");
    assert!(v.ran && v.verified, "{v:?}");
    let recorded = v
        .tests
        .iter()
        .filter(|t| t.name.contains("recorded"))
        .count();
    assert_eq!(
        (v.kept - recorded, v.dropped, v.tests.len() - recorded),
        (2, 1, 3)
    );
    assert!(recorded > 0 && r.explanation.contains("recorded case"));
    let dropped = v.tests.iter().find(|t| !t.kept).unwrap();
    assert_eq!(dropped.name, "test_negative");
    assert!(dropped.reason.is_some());
    assert!(
        !r.generated_code.contains("test_negative"),
        "{}",
        r.generated_code
    );
    assert!(
        r.generated_code.contains("def test_inside") && r.generated_code.contains("def test_above")
    );
    assert!(
        r.explanation.contains("`test_negative`"),
        "{}",
        r.explanation
    );
    assert!(
        r.explanation
            .contains(&format!("{} tests for `clamp`", 2 + recorded)),
        "{}",
        r.explanation
    );
    assert!(v.mutants_total > 0 && v.mutants_killed > 0 && v.mutants_killed <= v.mutants_total);
    assert!(r.explanation.contains(&format!(
        "kill {} of {} simple mutants",
        v.mutants_killed, v.mutants_total
    )));
    assert_eq!(r.test_stubs.len(), 1);
    assert!(!r.test_stubs[0].contains("test_negative"));
}

#[test]
fn generated_tests_all_failing_are_not_offered() {
    let engine = Scripted::new(&[
        "```python\ndef test_negative():\n    assert clamp(-1, 0, 10) == -1\n```\n",
    ]);
    let ide = ide_with(engine);
    let r = run(&ide, CodeActionKind::Tests, &tests_input());
    assert!(r.edits.is_empty() && r.generated_code.is_empty());
    let why = r.empty_reason.unwrap();
    assert!(
        why.contains("every generated test failed") && why.contains("test_negative"),
        "{why}"
    );
    let v = r.verification.unwrap();
    assert_eq!((v.kept, v.dropped, v.mutants_total), (0, 1, 0));
}

const PROJECT_TESTS: &str = "from mathutil import clamp\n\n\ndef test_low():\n    assert clamp(-5, 0, 10) == 0\n\n\ndef test_high():\n    assert clamp(50, 0, 10) == 10\n";

fn refactor_input() -> AssistInput {
    AssistInput {
        tests: Some(target(Some(PROJECT_TESTS))),
        ..AssistInput::default()
    }
}

#[test]
fn a_rewrite_breaking_the_project_tests_is_not_offered() {
    let engine =
        Scripted::new(&["```python\ndef clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n```\n"]);
    let ide = ide_with(engine);
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert!(r.edits.is_empty() && r.generated_code.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(why.starts_with("not offered: the rewrite breaks"), "{why}");
    assert!(why.contains("tests/test_mathutil.py"), "{why}");
}

#[test]
fn a_rewrite_keeping_the_project_tests_is_offered_as_verified() {
    let engine = Scripted::new(&[
        "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let ide = ide_with(engine);
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert_eq!(r.edits.len(), 1, "{r:?}");
    let v = r.verification.unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    // The project's tests, then the results recorded on variants of their calls.
    assert_eq!(
        v.tests_from,
        "tests/test_mathutil.py, the recorded cases, the recorded edge cases"
    );
    let names: Vec<&str> = v.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[..2], ["test_low", "test_high"]);
    assert!(
        names.len() > 2 && names[2..].iter().all(|n| n.contains("clamp_recorded")),
        "{names:?}"
    );
    assert!(r.explanation.contains("Verified"), "{}", r.explanation);
}

#[test]
fn a_rewrite_under_another_name_keeps_the_name_the_tests_call() {
    let engine = Scripted::new(&[
        "```python\ndef clamp_value(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let ide = ide_with(engine.clone());
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(
        r.generated_code
            .starts_with("def clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x"),
        "{}",
        r.generated_code
    );
    assert!(r.verification.unwrap().verified);
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);
    // The same with the whole function selected.
    let engine = Scripted::new(&[
        "```python\ndef clamp_value(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let whole = Range {
        start: Position::new(0, 0),
        end: Position::new(6, 0),
    };
    let r = run_in(
        &ide_with(engine),
        CodeActionKind::Refactor,
        &refactor_input(),
        whole,
    );
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(
        r.generated_code.starts_with("def clamp(x, lo, hi):"),
        "{}",
        r.generated_code
    );
}

#[test]
fn a_rewrite_without_project_tests_says_it_is_not_verified() {
    let engine =
        Scripted::new(&["```python\ndef clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n```\n"]);
    let ide = ide_with(engine);
    let input = AssistInput {
        tests: Some(target(None)),
        ..AssistInput::default()
    };
    let r = run(&ide, CodeActionKind::Refactor, &input);
    assert_eq!(r.edits.len(), 1);
    let v = r.verification.unwrap();
    assert!(!v.ran && !v.verified);
    assert!(r.explanation.contains("Not verified"), "{}", r.explanation);
}

#[test]
fn a_rewrite_of_comments_alone_is_asked_again_for_a_real_change() {
    let engine = Scripted::new(&[
        "```python\ndef clamp(x, lo, hi):\n    # bounded below\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n```\n",
        "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let ide = ide_with(engine.clone());
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(
        r.generated_code
            .contains("lo if x < lo else hi if x > hi else x"),
        "{r:?}"
    );
    assert!(
        r.explanation.contains("changed nothing but comments"),
        "{}",
        r.explanation
    );
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    // Asked in the conversation: its first answer, then told it is the same code.
    assert!(
        prompts[1].contains("# bounded below") && prompts[1].contains("That is the same code"),
        "{}",
        prompts[1]
    );
    assert!(
        prompts[1].find("# bounded below") < prompts[1].find("That is the same code"),
        "{}",
        prompts[1]
    );
    // Asked again and no better: the first rewrite is offered, saying what it changes.
    let engine = Scripted::new(&[
        "```python\ndef clamp(x, lo, hi):\n    # bounded below\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n```\n",
        &format!("```python\n{CLAMP}```\n"),
    ]);
    let r = run(
        &ide_with(engine),
        CodeActionKind::Refactor,
        &refactor_input(),
    );
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(r.generated_code.contains("# bounded below"), "{r:?}");
    assert!(
        r.explanation
            .contains("changes only comments, docstrings or layout"),
        "{}",
        r.explanation
    );
    // The same text twice: nothing to offer.
    let same = format!("```python\n{CLAMP}```\n");
    let engine = Scripted::new(&[&same, &same]);
    let r = run(
        &ide_with(engine),
        CodeActionKind::Refactor,
        &refactor_input(),
    );
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(why.contains("changes nothing"), "{why}");
}

#[test]
fn a_documented_function_asked_again_reads_its_docstring_once_and_must_begin_otherwise() {
    const DOC: &str = "\"\"\"Clamp x into [lo, hi].\n\n    >>> clamp(5, 0, 10)\n    5\n    >>> clamp(-1, 0, 10)\n    0\n    >>> clamp(11, 0, 10)\n    10\n    \"\"\"";
    let code = CLAMP.replacen("\n", &format!("\n    {DOC}\n"), 1);
    let same = format!("```python\n{code}```\n");
    let engine = Scripted::new(&[
        &same,
        &format!("```python\n{}```\n", code.replace("    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n", "    return lo if x < lo else hi if x > hi else x\n")),
    ]);
    // Under an action budget (one that never stops the second try).
    let ide = Ide::new(IdeConfig {
        deadline: None,
        action_budget: Some(std::time::Duration::from_secs(3600)),
        ..IdeConfig::default()
    });
    ide.set_engine(engine.clone());
    ide.open(URI, Some("python"), 2, &code);
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert!(
        r.generated_code
            .contains("lo if x < lo else hi if x > hi else x")
            && r.generated_code.contains(DOC),
        "{r:?}"
    );
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    let short = "\"\"\"Clamp x into [lo, hi]. ...\"\"\"";
    for p in &prompts {
        // In full once, in the answer's given start; shortened in the question.
        assert_eq!(p.matches(DOC).count(), 1, "{p}");
        assert!(
            p.ends_with(&format!("def clamp(x, lo, hi):\n    {DOC}\n")),
            "{p}"
        );
        assert!(p.contains(short), "{p}");
    }
    // The first answer, shown again, is shortened too.
    assert_eq!(prompts[1].matches(short).count(), 2, "{}", prompts[1]);
    // The second answer may not begin the body as the first did.
    let avoids = engine.avoids.lock().unwrap().clone();
    assert!(avoids[0].is_empty());
    assert_eq!(avoids[1].len(), 1);
    assert!(
        avoids[1][0].starts_with("    if x < lo:\n"),
        "{:?}",
        avoids[1]
    );
    // Without a budget the question shows the docstring whole.
    let engine = Scripted::new(&[&same]);
    let ide = ide_with(engine.clone());
    ide.open(URI, Some("python"), 2, &code);
    run(&ide, CodeActionKind::Refactor, &refactor_input());
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts[0].matches(DOC).count(), 2, "{}", prompts[0]);
    assert!(!prompts[0].contains(short), "{}", prompts[0]);
}

#[test]
fn no_second_try_is_made_when_the_first_used_half_the_action_budget() {
    let same = format!("```python\n{CLAMP}```\n");
    let engine = Scripted::new(&[
        &same,
        "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let ide = ide_with(engine.clone());
    // Any first answer takes more than half of no time at all.
    ide.set_config(IdeConfig {
        action_budget: Some(std::time::Duration::ZERO),
        ..ide.config()
    });
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(
        why.contains("changes nothing") && why.contains("did not try again"),
        "{why}"
    );
    assert!(
        r.explanation.contains("`actionBudgetMs`"),
        "{}",
        r.explanation
    );
    // A budget the first answer fits twice into: the second try is made.
    let engine = Scripted::new(&[
        &same,
        "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let ide = ide_with(engine.clone());
    ide.set_config(IdeConfig {
        action_budget: Some(std::time::Duration::from_secs(3600)),
        ..ide.config()
    });
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert_eq!(engine.prompts.lock().unwrap().len(), 2);
    assert_eq!(r.edits.len(), 1, "{r:?}");
}

#[test]
fn alternatives_are_further_answers_deduplicated_and_checked() {
    let engine = Scripted::new(&[
        "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
        // The same code, spaced and commented differently: not another version.
        "```python\ndef clamp(x, lo, hi):\n    # bounded\n    return lo if x < lo else  hi if x > hi else x\n```\n",
        // Breaks the project's tests: not offered.
        "```python\ndef clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n```\n",
        "```python\ndef clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    return min(x, hi)\n```\n",
    ]);
    let ide = ide_with(engine.clone());
    let input = AssistInput {
        alternatives: 2,
        ..refactor_input()
    };
    let r = run(&ide, CodeActionKind::Refactor, &input);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert_eq!(
        r.alternatives,
        ["def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    return min(x, hi)"]
    );
    // The first answer greedy, then one more than wanted, each from another first token.
    assert_eq!(*engine.ranks.lock().unwrap(), [0, 1, 2, 3]);
    // Without asking, none.
    let engine = Scripted::new(&[
        "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi if x > hi else x\n```\n",
    ]);
    let ide = ide_with(engine.clone());
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert!(r.alternatives.is_empty());
    assert_eq!(*engine.ranks.lock().unwrap(), [0]);
}

/// Two changes away from `CLAMP` (one-change repairs do not fix it: the model is asked).
const BROKEN: &str = "def clamp(x, lo, hi):\n    if x < lo:\n        return hi\n    if x > hi:\n        return hi\n    return x\n";

fn fix_at(engine: Arc<Scripted>) -> CodeActionResult {
    // Second tries whatever the first took (the sandbox's runs take longer on a busy machine).
    fix_within(engine, None)
}

/// A fix under an action budget (an hour: only a scripted cut ends the answer).
fn fix_in_time(engine: Arc<Scripted>) -> CodeActionResult {
    fix_within(engine, Some(std::time::Duration::from_secs(3600)))
}

fn fix_within(
    engine: Arc<Scripted>,
    action_budget: Option<std::time::Duration>,
) -> CodeActionResult {
    let ide = Ide::new(IdeConfig {
        deadline: None,
        action_budget,
        ..IdeConfig::default()
    });
    ide.set_engine(engine);
    ide.open(URI, Some("python"), 1, BROKEN);
    let input = AssistInput {
        errors: vec!["AssertionError in test_low".into()],
        ..refactor_input()
    };
    run(&ide, CodeActionKind::Fix, &input)
}

#[test]
fn a_fix_cut_by_the_action_time_while_copying_is_completed_and_checked() {
    // The fix is made on line 3; the time ends two copied lines later.
    let cut = format!("```python\ndef clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    ret{CUT}");
    let engine = Scripted::new(&[&cut]);
    let r = fix_in_time(engine.clone());
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert_eq!(r.generated_code.trim_end(), CLAMP.trim_end());
    let v = r.verification.as_ref().unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    assert!(
        r.explanation
            .contains("cut where the action's time ended (`actionBudgetMs`), while it was copying the original: its last line is the original's"),
        "{}",
        r.explanation
    );
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);
    // Cut where it writes code of its own: nothing to complete, nothing offered, said why.
    let own = format!(
        "```python\ndef clamp(x, lo, hi):\n    low = x < lo\n    high = x > hi\n    if lo{CUT}"
    );
    let r = fix_in_time(Scripted::new(&[&own, &own]));
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap_or_default();
    assert!(
        why.contains("`actionBudgetMs`") && why.contains("before the answer's code did"),
        "{why}"
    );
    // Cut before it changed anything: the original completed is no fix.
    let early =
        format!("```python\ndef clamp(x, lo, hi):\n    if x < lo:\n        return hi\n   {CUT}");
    let r = fix_in_time(Scripted::new(&[&early, &early]));
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap_or_default();
    assert!(why.contains("before the answer changed anything"), "{why}");
}

#[test]
fn a_fix_leaving_the_function_without_its_body_is_not_offered() {
    let bare =
        "```python\ndef clamp(x, lo, hi):\n    \"\"\"Clamp x.\"\"\"\n```\n\nThe body was wrong.";
    let r = fix_in_time(Scripted::new(&[bare, bare]));
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap_or_default();
    assert!(why.contains("without its body"), "{why}");
}

#[test]
fn a_fix_leaving_the_test_failing_is_tried_again_with_the_new_output() {
    let still_wrong = "```python\ndef clamp(x, lo, hi):\n    if x >= lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n```\n";
    let engine = Scripted::new(&[still_wrong, &clamp_answer()]);
    let r = fix_at(engine.clone());
    let v = r.verification.as_ref().unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    assert!(r.explanation.contains("second try"), "{}", r.explanation);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    assert!(prompts[0].contains("AssertionError in test_low"));
    // The second is asked with the tests' output on the first fix.
    assert!(
        prompts[1].contains("test_low failed: AssertionError"),
        "{}",
        prompts[1]
    );
    // The first fix passes: no second answer.
    let engine = Scripted::new(&[&clamp_answer()]);
    let r = fix_at(engine.clone());
    assert!(r.verification.unwrap().verified);
    assert_eq!(engine.ranks.lock().unwrap().len(), 1);
    // Both fail: the first is offered, marked.
    let engine = Scripted::new(&[still_wrong, still_wrong]);
    let r = fix_at(engine.clone());
    let v = r.verification.unwrap();
    assert!(v.ran && !v.verified, "{v:?}");
    assert!(v.summary.contains("still fail"), "{}", v.summary);
    assert!(
        r.explanation.contains("did not make them pass"),
        "{}",
        r.explanation
    );
    assert_eq!(engine.ranks.lock().unwrap().len(), 2);
}

fn clamp_answer() -> String {
    format!("```python\n{CLAMP}```\n")
}

/// `clamp` documented with examples, and no project tests: the examples are the tests.
const DOCUMENTED: &str = "def clamp(x, lo, hi):\n    \"\"\"x kept within lo..hi.\n\n    >>> clamp(5, 0, 10)\n    5\n    >>> clamp(-5, 0, 10)\n    0\n    clamp(50, 0, 10) == 10\n    \"\"\"\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n";

fn run_on(
    engine: Arc<Scripted>,
    text: &str,
    kind: CodeActionKind,
    errors: &[&str],
) -> CodeActionResult {
    let ide = Ide::new(IdeConfig {
        deadline: None,
        // Second tries whatever the first took (the sandbox's runs take longer on a busy
        // machine).
        action_budget: None,
        ..IdeConfig::default()
    });
    ide.set_engine(engine);
    ide.open(URI, Some("python"), 1, text);
    let input = AssistInput {
        errors: errors.iter().map(|e| e.to_string()).collect(),
        tests: Some(target(None)),
        ..AssistInput::default()
    };
    run(&ide, kind, &input)
}

fn documented(body: &str) -> String {
    let doc_end = DOCUMENTED.find("    if x < lo").unwrap();
    format!("```python\n{}{body}```\n", &DOCUMENTED[..doc_end])
}

#[test]
fn a_rewrite_breaking_a_docstring_example_is_tried_again_told_what_broke() {
    let breaks = documented("    return min(lo, max(x, hi))\n");
    let keeps = documented("    return lo if x < lo else hi if x > hi else x\n");
    let engine = Scripted::new(&[&breaks, &keeps]);
    let r = run_on(engine.clone(), DOCUMENTED, CodeActionKind::Refactor, &[]);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(r.generated_code.contains("hi if x > hi else x"));
    let v = r.verification.as_ref().unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    assert_eq!(
        v.tests_from, "the docstring examples, the recorded cases, the recorded edge cases",
        "{v:?}"
    );
    // The 3 examples, then results recorded on variants of their calls.
    assert!(v.tests.len() > 3, "{v:?}");
    assert!(r.explanation.contains("second try"), "{}", r.explanation);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    assert!(!prompts[0].contains("rejected"));
    // Told which example broke and how.
    assert!(
        prompts[1].contains("That rewrite does not keep the behaviour")
            && prompts[1].contains("test_clamp_docstring_line_4")
            && prompts[1].contains("Expected: 5 Got: 0"),
        "{}",
        prompts[1]
    );
    // Both break the examples: nothing is offered, and the reason says both tries failed.
    let engine = Scripted::new(&[&breaks, &breaks]);
    let r = run_on(engine, DOCUMENTED, CodeActionKind::Refactor, &[]);
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(
        why.contains("the docstring examples") && why.contains("second try"),
        "{why}"
    );
}

/// Annotated, without examples or project tests: the signature gives the recorded inputs.
const TOTAL: &str = "def total(xs: list[int]) -> int:\n    result = 0\n    for x in xs:\n        result += x\n    return result\n";

#[test]
fn a_rewrite_must_keep_the_results_recorded_on_inputs_from_the_signature() {
    // Right on the lists the signature suggests, wrong on the empty one (an IndexError).
    let breaks =
        "```python\ndef total(xs: list[int]) -> int:\n    return xs[0] + sum(xs[1:])\n```\n";
    let keeps = "```python\ndef total(xs: list[int]) -> int:\n    return sum(xs)\n```\n";
    let engine = Scripted::new(&[breaks, keeps]);
    let r = run_on(engine.clone(), TOTAL, CodeActionKind::Refactor, &[]);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(r.generated_code.contains("return sum(xs)"), "{r:?}");
    let v = r.verification.as_ref().unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    assert_eq!(
        v.tests_from, "the recorded cases, the recorded edge cases",
        "{v:?}"
    );
    assert!(v.tests.len() >= 3, "{v:?}");
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    // Told the input it broke on.
    assert!(
        prompts[1].contains("That rewrite does not keep the behaviour")
            && prompts[1].contains("IndexError")
            && prompts[1].contains("total([])"),
        "{}",
        prompts[1]
    );
    // Both differ on `[]`, which no documentation vouches for: the first is offered, saying
    // where its results differ.
    let engine = Scripted::new(&[breaks, breaks]);
    let r = run_on(engine, TOTAL, CodeActionKind::Refactor, &[]);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    let v = r.verification.as_ref().unwrap();
    assert!(!v.verified, "{v:?}");
    assert!(
        v.summary.contains("differ from the current code's") && v.summary.contains("total([])"),
        "{}",
        v.summary
    );
    assert!(
        r.explanation
            .contains("A second try did not keep the recorded results either."),
        "{}",
        r.explanation
    );
    // Wrong on an ordinary input (the signature's own list): not offered, as a broken test.
    let wrong = "```python\ndef total(xs: list[int]) -> int:\n    return sum(xs[:2])\n```\n";
    let engine = Scripted::new(&[wrong, wrong]);
    let r = run_on(engine, TOTAL, CodeActionKind::Refactor, &[]);
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(
        why.contains("the recorded cases") && why.contains("total([3, 1, 2]) == 6"),
        "{why}"
    );
}

/// Untyped, without examples or tests: nothing runs a rewrite of it.
const BUCKETS: &str = "def lowered(rows, capacity):\n    import math\n    total = 0\n    for row in rows:\n        total += math.ceil(sum(row) / capacity)\n    return total\n";

#[test]
fn a_fix_using_a_standard_module_the_file_does_not_import_gets_the_import() {
    let buggy = "def lowered(rows, capacity):\n    total = 0\n    for row in rows:\n        total += sum(row) // capacity\n    return total\n";
    let fixed = "```python\ndef lowered(rows, capacity):\n    total = 0\n    for row in rows:\n        total += math.ceil(sum(row) / capacity)\n    return total\n```\nFloor division rounded down.\n";
    let engine = Scripted::new(&[fixed]);
    let r = run_on(
        engine,
        buggy,
        CodeActionKind::Fix,
        &["lowered([[1]], 2) should be 1"],
    );
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(
        r.generated_code
            .starts_with("import math\n\n\ndef lowered(rows, capacity):\n"),
        "{r:?}"
    );
    assert!(
        r.explanation
            .contains("nib added `import math`, which the fix uses."),
        "{}",
        r.explanation
    );
}

#[test]
fn a_rewrite_using_a_name_the_file_does_not_bind_is_asked_again() {
    // The rewrite drops the function's own `import math`: a NameError no test would reach.
    // The standard library has it: nib adds the import and offers the rewrite.
    let unbound = "```python\ndef lowered(rows, capacity):\n    return sum(math.ceil(sum(row) / capacity) for row in rows)\n```\n";
    let engine = Scripted::new(&[unbound]);
    let r = run_on(engine.clone(), BUCKETS, CodeActionKind::Refactor, &[]);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(
        r.generated_code
            .starts_with("import math\n\n\ndef lowered(rows, capacity):\n    return sum(math.ceil"),
        "{r:?}"
    );
    assert!(
        r.explanation
            .contains("nib added `import math`, which the rewrite uses."),
        "{}",
        r.explanation
    );
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);
    // A helper the model assumed: asked again, told the name.
    let unbound = "```python\ndef lowered(rows, capacity):\n    return sum(ceil_div(sum(row), capacity) for row in rows)\n```\n";
    let bound = "```python\ndef lowered(rows, capacity):\n    import math\n    return sum(math.ceil(sum(row) / capacity) for row in rows)\n```\n";
    let engine = Scripted::new(&[unbound, bound]);
    let r = run_on(engine.clone(), BUCKETS, CodeActionKind::Refactor, &[]);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(r.generated_code.contains("import math"), "{r:?}");
    assert!(r.explanation.contains("second try"), "{}", r.explanation);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    assert!(
        prompts[1].contains("`ceil_div`") && prompts[1].contains("NameError"),
        "{}",
        prompts[1]
    );
    // Twice unbound: nothing is offered, and the reason names the name.
    let engine = Scripted::new(&[unbound, unbound]);
    let r = run_on(engine, BUCKETS, CodeActionKind::Refactor, &[]);
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(
        why.contains("`ceil_div`") && why.contains("second try"),
        "{why}"
    );
}

#[test]
fn a_real_change_that_differs_on_a_recorded_input_does_not_replace_a_rewrite_that_keeps_them() {
    let comments = "```python\ndef total(xs: list[int]) -> int:\n    # Add them up.\n    result = 0\n    for x in xs:\n        result += x\n    return result\n```\n";
    let differs =
        "```python\ndef total(xs: list[int]) -> int:\n    return xs[0] + sum(xs[1:])\n```\n";
    let engine = Scripted::new(&[comments, differs]);
    let r = run_on(engine.clone(), TOTAL, CodeActionKind::Refactor, &[]);
    assert_eq!(r.edits.len(), 1, "{r:?}");
    assert!(r.generated_code.contains("# Add them up."), "{r:?}");
    assert!(r.verification.as_ref().unwrap().verified, "{r:?}");
    assert!(
        r.explanation
            .contains("changes only comments, docstrings or layout"),
        "{}",
        r.explanation
    );
    assert_eq!(engine.prompts.lock().unwrap().len(), 2);
}

#[test]
fn literal_calls_in_the_project_tests_are_inputs_recorded_for_a_rewrite() {
    // Keeps both project tests, but not `clamp(x, lo, hi)` for x between lo and hi: ordinary
    // inputs near the tests' calls, so the rewrite is not offered.
    let wrong = "```python\ndef clamp(x, lo, hi):\n    return lo if x < lo else hi\n```\n";
    let engine = Scripted::new(&[wrong, wrong]);
    let ide = ide_with(engine.clone());
    let r = run(&ide, CodeActionKind::Refactor, &refactor_input());
    assert!(r.edits.is_empty(), "{r:?}");
    let why = r.empty_reason.unwrap();
    assert!(
        why.contains("the recorded cases") && why.contains("clamp(1, 0, 10) == 1"),
        "{why}"
    );
    // Asked once more, told the input.
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    assert!(
        prompts[1].contains("clamp(1, 0, 10) == 1"),
        "{}",
        prompts[1]
    );
}

#[test]
fn a_fix_is_checked_against_the_docstring_examples() {
    // Not a one-change slip: the model is asked.
    let broken = DOCUMENTED.replace("return lo", "return hi");
    let still_wrong = documented("    if x >= lo:\n        return lo\n    return min(x, hi)\n");
    let right = documented("    if x < lo:\n        return lo\n    return min(x, hi)\n");
    let engine = Scripted::new(&[&still_wrong, &right]);
    let r = run_on(
        engine.clone(),
        &broken,
        CodeActionKind::Fix,
        &["wrong result"],
    );
    let v = r.verification.as_ref().unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    assert!(v.summary.contains("docstring examples"), "{}", v.summary);
    assert!(
        r.generated_code.contains("if x < lo"),
        "{}",
        r.generated_code
    );
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    assert!(
        prompts[1].contains("clamp(50, 0, 10): expected 10, got 0"),
        "{}",
        prompts[1]
    );
}

#[test]
fn a_one_change_slip_is_repaired_without_asking_the_model() {
    // The project's test and the docstring examples fail; flipping `>` back passes them.
    let slipped = DOCUMENTED.replace("if x < lo:", "if x > lo:");
    let engine = Scripted::new(&[]);
    let ide = Ide::new(IdeConfig {
        deadline: None,
        // Second tries whatever the first took (the sandbox's runs take longer on a busy
        // machine).
        action_budget: None,
        ..IdeConfig::default()
    });
    ide.set_engine(engine.clone());
    ide.open(URI, Some("python"), 1, &slipped);
    let input = AssistInput {
        errors: vec!["AssertionError in test_low".into()],
        ..refactor_input()
    };
    let r = run(&ide, CodeActionKind::Fix, &input);
    assert!(
        engine.prompts.lock().unwrap().is_empty(),
        "the model was asked"
    );
    assert_eq!(r.source, "repair");
    assert_eq!(r.confidence, "high");
    assert_eq!(r.edits.len(), 1, "{r:?}");
    let after = r.edits[0].new_text.clone();
    assert!(
        after.contains("if x <= lo:") || after.contains("if x < lo:"),
        "{after}"
    );
    let v = r.verification.as_ref().unwrap();
    assert!(v.ran && v.verified, "{v:?}");
    assert!(
        r.explanation.contains("line 10 has `>`") && r.explanation.contains("test_low"),
        "{}",
        r.explanation
    );
    // Passing tests: nothing to repair, the model is asked.
    let engine = Scripted::new(&[&documented("    return max(lo, min(x, hi))\n")]);
    let r = run_on(engine.clone(), DOCUMENTED, CodeActionKind::Fix, &["slow"]);
    assert_eq!(r.source, "chat");
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);
    // One example is too weak to trust a one-change repair (`x + 3` passes it): the model is
    // asked.
    let double = "def double(x):\n    \"\"\"Twice x.\n\n    >>> double(3)\n    6\n    \"\"\"\n    return x + 2\n";
    let fixed = double.replace("x + 2", "x * 2");
    let engine = Scripted::new(&[&format!("```python\n{fixed}```\n")]);
    let r = run_on(engine.clone(), double, CodeActionKind::Fix, &["wrong"]);
    assert_eq!(r.source, "chat");
    assert_eq!(engine.prompts.lock().unwrap().len(), 1);
    assert!(r.generated_code.contains("x * 2"), "{r:?}");
}

/// Two classes with a `total` method each.
const SHOP: &str = "from dataclasses import dataclass\n\n\n@dataclass\nclass Item:\n    name: str\n    price: float = 0.0\n\n    def total(self, n):\n        return self.price * n\n\n\nclass Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, item):\n        self.items.append(item)\n        return self\n\n    def total(self):\n        return sum(i.price for i in self.items)\n";

fn tests_of_cart_total(engine: Arc<Scripted>) -> CodeActionResult {
    let ide = Ide::new(IdeConfig {
        deadline: None,
        // Second tries whatever the first took (the sandbox's runs take longer on a busy
        // machine).
        action_budget: None,
        ..IdeConfig::default()
    });
    ide.set_engine(engine);
    ide.open(URI, Some("python"), 1, SHOP);
    let line = SHOP[..SHOP.find("sum(i.price").unwrap()]
        .matches('\n')
        .count() as u32;
    let p = Position::new(line, 10);
    run_in(
        &ide,
        CodeActionKind::Tests,
        &tests_input(),
        Range { start: p, end: p },
    )
}

#[test]
fn tests_of_a_method_build_its_class_and_import_what_they_use() {
    let engine = Scripted::new(&["```python\nfrom shop import Cart\n\ndef test_empty():\n    assert Cart().total() == 0\n\ndef test_two():\n    assert Cart().add(Item('a', 2.0)).add(Item('b', 1.5)).total() == 3.5\n\ndef test_wrong():\n    assert Cart().add(Item('a', 2.0)).total() == 4.0\n```\n"]);
    let r = tests_of_cart_total(engine.clone());
    let prompt = engine.prompts.lock().unwrap()[0].clone();
    assert!(
        prompt.contains("It is a method of `Cart`")
            && prompt.contains("Its other methods: `add(item)`"),
        "{prompt}"
    );
    let v = r.verification.as_ref().expect("the tests ran");
    assert!(v.ran && v.verified, "{v:?}");
    assert_eq!((v.kept, v.dropped), (2, 1), "{v:?}");
    // The class and the other name the tests use come from the module; the model's guess of
    // the module's name is gone.
    assert!(
        r.generated_code
            .contains("from mathutil import Cart, Item\n")
            && !r.generated_code.contains("from shop")
            && !r.generated_code.contains("test_wrong"),
        "{}",
        r.generated_code
    );
    assert!(
        r.explanation.contains("2 tests for `Cart.total`"),
        "{}",
        r.explanation
    );
    // The mutants are those of `Cart.total` (a sum), which `test_two` tells apart.
    assert!(v.mutants_total > 0 && v.mutants_killed > 0, "{v:?}");
}

#[test]
fn tests_calling_a_method_as_a_plain_function_are_not_offered() {
    let engine = Scripted::new(&["```python\ndef test_total():\n    assert total([]) == 0\n```\n"]);
    let r = tests_of_cart_total(engine);
    assert!(r.edits.is_empty(), "{:?}", r.edits);
    assert!(
        r.empty_reason
            .as_deref()
            .is_some_and(|w| w.contains("every generated test failed")),
        "{:?}",
        r.empty_reason
    );
}

#[test]
fn a_test_failing_after_checks_that_held_is_kept_up_to_the_failing_line() {
    let engine = Scripted::new(&["```python\ndef test_all():\n    assert clamp(5, 0, 10) == 5\n    lo = 0\n    assert clamp(-1, lo, 10) == -1\n    assert clamp(11, 0, 10) == 10\n```\n"]);
    let ide = ide_with(engine);
    let r = run(&ide, CodeActionKind::Tests, &tests_input());
    let v = r.verification.as_ref().expect("the tests ran");
    assert!(v.ran && v.verified, "{v:?}");
    let all = v.tests.iter().find(|t| t.name == "test_all").unwrap();
    assert!(all.kept && !all.passed, "{all:?}");
    assert!(
        all.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("cut before line 4, where it failed: AssertionError")),
        "{all:?}"
    );
    assert!(
        r.generated_code
            .contains("def test_all():\n    assert clamp(5, 0, 10) == 5\n")
            && !r.generated_code.contains("lo = 0")
            && !r.generated_code.contains("clamp(11"),
        "{}",
        r.generated_code
    );
    assert!(
        r.explanation
            .contains("kept up to the statement that failed: `test_all`"),
        "{}",
        r.explanation
    );
}
