//! Undefined names: a suggestion that calls a function nothing defines (not a builtin, not
//! imported, not assigned, defined or bound anywhere in the file) would raise `NameError`
//! when it runs: the model made up a helper. This needs the whole file as context (a window
//! of it would make names defined outside the window look undefined), so it is a separate
//! entry point, [`undefined_calls`], not part of every [`crate::Checker`] run.
//!
//! Deliberately coarse, so that it stays quiet when unsure: a name bound anywhere in the file
//! (any scope) counts as defined, only plain calls `name(...)` are checked, and a file with a
//! star import or dynamic name tricks (`globals()`, `exec`, `__builtins__`) is not checked.
//! Python only: Rust's preludes, macros and glob imports need name resolution.

use std::collections::BTreeSet;

use nib_syntax::tree_sitter::Node;
use nib_syntax::{parse, point_of, Language};

use crate::unknown_api::all_nodes;
use crate::{Category, Finding, Severity};

pub const UNDEFINED_RULE: &str = "python/undefined-name";

/// `dir(builtins)` of CPython 3.11, plus the few names newer versions and modules add.
const PYTHON_BUILTINS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "Ellipsis",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "False",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "None",
    "NotADirectoryError",
    "NotImplemented",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "True",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    "__build_class__",
    "__debug__",
    "__doc__",
    "__file__",
    "__import__",
    "__loader__",
    "__name__",
    "__package__",
    "__spec__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reveal_type",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Calls in `suggestion` (inserted between `before` and `after`, which together must be the
/// whole file) of plain names that nothing defines. Offsets are relative to `suggestion`;
/// one finding per name (its first call).
pub fn undefined_calls(
    lang: Language,
    before: &str,
    suggestion: &str,
    after: &str,
) -> Vec<Finding> {
    if lang != Language::Python || suggestion.trim().is_empty() {
        return Vec::new();
    }
    let full = format!("{before}{suggestion}{after}");
    if ["globals()", "exec(", "__builtins__", "locals()["]
        .iter()
        .any(|t| full.contains(t))
    {
        return Vec::new();
    }
    let Some(tree) = parse(lang, &full) else {
        return Vec::new();
    };
    let (s0, s1) = (before.len(), before.len() + suggestion.len());
    let nodes = all_nodes(tree.root_node());
    let mut bound: BTreeSet<&str> = BTreeSet::new();
    for n in &nodes {
        if n.kind() == "wildcard_import" {
            return Vec::new();
        }
        for b in binds(*n) {
            for id in identifiers(b) {
                bound.insert(&full[id.byte_range()]);
            }
        }
    }
    let mut out: Vec<Finding> = Vec::new();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for n in &nodes {
        if n.kind() != "call" || n.start_byte() < s0 || n.end_byte() > s1 {
            continue;
        }
        let Some(f) = n.child_by_field_name("function") else {
            continue;
        };
        if f.kind() != "identifier" {
            continue;
        }
        let name = &full[f.byte_range()];
        if bound.contains(name) || PYTHON_BUILTINS.contains(&name) || !reported.insert(name) {
            continue;
        }
        let (a, b) = (f.start_byte() - s0, f.end_byte() - s0);
        out.push(Finding {
            rule_id: UNDEFINED_RULE.to_string(),
            cwe: None,
            severity: Severity::Medium,
            message: format!("`{name}` is called but not defined or imported anywhere in the file"),
            fix_hint: format!("Define `{name}`, import it, or use a function that exists"),
            start_byte: a,
            end_byte: b,
            start: point_of(suggestion, a),
            end: point_of(suggestion, b),
            category: Category::UnknownApi,
        });
    }
    out
}

/// The subtrees of `n` whose identifiers `n` binds.
fn binds(n: Node<'_>) -> Vec<Node<'_>> {
    let field = |name: &str| n.child_by_field_name(name).into_iter().collect::<Vec<_>>();
    match n.kind() {
        "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => field("left"),
        "function_definition" | "class_definition" => {
            let mut v = field("name");
            v.extend(field("parameters"));
            v.extend(field("type_parameters"));
            v
        }
        "lambda" => field("parameters"),
        "named_expression" => field("name"),
        "type_alias_statement" => field("left"),
        "global_statement" | "nonlocal_statement" | "case_pattern" => vec![n],
        "aliased_import" => field("alias"),
        "import_statement" | "import_from_statement" => {
            let mut c = n.walk();
            n.children_by_field_name("name", &mut c)
                .filter_map(|name| match name.kind() {
                    // `import a.b` binds `a`; `from m import a` binds `a`.
                    "dotted_name" => name.named_child(0),
                    _ => None,
                })
                .collect()
        }
        // `with x as y`, `except E as e`, `case P as p`: what follows `as`.
        _ => {
            let mut c = n.walk();
            let kids: Vec<_> = n.children(&mut c).collect();
            kids.windows(2)
                .filter(|w| w[0].kind() == "as")
                .map(|w| w[1])
                .collect()
        }
    }
}

fn identifiers(n: Node<'_>) -> Vec<Node<'_>> {
    all_nodes(n)
        .into_iter()
        .filter(|x| x.kind() == "identifier")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(before: &str, suggestion: &str, after: &str) -> Vec<String> {
        undefined_calls(Language::Python, before, suggestion, after)
            .into_iter()
            .map(|f| suggestion[f.start_byte..f.end_byte].to_string())
            .collect()
    }

    #[test]
    fn a_made_up_helper_is_found() {
        let before = "def f(n):\n    \"\"\"n! for even i, else the sum.\"\"\"\n";
        let body = "    out = []\n    for i in range(n):\n        out.append(factorial(i) if i % 2 else sum_to(i))\n        out.append(factorial(i))\n    return out\n";
        assert_eq!(
            names(before, body, "\n\nprint(f(3))\n"),
            ["factorial", "sum_to"]
        );
    }

    #[test]
    fn whatever_the_file_binds_is_defined() {
        let before = "import math\nimport os.path\nfrom functools import reduce as red\nfrom typing import (List,\n  Dict)\n\ndef helper(x):\n    return x\n\nclass Box:\n    pass\n\n";
        let body = "def g(items, key=len, *args, **kw):\n    total = 0\n    a, (b, c) = 1, (2, 3)\n    for i, j in enumerate(items):\n        total += helper(i) + math.floor(j)\n    with open('p') as fh:\n        fh.read()\n    try:\n        pass\n    except ValueError as err:\n        print(err)\n    sq = lambda v: v * v\n    if (m := sq(2)):\n        red(key, items)\n    os.path.join('a')\n    later(Box(), List(), Dict(), args, kw, a, b, c, m)\n    return [k(z) for k, z in items]\n";
        assert_eq!(
            names(before, body, "\ndef later(*a):\n    return a\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn quiet_with_star_imports_dynamic_names_and_rust() {
        assert!(names("from math import *\n", "x = factorial(3)\n", "").is_empty());
        assert!(names("globals()['f'] = print\n", "f(3)\n", "").is_empty());
        assert!(
            undefined_calls(Language::Rust, "fn f() {\n", "    made_up();\n", "}\n").is_empty()
        );
        // Calls outside the suggestion are not its business.
        assert!(names("gone()\n", "x = 1\n", "also_gone()\n").is_empty());
    }

    #[test]
    fn a_method_call_or_a_name_defined_after_is_not_flagged() {
        assert!(names("", "def f(s):\n    return s.strip().upper()\n", "").is_empty());
        assert!(names(
            "",
            "    return twice(3)\n",
            "\ndef twice(x):\n    return 2 * x\n"
        )
        .is_empty());
    }
}
