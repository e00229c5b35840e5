//! nib-verify: checks generated code by running it. An IO crate: it starts `python3`
//! processes (and, for Rust, `rustc` and the tests it builds from them) in a [`sandbox`] (timeout, rlimits, scratch directory, no network where the OS
//! allows it).
//!
//! - [`detect`]: the project's test framework (pytest / unittest, Rust test module or `tests/`)
//!   and where tests for a file go; pure, over a file listing and a reader.
//! - [`mutate`]: simple mutants of one Python function (comparison flipped, off by one, boolean
//!   operator swapped, constant changed, return value replaced), or of a Rust one; pure.
//! - [`check`]: run a test file on a module ([`run_tests`]), per test passed or failed with the
//!   reason; the mutation score of the passing tests ([`check_tests`]); whether a rewrite keeps
//!   the tests passing ([`check_refactor`]).
//! - [`names`]: the globals a changed module uses unbound that it did not before
//!   ([`new_undefined_names`]).
//! - [`rust`]: Rust tests compiled with the file they test by `rustc --test` alone and run
//!   ([`run_rust_tests`]).
//! - [`record`]: a function's current results on inputs near those its tests use, written as
//!   tests ([`record_cases`], [`cases_test_code`]).
//!
//! Invariant: a verdict comes from a sandbox run only, never from reading the code in Rust
//! ([`names`] reads Python's own symbol tables there, without running the module).

pub mod check;
pub mod detect;
pub mod examples;
pub mod mutate;
pub mod names;
pub mod record;
pub mod rust;
pub mod sandbox;

pub use check::{
    check_refactor, check_tests, check_tests_until, repairs, run_tests, Module, MutantResult,
    RefactorCheck, Repairs, Suite, TestCheck, TestResult, TestRun,
};
pub use detect::{detect, Framework, TestSetup};
pub use mutate::{mutants, rust_mutants, Mutant, Operator};
pub use names::{new_undefined_names, Undefined};
pub use record::{cases_test_code, record_cases, Case};
pub use rust::{
    check_rust_refactor, run_rust_tests, run_rust_tests_or_errors, rust_mutation_check,
    CompileError,
};
pub use sandbox::{Outcome, Sandbox, SandboxConfig};

/// The sandbox this crate's tests run in: a timeout generous enough for a busy machine.
#[cfg(test)]
pub(crate) fn test_sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig {
        timeout: std::time::Duration::from_secs(60),
        ..SandboxConfig::default()
    })
}
