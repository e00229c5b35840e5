//! Is this test code? Tests use dummy credentials, local servers without certificates and
//! debug switches on purpose; rules with a `test_severity` report them at that severity.
//!
//! Two kinds of evidence: the file's path (given by the caller, the checker does no IO) and
//! the code around a finding (test functions, test classes, fixtures, `#[cfg(test)]`).

use std::path::Path;

use nib_syntax::tree_sitter::Node;
use nib_syntax::Language;

/// Whether `path` is a test file: under a `tests`/`test`/`testing` directory, named
/// `test_*` / `*_test` / `*_tests`, or a pytest `conftest`.
pub fn is_test_path(path: &Path) -> bool {
    let parent = path.parent().unwrap_or(Path::new(""));
    let in_test_dir = parent
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test" | "testing")));
    let test_name = path.file_stem().and_then(|s| s.to_str()).is_some_and(|s| {
        s.starts_with("test_") || s.ends_with("_test") || s.ends_with("_tests") || s == "conftest"
    });
    in_test_dir || test_name
}

/// Whether `node` lies in a test function, test class or test fixture.
pub(crate) fn in_test_code(lang: Language, node: Node<'_>, src: &str) -> bool {
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let mut cur = node.parent();
    while let Some(n) = cur {
        let found = match (lang, n.kind()) {
            (Language::Python, "function_definition") => n
                .child_by_field_name("name")
                .is_some_and(|name| py_test_function(text(name))),
            (Language::Python, "class_definition") => {
                let named_test = n
                    .child_by_field_name("name")
                    .is_some_and(|name| py_test_class(text(name)));
                let test_case = n
                    .child_by_field_name("superclasses")
                    .is_some_and(|s| text(s).contains("TestCase"));
                named_test || test_case
            }
            (Language::Python, "decorated_definition") => {
                let mut c = n.walk();
                let decorators: Vec<_> = n
                    .children(&mut c)
                    .filter(|d| d.kind() == "decorator")
                    .collect();
                decorators.into_iter().any(|d| {
                    let t = text(d);
                    t.contains("fixture") || t.contains("pytest.mark")
                })
            }
            (Language::Rust, "function_item" | "mod_item") => {
                rust_attrs(n, src).iter().any(|a| rust_test_attr(a))
            }
            _ => false,
        };
        if found {
            return true;
        }
        cur = n.parent();
    }
    false
}

/// `test_x`, `test`, `testX` (unittest style); not `testing_mode` or `tested`.
fn py_test_function(name: &str) -> bool {
    match name.strip_prefix("test") {
        Some(rest) => {
            rest.is_empty() || rest.starts_with('_') || rest.starts_with(char::is_uppercase)
        }
        None => false,
    }
}

/// `TestApi`, `Test`, `LoginTests`, `ApiTest`; not `Tester` or `Testimonial`.
fn py_test_class(name: &str) -> bool {
    let prefixed = name.strip_prefix("Test").is_some_and(|rest| {
        rest.is_empty() || rest.starts_with('_') || rest.starts_with(char::is_uppercase)
    });
    prefixed || name.ends_with("Test") || name.ends_with("Tests")
}

/// The `#[...]` attributes written before a Rust item.
fn rust_attrs<'s>(item: Node<'_>, src: &'s str) -> Vec<&'s str> {
    let mut out = Vec::new();
    let mut prev = item.prev_sibling();
    while let Some(p) = prev {
        match p.kind() {
            "attribute_item" => out.push(src.get(p.byte_range()).unwrap_or("")),
            "line_comment" | "block_comment" => {}
            _ => break,
        }
        prev = p.prev_sibling();
    }
    out
}

/// `#[test]`, `#[tokio::test]`, `#[cfg(test)]`, `#[rstest]`.
fn rust_test_attr(attr: &str) -> bool {
    let inner: String = attr.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = inner.trim_start_matches("#[").trim_end_matches(']');
    inner == "test"
        || inner.ends_with("::test")
        || inner.starts_with("test(")
        || inner == "cfg(test)"
        || inner == "rstest"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_paths() {
        for p in [
            "tests/test_app.py",
            "pkg/tests/helpers.py",
            "test_x.py",
            "src/conftest.py",
            "x_test.py",
            "tests/api.rs",
        ] {
            assert!(is_test_path(Path::new(p)), "{p}");
        }
        for p in [
            "src/pkg/testing_utils.py",
            "src/pkg/app.py",
            "tests",
            "latest.py",
            "contest.py",
        ] {
            assert!(!is_test_path(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn test_function_names() {
        assert!(py_test_function("test_login"));
        assert!(py_test_function("testLogin"));
        assert!(py_test_function("test"));
        assert!(!py_test_function("testing_mode"));
        assert!(!py_test_function("tested"));
        assert!(!py_test_function("latest"));
    }

    #[test]
    fn test_class_names() {
        for n in ["TestApi", "Test", "LoginTests", "ApiTest", "Test_x"] {
            assert!(py_test_class(n), "{n}");
        }
        for n in ["Tester", "Testimonial", "Contest", "Latest"] {
            assert!(!py_test_class(n), "{n}");
        }
    }

    #[test]
    fn rust_attributes() {
        assert!(rust_test_attr("#[test]"));
        assert!(rust_test_attr("#[tokio::test]"));
        assert!(rust_test_attr("#[cfg(test)]"));
        assert!(!rust_test_attr("#[cfg(feature = \"test-utils\")]"));
        assert!(!rust_test_attr("#[derive(Debug)]"));
    }
}
