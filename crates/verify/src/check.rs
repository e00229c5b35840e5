//! Running Python tests on code in the [`Sandbox`]: which tests pass on the current code (and
//! why the others fail), how many mutants of a function the passing tests kill, and whether a
//! rewrite keeps the tests passing.
//!
//! The tests run under pytest when the sandbox's Python has it; otherwise nib's own runner
//! (`python/runner.py`) runs `test_*` functions (with `pytest.mark.parametrize`,
//! `pytest.raises` and `pytest.approx` stood in for), `Test*` classes and `unittest.TestCase`
//! classes, so nothing depends on pytest being installed. Tests see the module's names without
//! importing them, and can also import the module by its name.

use std::time::{Duration, Instant};

use crate::detect::Framework;
use crate::mutate::{mutants, Mutant};
use crate::sandbox::{parallel_map, Outcome, Sandbox};

const RUNNER: &str = include_str!("python/runner.py");
const TESTS_FILE: &str = "test_nib_generated.py";

/// Python code under test: its importable (dotted) name and its source.
#[derive(Debug, Clone, Copy)]
pub struct Module<'a> {
    pub name: &'a str,
    pub source: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestResult {
    /// `test_f`, `TestF.test_g`, `test_h[1]` (the second parameter set).
    pub name: String,
    pub passed: bool,
    /// Why it failed: the exception and the failing line of the test file.
    pub reason: Option<String>,
    /// Where it failed: the innermost line (1-based) of the test file in the traceback.
    pub line: Option<usize>,
}

/// One run of a test file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestRun {
    /// Every test collected, in order; a test the run did not reach (timeout, crash) failed.
    pub tests: Vec<TestResult>,
    /// The module or the tests could not be loaded, or the runner itself failed.
    pub error: Option<String>,
}

impl TestRun {
    pub fn passing(&self) -> Vec<&str> {
        self.tests
            .iter()
            .filter(|t| t.passed)
            .map(|t| t.name.as_str())
            .collect()
    }

    pub fn failing(&self) -> Vec<&TestResult> {
        self.tests.iter().filter(|t| !t.passed).collect()
    }

    /// At least one test, and every test passed.
    pub fn all_passed(&self) -> bool {
        self.error.is_none() && !self.tests.is_empty() && self.tests.iter().all(|t| t.passed)
    }
}

/// A mutant and whether the passing tests noticed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MutantResult {
    #[serde(skip)]
    pub mutant: Mutant,
    pub description: String,
    pub killed: bool,
    /// The first test that failed on it (or `timeout` ...).
    pub killed_by: Option<String>,
}

/// The tests on the current code and on the function's mutants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestCheck {
    pub current: TestRun,
    /// Empty when no test passes on the current code (nothing to measure with).
    pub mutants: Vec<MutantResult>,
    /// Mutants not run: the time for the check ran out first.
    pub not_run: usize,
}

impl TestCheck {
    pub fn killed(&self) -> usize {
        self.mutants.iter().filter(|m| m.killed).count()
    }

    /// Killed / total; `None` without mutants.
    pub fn mutation_score(&self) -> Option<f64> {
        (!self.mutants.is_empty()).then(|| self.killed() as f64 / self.mutants.len() as f64)
    }
}

/// The rewrite against the same tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefactorCheck {
    pub original: TestRun,
    pub refactored: TestRun,
    /// Tests that pass on the original and not on the rewrite.
    pub broken: Vec<String>,
}

impl RefactorCheck {
    /// Some test passes on the original (so the tests say something), and every test that
    /// passes there passes on the rewrite.
    pub fn behaviour_kept(&self) -> bool {
        !self.original.passing().is_empty()
            && self.refactored.error.is_none()
            && self.broken.is_empty()
    }
}

/// The module under its import path, with an `__init__.py` for each package above it.
pub(crate) fn module_files(module: &Module) -> Vec<(String, String)> {
    let parts: Vec<&str> = module.name.split('.').collect();
    let mut out: Vec<(String, String)> = (1..parts.len())
        .map(|i| {
            (
                format!("{}/__init__.py", parts[..i].join("/")),
                String::new(),
            )
        })
        .collect();
    out.push((format!("{}.py", parts.join("/")), module.source.to_string()));
    out
}

/// The files of a run: the module under its import path (with `__init__.py`s for packages),
/// the tests and the runner's configuration.
fn files(
    module: &Module,
    tests: &str,
    framework: Framework,
    only: Option<&[&str]>,
    fail_fast: bool,
) -> Vec<(String, String)> {
    let mut out = module_files(module);
    out.push((TESTS_FILE.to_string(), tests.to_string()));
    let config = serde_json::json!({
        "module": module.name,
        "tests": TESTS_FILE,
        "only": only,
        "fail_fast": fail_fast,
        "use_pytest": framework == Framework::Pytest,
    });
    out.push(("nib_run.json".to_string(), config.to_string()));
    out
}

pub(crate) fn valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// Run `tests` (a Python test file) against `module`; `only` restricts the run to these tests,
/// `fail_fast` stops at the first failure. `framework` is [`Framework::Pytest`] or
/// [`Framework::Unittest`] (the Rust ones run nothing here: see [`crate::run_rust_tests`]).
pub fn run_tests(
    module: &Module,
    tests: &str,
    framework: Framework,
    only: Option<&[&str]>,
    fail_fast: bool,
    sandbox: &Sandbox,
) -> TestRun {
    if matches!(framework, Framework::RustModule | Framework::RustTestsDir) {
        return TestRun {
            tests: Vec::new(),
            error: Some("Rust tests run through `run_rust_tests`, not as Python".to_string()),
        };
    }
    if !valid_module_name(module.name) {
        return TestRun {
            tests: Vec::new(),
            error: Some(format!("{:?} is not a Python module name", module.name)),
        };
    }
    let files = files(module, tests, framework, only, fail_fast);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let run = sandbox.run_files(&refs, RUNNER);
    test_run(&run, fail_fast)
}

/// A runner's records (`{"collected": [...]}`, `{"error": ...}`, per test `{"name", "passed",
/// "reason", "line"}`) and how its run ended: a test collected but not reported failed where
/// the run stopped (with `fail_fast`, those after an earlier failure are left out).
pub(crate) fn test_run(run: &crate::sandbox::Run, fail_fast: bool) -> TestRun {
    let mut collected: Vec<String> = Vec::new();
    let mut results: Vec<TestResult> = Vec::new();
    let mut error = None;
    for v in run.records() {
        if let Some(names) = v["collected"].as_array() {
            collected.extend(names.iter().filter_map(|n| n.as_str().map(str::to_string)));
        } else if let Some(e) = v["error"].as_str() {
            error.get_or_insert_with(|| e.to_string());
        } else if let (Some(name), Some(passed)) = (v["name"].as_str(), v["passed"].as_bool()) {
            results.push(TestResult {
                name: name.to_string(),
                passed,
                reason: v["reason"].as_str().map(str::to_string),
                line: v["line"].as_u64().map(|l| l as usize),
            });
        }
    }
    let ended = match &run.outcome {
        Outcome::Passed => None,
        Outcome::Timeout => Some("timeout".to_string()),
        Outcome::MemoryExceeded => Some("memory limit".to_string()),
        o => Some(format!(
            "the run ended ({}): {}",
            o.kind(),
            run.stderr.lines().last().unwrap_or("").trim()
        )),
    };
    // Tests collected but not reported: the run stopped in them (or, with fail_fast, after an
    // earlier failure: those are left out).
    let reported: std::collections::HashSet<String> =
        results.iter().map(|r| r.name.clone()).collect();
    if let Some(why) = &ended {
        if let Some(first) = collected.iter().find(|n| !reported.contains(*n)) {
            results.push(TestResult {
                name: first.clone(),
                passed: false,
                reason: Some(why.clone()),
                line: None,
            });
        }
        if !fail_fast {
            for n in collected.iter().filter(|n| !reported.contains(*n)).skip(1) {
                results.push(TestResult {
                    name: n.clone(),
                    passed: false,
                    reason: Some(format!("not run: {why} in an earlier test")),
                    line: None,
                });
            }
        }
    }
    if collected.is_empty() && error.is_none() {
        error = Some(match ended {
            Some(why) => format!("the test runner failed: {why}"),
            None => "no tests found".to_string(),
        });
    }
    TestRun {
        tests: results,
        error,
    }
}

/// Run `tests` on `module`, then the tests that pass on each mutant of `function` (see
/// [`mutants`]): a mutant is killed when one of them fails (or it runs out of time). A mutant
/// may run ten times as long as the current code did (at least two seconds, at most the
/// sandbox's timeout).
pub fn check_tests(
    module: &Module,
    function: &str,
    tests: &str,
    framework: Framework,
    sandbox: &Sandbox,
) -> TestCheck {
    check_tests_until(module, function, tests, framework, sandbox, None)
}

/// [`check_tests`] that starts no mutant run after `deadline` (those count in
/// [`TestCheck::not_run`]); a run started before it may end after it.
pub fn check_tests_until(
    module: &Module,
    function: &str,
    tests: &str,
    framework: Framework,
    sandbox: &Sandbox,
    deadline: Option<Instant>,
) -> TestCheck {
    let start = Instant::now();
    let current = run_tests(module, tests, framework, None, false, sandbox);
    let took = start.elapsed();
    let passing = current.passing();
    if passing.is_empty() || current.error.is_some() {
        return TestCheck {
            current,
            mutants: Vec::new(),
            not_run: 0,
        };
    }
    let results = on_mutants(module, function, took, sandbox, deadline, |m, quick| {
        let run = run_tests(
            &Module {
                name: module.name,
                source: &m.source,
            },
            tests,
            framework,
            Some(&passing),
            true,
            quick,
        );
        let failed = run.failing().first().map(|t| match &t.reason {
            Some(r) => format!("{}: {r}", t.name),
            None => t.name.clone(),
        });
        let killed_by = failed.or(run.error).or_else(|| {
            // Fewer tests than before ran: the mutant broke collection.
            (run.tests.len() < passing.len()).then(|| "tests not collected".to_string())
        });
        MutantResult {
            mutant: m.clone(),
            description: m.describe(),
            killed: killed_by.is_some(),
            killed_by,
        }
    });
    let not_run = results.iter().filter(|r| r.is_none()).count();
    TestCheck {
        current,
        mutants: results.into_iter().flatten().collect(),
        not_run,
    }
}

/// `f` on each mutant of `function` in parallel, with a sandbox whose timeout is ten times
/// `took` (the tests' time on the current code; at least two seconds, at most the sandbox's
/// timeout); `None` for a mutant whose run would start after `deadline`.
fn on_mutants<R: Send>(
    module: &Module,
    function: &str,
    took: Duration,
    sandbox: &Sandbox,
    deadline: Option<Instant>,
    f: impl Fn(&Mutant, &Sandbox) -> R + Sync,
) -> Vec<Option<R>> {
    let limit = (took * 10)
        .max(Duration::from_secs(2))
        .min(sandbox.config().timeout);
    let quick = sandbox.with_timeout(limit);
    let all = mutants(module.source, function);
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    parallel_map(&all, jobs, |m| {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        Some(f(m, &quick))
    })
}

/// Run `tests` on the original and on the refactored module (both imported as `original.name`).
pub fn check_refactor(
    original: &Module,
    refactored: &str,
    tests: &str,
    framework: Framework,
    sandbox: &Sandbox,
) -> RefactorCheck {
    let before = run_tests(original, tests, framework, None, false, sandbox);
    let after = run_tests(
        &Module {
            name: original.name,
            source: refactored,
        },
        tests,
        framework,
        None,
        false,
        sandbox,
    );
    compared(before, after)
}

/// The runs of the same tests on an original and on its rewrite.
pub(crate) fn compared(before: TestRun, after: TestRun) -> RefactorCheck {
    let after_passing = after.passing();
    let broken = before
        .passing()
        .into_iter()
        .filter(|n| !after_passing.contains(n))
        .map(str::to_string)
        .collect();
    RefactorCheck {
        original: before,
        refactored: after,
        broken,
    }
}

/// One test file a repair must pass, with how it is run.
#[derive(Debug, Clone, Copy)]
pub struct Suite<'a> {
    pub tests: &'a str,
    pub framework: Framework,
}

/// What [`repairs`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repairs {
    /// Tests run on the current code, across the suites.
    pub tests: usize,
    /// Tests failing on the current code (across the suites); nothing is searched without one.
    pub failing: Vec<String>,
    /// One-change variants of the function on which every test of every suite passes, in the
    /// order of [`mutants`].
    pub found: Vec<Mutant>,
    /// Variants tried, and variants not run (the time ran out first).
    pub tried: usize,
    pub not_run: usize,
}

/// One-change repairs of `function`: the variants [`mutants`] makes of it (comparison flipped,
/// a constant one more or one less, `and`/`or` swapped, ...) on which every test of every suite
/// passes, when some test fails on the current code and the suites have at least `min_tests`
/// tests (one example is weak evidence: `x + 3` "fixes" `double(x) = x + 2` for `double(3) ==
/// 6`). A suite that does not load on the current code is left out; no variant run starts after
/// `deadline`.
pub fn repairs(
    module: &Module,
    function: &str,
    suites: &[Suite],
    min_tests: usize,
    sandbox: &Sandbox,
    deadline: Option<Instant>,
) -> Repairs {
    let start = Instant::now();
    let mut failing = Vec::new();
    let mut usable = Vec::new();
    let mut tests = 0;
    for s in suites {
        let run = run_tests(module, s.tests, s.framework, None, false, sandbox);
        if run.error.is_some() || run.tests.is_empty() {
            continue;
        }
        failing.extend(run.failing().iter().map(|t| t.name.clone()));
        tests += run.tests.len();
        usable.push((*s, run.tests.len()));
    }
    let mut out = Repairs {
        tests,
        failing,
        found: Vec::new(),
        tried: 0,
        not_run: 0,
    };
    if out.failing.is_empty() || tests < min_tests {
        return out;
    }
    let results = on_mutants(
        module,
        function,
        start.elapsed(),
        sandbox,
        deadline,
        |m, quick| {
            let variant = Module {
                name: module.name,
                source: &m.source,
            };
            // Every test ran (none left uncollected) and passed.
            let passes = usable.iter().all(|(s, count)| {
                let run = run_tests(&variant, s.tests, s.framework, None, true, quick);
                run.all_passed() && run.tests.len() == *count
            });
            passes.then(|| m.clone())
        },
    );
    out.not_run = results.iter().filter(|r| r.is_none()).count();
    out.tried = results.len() - out.not_run;
    out.found = results.into_iter().flatten().flatten().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SandboxConfig;
    use crate::test_sandbox as sandbox;

    const MODULE: &str = "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n";

    fn results(run: &TestRun) -> Vec<(String, bool)> {
        run.tests
            .iter()
            .map(|t| (t.name.clone(), t.passed))
            .collect()
    }

    #[test]
    fn pytest_style_functions_pass_fail_with_reasons() {
        let tests = r#"
import pytest
from mathutil import clamp

def test_inside():
    assert clamp(5, 0, 10) == 5

def test_wrong():
    assert clamp(-1, 0, 10) == -1

def test_raises():
    with pytest.raises(TypeError):
        clamp(None, 0, 1)

@pytest.mark.parametrize("x, want", [(-5, 0), (15, 10), (3, 3)])
def test_table(x, want):
    assert clamp(x, 0, 10) == want

def test_error():
    clamp(1, 2)

def helper():
    raise RuntimeError("not a test")
"#;
        let m = Module {
            name: "mathutil",
            source: MODULE,
        };
        let run = run_tests(&m, tests, Framework::Pytest, None, false, &sandbox());
        assert_eq!(run.error, None);
        let expected = [
            ("test_inside", true),
            ("test_wrong", false),
            ("test_raises", true),
            ("test_table[0]", true),
            ("test_table[1]", true),
            ("test_table[2]", true),
            ("test_error", false),
        ];
        let mut got = results(&run);
        got.sort();
        let mut want: Vec<(String, bool)> =
            expected.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        want.sort();
        assert_eq!(got, want);
        let reason = |n: &str| {
            run.tests
                .iter()
                .find(|t| t.name == n)
                .unwrap()
                .reason
                .clone()
                .unwrap()
        };
        assert!(
            reason("test_wrong").contains("assert clamp(-1, 0, 10) == -1"),
            "{}",
            reason("test_wrong")
        );
        assert!(
            reason("test_error").starts_with("TypeError"),
            "{}",
            reason("test_error")
        );
        // The failing line of the test file, 1-based.
        let line_of = |needle: &str| tests.lines().position(|l| l.contains(needle)).unwrap() + 1;
        let wrong = run.tests.iter().find(|t| t.name == "test_wrong").unwrap();
        assert_eq!(wrong.line, Some(line_of("assert clamp(-1, 0, 10) == -1")));
        assert!(!run.all_passed());
    }

    /// The same tests under real pytest give the same verdicts as nib's runner. Needs a Python
    /// with pytest: `NIB_PYTEST_PYTHON`, else `python3` when it has pytest.
    #[test]
    fn pytest_itself_gives_the_same_verdicts() {
        let python = std::env::var("NIB_PYTEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let has_pytest = std::process::Command::new(&python)
            .args(["-c", "import pytest"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_pytest {
            eprintln!("{python} has no pytest: set NIB_PYTEST_PYTHON to run this test");
            return;
        }
        let sb = Sandbox::new(SandboxConfig {
            timeout: Duration::from_secs(60),
            python,
            ..SandboxConfig::default()
        });
        let m = Module {
            name: "mathutil",
            source: MODULE,
        };
        let tests = "import pytest\n\n@pytest.mark.parametrize('x, want', [(-5, 0), (15, 11)])\ndef test_table(x, want):\n    assert clamp(x, 0, 10) == want\n\nclass TestC:\n    def test_in(self):\n        assert clamp(2, 0, 3) == 2\n";
        let run = run_tests(&m, tests, Framework::Pytest, None, false, &sb);
        assert_eq!(run.error, None, "{run:?}");
        assert_eq!(
            results(&run),
            vec![
                ("test_table[-5-0]".to_string(), true),
                ("test_table[15-11]".to_string(), false),
                ("TestC.test_in".to_string(), true)
            ]
        );
        assert!(
            run.tests[1]
                .reason
                .as_deref()
                .unwrap()
                .contains("assert 10 == 11"),
            "{run:?}"
        );
        let only = run_tests(
            &m,
            tests,
            Framework::Pytest,
            Some(&["TestC.test_in"]),
            true,
            &sb,
        );
        assert_eq!(results(&only), vec![("TestC.test_in".to_string(), true)]);
        let check = check_tests(&m, "clamp", tests, Framework::Pytest, &sb);
        assert_eq!(check.mutants.len(), 5);
        assert!(check.killed() >= 2, "{:#?}", check.mutants);
    }

    #[test]
    fn unittest_classes_and_names_without_import() {
        let tests = "import unittest\n\nclass TestClamp(unittest.TestCase):\n    def test_low(self):\n        self.assertEqual(clamp(-3, 0, 9), 0)\n\n    def test_bad(self):\n        self.assertEqual(clamp(4, 0, 9), 5)\n\nif __name__ == '__main__':\n    unittest.main()\n";
        let m = Module {
            name: "pkg.util",
            source: MODULE,
        };
        let run = run_tests(&m, tests, Framework::Unittest, None, false, &sandbox());
        assert_eq!(run.error, None);
        assert_eq!(
            results(&run),
            vec![
                ("TestClamp.test_bad".to_string(), false),
                ("TestClamp.test_low".to_string(), true)
            ]
        );
        let reason = run.tests[0].reason.as_deref().unwrap();
        assert!(reason.contains("AssertionError: 4 != 5"), "{reason}");
        assert_eq!(run.tests[0].line, Some(8));
        assert_eq!(run.tests[1].line, None);
    }

    #[test]
    fn broken_code_and_broken_tests_are_errors() {
        let sb = sandbox();
        let bad = Module {
            name: "m",
            source: "def f(:\n",
        };
        let run = run_tests(
            &bad,
            "def test_a():\n    pass\n",
            Framework::Pytest,
            None,
            false,
            &sb,
        );
        assert!(
            run.error.as_deref().unwrap().contains("cannot import"),
            "{run:?}"
        );
        let good = Module {
            name: "m",
            source: "def f():\n    return 1\n",
        };
        let run = run_tests(&good, "def test_a(:\n", Framework::Pytest, None, false, &sb);
        assert!(
            run.error
                .as_deref()
                .unwrap()
                .contains("cannot load the tests"),
            "{run:?}"
        );
        let run = run_tests(&good, "x = 1\n", Framework::Pytest, None, false, &sb);
        assert_eq!(run.error.as_deref(), Some("no tests found"));
        let run = run_tests(
            &Module {
                name: "not-a-name",
                source: "",
            },
            "",
            Framework::Pytest,
            None,
            false,
            &sb,
        );
        assert!(run.error.is_some());
    }

    #[test]
    fn a_hanging_test_fails_and_the_others_are_reported() {
        let sb = Sandbox::new(SandboxConfig {
            timeout: Duration::from_millis(1500),
            ..SandboxConfig::default()
        });
        let m = Module {
            name: "m",
            source: "def f():\n    return 1\n",
        };
        let tests = "def test_a():\n    assert f() == 1\n\ndef test_b():\n    while True:\n        pass\n\ndef test_c():\n    pass\n";
        let run = run_tests(&m, tests, Framework::Pytest, None, false, &sb);
        assert_eq!(
            results(&run),
            vec![
                ("test_a".to_string(), true),
                ("test_b".to_string(), false),
                ("test_c".to_string(), false)
            ]
        );
        assert_eq!(run.tests[1].reason.as_deref(), Some("timeout"));
    }

    #[test]
    fn no_mutant_starts_after_the_deadline() {
        let sb = sandbox();
        let m = Module {
            name: "mathutil",
            source: MODULE,
        };
        let tests = "def test_inside():\n    assert clamp(5, 0, 10) == 5\n";
        let late = check_tests_until(
            &m,
            "clamp",
            tests,
            Framework::Pytest,
            &sb,
            Some(Instant::now()),
        );
        assert!(late.current.all_passed(), "{late:?}");
        assert!(late.mutants.is_empty(), "{late:?}");
        assert_eq!(late.not_run, mutants(MODULE, "clamp").len());
        let whole = check_tests(&m, "clamp", tests, Framework::Pytest, &sb);
        assert_eq!((whole.not_run, whole.mutants.len()), (0, late.not_run));
    }

    #[test]
    fn weak_tests_kill_fewer_mutants_than_strong_ones() {
        let sb = sandbox();
        let m = Module {
            name: "mathutil",
            source: MODULE,
        };
        let weak = "def test_inside():\n    assert clamp(5, 0, 10) == 5\n";
        let strong = "def test_inside():\n    assert clamp(5, 0, 10) == 5\n\ndef test_edges():\n    assert clamp(0, 0, 10) == 0\n    assert clamp(10, 0, 10) == 10\n    assert clamp(-1, 0, 10) == 0\n    assert clamp(11, 0, 10) == 10\n";
        let weak = check_tests(&m, "clamp", weak, Framework::Pytest, &sb);
        let strong = check_tests(&m, "clamp", strong, Framework::Pytest, &sb);
        let total = mutants(MODULE, "clamp").len();
        assert_eq!(total, 5, "{:#?}", mutants(MODULE, "clamp"));
        assert_eq!(weak.mutants.len(), total);
        assert_eq!(strong.mutants.len(), total);
        // clamp(5, 0, 10) notices both comparisons flipped and the last return replaced, not
        // the two early returns replaced.
        assert_eq!(weak.killed(), 3, "{:#?}", weak.mutants);
        // `x < lo` -> `x >= lo` and `x > hi` -> `x <= hi`, both returns: all killed.
        assert_eq!(strong.killed(), total, "{:#?}", strong.mutants);
        assert_eq!(strong.mutation_score(), Some(1.0));
        assert!(strong.mutants.iter().all(|m| m.killed_by.is_some()));
        // No passing test: nothing to measure.
        let none = check_tests(
            &m,
            "clamp",
            "def test_x():\n    assert False\n",
            Framework::Pytest,
            &sb,
        );
        assert!(none.mutants.is_empty());
        assert_eq!(none.mutation_score(), None);
    }

    #[test]
    fn refactor_keeps_or_breaks_behaviour() {
        let sb = sandbox();
        let m = Module {
            name: "mathutil",
            source: MODULE,
        };
        let tests = "def test_edges():\n    assert clamp(-1, 0, 10) == 0\n    assert clamp(11, 0, 10) == 10\n\ndef test_inside():\n    assert clamp(4, 0, 10) == 4\n";
        let same = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n";
        let wrong = "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n";
        let ok = check_refactor(&m, same, tests, Framework::Pytest, &sb);
        assert!(ok.behaviour_kept(), "{ok:?}");
        let bad = check_refactor(&m, wrong, tests, Framework::Pytest, &sb);
        assert!(!bad.behaviour_kept());
        assert_eq!(bad.broken, vec!["test_edges", "test_inside"]);
        let broken_syntax = check_refactor(&m, "def clamp(:\n", tests, Framework::Pytest, &sb);
        assert!(!broken_syntax.behaviour_kept());
    }

    #[test]
    fn a_one_change_repair_makes_the_failing_tests_pass() {
        // `x > hi` was written `x < hi`.
        let buggy = MODULE.replace("x > hi", "x < hi");
        let tests = "def test_inside():\n    assert clamp(5, 0, 10) == 5\n\n\ndef test_above():\n    assert clamp(15, 0, 10) == 10\n\n\ndef test_below():\n    assert clamp(-5, 0, 10) == 0\n";
        let suite = Suite {
            tests,
            framework: Framework::Pytest,
        };
        let m = Module {
            name: "mathutil",
            source: &buggy,
        };
        let r = repairs(&m, "clamp", &[suite], 1, &sandbox(), None);
        assert_eq!(r.failing, ["test_inside", "test_above"], "{r:?}");
        assert!(r.tried > 1 && r.not_run == 0, "{r:?}");
        // `<` flips to `>=`, which clamps the same way.
        assert_eq!(r.found.len(), 1, "{r:?}");
        assert_eq!(r.found[0].line, 4);
        assert!(r.found[0].source.contains("if x >= hi:"));
        // Fewer tests than asked for: no search.
        let r = repairs(&m, "clamp", &[suite], 4, &sandbox(), None);
        assert_eq!((r.tests, r.failing.len()), (3, 2), "{r:?}");
        assert!(r.found.is_empty() && r.tried == 0, "{r:?}");
        for f in &r.found {
            let run = run_tests(
                &Module {
                    name: "mathutil",
                    source: &f.source,
                },
                tests,
                Framework::Pytest,
                None,
                false,
                &sandbox(),
            );
            assert!(run.all_passed(), "{}: {run:?}", f.describe());
        }
    }

    #[test]
    fn nothing_is_searched_when_the_tests_pass_or_do_not_load() {
        let passing = Suite {
            tests: "def test_inside():\n    assert clamp(5, 0, 10) == 5\n",
            framework: Framework::Pytest,
        };
        let broken = Suite {
            tests: "import no_such_module_anywhere\n\ndef test_x():\n    assert False\n",
            framework: Framework::Pytest,
        };
        let m = Module {
            name: "mathutil",
            source: MODULE,
        };
        let r = repairs(&m, "clamp", &[passing, broken], 1, &sandbox(), None);
        assert!(
            r.failing.is_empty() && r.found.is_empty() && r.tried == 0,
            "{r:?}"
        );
    }

    #[test]
    fn no_repair_run_starts_after_the_deadline() {
        let buggy = MODULE.replace("x > hi", "x < hi");
        let suite = Suite {
            tests: "def test_inside():\n    assert clamp(5, 0, 10) == 5\n",
            framework: Framework::Pytest,
        };
        let m = Module {
            name: "mathutil",
            source: &buggy,
        };
        let r = repairs(&m, "clamp", &[suite], 1, &sandbox(), Some(Instant::now()));
        assert_eq!(r.failing.len(), 1);
        assert!(r.found.is_empty() && r.tried == 0 && r.not_run > 0, "{r:?}");
    }
}
