//! The examples in a Python function's docstring as a test file: the function's own
//! documentation is a check that a fix or a rewrite of it must pass. Two forms: doctest's
//! (`>>> call` and the output shown under it) and a call written in prose with its result
//! (`f(2) == 4`, `f(2) ==> 4`, `f(2) ➞ 4`, `f(2) returns 4`, the result a literal). Pure: the
//! examples are found with tree-sitter; Python runs each one (doctest, or `==`) when the test
//! file runs in the sandbox.

use nib_syntax::tree_sitter::Node;
use nib_syntax::{parse, Language};

use crate::mutate::find_function;

/// One example of a docstring: a doctest (its prompt, `...` continuations and expected output
/// as written, without the docstring's indentation) or a call written in prose with the
/// literal it equals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The function whose docstring it is in (its name, without a class).
    pub function: String,
    /// 1-based line of the example in the module.
    pub line: usize,
    /// A doctest (`>>>`): its lines as written; a call written in prose: the call.
    pub text: String,
    /// For a call written in prose (`f(2) == 4`, `f(2) ➞ 4`, `f(2) returns 4`): the literal
    /// it equals.
    pub equals: Option<String>,
}

/// Examples kept at most: a docstring with more is cut, the first ones are enough.
const MAX_EXAMPLES: usize = 20;

fn docstring<'t>(def: Node<'t>) -> Option<Node<'t>> {
    let body = def.child_by_field_name("body")?;
    let first = body.named_child(0)?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let s = first.named_child(0)?;
    (s.kind() == "string").then_some(s)
}

/// The examples of `function` (`name` or `Class.name`) in `module`, in order; empty when the
/// function is not found or its docstring has none.
pub fn docstring_examples(module: &str, function: &str) -> Vec<Example> {
    let Some(tree) = parse(Language::Python, module) else {
        return Vec::new();
    };
    match find_function(tree.root_node(), module, function) {
        Some(def) => examples_of(module, def),
        None => Vec::new(),
    }
}

/// The examples of every function whose definition overlaps bytes `start..end` of `module`
/// (the one around a selection, the ones in it), in source order.
pub fn examples_around(module: &str, start: usize, end: usize) -> Vec<Example> {
    let Some(tree) = parse(Language::Python, module) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    let mut defs = Vec::new();
    while let Some(n) = stack.pop() {
        if n.end_byte() < start || n.start_byte() > end {
            continue;
        }
        if n.kind() == "function_definition" {
            defs.push(n);
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    defs.sort_by_key(|d| d.start_byte());
    for d in defs {
        if out.len() >= MAX_EXAMPLES {
            break;
        }
        out.extend(examples_of(module, d));
    }
    out.truncate(MAX_EXAMPLES);
    out
}

fn examples_of(module: &str, def: Node<'_>) -> Vec<Example> {
    let Some(doc) = docstring(def) else {
        return Vec::new();
    };
    let function = def
        .child_by_field_name("name")
        .map_or("", |n| &module[n.byte_range()])
        .to_string();
    let first_line = doc.start_position().row + 1;
    let text = &module[doc.byte_range()];
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() && out.len() < MAX_EXAMPLES {
        let l = lines[i];
        let trimmed = l.trim_start();
        if trimmed
            .strip_prefix(">>> ")
            .is_none_or(|code| code.trim().is_empty())
        {
            if let Some((call, equals)) = prose_example(trimmed, &function) {
                out.push(Example {
                    function: function.clone(),
                    line: first_line + i,
                    text: call,
                    equals: Some(equals),
                });
            }
            i += 1;
            continue;
        }
        let indent = l.len() - trimmed.len();
        let strip = |s: &str| -> String { dedented(s, indent).trim_end().to_string() };
        let mut block = vec![strip(l)];
        let start = i;
        i += 1;
        // Continuations, then the expected output up to a blank line, the next prompt or the
        // docstring's closing quotes.
        while i < lines.len() && lines[i].trim_start().starts_with("...") {
            block.push(strip(lines[i]));
            i += 1;
        }
        while i < lines.len() {
            let t = lines[i].trim();
            // A call written in prose is the next example, not output.
            if t.is_empty() || t.starts_with(">>>") || prose_example(t, &function).is_some() {
                break;
            }
            let kept = dedented(lines[i], indent);
            let (kept, closes) = match kept.find("\"\"\"").or_else(|| kept.find("'''")) {
                Some(q) => (&kept[..q], true),
                None => (kept, false),
            };
            if !kept.trim().is_empty() {
                block.push(kept.trim_end().to_string());
            }
            i += 1;
            if closes {
                break;
            }
        }
        // A comparison shown without output documents that it holds.
        let prompts = block
            .iter()
            .all(|b| b.starts_with(">>>") || b.starts_with("..."));
        if prompts && block.len() == 1 && block[0].contains(" == ") {
            block.push("True".into());
        }
        out.push(Example {
            function: function.clone(),
            line: first_line + start,
            text: block.join("\n") + "\n",
            equals: None,
        });
    }
    out
}

/// `line` without up to `indent` bytes of its leading whitespace (cut at a character
/// boundary: the whitespace may be any Unicode space).
fn dedented(line: &str, indent: usize) -> &str {
    let n = line.len() - line.trim_start().len();
    let cut = (0..=n.min(indent))
        .rev()
        .find(|&c| line.is_char_boundary(c))
        .unwrap_or(0);
    &line[cut..]
}

/// Words between a call and its result in prose examples, longest first.
const PROSE_ARROWS: &[&str] = &[
    "should return",
    "returns",
    "==>",
    "==",
    "=>",
    "->",
    "\u{279e}",
    "\u{2192}",
    "=",
];

/// `name(args) ==> literal` (or another of [`PROSE_ARROWS`]) at the start of a docstring
/// line: the call and the literal. Only a literal result counts (a number, a string, a
/// list...): prose after the arrow is not a check.
fn prose_example(line: &str, name: &str) -> Option<(String, String)> {
    let line = line.trim_start_matches(['-', '*', ' ']);
    let rest = line.strip_prefix(name)?.strip_prefix('(')?;
    let close = closing_paren(rest)?;
    let call = format!("{name}({}", &rest[..=close]);
    let after = rest[close + 1..].trim_start();
    let arrow = PROSE_ARROWS.iter().find(|a| after.starts_with(**a))?;
    let value = after[arrow.len()..].trim();
    let value = value
        .strip_suffix(['.', ',', ';'])
        .unwrap_or(value)
        .trim_end();
    (is_call_of(&call, name) && is_literal(value)).then(|| (call, value.to_string()))
}

/// Byte index of the `)` that closes an opening parenthesis just before `s`.
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' | ']' | '}' => depth = depth.checked_sub(1)?,
            _ => {}
        }
    }
    None
}

/// The only expression of a parsed snippet, when it parses without errors.
fn single_expression(tree: &nib_syntax::tree_sitter::Tree) -> Option<Node<'_>> {
    let root = tree.root_node();
    if root.has_error() || root.named_child_count() != 1 {
        return None;
    }
    let stmt = root.named_child(0)?;
    if stmt.kind() != "expression_statement" || stmt.named_child_count() != 1 {
        return None;
    }
    stmt.named_child(0)
}

fn is_call_of(code: &str, name: &str) -> bool {
    let Some(tree) = parse(Language::Python, code) else {
        return false;
    };
    single_expression(&tree).is_some_and(|e| {
        e.kind() == "call"
            && e.child_by_field_name("function")
                .is_some_and(|f| &code[f.byte_range()] == name)
    })
}

/// A Python literal: numbers, strings (not f-strings), `True`/`False`/`None`, and lists,
/// tuples, sets and dicts of them.
fn is_literal(code: &str) -> bool {
    fn literal_node(n: Node<'_>) -> bool {
        match n.kind() {
            "string" => {
                let mut cursor = n.walk();
                let interpolated = n.children(&mut cursor).any(|c| c.kind() == "interpolation");
                !interpolated
            }
            "integer" | "float" | "true" | "false" | "none" => true,
            "concatenated_string"
            | "list"
            | "tuple"
            | "set"
            | "dictionary"
            | "pair"
            | "parenthesized_expression"
            | "unary_operator" => {
                let mut cursor = n.walk();
                let all = n.named_children(&mut cursor).all(literal_node);
                all
            }
            _ => false,
        }
    }
    if code.is_empty() || code.len() > 400 {
        return false;
    }
    let Some(tree) = parse(Language::Python, code) else {
        return false;
    };
    single_expression(&tree).is_some_and(literal_node)
}

/// Python string literal of `s` (a JSON string is one).
fn literal(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The start of an examples test file: `@MODULE@` is the module's name as a Python literal.
/// A failure's message is doctest's report on one line (the example, what it expected, what
/// it got or the exception).
const PRELUDE: &str = r#"import doctest as _nib_doctest
import importlib as _nib_importlib


def _nib_example(text):
    module = _nib_importlib.import_module(@MODULE@)
    parser = _nib_doctest.DocTestParser()
    test = parser.get_doctest(text, dict(vars(module)), "docstring", None, 0)
    flags = _nib_doctest.NORMALIZE_WHITESPACE | _nib_doctest.ELLIPSIS
    runner = _nib_doctest.DocTestRunner(verbose=False, optionflags=flags)
    report = []
    result = runner.run(test, out=report.append, clear_globs=False)
    if result.failed:
        lines = [l.strip() for l in "".join(report).splitlines()]
        lines = [l for l in lines if l and set(l) - {"*"} and not l.startswith(("File ", "Line "))]
        if "Exception raised:" in lines:
            # The exception itself, not the traceback's frames.
            lines = lines[: lines.index("Exception raised:") + 1] + lines[-1:]
        raise AssertionError(" ".join(lines))


def _nib_equal(call, value):
    module = _nib_importlib.import_module(@MODULE@)
    names = dict(vars(module))
    want = eval(value, names)
    got = eval(call, names)
    close = (
        isinstance(got, float)
        and isinstance(want, (int, float))
        and abs(got - want) <= 1e-6 * max(1.0, abs(want))
    )
    if got != want and not close:
        raise AssertionError("%s: expected %r, got %r" % (call, want, got))
"#;

/// A test file with one test per example, for nib's runner or pytest: each runs its example
/// in the namespace of `module_name` (imported by name), with `doctest` (failing with its
/// report when the output differs) or comparing the call's value with the literal (floats
/// within 1e-6). `None` without examples.
pub fn examples_test_file(module_name: &str, examples: &[Example]) -> Option<String> {
    if examples.is_empty() {
        return None;
    }
    let mut out = PRELUDE.replace("@MODULE@", &literal(module_name));
    for e in examples {
        let body = match &e.equals {
            None => format!("_nib_example({})", literal(&e.text)),
            Some(value) => format!("_nib_equal({}, {})", literal(&e.text), literal(value)),
        };
        out.push_str(&format!(
            "\n\ndef test_{}_docstring_line_{}():\n    {body}\n",
            e.function, e.line,
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    const MODULE: &str = r#"from typing import List


def sum_product(numbers: List[int]) -> tuple:
    """ Sum and product.
    >>> sum_product([])
    (0, 1)
    >>> sum_product([1, 2,
    ...              3, 4])
    (10, 24)

    Not an example: >>> in prose.
    >>> print('a')
    a
    b"""
    return sum(numbers), 1


class C:
    def m(self):
        '''>>> C().m()
        2
        '''
        return 2


def none():
    return 1
"#;

    use crate::test_sandbox as sandbox;

    #[test]
    fn examples_are_the_prompts_with_their_output() {
        let ex = docstring_examples(MODULE, "sum_product");
        let shown: Vec<String> = ex
            .iter()
            .map(|e| format!("{}: {}", e.line, e.text))
            .collect();
        expect![[r#"
            [
                "6: >>> sum_product([])\n(0, 1)\n",
                "8: >>> sum_product([1, 2,\n...              3, 4])\n(10, 24)\n",
                "13: >>> print('a')\na\nb\n",
            ]
        "#]]
        .assert_debug_eq(&shown);
        let m = docstring_examples(MODULE, "C.m");
        assert_eq!(m.len(), 0, "a prompt on the opening line is skipped: {m:?}");
        assert!(docstring_examples(MODULE, "none").is_empty());
        assert!(docstring_examples(MODULE, "missing").is_empty());
        assert!(docstring_examples("def (", "f").is_empty());
    }

    #[test]
    fn the_test_file_names_each_example_by_its_line() {
        let ex = docstring_examples(MODULE, "sum_product");
        let file = examples_test_file("pkg.mod", &ex).unwrap();
        assert!(file.contains("import_module(\"pkg.mod\")"), "{file}");
        assert_eq!(
            file.matches("def test_sum_product_docstring_line_").count(),
            3
        );
        assert!(file.contains("_nib_example(\">>> sum_product([])\\n(0, 1)\\n\")"));
        assert!(examples_test_file("m", &[]).is_none());
        let tree = parse(Language::Python, &file).unwrap();
        assert!(!tree.root_node().has_error(), "{file}");
    }

    #[test]
    fn examples_around_a_range_are_those_of_the_functions_it_touches() {
        let start = MODULE.find("    return sum(numbers)").unwrap();
        let ex = examples_around(MODULE, start, start + 5);
        assert_eq!(ex.len(), 3);
        assert!(ex.iter().all(|e| e.function == "sum_product"));
        let all = examples_around(MODULE, 0, MODULE.len());
        assert_eq!(all.len(), 3, "C.m's prompt is on the opening line: {all:?}");
        let tail = MODULE.find("def none").unwrap();
        assert!(examples_around(MODULE, tail, MODULE.len()).is_empty());
    }

    #[test]
    fn the_examples_pass_on_the_documented_code_and_report_the_difference_on_a_bug() {
        use crate::{run_tests, Framework, Module};
        let sandbox = sandbox();
        let right = "def double(x):\n    \"\"\"Twice x.\n    >>> double(2)\n    4\n    >>> [double(i) for i in range(3)]\n    [0, 2, 4]\n    \"\"\"\n    return 2 * x\n";
        let tests = examples_test_file("util", &docstring_examples(right, "double")).unwrap();
        for framework in [Framework::Pytest, Framework::Unittest] {
            let run = run_tests(
                &Module {
                    name: "util",
                    source: right,
                },
                &tests,
                framework,
                None,
                false,
                &sandbox,
            );
            assert!(run.all_passed(), "{run:?}");
            assert_eq!(run.tests.len(), 2);
            let wrong = right.replace("return 2 * x", "return x + 2");
            let run = run_tests(
                &Module {
                    name: "util",
                    source: &wrong,
                },
                &tests,
                framework,
                None,
                false,
                &sandbox,
            );
            assert_eq!(
                run.passing(),
                vec!["test_double_docstring_line_3"],
                "{run:?}"
            );
            let why = run.failing()[0].reason.clone().unwrap_or_default();
            assert!(why.contains("Expected: [0, 2, 4] Got: [2, 3, 4]"), "{why}");
            // An example raising: the report names the exception, not the traceback's frames.
            let raising = right.replace("return 2 * x", "return twice(x)");
            let run = run_tests(
                &Module {
                    name: "util",
                    source: &raising,
                },
                &tests,
                framework,
                None,
                false,
                &sandbox,
            );
            let why = run.failing()[0].reason.clone().unwrap_or_default();
            assert!(
                why.starts_with("AssertionError: Failed example: double(2) Exception raised: NameError: name 'twice' is not defined"),
                "{why}"
            );
        }
    }

    #[test]
    fn calls_written_in_prose_are_examples_when_their_result_is_a_literal() {
        let module = r#"def closest(word, n=1):
    """Find it.

    Example:
    closest("yogurt") ==> "u"
    closest("FULL", n=2) == 'U'
    - closest("a(b)") ➞ ""
    closest([1, (2, 3)]) returns [1, -2.5, None, {'a': (1,)}].
    closest("x") -> something else
    closest("x") == f"{x}"
    closest("y") = 3 and more
    closest = 2
    other("z") == 1
    We call closest("q") == 1 in prose.
    """
    return word
"#;
        let ex: Vec<(usize, String, Option<String>)> = docstring_examples(module, "closest")
            .into_iter()
            .map(|e| (e.line, e.text, e.equals))
            .collect();
        expect![[r#"
            [
                (
                    5,
                    "closest(\"yogurt\")",
                    Some(
                        "\"u\"",
                    ),
                ),
                (
                    6,
                    "closest(\"FULL\", n=2)",
                    Some(
                        "'U'",
                    ),
                ),
                (
                    7,
                    "closest(\"a(b)\")",
                    Some(
                        "\"\"",
                    ),
                ),
                (
                    8,
                    "closest([1, (2, 3)])",
                    Some(
                        "[1, -2.5, None, {'a': (1,)}]",
                    ),
                ),
            ]
        "#]]
        .assert_debug_eq(&ex);
    }

    #[test]
    fn a_prose_example_compares_values() {
        use crate::{run_tests, Framework, Module};
        let sandbox = sandbox();
        let right = "def mean(xs):\n    \"\"\"Mean.\n    mean([1, 2]) == 1.5\n    mean([0.1, 0.2]) ==> 0.15\n    \"\"\"\n    return sum(xs) / len(xs)\n";
        let tests = examples_test_file("m", &docstring_examples(right, "mean")).unwrap();
        let run = |source: &str| {
            run_tests(
                &Module { name: "m", source },
                &tests,
                Framework::Unittest,
                None,
                false,
                &sandbox,
            )
        };
        let ok = run(right);
        assert!(ok.all_passed() && ok.tests.len() == 2, "{ok:?}");
        let bad = run(&right.replace("/ len(xs)", "/ 2 + 1"));
        assert!(bad.passing().is_empty(), "{bad:?}");
        let why = bad.failing()[0].reason.clone().unwrap_or_default();
        assert!(why.contains("mean([1, 2]): expected 1.5, got 2.5"), "{why}");
    }

    #[test]
    fn a_comparison_shown_without_output_is_expected_to_hold() {
        let module = "def h(t):\n    \"\"\"Hash.\n\n    >>> h('a') == 'b'\n    >>> h('c')\n    \"\"\"\n    return t\n";
        let ex: Vec<String> = docstring_examples(module, "h")
            .into_iter()
            .map(|e| e.text)
            .collect();
        assert_eq!(ex, [">>> h('a') == 'b'\nTrue\n", ">>> h('c')\n"]);
    }

    #[test]
    fn unicode_indentation_does_not_split_a_character() {
        // The prompt is indented by 4 ASCII spaces, the output by 2 spaces and an ideographic
        // space (bytes 2..5): 4 bytes off would cut inside it.
        let module =
            "def f():\n    \"\"\"F.\n\n    >>> f()\n  \u{3000}1\n    \"\"\"\n    return 1\n";
        let ex = docstring_examples(module, "f");
        assert_eq!(ex.len(), 1);
        assert!(
            ex[0].text.starts_with(">>> f()\n") && ex[0].text.ends_with("1\n"),
            "{ex:?}"
        );
    }
}
