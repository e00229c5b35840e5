//! Rust tests run by `rustc` alone: a source file with its tests compiled as one crate
//! (`rustc --test`) and run one at a time, in the [`Sandbox`]. No cargo build: a file that
//! needs the rest of its crate, or other crates, does not compile alone, and then nothing runs
//! (the run's error says so).

use std::time::{Duration, Instant};

use crate::check::{compared, test_run, MutantResult, RefactorCheck, TestRun};
use crate::mutate::rust_mutants;
use crate::sandbox::{parallel_map, Sandbox};

const RUNNER: &str = include_str!("python/rust_runner.py");

/// Wall-clock time a Rust test run gets at least: compiling takes a few seconds.
pub const RUST_RUN_TIME: Duration = Duration::from_secs(60);

/// An error rustc reported, and the lines (1-based) of the file it points at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct CompileError {
    pub message: String,
    pub lines: Vec<usize>,
}

/// Compile `file` (a Rust source file holding its tests, e.g. in a `#[cfg(test)] mod tests`)
/// with `rustc --test` in `edition` and run its tests. Test names are the harness's
/// (`tests::test_f`); a failed test's `line` is the line of `file` where it panicked.
pub fn run_rust_tests(file: &str, edition: &str, sandbox: &Sandbox) -> TestRun {
    run_rust_tests_or_errors(file, edition, sandbox).0
}

/// [`run_rust_tests`], with rustc's errors when `file` did not compile (then the run's
/// `error` says so and no test ran).
pub fn run_rust_tests_or_errors(
    file: &str,
    edition: &str,
    sandbox: &Sandbox,
) -> (TestRun, Vec<CompileError>) {
    let sandbox = sandbox.with_wall_clock(sandbox.config().timeout.max(RUST_RUN_TIME));
    let run = sandbox.run_files(&[("lib.rs", file), ("edition.txt", edition)], RUNNER);
    let errors = run
        .records()
        .filter_map(|r| {
            serde_json::from_value::<Vec<CompileError>>(r["compile_errors"].clone()).ok()
        })
        .flatten()
        .collect();
    (test_run(&run, false), errors)
}

/// The tests of the Rust file `original` (its own, e.g. a `mod tests`) run on it and on
/// `rewritten` (a fix or a rewrite of it), each compiled alone (see [`run_rust_tests`]).
pub fn check_rust_refactor(
    original: &str,
    rewritten: &str,
    edition: &str,
    sandbox: &Sandbox,
) -> RefactorCheck {
    compared(
        run_rust_tests(original, edition, sandbox),
        run_rust_tests(rewritten, edition, sandbox),
    )
}

/// Mutants of a Rust function against its tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustMutation {
    /// The mutants that compiled, each killed or not by the tests.
    pub mutants: Vec<MutantResult>,
    /// Mutants not run: the time ran out first.
    pub not_run: usize,
    /// Mutants rustc rejected (left out of the score).
    pub not_compiled: usize,
}

/// The mutants of `function` in `source` (see [`rust_mutants`]), each made a file with its
/// tests by `with_tests` and run like [`run_rust_tests`]: a mutant is killed when one of
/// `passing` (the tests that pass on `source`, by their harness names) fails or does not run.
/// None starts after `deadline`.
pub fn rust_mutation_check(
    source: &str,
    function: &str,
    with_tests: &(dyn Fn(&str) -> String + Sync),
    passing: &[String],
    edition: &str,
    sandbox: &Sandbox,
    deadline: Option<Instant>,
) -> RustMutation {
    let all = rust_mutants(source, function);
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results = parallel_map(&all, jobs, |m| {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let (run, errors) = run_rust_tests_or_errors(&with_tests(&m.source), edition, sandbox);
        if !errors.is_empty() {
            return Some(None);
        }
        let killed_by = passing
            .iter()
            .find_map(|name| match run.tests.iter().find(|t| &t.name == name) {
                Some(t) if t.passed => None,
                Some(t) => Some(match &t.reason {
                    Some(r) => format!("{}: {r}", t.name),
                    None => t.name.clone(),
                }),
                None => Some(format!("{name}: not run")),
            })
            .or(run.error);
        Some(Some(MutantResult {
            mutant: m.clone(),
            description: m.describe(),
            killed: killed_by.is_some(),
            killed_by,
        }))
    });
    RustMutation {
        not_run: results.iter().filter(|r| r.is_none()).count(),
        not_compiled: results.iter().filter(|r| matches!(r, Some(None))).count(),
        mutants: results.into_iter().flatten().flatten().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_sandbox;

    const CODE: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

    fn with_tests(tests: &str) -> String {
        format!("{CODE}\n#[cfg(test)]\nmod tests {{\n    use super::*;\n\n{tests}\n}}\n")
    }

    #[test]
    fn each_test_passes_or_fails_with_its_panic() {
        let file = with_tests(
            "    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n\n    #[test]\n    fn wrong() {\n        assert_eq!(add(1, 2), 4, \"one and two\");\n    }\n",
        );
        let run = run_rust_tests(&file, "2021", &test_sandbox());
        assert_eq!(run.error, None, "{run:?}");
        let found: Vec<(&str, bool)> = run
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.passed))
            .collect();
        assert_eq!(found, vec![("tests::adds", true), ("tests::wrong", false)]);
        let wrong = &run.tests[1];
        assert_eq!(wrong.line, Some(16), "{wrong:?}");
        let reason = wrong.reason.as_deref().unwrap();
        assert!(
            reason.contains("one and two") && reason.contains("left: 3"),
            "{reason}"
        );
    }

    #[test]
    fn a_test_that_never_ends_fails_and_the_others_still_count() {
        let file = with_tests(
            "    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n\n    #[test]\n    fn zz_loops() {\n        loop {\n            std::hint::black_box(add(1, 2));\n        }\n    }\n",
        );
        let sandbox = crate::Sandbox::new(crate::SandboxConfig {
            timeout: Duration::from_secs(1),
            cpu_secs: 3,
            ..crate::SandboxConfig::default()
        });
        // The run gets at least RUST_RUN_TIME of wall-clock time; the CPU limit of each
        // process (the compiler, the tests) ends the loop.
        let run = run_rust_tests(&file, "2021", &sandbox);
        assert_eq!(run.error, None, "{run:?}");
        assert!(
            run.tests
                .iter()
                .any(|t| t.name == "tests::adds" && t.passed),
            "{run:?}"
        );
        let looped = run.tests.iter().find(|t| t.name == "tests::zz_loops");
        assert!(
            looped.is_some_and(
                |t| !t.passed && t.reason.as_deref().is_some_and(|r| r.contains("CPU time"))
            ),
            "{run:?}"
        );
    }

    #[test]
    fn a_rewrite_that_breaks_a_test_or_does_not_compile_is_seen() {
        let file =
            with_tests("    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n");
        let sandbox = test_sandbox();
        let kept = check_rust_refactor(&file, &file.replace("a + b", "b + a"), "2021", &sandbox);
        assert!(kept.behaviour_kept(), "{kept:?}");
        let broken = check_rust_refactor(&file, &file.replace("a + b", "a - b"), "2021", &sandbox);
        assert!(!broken.behaviour_kept());
        assert_eq!(broken.broken, vec!["tests::adds".to_string()]);
        let wrong = check_rust_refactor(&file, &file.replace("a + b", "a + c"), "2021", &sandbox);
        assert!(!wrong.behaviour_kept());
        assert!(
            wrong
                .refactored
                .error
                .as_deref()
                .is_some_and(|e| e.contains("does not compile")),
            "{wrong:?}"
        );
    }

    #[test]
    fn mutants_that_compile_are_killed_or_not_by_the_tests() {
        let source = "pub fn small(x: i32) -> bool {\n    x < 10\n}\n";
        let with_tests = |src: &str| {
            format!("{src}\n#[cfg(test)]\nmod tests {{\n    use super::*;\n\n    #[test]\n    fn five() {{\n        assert!(small(5));\n    }}\n}}\n")
        };
        let passing = vec!["tests::five".to_string()];
        let m = rust_mutation_check(
            source,
            "small",
            &with_tests,
            &passing,
            "2021",
            &test_sandbox(),
            None,
        );
        let found: Vec<(&str, bool)> = m
            .mutants
            .iter()
            .map(|r| (r.description.as_str(), r.killed))
            .collect();
        // `x < 10` to `x >= 10` fails the test; 11 and 9 still hold for 5; 0 does not.
        assert_eq!(
            found,
            vec![
                ("line 2: comparison flipped (< -> >=)", true),
                ("line 2: off by one (10 -> 11)", false),
                ("line 2: off by one (10 -> 9)", false),
                ("line 2: constant changed (10 -> 0)", true),
            ]
        );
        assert_eq!((m.not_run, m.not_compiled), (0, 0));
        // Out of time before the first: nothing runs.
        let late = rust_mutation_check(
            source,
            "small",
            &with_tests,
            &passing,
            "2021",
            &test_sandbox(),
            Some(Instant::now()),
        );
        assert_eq!((late.mutants.len(), late.not_run), (0, 4));
    }

    #[test]
    fn a_file_that_needs_its_crate_is_not_run_and_says_why() {
        let file = format!(
            "use crate::other::helper;\n{}",
            with_tests("    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n")
        );
        let run = run_rust_tests(&file, "2021", &test_sandbox());
        assert!(run.tests.is_empty(), "{run:?}");
        let error = run.error.unwrap();
        assert!(
            error.contains("does not compile alone") && error.contains("other"),
            "{error}"
        );
        let (_, errors) = run_rust_tests_or_errors(&file, "2021", &test_sandbox());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].lines, vec![1]);
        assert!(errors[0].message.starts_with("error[E0432]"), "{errors:?}");
    }
}
