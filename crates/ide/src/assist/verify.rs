//! Running what an action wrote before it is offered, in nib-verify's sandbox (wall-clock and
//! CPU limits, memory limit, a scratch directory, no network where the OS allows): generated
//! tests against the current code (a failing test is dropped and the result says which and
//! why; the kept tests' mutation score), and a rewrite against the project's tests (a rewrite
//! that breaks them is not offered). Python runs under nib's runner; a Rust file is compiled
//! with its tests by `rustc --test` alone (no cargo build), so a file that needs the rest of
//! its crate runs nothing; mutation scores are measured for Python only.
//!
//! A verdict comes from a sandbox run only; when nothing ran (no tests, the code cannot load
//! or compile alone in the sandbox) the result says so and claims nothing.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nib_syntax::Language;
use nib_verify::{Module, Sandbox, SandboxConfig, TestRun};

use super::pure::{self, Framework};

/// Characters of a failure reason kept in a result.
const REASON_CHARS: usize = 160;
/// Failing tests named in an explanation line.
const NAMED_FAILURES: usize = 3;

/// What the sandbox said about an action's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verification {
    /// Whether the tests ran in the sandbox.
    pub ran: bool,
    /// Whether the result was checked by at least one test that passed in the sandbox (tests:
    /// a kept test; refactor: a project test passing on the current code and on the rewrite).
    pub verified: bool,
    /// One line for the user: what ran and what it showed, or why nothing ran.
    pub summary: String,
    /// Where the tests came from: `generated`, or the project's test file (its path).
    pub tests_from: String,
    /// Per test: the generated tests on the current code (kept or dropped), or the project's
    /// tests on the rewrite.
    pub tests: Vec<TestOutcome>,
    /// Generated tests kept and dropped (`kept + dropped == tests.len()`; 0 for refactor).
    pub kept: usize,
    pub dropped: usize,
    /// Simple mutants of the function the kept tests kill, of all its mutants (0 of 0 when
    /// nothing was measured).
    pub mutants_killed: usize,
    pub mutants_total: usize,
}

/// One test's outcome in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestOutcome {
    pub name: String,
    pub passed: bool,
    /// For generated tests: kept in the result (it passed on the current code).
    pub kept: bool,
    /// Why it failed: the exception and the failing line, shortened.
    pub reason: Option<String>,
}

impl Verification {
    pub(crate) fn not_run(tests_from: &str, summary: String) -> Verification {
        Verification {
            ran: false,
            verified: false,
            summary,
            tests_from: tests_from.to_string(),
            tests: Vec::new(),
            kept: 0,
            dropped: 0,
            mutants_killed: 0,
            mutants_total: 0,
        }
    }
}

/// The sandbox the actions share (probing network isolation once).
fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::new(SandboxConfig::default()))
}

fn short(reason: &str) -> String {
    let one_line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= REASON_CHARS {
        one_line
    } else {
        let cut: String = one_line.chars().take(REASON_CHARS).collect();
        format!("{cut}...")
    }
}

fn verify_framework(f: Framework) -> nib_verify::Framework {
    match f {
        Framework::Pytest => nib_verify::Framework::Pytest,
        Framework::Unittest => nib_verify::Framework::Unittest,
        Framework::RustModule => nib_verify::Framework::RustModule,
    }
}

/// The Python module name of a file: `module` from the test plan, else the file's stem.
pub(crate) fn module_name(plan_module: Option<&str>, file_name: &str) -> String {
    plan_module
        .map(str::to_string)
        .unwrap_or_else(|| file_name.trim_end_matches(".py").to_string())
}

/// A test's function (or `Class.method`) without its parameter-set suffix.
fn base_name(name: &str) -> &str {
    name.split_once('[').map_or(name, |(b, _)| b)
}

/// Generated tests after their sandbox run: the tests to offer (`None`: every test failed),
/// and the verification.
pub(crate) struct CheckedTests {
    pub tests: Option<String>,
    pub verification: Verification,
}

/// Run generated Python `tests` against the current code of the module (`source`, importable
/// as `module`); drop the tests that fail there; measure the mutation score of the kept ones
/// on `function`.
pub(crate) fn check_generated_tests(
    lang: Language,
    framework: Framework,
    module: &str,
    source: &str,
    function: &str,
    tests: &str,
    until: Option<Instant>,
) -> CheckedTests {
    if lang == Language::Rust {
        return check_rust_tests(sandbox(), source, function, tests, until);
    }
    check_python_tests(
        sandbox(),
        verify_framework(framework),
        &Module {
            name: module,
            source,
        },
        function,
        tests,
        until,
    )
}

/// No mutant run starts after this: `limit` after now, or `run_time` (one mutant's run)
/// before `until` (the action's end) when that is sooner.
fn mutants_until(limit: Duration, run_time: Duration, until: Option<Instant>) -> Instant {
    let end = Instant::now() + limit;
    until.map_or(end, |u| u.checked_sub(run_time).unwrap_or(u).min(end))
}

/// About the longest a mutant's test run takes (a Python process and its tests): one started
/// this long before the action's end ends in time.
const MUTANT_RUN_TIME: Duration = Duration::from_millis(800);

/// Generated Rust `tests` (test functions for the file's `mod tests`) compiled with the file
/// `source` by rustc alone and run: the ones rustc rejects or that fail are dropped; the
/// kept ones run on the mutants of `function` that compile. A file that does not compile
/// alone with them (it needs the rest of its crate) runs nothing, and the tests are offered
/// saying so.
fn check_rust_tests(
    sandbox: &Sandbox,
    source: &str,
    function: &str,
    tests: &str,
    until: Option<Instant>,
) -> CheckedTests {
    // Tests rustc rejects are dropped (with its first message) and the rest compiled again.
    let mut tests = tests.to_string();
    let mut outcomes: Vec<TestOutcome> = Vec::new();
    let mut rounds = 0;
    let run = loop {
        rounds += 1;
        let (at, chunk) = pure::rust_tests_insertion(source, &tests);
        let file = pure::replaced(source, at, at, &chunk);
        let (run, errors) = nib_verify::run_rust_tests_or_errors(&file, RUST_EDITION, sandbox);
        if errors.is_empty() || rounds > RUST_COMPILE_ROUNDS {
            break run;
        }
        // The tests' first line in the file (1-based), and each test's lines there.
        let first_line = 1
            + file[..at].matches('\n').count()
            + chunk
                .find(pure::reindent(&tests, "    ").as_str())
                .map_or(0, |i| chunk[..i].matches('\n').count());
        let line_of = |byte: usize| first_line + tests[..byte].matches('\n').count();
        let functions: Vec<(String, std::ops::RangeInclusive<usize>)> =
            pure::rust_functions(&tests)
                .into_iter()
                .map(|(name, r)| (name, line_of(r.start)..=line_of(r.end)))
                .collect();
        let in_test = |e: &nib_verify::CompileError| {
            functions
                .iter()
                .find(|(_, lines)| e.lines.iter().any(|l| lines.contains(l)))
        };
        // An error outside the tests: the file does not compile alone (the run says so).
        if !errors.iter().all(|e| in_test(e).is_some()) {
            break run;
        }
        let mut rejected: Vec<&str> = Vec::new();
        for e in &errors {
            let name = in_test(e).map_or("", |(n, _)| n.as_str());
            if !rejected.contains(&name) {
                rejected.push(name);
                outcomes.push(TestOutcome {
                    name: name.to_string(),
                    passed: false,
                    kept: false,
                    reason: Some(short(&format!("does not compile: {}", e.message))),
                });
            }
        }
        tests = pure::without_rust_tests(&tests, &rejected);
        if rejected.len() == functions.len() {
            break nib_verify::TestRun {
                tests: Vec::new(),
                error: None,
            };
        }
        // No compile round starts that would end after the action's time.
        if until.is_some_and(|u| Instant::now() + RUST_COMPILE_TIME > u) {
            let names: Vec<String> = rejected.iter().map(|n| format!("`{n}`")).collect();
            return CheckedTests {
                tests: Some(tests),
                verification: Verification::not_run(
                    "generated",
                    format!(
                        "The tests were not run: rustc rejected {} (dropped), and the action's time (`actionBudgetMs`) ended before the rest were compiled again; check them with `cargo test`.",
                        names.join(", ")
                    ),
                ),
            };
        }
    };
    if let Some(error) = &run.error {
        return CheckedTests {
            tests: Some(tests),
            verification: Verification::not_run(
                "generated",
                format!(
                    "The tests were not run: {}; check them with `cargo test`.",
                    short(error)
                ),
            ),
        };
    }
    // The harness names a test by its module path (`tests::test_f`); the file's own tests
    // are not the result's.
    let base = |name: &str| name.rsplit("::").next().unwrap_or(name).to_string();
    let written_names: Vec<String> = pure::rust_functions(&tests)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let generated: Vec<&nib_verify::TestResult> = run
        .tests
        .iter()
        .filter(|t| t.name.starts_with("tests::") && written_names.contains(&base(&t.name)))
        .collect();
    let failing: Vec<String> = generated
        .iter()
        .filter(|t| !t.passed)
        .map(|t| base(&t.name))
        .collect();
    let failing: Vec<&str> = failing.iter().map(String::as_str).collect();
    let kept_code = pure::without_rust_tests(&tests, &failing);
    outcomes.extend(generated.iter().map(|t| TestOutcome {
        name: base(&t.name),
        passed: t.passed,
        kept: t.passed,
        reason: t.reason.as_deref().map(short),
    }));
    let written = outcomes.len();
    let kept = outcomes.iter().filter(|o| o.kept).count();
    let dropped = written - kept;
    let mut summary = format!(
        "Compiled with the file by rustc and run in the sandbox against the current code: \
         {kept} of {written} test{} passed and {} kept",
        if written == 1 { "" } else { "s" },
        if kept == 1 { "is" } else { "are" }
    );
    summary.push_str(&dropped_note(&outcomes, dropped));
    summary.push('.');
    let (mut killed, mut total) = (0, 0);
    if kept > 0 {
        let with_tests = |src: &str| {
            let (at, chunk) = pure::rust_tests_insertion(src, &kept_code);
            pure::replaced(src, at, at, &chunk)
        };
        let passing: Vec<String> = generated
            .iter()
            .filter(|t| t.passed)
            .map(|t| t.name.clone())
            .collect();
        let m = nib_verify::rust_mutation_check(
            source,
            function,
            &with_tests,
            &passing,
            RUST_EDITION,
            sandbox,
            // A Rust mutant is compiled before it runs: none starts within a compilation of
            // the action's end.
            Some(mutants_until(RUST_MUTANTS_TIME, RUST_COMPILE_TIME, until)),
        );
        killed = m.mutants.iter().filter(|r| r.killed).count();
        total = m.mutants.len();
        let mut left_out = Vec::new();
        if m.not_compiled > 0 {
            left_out.push(format!("{} that do not compile", m.not_compiled));
        }
        if m.not_run > 0 {
            left_out.push(format!("{} more not run: out of time", m.not_run));
        }
        summary.push_str(&format!(
            " The kept tests kill {killed} of {total} simple mutants of `{function}`{}.",
            if left_out.is_empty() {
                String::new()
            } else {
                format!(" ({})", left_out.join("; "))
            }
        ));
    }
    CheckedTests {
        tests: (kept > 0).then_some(kept_code),
        verification: Verification {
            ran: written > 0,
            verified: kept > 0,
            summary,
            tests_from: "generated".into(),
            tests: outcomes,
            kept,
            dropped,
            mutants_killed: killed,
            mutants_total: total,
        },
    }
}

/// The summary's words on the dropped tests (the first few named, with why): empty when none
/// was dropped.
fn dropped_note(outcomes: &[TestOutcome], dropped: usize) -> String {
    if dropped == 0 {
        return String::new();
    }
    let named: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.kept)
        .take(NAMED_FAILURES)
        .map(|o| match &o.reason {
            Some(r) => format!("`{}` ({r})", o.name),
            None => format!("`{}`", o.name),
        })
        .collect();
    format!(
        "; dropped (the code or the test is wrong): {}{}",
        named.join(", "),
        if dropped > named.len() { ", ..." } else { "" }
    )
}

/// Time the mutants of a Rust function may start in (each is compiled, about a second).
const RUST_MUTANTS_TIME: Duration = Duration::from_secs(12);

/// About the time rustc takes to compile a file with its tests (and the test harness).
const RUST_COMPILE_TIME: Duration = Duration::from_millis(1500);

/// Compilations of generated Rust tests at most: the tests rustc rejects are dropped between
/// them.
const RUST_COMPILE_ROUNDS: usize = 3;

/// The Rust edition a file is compiled in to run its tests.
const RUST_EDITION: &str = "2021";

fn check_python_tests(
    sandbox: &Sandbox,
    framework: nib_verify::Framework,
    module: &Module<'_>,
    function: &str,
    tests: &str,
    until: Option<Instant>,
) -> CheckedTests {
    let module_name = module.name;
    let mutants_until = Some(mutants_until(MUTANTS_TIME, MUTANT_RUN_TIME, until));
    // Empty: the answer had no tests; the docstring's examples and recorded cases may still be.
    let first = (!tests.trim().is_empty())
        .then(|| nib_verify::run_tests(module, tests, framework, None, false, sandbox));
    if let Some(error) = first.as_ref().and_then(|f| f.error.as_ref()) {
        // Nothing says whether the tests are right: keep them, say nothing ran.
        return CheckedTests {
            tests: Some(tests.to_string()),
            verification: Verification::not_run(
                "generated",
                format!(
                    "The tests were not verified: they could not run in the sandbox ({}).",
                    short(error)
                ),
            ),
        };
    }
    // A failing test whose checks before the failing statement held is cut there and kept
    // (the last ones in the file first: a cut moves no earlier line).
    let mut at_line: Vec<(&str, usize)> = first
        .iter()
        .flat_map(|f| f.failing())
        .filter(|t| !t.name.contains('['))
        .filter_map(|t| Some((t.name.as_str(), t.line?)))
        .collect();
    at_line.sort_by_key(|&(_, line)| std::cmp::Reverse(line));
    let mut cut_code = tests.to_string();
    let mut cut: Vec<(&str, usize)> = Vec::new();
    for (name, line) in at_line {
        if let Some(c) = pure::cut_python_test(&cut_code, name, line) {
            cut_code = c;
            cut.push((name, line));
        }
    }
    let was_cut = |name: &str| cut.iter().find(|(n, _)| *n == name).map(|&(_, l)| l);
    let failing: Vec<&str> = first
        .iter()
        .flat_map(|f| f.failing())
        .filter(|t| was_cut(&t.name).is_none())
        .map(|t| base_name(&t.name))
        .collect();
    let mut kept_code = if failing.is_empty() {
        cut_code
    } else {
        pure::without_python_tests(&cut_code, &failing)
    };
    let mut outcomes: Vec<TestOutcome> = first
        .iter()
        .flat_map(|f| f.tests.iter())
        .map(|t| TestOutcome {
            name: t.name.clone(),
            passed: t.passed,
            kept: !failing.contains(&base_name(&t.name)),
            reason: match (t.reason.as_deref(), was_cut(&t.name)) {
                (Some(r), Some(line)) => Some(short(&format!(
                    "cut before line {line}, where it failed: {r}"
                ))),
                (r, _) => r.map(short),
            },
        })
        .collect();
    let written = outcomes.len();
    let mut check = None;
    let (mut documented, mut recorded) = (0, 0);
    // The docstring's examples (when the code agrees with them) and the current results on
    // inputs near the tests' ones join the kept tests. The failing tests' inputs are not used
    // (their expected values disagree with the code); without a passing test, only the
    // docstring's examples vouch for recording anything.
    let cases = nib_verify::record_cases(module, function, tests, &failing, sandbox);
    let cases = if outcomes.iter().any(|o| o.kept) || cases.iter().any(|c| c.documented) {
        cases
    } else {
        Vec::new()
    };
    if outcomes.iter().any(|o| o.kept) || !cases.is_empty() {
        let model_code = kept_code.clone();
        if let Some(code) =
            nib_verify::cases_test_code(module_name, function, framework, &cases, &kept_code)
        {
            kept_code = nib_verify::record::joined(&kept_code, &code);
        }
        let check_kept = |code: &str| {
            nib_verify::check_tests_until(module, function, code, framework, sandbox, mutants_until)
        };
        let mut c = check_kept(&kept_code);
        let known: Vec<String> = outcomes.iter().map(|o| o.name.clone()).collect();
        let new: Vec<&nib_verify::TestResult> = c
            .current
            .tests
            .iter()
            .filter(|t| !known.contains(&t.name))
            .collect();
        if new.len() == cases.len() && new.iter().all(|t| t.passed) {
            documented = cases.iter().filter(|c| c.documented).count();
            recorded = cases.len() - documented;
            outcomes.extend(new.into_iter().map(|t| TestOutcome {
                name: t.name.clone(),
                passed: true,
                kept: true,
                reason: None,
            }));
        } else {
            // A value did not repeat (the function is not deterministic): leave the cases out.
            kept_code = model_code;
            c = check_kept(&kept_code);
        }
        // A kept test must pass again (a flaky one, or one that needed a dropped one, does not).
        let again = passed_names(&c.current);
        let lost: Vec<String> = outcomes
            .iter()
            .filter(|o| o.kept && !again.contains(&o.name))
            .map(|o| base_name(&o.name).to_string())
            .collect();
        for o in outcomes.iter_mut().filter(|o| o.kept) {
            if lost.iter().any(|l| l == base_name(&o.name)) {
                o.kept = false;
                if o.passed {
                    o.passed = false;
                    o.reason = Some(
                        c.current
                            .tests
                            .iter()
                            .find(|t| t.name == o.name)
                            .and_then(|t| t.reason.as_deref())
                            .map_or_else(|| "did not pass when run again".into(), short),
                    );
                }
            }
        }
        if !lost.is_empty() {
            let lost: Vec<&str> = lost.iter().map(String::as_str).collect();
            kept_code = pure::without_python_tests(&kept_code, &lost);
        }
        check = Some(c);
    }
    let kept = outcomes.iter().filter(|o| o.kept).count();
    let dropped = outcomes.len() - kept;
    let (killed, total, not_run) = match &check {
        Some(c) if kept > 0 => (c.killed(), c.mutants.len(), c.not_run),
        _ => (0, 0, 0),
    };
    let cut_kept: Vec<&TestOutcome> = outcomes.iter().filter(|o| o.kept && !o.passed).collect();
    let kept_written = kept - documented - recorded - cut_kept.len();
    let mut summary = if written > 0 {
        format!(
            "Run in the sandbox against the current code: {kept_written} of {written} test{} \
             passed and {} kept",
            if written == 1 { "" } else { "s" },
            if kept_written == 1 { "is" } else { "are" }
        )
    } else {
        String::new()
    };
    if !cut_kept.is_empty() {
        let named: Vec<String> = cut_kept
            .iter()
            .map(|o| format!("`{}` ({})", o.name, o.reason.as_deref().unwrap_or_default()))
            .collect();
        summary.push_str(&format!(
            "; kept up to the statement that failed: {}",
            named.join(", ")
        ));
    }
    summary.push_str(&dropped_note(&outcomes, dropped));
    if written > 0 {
        summary.push('.');
    } else if kept == 0 {
        summary = format!("No example of `{function}`'s docstring could serve as a test.");
    }
    if documented > 0 {
        summary.push_str(&format!(
            " {documented} example{} of `{function}`'s docstring {} (the code agrees with {}).",
            if documented == 1 { "" } else { "s" },
            if documented == 1 {
                "is added as a test"
            } else {
                "are added as tests"
            },
            if documented == 1 { "it" } else { "them" },
        ));
    }
    if recorded > 0 {
        summary.push_str(&format!(
            " {recorded} recorded case{} added: what `{function}` returns today for inputs \
             near the tests' ones (check the values are the intended ones).",
            if recorded == 1 { " is" } else { "s are" }
        ));
    }
    if kept > 0 && total == 0 && not_run > 0 {
        summary.push_str(&format!(
            " None of the {not_run} simple mutants of `{function}` was run: out of time \
             (`actionBudgetMs`)."
        ));
    } else if kept > 0 {
        summary.push_str(&format!(
            " The kept tests kill {killed} of {total} simple mutants of `{function}`{}.",
            if not_run > 0 {
                format!(" ({not_run} more not run: out of time)")
            } else {
                String::new()
            }
        ));
    }
    CheckedTests {
        tests: (kept > 0).then_some(kept_code),
        verification: Verification {
            ran: written > 0 || kept > 0,
            verified: kept > 0,
            summary: summary.trim_start().to_string(),
            tests_from: "generated".into(),
            tests: outcomes,
            kept,
            dropped,
            mutants_killed: killed,
            mutants_total: total,
        },
    }
}

fn passed_names(run: &TestRun) -> Vec<String> {
    run.tests
        .iter()
        .filter(|t| t.passed)
        .map(|t| t.name.clone())
        .collect()
}

/// No mutant run of a generated tests' check starts later than this after the check began.
const MUTANTS_TIME: Duration = Duration::from_secs(8);

/// Where a check's tests came from when they are the docstring examples.
pub(crate) const EXAMPLES: &str = "the docstring examples";

/// The docstring examples (both forms) of the Python functions the change touches (bytes
/// `start..end` of `source`) as a test file for `module`; `None` without examples.
pub(crate) fn examples_tests(
    source: &str,
    start: usize,
    end: usize,
    module: &str,
) -> Option<String> {
    let examples = nib_verify::examples::examples_around(source, start, end);
    nib_verify::examples::examples_test_file(module, &examples)
}

/// Names a Python rewrite uses unbound ([`undefined_names`]).
pub(crate) struct Unbound {
    /// Why the rewrite would raise `NameError`, naming the names.
    pub why: String,
    /// The standard-library imports binding them all, when there are such (`import math`,
    /// `from typing import List`); `None` when one of them is not the standard library's.
    pub imports: Option<Vec<String>>,
}

/// The globals a Python rewrite (`after`, the whole file) uses that the file neither binds
/// nor gets from the builtins and that `before` did not already use unbound: a `NameError`
/// when their line runs. `None` when there are none (or no verdict: a syntax error, a `*`
/// import).
pub(crate) fn undefined_names(lang: Language, before: &str, after: &str) -> Option<Unbound> {
    if lang != Language::Python {
        return None;
    }
    let found = nib_verify::new_undefined_names(before, after, sandbox());
    let shown: Vec<String> = found.names.iter().map(|n| format!("`{n}`")).collect();
    let why = match shown.as_slice() {
        [] => return None,
        [one] => format!(
            "the rewrite uses {one}, which the file neither defines nor imports (a NameError when that line runs)"
        ),
        many => format!(
            "the rewrite uses {}, which the file neither defines nor imports (a NameError when those lines run)",
            many.join(", ")
        ),
    };
    Some(Unbound {
        why,
        imports: found.imports_for_all(),
    })
}

/// Where a rewrite's check came from when the tests are the function's recorded results: on
/// ordinary inputs, and on edge ones.
pub(crate) const RECORDED: &str = "the recorded cases";
pub(crate) const RECORDED_EDGE: &str = "the recorded edge cases";

/// A function's recorded behaviour as test files a rewrite of it runs: on ordinary inputs (the
/// calls of it seen, values of its parameters' types, their reorderings), which a rewrite must
/// keep, and on edge inputs (empty, zero, negative, punctuation, the exceptions it raises),
/// which many functions leave out of their contract.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub plain: Option<String>,
    pub edge: Option<String>,
}

/// The current results of the plain Python function `function` of `source`, recorded in the
/// sandbox on the literal calls of it in the module and in `project_tests`, on calls built
/// from its signature, and on variants of these, as the test files a rewrite of it should pass
/// (named apart from the tests in `examples`).
pub(crate) fn recorded_tests(
    source: &str,
    function: &str,
    module: &str,
    project_tests: Option<&str>,
    examples: Option<&str>,
) -> Recorded {
    let cases = nib_verify::record::record_behaviour(
        &Module {
            name: module,
            source,
        },
        function,
        &format!("{source}\n\n{}", project_tests.unwrap_or_default()),
        sandbox(),
    );
    // The documented cases are the docstring examples' own calls, checked with those.
    let file = |edge: bool| {
        let group: Vec<nib_verify::Case> = cases
            .iter()
            .filter(|c| !c.documented && c.edge == edge)
            .cloned()
            .collect();
        nib_verify::cases_test_code(
            module,
            function,
            nib_verify::Framework::Pytest,
            &group,
            examples.unwrap_or_default(),
        )
        .map(|code| code.trim_start().to_string())
    };
    Recorded {
        plain: file(false),
        edge: file(true),
    }
}

/// `checked` (the rewrite's verification by the project's tests and the docstring examples)
/// for a rewrite whose results differ from the current code's on recorded inputs (`why`).
pub(crate) fn differs(checked: Option<Verification>, why: &str) -> Verification {
    let note = format!(
        "Its results differ from the current code's on edge inputs nib recorded: {why}. Check that \
         these inputs do not matter before applying it."
    );
    match checked {
        Some(v) => {
            // "Verified: the 2 tests ... pass on the rewrite." -> "The 2 tests ...".
            let held = match v.summary.strip_prefix("Verified: ") {
                Some(rest) => {
                    let mut c = rest.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                }
                None => v.summary.clone(),
            };
            Verification {
                verified: false,
                summary: format!("{} {note}", held.trim_end()),
                ..v
            }
        }
        None => Verification {
            ran: true,
            ..Verification::not_run(RECORDED_EDGE, note)
        },
    }
}

/// Two checks of one result (the project's tests, the docstring examples) as one.
pub(crate) fn merge(a: Verification, b: Verification) -> Verification {
    let summary = match (a.verified, b.verified) {
        (true, false) if !b.ran => a.summary,
        (false, true) if !a.ran => b.summary,
        _ if a.summary == b.summary => a.summary,
        _ => format!("{} {}", a.summary.trim_end(), b.summary),
    };
    // Where the tests came from: the checks that ran (or both, when neither did).
    let either = a.ran || b.ran;
    let tests_from = [
        (a.ran, a.tests_from.as_str()),
        (b.ran, b.tests_from.as_str()),
    ]
    .into_iter()
    .filter(|(ran, f)| !f.is_empty() && (*ran || !either))
    .map(|(_, f)| f)
    .collect::<Vec<_>>()
    .join(", ");
    let tests: Vec<TestOutcome> = a.tests.into_iter().chain(b.tests).collect();
    Verification {
        ran: a.ran || b.ran,
        // One check verifying the result does not outweigh a test the other saw fail.
        verified: (a.verified || b.verified) && tests.iter().all(|t| t.passed),
        summary,
        tests_from,
        tests,
        kept: a.kept + b.kept,
        dropped: a.dropped + b.dropped,
        mutants_killed: a.mutants_killed + b.mutants_killed,
        mutants_total: a.mutants_total + b.mutants_total,
    }
}

/// The current module and its rewrite; `function`: the function rewritten, when one is.
pub(crate) struct Change<'a> {
    pub source: &'a str,
    pub rewritten: &'a str,
    pub function: Option<&'a str>,
}

/// A rewrite against the project's tests: `Ok` with the verification when it may be offered,
/// `Err` with the reason when it breaks a test that passes on the current code.
pub(crate) fn check_rewrite(
    lang: Language,
    framework: Framework,
    module: &str,
    change: &Change,
    tests_path: &str,
    tests: Option<&str>,
) -> Result<Verification, String> {
    let Some(tests) = tests else {
        return Ok(Verification::not_run(
            "",
            format!(
                "Not verified: the project has no tests for this file (looked for {tests_path})."
            ),
        ));
    };
    if lang == Language::Rust {
        // The file holds its tests: they run on it and on the rewritten file.
        let c = nib_verify::check_rust_refactor(
            change.source,
            change.rewritten,
            RUST_EDITION,
            sandbox(),
        );
        return rewrite_verdict(
            &c,
            change,
            tests_path,
            pure::rust_tests_module(change.source).unwrap_or_default(),
        );
    }
    check_python_rewrite(
        sandbox(),
        verify_framework(framework),
        module,
        change,
        tests_path,
        tests,
    )
}

fn check_python_rewrite(
    sandbox: &Sandbox,
    framework: nib_verify::Framework,
    module: &str,
    change: &Change,
    tests_path: &str,
    tests: &str,
) -> Result<Verification, String> {
    let c = nib_verify::check_refactor(
        &Module {
            name: module,
            source: change.source,
        },
        change.rewritten,
        tests,
        framework,
        sandbox,
    );
    rewrite_verdict(&c, change, tests_path, tests)
}

/// Whether a rewrite may be offered after `c`, the tests in `tests_path` (whose text is `tests`)
/// on the current code and on the rewrite.
fn rewrite_verdict(
    c: &nib_verify::RefactorCheck,
    change: &Change,
    tests_path: &str,
    tests: &str,
) -> Result<Verification, String> {
    let before = c.original.passing();
    if before.is_empty() {
        let why = match &c.original.error {
            Some(e) => short(e),
            None => "none of them passes on the current code".into(),
        };
        return Ok(Verification::not_run(
            tests_path,
            format!("Not verified: the tests in {tests_path} do not run in the sandbox ({why})."),
        ));
    }
    let outcomes: Vec<TestOutcome> = c
        .refactored
        .tests
        .iter()
        .filter(|t| before.contains(&t.name.as_str()))
        .map(|t| TestOutcome {
            name: t.name.clone(),
            passed: t.passed,
            kept: false,
            reason: t.reason.as_deref().map(short),
        })
        .collect();
    if !c.behaviour_kept() {
        let mut why: Vec<String> = c
            .broken
            .iter()
            .take(NAMED_FAILURES)
            .map(|name| {
                match outcomes
                    .iter()
                    .find(|o| &o.name == name)
                    .and_then(|o| o.reason.as_deref())
                {
                    Some(r) => format!("`{name}` ({r})"),
                    None => format!("`{name}`"),
                }
            })
            .collect();
        if let Some(e) = &c.refactored.error {
            why.insert(0, short(e));
        }
        return Err(format!(
            "the rewrite breaks {} test{} in {tests_path} that pass{} on the current code: {}",
            c.broken.len().max(1),
            if c.broken.len() == 1 { "" } else { "s" },
            if c.broken.len() == 1 { "es" } else { "" },
            why.join(", ")
        ));
    }
    if let Some(f) = change.function.filter(|f| !tests.contains(*f)) {
        return Ok(Verification {
            ran: true,
            verified: false,
            summary: format!(
                "Not verified: the tests in {tests_path} still pass on the rewrite, but none of them mentions `{f}`."
            ),
            tests_from: tests_path.to_string(),
            tests: outcomes,
            kept: 0,
            dropped: 0,
            mutants_killed: 0,
            mutants_total: 0,
        });
    }
    Ok(Verification {
        ran: true,
        verified: true,
        summary: format!(
            "Verified: the {} test{} in {tests_path} that pass{} on the current code pass{} on the rewrite.",
            before.len(),
            if before.len() == 1 { "" } else { "s" },
            if before.len() == 1 { "es" } else { "" },
            if before.len() == 1 { "es" } else { "" },
        ),
        tests_from: tests_path.to_string(),
        tests: outcomes,
        kept: 0,
        dropped: 0,
        mutants_killed: 0,
        mutants_total: 0,
    })
}

/// A fix against the project's tests: whether the tests failing on the current code pass on
/// the fixed code (and the others still do).
pub(crate) struct FixCheck {
    pub verification: Verification,
    /// The failure output of the tests the fix leaves failing, for one more try.
    pub still_failing: Option<String>,
}

pub(crate) fn check_fix(
    lang: Language,
    framework: Framework,
    module: &str,
    source: &str,
    fixed: &str,
    tests_path: &str,
    tests: Option<&str>,
) -> FixCheck {
    let not_run = |summary: String| FixCheck {
        verification: Verification::not_run(tests_path, summary),
        still_failing: None,
    };
    let Some(tests) = tests else {
        return not_run(format!(
            "Not verified: the project has no tests for this file (looked for {tests_path})."
        ));
    };
    if lang == Language::Rust {
        let c = nib_verify::check_rust_refactor(source, fixed, RUST_EDITION, sandbox());
        return fix_verdict(&c, tests_path);
    }
    check_python_fix(
        sandbox(),
        verify_framework(framework),
        module,
        source,
        fixed,
        tests_path,
        tests,
    )
}

fn check_python_fix(
    sandbox: &Sandbox,
    framework: nib_verify::Framework,
    module: &str,
    source: &str,
    fixed: &str,
    tests_path: &str,
    tests: &str,
) -> FixCheck {
    let c = nib_verify::check_refactor(
        &Module {
            name: module,
            source,
        },
        fixed,
        tests,
        framework,
        sandbox,
    );
    fix_verdict(&c, tests_path)
}

/// What `c`, the tests in `tests_path` on the current code and on the fixed code, say of a fix.
fn fix_verdict(c: &nib_verify::RefactorCheck, tests_path: &str) -> FixCheck {
    if let Some(e) = &c.original.error {
        return FixCheck {
            verification: Verification::not_run(
                tests_path,
                format!(
                    "Not verified: the tests in {tests_path} do not run in the sandbox ({}).",
                    short(e)
                ),
            ),
            still_failing: None,
        };
    }
    let failing_before: Vec<&str> = c
        .original
        .failing()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let passing_after = c.refactored.passing();
    let still: Vec<&nib_verify::TestResult> = c
        .refactored
        .tests
        .iter()
        .filter(|t| !t.passed)
        .filter(|t| failing_before.contains(&t.name.as_str()) || c.broken.contains(&t.name))
        .collect();
    let outcomes: Vec<TestOutcome> = c
        .refactored
        .tests
        .iter()
        .map(|t| TestOutcome {
            name: t.name.clone(),
            passed: t.passed,
            kept: false,
            reason: t.reason.as_deref().map(short),
        })
        .collect();
    let mut failure = String::new();
    if let Some(e) = &c.refactored.error {
        failure.push_str(&format!("{e}\n"));
    }
    for t in still.iter().take(NAMED_FAILURES) {
        failure.push_str(&format!(
            "{} failed: {}\n",
            t.name,
            t.reason.as_deref().unwrap_or("failed")
        ));
    }
    let fixed_ok = failure.is_empty();
    let summary = if !fixed_ok {
        format!(
            "Not verified: after the fix, {} in {tests_path} still fail{} ({}).",
            still
                .iter()
                .take(NAMED_FAILURES)
                .map(|t| format!("`{}`", t.name))
                .collect::<Vec<_>>()
                .join(", "),
            if still.len() == 1 { "s" } else { "" },
            short(failure.lines().next().unwrap_or("the module does not load"))
        )
    } else if failing_before.is_empty() {
        format!(
            "The tests in {tests_path} passed on the current code already; the {} pass on the fix too.",
            passing_after.len()
        )
    } else {
        format!(
            "Verified: {} failing on the current code pass{} after the fix; {} in {tests_path} pass{}.",
            failing_before
                .iter()
                .take(NAMED_FAILURES)
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if failing_before.len() == 1 { "es" } else { "" },
            match passing_after.len() {
                1 => "the only test".to_string(),
                n => format!("all {n} tests"),
            },
            if passing_after.len() == 1 { "es" } else { "" },
        )
    };
    FixCheck {
        verification: Verification {
            ran: true,
            verified: fixed_ok && !failing_before.is_empty(),
            summary,
            tests_from: tests_path.to_string(),
            tests: outcomes,
            kept: 0,
            dropped: 0,
            mutants_killed: 0,
            mutants_total: 0,
        },
        still_failing: (!fixed_ok).then_some(failure),
    }
}

/// No one-change repair run starts later than this after the search began.
const REPAIR_TIME: Duration = Duration::from_secs(6);
/// Tests (examples and project tests) a one-change repair must pass at least: with fewer, the
/// model is asked.
const REPAIR_MIN_TESTS: usize = 2;

/// A one-change repair of the function a fix is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repair {
    /// The whole file after the change.
    pub source: String,
    /// The 1-based line of the change, the text there now and what replaces it.
    pub line: usize,
    pub original: String,
    pub replacement: String,
    /// Tests failing on the current code that pass after the change.
    pub failing: Vec<String>,
    /// Other one-change variants that make the same tests pass.
    pub others: usize,
}

impl Repair {
    /// Why the change is the fix, for the user.
    pub(crate) fn explanation(&self, function: &str) -> String {
        let named: Vec<String> = self
            .failing
            .iter()
            .take(NAMED_FAILURES)
            .map(|t| format!("`{t}`"))
            .collect();
        let more = self.failing.len().saturating_sub(NAMED_FAILURES);
        let tests = if more > 0 {
            format!("{} and {more} more", named.join(", "))
        } else {
            named.join(", ")
        };
        let others = match self.others {
            0 => String::new(),
            1 => " One other one-token change also makes them pass; this is the first in the code."
                .to_string(),
            n => format!(
                " {n} other one-token changes also make them pass; this is the first in the code."
            ),
        };
        format!(
            "The cause: line {} has `{}` where `{}` makes the failing {tests} pass. nib found it by trying one-token changes of `{function}` against them (a comparison flipped, a number one more or one less, `and`/`or` swapped, a constant changed).{others}",
            self.line, self.original, self.replacement
        )
    }
}

/// The first one-change variant of `function` in `source` (Python) on which the docstring
/// examples (`examples`, a test file) and the project's tests for the file all pass, when some
/// of them fail on the current code; `None` when nothing fails, nothing loads, there are fewer
/// than [`REPAIR_MIN_TESTS`] tests, or no variant passes within [`REPAIR_TIME`].
pub(crate) fn repair(
    module: &str,
    source: &str,
    function: &str,
    examples: Option<&str>,
    project: Option<(Framework, &str)>,
) -> Option<Repair> {
    let mut suites = Vec::new();
    if let Some(tests) = examples {
        suites.push(nib_verify::Suite {
            tests,
            framework: nib_verify::Framework::Pytest,
        });
    }
    if let Some((framework @ (Framework::Pytest | Framework::Unittest), tests)) = project {
        suites.push(nib_verify::Suite {
            tests,
            framework: verify_framework(framework),
        });
    }
    if suites.is_empty() {
        return None;
    }
    let r = nib_verify::repairs(
        &Module {
            name: module,
            source,
        },
        function,
        &suites,
        REPAIR_MIN_TESTS,
        sandbox(),
        Some(Instant::now() + REPAIR_TIME),
    );
    tracing::debug!(
        failing = r.failing.len(),
        found = r.found.len(),
        tried = r.tried,
        not_run = r.not_run,
        "one-change repairs"
    );
    let others = r.found.len().saturating_sub(1);
    let first = r.found.into_iter().next()?;
    Some(Repair {
        source: first.source,
        line: first.line,
        original: first.original,
        replacement: first.replacement,
        failing: r.failing,
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sandbox() -> Sandbox {
        Sandbox::new(SandboxConfig {
            timeout: Duration::from_secs(60),
            ..SandboxConfig::default()
        })
    }

    const CLAMP: &str = "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n";

    #[test]
    fn a_rust_rewrite_or_fix_is_checked_by_the_files_own_tests() {
        let source = "pub fn clamp(x: i32, lo: i32, hi: i32) -> i32 {\n    if x < lo {\n        lo\n    } else if x > hi {\n        hi\n    } else {\n        x\n    }\n}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn inside() {\n        assert_eq!(clamp(5, 0, 10), 5);\n    }\n\n    #[test]\n    fn above() {\n        assert_eq!(clamp(11, 0, 10), 10);\n    }\n}\n";
        let body = "    if x < lo {\n        lo\n    } else if x > hi {\n        hi\n    } else {\n        x\n    }\n";
        let check = |rewritten: &str| {
            let change = Change {
                source,
                rewritten,
                function: Some("clamp"),
            };
            check_rewrite(
                Language::Rust,
                Framework::RustModule,
                "",
                &change,
                "src/lib.rs",
                Some(source),
            )
        };
        let kept = check(&source.replace(body, "    x.max(lo).min(hi)\n")).unwrap();
        assert!(kept.ran && kept.verified, "{kept:?}");
        assert!(
            kept.summary.starts_with("Verified: the 2 tests"),
            "{}",
            kept.summary
        );
        let broken = check(&source.replace(body, "    x.min(lo).max(hi)\n")).unwrap_err();
        assert!(broken.contains("breaks"), "{broken}");
        // A fix: the test failing on the current code passes on the fixed one.
        let buggy = source.replace("x > hi", "x >= hi + 1 && x > 100");
        let fixed = check_fix(
            Language::Rust,
            Framework::RustModule,
            "",
            &buggy,
            source,
            "src/lib.rs",
            Some(&buggy),
        );
        assert!(fixed.verification.verified, "{:?}", fixed.verification);
        assert!(fixed.still_failing.is_none());
        let not_fixed = check_fix(
            Language::Rust,
            Framework::RustModule,
            "",
            &buggy,
            &buggy,
            "src/lib.rs",
            Some(&buggy),
        );
        assert!(!not_fixed.verification.verified);
        assert!(
            not_fixed
                .still_failing
                .as_deref()
                .is_some_and(|f| f.contains("above")),
            "{:?}",
            not_fixed.still_failing
        );
    }

    #[test]
    fn generated_rust_tests_run_with_the_file_and_a_failing_one_is_dropped() {
        let source = "pub fn clamp(x: i32, lo: i32, hi: i32) -> i32 {\n    if x < lo {\n        lo\n    } else if x > hi {\n        hi\n    } else {\n        x\n    }\n}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn own() {\n        assert_eq!(clamp(3, 0, 1), 1);\n    }\n}\n";
        let tests = "#[test]\nfn inside() {\n    assert_eq!(clamp(5, 0, 10), 5);\n}\n\n/// Wrong: clamps to lo.\n#[test]\nfn negative() {\n    assert_eq!(clamp(-1, 0, 10), -1);\n}\n\n#[test]\nfn above() {\n    assert_eq!(clamp(11, 0, 10), 10);\n}\n\n#[test]\nfn unknown() {\n    assert_eq!(clamp_all(&[11], 0, 10), vec![10]);\n}\n";
        let c = check_rust_tests(&sandbox(), source, "clamp", tests, None);
        let v = &c.verification;
        assert!(v.ran && v.verified, "{v:?}");
        assert_eq!((v.kept, v.dropped), (2, 2), "{v:?}");
        let names: Vec<(&str, bool)> = v.tests.iter().map(|t| (t.name.as_str(), t.kept)).collect();
        assert_eq!(
            names,
            vec![
                ("unknown", false),
                ("above", true),
                ("inside", true),
                ("negative", false)
            ]
        );
        // A test rustc rejects is dropped with its message, the others still run.
        let unknown = v.tests[0].reason.as_deref().unwrap();
        assert!(
            unknown.starts_with("does not compile: error[E0425]") && unknown.contains("clamp_all"),
            "{unknown}"
        );
        let kept = c.tests.unwrap();
        assert_eq!(
            kept,
            "#[test]\nfn inside() {\n    assert_eq!(clamp(5, 0, 10), 5);\n}\n\n#[test]\nfn above() {\n    assert_eq!(clamp(11, 0, 10), 10);\n}"
        );
        assert!(v.summary.contains("2 of 4 tests passed"), "{}", v.summary);
        // Both comparisons flipped: each fails `inside`.
        assert_eq!((v.mutants_killed, v.mutants_total), (2, 2));
        assert!(
            v.summary
                .ends_with("The kept tests kill 2 of 2 simple mutants of `clamp`."),
            "{}",
            v.summary
        );
        assert!(
            v.summary.contains("`negative` (") && v.summary.contains("left: 0"),
            "{}",
            v.summary
        );
        // A file that needs the rest of its crate: nothing runs, the tests are offered.
        let c = check_rust_tests(
            &sandbox(),
            &format!("use crate::util::x;\n{source}"),
            "clamp",
            tests,
            None,
        );
        assert!(!c.verification.ran, "{:?}", c.verification);
        assert!(
            c.verification
                .summary
                .starts_with("The tests were not run: the file does not compile alone"),
            "{}",
            c.verification.summary
        );
        assert_eq!(c.tests.as_deref(), Some(tests));
        // The action's time over after the first compilation: the tests rustc rejected are
        // dropped, the rest offered unrun.
        let c = check_rust_tests(&sandbox(), source, "clamp", tests, Some(Instant::now()));
        let v = &c.verification;
        assert!(!v.ran, "{v:?}");
        assert!(
            v.summary.contains("rustc rejected `unknown`")
                && v.summary.contains("`actionBudgetMs`"),
            "{}",
            v.summary
        );
        let kept = c.tests.unwrap();
        assert!(
            !kept.contains("fn unknown") && kept.contains("fn negative"),
            "{kept}"
        );
    }

    #[test]
    fn a_generated_test_failing_on_the_current_code_is_dropped_with_its_reason() {
        let tests = "def test_inside():\n    assert clamp(5, 0, 10) == 5\n\n\ndef test_wrong():\n    assert clamp(-1, 0, 10) == -1\n\n\ndef test_below():\n    assert clamp(-5, 0, 10) == 0\n";
        let c = check_python_tests(
            &sandbox(),
            nib_verify::Framework::Pytest,
            &Module {
                name: "mathutil",
                source: CLAMP,
            },
            "clamp",
            tests,
            None,
        );
        let v = &c.verification;
        let kept = c.tests.unwrap();
        assert!(!kept.contains("test_wrong"), "{kept}");
        assert!(kept.contains("def test_inside") && kept.contains("def test_below"));
        assert!(v.ran && v.verified);
        let recorded = v
            .tests
            .iter()
            .filter(|t| t.name.contains("recorded"))
            .count();
        assert!(recorded > 0, "{kept}");
        assert_eq!((v.kept, v.dropped), (2 + recorded, 1));
        assert!(
            !kept.contains("clamp(-1, 0, 10)"),
            "the failing test's input is not recorded: {kept}"
        );
        let wrong = v.tests.iter().find(|t| t.name == "test_wrong").unwrap();
        assert!(!wrong.passed && !wrong.kept);
        assert!(
            wrong
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("Assert")),
            "{wrong:?}"
        );
        assert!(v.tests.iter().filter(|t| t.kept).all(|t| t.passed));
        assert!(v.mutants_total > 0 && v.mutants_killed <= v.mutants_total);
        assert!(v.summary.contains("`test_wrong`"), "{}", v.summary);
        assert!(v.summary.contains("2 of 3 tests passed"), "{}", v.summary);
        assert!(
            v.summary
                .contains(&format!("{recorded} recorded cases are added")),
            "{}",
            v.summary
        );
    }

    #[test]
    fn without_tests_in_the_answer_the_docstring_examples_and_recorded_cases_are_offered() {
        let documented = "def double(x):\n    \"\"\"Twice x.\n\n    >>> double(3)\n    6\n    \"\"\"\n    return x * 2\n";
        let c = check_python_tests(
            &sandbox(),
            nib_verify::Framework::Pytest,
            &Module {
                name: "pkg.calc",
                source: documented,
            },
            "double",
            "",
            None,
        );
        let v = &c.verification;
        let code = c.tests.expect("tests offered");
        assert!(code.contains("from pkg.calc import double"), "{code}");
        assert!(code.contains("assert double(3) == 6"), "{code}");
        assert!(code.contains("assert double(0) == 0"), "{code}");
        assert!(v.ran && v.verified && v.dropped == 0, "{v:?}");
        assert!(
            v.summary
                .starts_with("1 example of `double`'s docstring is added as a test"),
            "{}",
            v.summary
        );
        assert!(v.mutants_killed > 0, "{v:?}");
        // No docstring example: nothing to offer, and nothing claimed to have run.
        let c = check_python_tests(
            &sandbox(),
            nib_verify::Framework::Pytest,
            &Module {
                name: "mathutil",
                source: CLAMP,
            },
            "clamp",
            "",
            None,
        );
        assert!(c.tests.is_none());
        assert!(!c.verification.ran && !c.verification.verified);
        assert!(
            c.verification.summary.contains("No example"),
            "{}",
            c.verification.summary
        );
    }

    #[test]
    fn recorded_cases_kill_mutants_the_written_tests_miss() {
        let sandbox = sandbox();
        let tests = "def test_inside():\n    assert clamp(5, 0, 10) == 5\n";
        let module = Module {
            name: "mathutil",
            source: CLAMP,
        };
        let alone = nib_verify::check_tests(
            &module,
            "clamp",
            tests,
            nib_verify::Framework::Pytest,
            &sandbox,
        );
        let c = check_python_tests(
            &sandbox,
            nib_verify::Framework::Pytest,
            &module,
            "clamp",
            tests,
            None,
        );
        let v = &c.verification;
        assert_eq!(v.mutants_total, alone.mutants.len());
        assert!(
            v.mutants_killed > alone.killed(),
            "{} then {}: {}",
            alone.killed(),
            v.mutants_killed,
            c.tests.unwrap_or_default()
        );
        // The action's time already over: the tests still run and are kept, no mutant runs,
        // and the summary says so.
        let late = check_python_tests(
            &sandbox,
            nib_verify::Framework::Pytest,
            &module,
            "clamp",
            tests,
            Some(Instant::now()),
        );
        let v = &late.verification;
        assert!(v.verified && v.kept > 0, "{v:?}");
        assert_eq!(v.mutants_killed, 0, "{v:?}");
        assert!(
            v.summary.contains(&format!(
                "None of the {} simple mutants of `clamp` was run: out of time",
                alone.mutants.len()
            )),
            "{}",
            v.summary
        );
    }

    #[test]
    fn merged_checks_are_verified_only_when_no_test_failed() {
        let ran = |verified: bool, passed: bool| Verification {
            ran: true,
            verified,
            summary: format!("{verified} {passed}"),
            tests_from: "t".into(),
            tests: vec![TestOutcome {
                name: "x".into(),
                passed,
                kept: false,
                reason: None,
            }],
            kept: 0,
            dropped: 0,
            mutants_killed: 0,
            mutants_total: 0,
        };
        assert!(merge(ran(true, true), ran(false, true)).verified);
        // The examples pass on a fix, the project's test still fails: not verified.
        assert!(!merge(ran(false, false), ran(true, true)).verified);
        let none = Verification::not_run("p", "no tests".into());
        let m = merge(none, ran(true, true));
        assert!(m.verified && m.ran);
        assert_eq!(
            (m.tests_from.as_str(), m.summary.as_str()),
            ("t", "true true")
        );
    }

    #[test]
    fn every_test_failing_leaves_nothing_to_offer() {
        let tests = "def test_wrong():\n    assert clamp(-1, 0, 10) == -1\n";
        let c = check_python_tests(
            &sandbox(),
            nib_verify::Framework::Pytest,
            &Module {
                name: "mathutil",
                source: CLAMP,
            },
            "clamp",
            tests,
            None,
        );
        assert_eq!(c.tests, None);
        assert_eq!((c.verification.kept, c.verification.dropped), (0, 1));
        assert_eq!(c.verification.mutants_total, 0);
        assert!(!c.verification.verified);
    }

    #[test]
    fn tests_that_cannot_load_are_kept_and_called_not_verified() {
        let c = check_python_tests(
            &sandbox(),
            nib_verify::Framework::Pytest,
            &Module {
                name: "mathutil",
                source: "import no_such_module_here\n",
            },
            "clamp",
            "def test_a():\n    assert True\n",
            None,
        );
        assert!(c.tests.is_some());
        assert!(!c.verification.ran && !c.verification.verified);
        assert!(
            c.verification
                .summary
                .starts_with("The tests were not verified"),
            "{}",
            c.verification.summary
        );
    }

    #[test]
    fn a_rewrite_breaking_a_project_test_is_refused_one_keeping_them_is_verified() {
        let tests = "from mathutil import clamp\n\ndef test_low():\n    assert clamp(-5, 0, 10) == 0\n\ndef test_high():\n    assert clamp(50, 0, 10) == 10\n";
        let good = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n";
        let bad = "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n";
        let fw = nib_verify::Framework::Pytest;
        let v = check_python_rewrite(
            &sandbox(),
            fw,
            "mathutil",
            &Change {
                source: CLAMP,
                rewritten: good,
                function: Some("clamp"),
            },
            "test_mathutil.py",
            tests,
        )
        .unwrap();
        assert!(v.ran && v.verified, "{v:?}");
        assert_eq!(v.tests.len(), 2);
        assert!(v.summary.contains("test_mathutil.py"));
        let why = check_python_rewrite(
            &sandbox(),
            fw,
            "mathutil",
            &Change {
                source: CLAMP,
                rewritten: bad,
                function: Some("clamp"),
            },
            "test_mathutil.py",
            tests,
        )
        .unwrap_err();
        assert!(why.contains("breaks"), "{why}");
        // Tests that do not pass on the current code verify nothing.
        let v = check_python_rewrite(
            &sandbox(),
            fw,
            "mathutil",
            &Change {
                source: CLAMP,
                rewritten: good,
                function: Some("clamp"),
            },
            "test_mathutil.py",
            "def test_no():\n    assert clamp(1, 0, 10) == 2\n",
        )
        .unwrap();
        assert!(!v.verified && !v.ran, "{v:?}");
        // Tests that do not mention the function verify nothing about it.
        let v = check_python_rewrite(
            &sandbox(),
            fw,
            "mathutil",
            &Change {
                source: CLAMP,
                rewritten: good,
                function: Some("other"),
            },
            "test_mathutil.py",
            tests,
        )
        .unwrap();
        assert!(v.ran && !v.verified, "{v:?}");
        let v = check_python_rewrite(
            &sandbox(),
            fw,
            "mathutil",
            &Change {
                source: CLAMP,
                rewritten: good,
                function: None,
            },
            "test_mathutil.py",
            "def test_no():\n    assert clamp(1, 0, 10) == 2\n",
        )
        .unwrap();
        assert!(!v.verified && !v.ran, "{v:?}");
    }
}
