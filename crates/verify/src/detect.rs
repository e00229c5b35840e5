//! Which test framework a project uses and where its tests live: a pure function of the
//! project's file listing and the contents of a few of its files (configuration and existing
//! tests), handed in by the caller through a reader.

use std::path::Path;

/// A test framework nib can write tests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    /// Plain `test_*` functions with `assert` (pytest style; nib runs them without pytest when
    /// it is not installed).
    Pytest,
    /// `unittest.TestCase` classes.
    Unittest,
    /// A `#[cfg(test)] mod tests` in the source file.
    RustModule,
    /// An integration test file in the crate's `tests/` directory.
    RustTestsDir,
}

/// Where tests for one source file go, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestSetup {
    pub framework: Framework,
    /// The file the tests go into, relative to the project root (`/`-separated). For
    /// [`Framework::RustModule`] the source file itself.
    pub test_path: String,
    /// How the tests import the code: the Python module name of the source file (`pkg.mod`),
    /// or the Rust crate name for a `tests/` file; empty for a Rust test module.
    pub import: String,
    /// The evidence the choice rests on, for the user (e.g. `pyproject.toml [tool.pytest]`).
    pub reason: String,
}

/// Existing test files looked at (the reader is asked for at most this many).
const MAX_TEST_FILES_READ: usize = 8;

/// The test setup for `source` (a path in `files`, relative to the project root). `files` is
/// the project's file listing (relative, `/`-separated); `read` returns a file's contents (or
/// `None`) and is asked only for configuration files, a few existing tests and `source`.
/// `None` for a file that is neither Python nor Rust.
pub fn detect(
    files: &[String],
    read: &dyn Fn(&str) -> Option<String>,
    source: &str,
) -> Option<TestSetup> {
    match Path::new(source).extension()?.to_str()? {
        "py" => Some(detect_python(files, read, source)),
        "rs" => Some(detect_rust(files, read, source)),
        _ => None,
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn is_python_test_file(path: &str) -> bool {
    let name = file_name(path);
    name.ends_with(".py")
        && (name.starts_with("test_") || name.ends_with("_test.py") || name == "tests.py")
}

fn in_tests_dir(path: &str) -> bool {
    path.split('/')
        .rev()
        .skip(1)
        .any(|d| d == "tests" || d == "test")
}

fn detect_python(
    files: &[String],
    read: &dyn Fn(&str) -> Option<String>,
    source: &str,
) -> TestSetup {
    let has = |name: &str| files.iter().any(|f| f == name);
    // Configuration first: it is what the project's own test command uses.
    let mut framework = None;
    let configs: [(&str, &str, &str); 4] = [
        ("pytest.ini", "", "pytest.ini"),
        (
            "pyproject.toml",
            "[tool.pytest",
            "pyproject.toml [tool.pytest]",
        ),
        ("setup.cfg", "[tool:pytest]", "setup.cfg [tool:pytest]"),
        ("tox.ini", "[pytest]", "tox.ini [pytest]"),
    ];
    for (file, marker, why) in configs {
        if has(file) && (marker.is_empty() || read(file).is_some_and(|t| t.contains(marker))) {
            framework = Some((Framework::Pytest, why.to_string()));
            break;
        }
    }
    if framework.is_none() {
        if let Some(c) = files.iter().find(|f| file_name(f) == "conftest.py") {
            framework = Some((Framework::Pytest, c.clone()));
        }
    }
    let tests: Vec<&String> = files
        .iter()
        .filter(|f| is_python_test_file(f) || (in_tests_dir(f) && f.ends_with(".py")))
        .filter(|f| file_name(f) != "conftest.py" && file_name(f) != "__init__.py")
        .collect();
    if framework.is_none() {
        // Existing tests: unittest classes vs pytest imports and plain test functions.
        let (mut unittest, mut pytest) = (None, None);
        for t in tests.iter().take(MAX_TEST_FILES_READ) {
            let Some(text) = read(t) else { continue };
            let uses_pytest = text.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with("import pytest") || l.starts_with("from pytest")
            }) || text.lines().any(|l| l.starts_with("def test"));
            if uses_pytest {
                pytest.get_or_insert_with(|| t.to_string());
            } else if text.contains("unittest.TestCase") || text.contains("(TestCase)") {
                unittest.get_or_insert_with(|| t.to_string());
            }
        }
        framework = match (pytest, unittest) {
            (Some(p), _) => Some((Framework::Pytest, format!("{p} uses pytest"))),
            (None, Some(u)) => Some((Framework::Unittest, format!("{u} uses unittest"))),
            (None, None) => None,
        };
    }
    if framework.is_none() {
        let mentions = ["requirements-dev.txt", "requirements.txt", "pyproject.toml"]
            .into_iter()
            .find(|f| has(f) && read(f).is_some_and(|t| t.contains("pytest")));
        framework = mentions.map(|f| (Framework::Pytest, format!("{f} names pytest")));
    }
    let (framework, reason) = framework.unwrap_or((
        Framework::Pytest,
        "no test configuration or tests found: pytest-style functions".to_string(),
    ));

    let stem = file_name(source).trim_end_matches(".py");
    // Naming: `x_test.py` when that is what the project does, else `test_x.py`.
    let suffix_style = !tests.is_empty()
        && tests
            .iter()
            .filter(|t| file_name(t).ends_with("_test.py"))
            .count()
            * 2
            > tests.len();
    let test_name = if suffix_style {
        format!("{stem}_test.py")
    } else {
        format!("test_{stem}.py")
    };
    let src_dir = parent(source);
    let beside = tests
        .iter()
        .any(|t| parent(t) == src_dir && !in_tests_dir(t));
    let tests_dir = tests
        .iter()
        .find(|t| in_tests_dir(t))
        .map(|t| {
            // The top `tests` directory of the first test found there.
            let parts: Vec<&str> = t.split('/').collect();
            let i = parts
                .iter()
                .position(|d| *d == "tests" || *d == "test")
                .unwrap_or(0);
            parts[..=i].join("/")
        })
        .or_else(|| {
            ["tests", "test"]
                .into_iter()
                .find(|d| files.iter().any(|f| f.starts_with(&format!("{d}/"))))
                .map(str::to_string)
        });
    let test_path = match (beside, tests_dir) {
        (true, _) => join(src_dir, &test_name),
        (false, Some(d)) => join(&d, &test_name),
        (false, None) => join("tests", &test_name),
    };
    TestSetup {
        framework,
        test_path,
        import: python_module(files, source),
        reason,
    }
}

/// The import name of a Python file: its path as a dotted name, less a leading `src/` (the src
/// layout) and less a trailing `__init__`.
fn python_module(files: &[String], source: &str) -> String {
    let path = source.trim_end_matches(".py");
    let path = match path.strip_prefix("src/") {
        Some(rest) if !files.iter().any(|f| f == "src/__init__.py") => rest,
        _ => path,
    };
    let path = path.strip_suffix("/__init__").unwrap_or(path);
    path.replace('/', ".")
}

fn detect_rust(files: &[String], read: &dyn Fn(&str) -> Option<String>, source: &str) -> TestSetup {
    // The crate: the nearest directory above `source` with a Cargo.toml.
    let mut dir = parent(source);
    let crate_dir = loop {
        if files.iter().any(|f| *f == join(dir, "Cargo.toml")) {
            break Some(dir);
        }
        if dir.is_empty() {
            break None;
        }
        dir = parent(dir);
    };
    let crate_dir = crate_dir.unwrap_or("");
    let crate_name = read(&join(crate_dir, "Cargo.toml"))
        .and_then(|t| {
            t.lines()
                .skip_while(|l| l.trim() != "[package]")
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
                })
        })
        .unwrap_or_default()
        .replace('-', "_");
    let module = |reason: String| TestSetup {
        framework: Framework::RustModule,
        test_path: source.to_string(),
        import: String::new(),
        reason,
    };
    if read(source).is_some_and(|t| t.contains("#[cfg(test)]")) {
        return module(format!("{source} has a #[cfg(test)] module"));
    }
    let has_lib = files.iter().any(|f| *f == join(crate_dir, "src/lib.rs"));
    let tests_prefix = join(crate_dir, "tests/");
    let integration: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with(&tests_prefix) && f.ends_with(".rs"))
        .collect();
    let src_prefix = join(crate_dir, "src/");
    let inline = files
        .iter()
        .filter(|f| f.starts_with(&src_prefix) && f.ends_with(".rs") && *f != source)
        .take(MAX_TEST_FILES_READ)
        .find(|f| read(f).is_some_and(|t| t.contains("#[cfg(test)]")));
    match (inline, integration.first()) {
        (Some(f), _) => module(format!("{f} has a #[cfg(test)] module")),
        (None, Some(t)) if has_lib => {
            let stem = file_name(source).trim_end_matches(".rs");
            let stem = if matches!(stem, "lib" | "main" | "mod") {
                crate_name.as_str()
            } else {
                stem
            };
            TestSetup {
                framework: Framework::RustTestsDir,
                test_path: format!("{tests_prefix}{stem}.rs"),
                import: crate_name.clone(),
                reason: format!("the crate keeps its tests in {tests_prefix} ({t})"),
            }
        }
        _ => module("no tests found: a #[cfg(test)] module".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `(path, contents)`: the listing is every path, the reader serves the contents.
    fn check(project: &[(&str, &str)], source: &str) -> TestSetup {
        let files: Vec<String> = project.iter().map(|(p, _)| p.to_string()).collect();
        let contents: BTreeMap<&str, &str> = project.iter().copied().collect();
        detect(&files, &|p| contents.get(p).map(|t| t.to_string()), source).unwrap()
    }

    #[test]
    fn pytest_from_configuration() {
        for (file, text) in [
            ("pytest.ini", "[pytest]\n"),
            (
                "pyproject.toml",
                "[tool.pytest.ini_options]\naddopts = '-q'\n",
            ),
            ("setup.cfg", "[metadata]\nname = x\n[tool:pytest]\n"),
            ("tox.ini", "[tox]\n[pytest]\n"),
        ] {
            let s = check(&[(file, text), ("pkg/util.py", "")], "pkg/util.py");
            assert_eq!(s.framework, Framework::Pytest, "{file}");
            assert!(s.reason.contains(file), "{}", s.reason);
            assert_eq!(s.test_path, "tests/test_util.py");
            assert_eq!(s.import, "pkg.util");
        }
        // A pyproject without pytest configuration says nothing about pytest.
        let s = check(
            &[
                ("pyproject.toml", "[project]\nname = 'x'\n"),
                (
                    "tests/test_a.py",
                    "import unittest\nclass T(unittest.TestCase):\n    pass\n",
                ),
                ("a.py", ""),
            ],
            "a.py",
        );
        assert_eq!(s.framework, Framework::Unittest);
        assert_eq!(s.reason, "tests/test_a.py uses unittest");
    }

    #[test]
    fn conftest_means_pytest() {
        let s = check(
            &[("tests/conftest.py", ""), ("src/lib/core.py", "")],
            "src/lib/core.py",
        );
        assert_eq!(s.framework, Framework::Pytest);
        assert_eq!(s.reason, "tests/conftest.py");
        assert_eq!(s.test_path, "tests/test_core.py");
        assert_eq!(s.import, "lib.core");
    }

    #[test]
    fn existing_tests_decide_and_place() {
        let s = check(
            &[
                ("app/models.py", ""),
                (
                    "app/test_views.py",
                    "import pytest\n\ndef test_x():\n    assert True\n",
                ),
            ],
            "app/models.py",
        );
        assert_eq!(s.framework, Framework::Pytest);
        assert_eq!(
            s.test_path, "app/test_models.py",
            "beside the existing test"
        );
        let s = check(
            &[
                ("calc.py", ""),
                (
                    "calc_test.py",
                    "from unittest import TestCase\nclass T(TestCase):\n    pass\n",
                ),
            ],
            "calc.py",
        );
        assert_eq!(s.framework, Framework::Unittest);
        assert_eq!(s.test_path, "calc_test.py", "the project's naming");
        let s = check(
            &[
                ("src/pkg/a.py", ""),
                ("test/unit/test_b.py", "def test_b():\n    pass\n"),
            ],
            "src/pkg/a.py",
        );
        assert_eq!(s.test_path, "test/test_a.py");
        assert_eq!(s.import, "pkg.a");
    }

    #[test]
    fn nothing_known_defaults_to_pytest_style_in_tests() {
        let s = check(&[("m.py", "def f():\n    pass\n")], "m.py");
        assert_eq!(s.framework, Framework::Pytest);
        assert!(s.reason.starts_with("no test configuration"));
        assert_eq!(s.test_path, "tests/test_m.py");
        assert_eq!(s.import, "m");
        let s = check(
            &[("requirements-dev.txt", "pytest>=7\n"), ("m.py", "")],
            "m.py",
        );
        assert_eq!(s.reason, "requirements-dev.txt names pytest");
        assert!(detect(&["a.txt".into()], &|_| None, "a.txt").is_none());
    }

    #[test]
    fn rust_test_module_or_tests_dir() {
        let cargo = "[package]\nname = \"my-crate\"\nversion = \"0.1.0\"\n";
        let s = check(
            &[
                ("Cargo.toml", cargo),
                ("src/lib.rs", "pub mod parse;\n"),
                ("src/parse.rs", "pub fn p() {}\n"),
                ("tests/cli.rs", "#[test]\nfn t() {}\n"),
            ],
            "src/parse.rs",
        );
        assert_eq!(s.framework, Framework::RustTestsDir);
        assert_eq!(s.test_path, "tests/parse.rs");
        assert_eq!(s.import, "my_crate");
        // A sibling with a test module wins: that is how this crate tests its code.
        let s = check(
            &[
                ("crates/a/Cargo.toml", cargo),
                ("crates/a/src/lib.rs", "#[cfg(test)]\nmod tests {}\n"),
                ("crates/a/src/parse.rs", "pub fn p() {}\n"),
                ("crates/a/tests/cli.rs", ""),
            ],
            "crates/a/src/parse.rs",
        );
        assert_eq!(s.framework, Framework::RustModule);
        assert_eq!(s.test_path, "crates/a/src/parse.rs");
        assert_eq!(s.reason, "crates/a/src/lib.rs has a #[cfg(test)] module");
        // A binary crate cannot be tested from tests/.
        let s = check(
            &[
                ("Cargo.toml", cargo),
                ("src/main.rs", "fn main() {}\n"),
                ("tests/cli.rs", ""),
            ],
            "src/main.rs",
        );
        assert_eq!(s.framework, Framework::RustModule);
    }
}
