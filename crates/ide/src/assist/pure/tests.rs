use expect_test::expect;
use nib_engine::ApproxTokenCounter;

use super::*;

const PY: &str = "import os\n\n\nclass Box:\n    def size(self, xs):\n        total = 0\n        for x in xs:\n            total += x\n        return total\n\n\ndef top(n):\n    return n + 1\n";

fn target_at(kind: CodeActionKind, text: &str, needle: &str, lang: Language) -> Option<String> {
    let tree = nib_syntax::parse(lang, text).unwrap();
    let at = text.find(needle).unwrap();
    target(kind, lang, Some(&tree), text, at, at)
        .map(|t| format!("{} {:?} [{}]", t.what, t.name, &text[t.start..t.end]))
}

#[test]
fn targets_are_the_enclosing_function_or_class_or_the_selection() {
    let py = |k, n| target_at(k, PY, n, Language::Python);
    expect![[r#"
        Some(
            "method Some(\"size\") [    def size(self, xs):\n        total = 0\n        for x in xs:\n            total += x\n        return total]",
        )
    "#]]
    .assert_debug_eq(&py(CodeActionKind::Refactor, "total += x"));
    // On the `def` line itself.
    assert_eq!(
        py(CodeActionKind::Tests, "top(n)").unwrap(),
        "function Some(\"top\") [def top(n):\n    return n + 1]"
    );
    // Explain takes a class; tests and refactor want a function.
    assert!(py(CodeActionKind::Explain, "class Box")
        .unwrap()
        .starts_with("class Some(\"Box\")"));
    assert_eq!(py(CodeActionKind::Tests, "import os"), None);
    // Fix outside a function: the lines around the cursor.
    assert_eq!(
        py(CodeActionKind::Fix, "import os").unwrap(),
        "lines None [import os\n\n]"
    );
    // A selection: its whole lines.
    let tree = nib_syntax::parse(Language::Python, PY).unwrap();
    let (a, b) = (
        PY.find("for x").unwrap() + 2,
        PY.find("return total").unwrap(),
    );
    let t = target(
        CodeActionKind::Refactor,
        Language::Python,
        Some(&tree),
        PY,
        a,
        b,
    )
    .unwrap();
    assert_eq!(
        (&PY[t.start..t.end], t.indent.as_str()),
        (
            "        for x in xs:\n            total += x\n        return total",
            "        "
        )
    );
    // Blank lines at the ends of a selection are not part of it, nor of its indentation
    // (a newline taken for indentation doubled every line of the rewrite).
    let (a, b) = (
        PY.find("return total\n").unwrap() + 13,
        PY.find("return n + 1").unwrap() + 13,
    );
    let t = target(
        CodeActionKind::Refactor,
        Language::Python,
        Some(&tree),
        PY,
        a,
        b,
    )
    .unwrap();
    assert_eq!(
        (&PY[t.start..t.end], t.indent.as_str()),
        ("def top(n):\n    return n + 1", "")
    );
    assert_eq!(
        reindent("def f():\n    pass\n", &t.indent),
        "def f():\n    pass"
    );
    let rs =
        "struct S;\n\nimpl S {\n    pub fn add(&self, a: i32) -> i32 {\n        a + 1\n    }\n}\n";
    assert_eq!(
        target_at(CodeActionKind::Tests, rs, "a + 1", Language::Rust).unwrap(),
        "method Some(\"add\") [    pub fn add(&self, a: i32) -> i32 {\n        a + 1\n    }]"
    );
}

#[test]
fn answers_split_into_prose_and_the_first_code_block() {
    expect![[r#"
        Answer {
            prose: "The loop is off by one.\n\n\nThat fixes it.\n```python\nother\n```",
            code: Some(
                "def f(xs):\n    return xs[-1]",
            ),
            closed: true,
        }
    "#]]
    .assert_debug_eq(&split_answer(
        "The loop is off by one.\n\n```python\ndef f(xs):\n    return xs[-1]\n```\n\nThat fixes it.\n```python\nother\n```",
    ));
    // Cut at the stop string: an unclosed block runs to the end.
    let cut = split_answer("```rust\nfn f() {}");
    assert_eq!(
        (cut.code.as_deref(), cut.closed),
        (Some("fn f() {}"), false)
    );
    assert_eq!(split_answer("Just words.").code, None);
    assert_eq!(split_answer("```\n```").code, None, "an empty block");
}

#[test]
fn syntax_errors_and_reindent() {
    assert_eq!(
        syntax_errors(Language::Python, "def f():\n    return 1\n"),
        0
    );
    assert!(syntax_errors(Language::Python, "def f(:\n    return 1\n") > 0);
    assert!(syntax_errors(Language::Rust, "fn f() { let x = ; }") > 0);
    assert_eq!(
        reindent("def f():\n    return 1\n\n", "    "),
        "    def f():\n        return 1"
    );
    assert_eq!(dedent("    a\n\n      b"), "a\n\n  b");
}

#[test]
fn test_plans_follow_the_project() {
    let paths = |ps: &[&str]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let plan = |src: &str, ps: &[&str], configs: &[(&str, &str)], tests: &[&str]| {
        let configs: Vec<(String, String)> = configs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let tests: Vec<String> = tests.iter().map(|t| t.to_string()).collect();
        let p = plan_tests(Language::Python, src, &paths(ps), &configs, &tests);
        format!("{:?} {} {:?}", p.framework, p.path, p.module)
    };
    expect![[r#"
        [
            "Pytest test_calc.py Some(\"calc\")",
            "Pytest tests/test_calc.py Some(\"pkg.calc\")",
            "Unittest tests/test_calc.py Some(\"pkg.calc\")",
            "Pytest tests/unit/test_calc.py Some(\"pkg.calc\")",
            "Pytest pkg/test_calc.py Some(\"calc\")",
            "RustModule src/lib.rs None",
        ]
    "#]]
    .assert_debug_eq(&[
        plan("calc.py", &[], &[], &[]),
        // A src layout with a tests directory and pytest configured.
        plan(
            "src/pkg/calc.py",
            &["src/pkg/calc.py", "tests/test_other.py"],
            &[("pyproject.toml", "[tool.pytest.ini_options]\n")],
            &[],
        ),
        // Existing tests use unittest and nothing says pytest.
        plan(
            "src/pkg/calc.py",
            &["tests/test_other.py"],
            &[],
            &["import unittest\n\nclass T(unittest.TestCase):\n    pass\n"],
        ),
        // The existing test file for the module wins; conftest.py means pytest.
        plan(
            "src/pkg/calc.py",
            &["tests/conftest.py", "tests/unit/test_calc.py"],
            &[],
            &["import unittest\nclass T(unittest.TestCase): pass\n"],
        ),
        plan("pkg/calc.py", &["pkg/calc.py"], &[], &[]),
        {
            let p = plan_tests(Language::Rust, "src/lib.rs", &[], &[], &[]);
            format!("{:?} {} {:?}", p.framework, p.path, p.module)
        },
    ]);
}

#[test]
fn tests_in_an_answer_lose_the_import_of_the_function_and_the_module_wrapper() {
    assert_eq!(
        tests_from_code(
            Language::Python,
            "import pytest\nfrom calc import top\n\ndef test_top():\n    assert top(1) == 2\n",
            &["top".to_string()]
        )
        .as_deref(),
        Some("import pytest\n\ndef test_top():\n    assert top(1) == 2")
    );
    assert_eq!(
        tests_from_code(
            Language::Rust,
            "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn adds() {\n        assert_eq!(add(1), 2);\n    }\n}\n",
            &["add".to_string()]
        )
        .as_deref(),
        Some("#[test]\nfn adds() {\n    assert_eq!(add(1), 2);\n}")
    );
    assert_eq!(
        tests_from_code(Language::Python, "x = 1\n", &["top".to_string()]),
        None
    );
    let rs = "fn add() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn a() {}\n}\n";
    let at = rust_tests_module_end(rs).unwrap();
    assert_eq!(&rs[at..], "}\n");
    assert_eq!(rust_tests_module_end("fn f() {}\n"), None);
}

fn msg(role: Role, s: &str) -> ChatMessage {
    ChatMessage::new(role, s)
}

#[test]
fn trimming_drops_the_oldest_exchanges_and_keeps_the_system_and_last_turn() {
    let long = "x".repeat(400); // 100 tokens with the approximate counter
    let conv = vec![
        msg(Role::System, "sys"),
        msg(Role::User, &format!("first {long}")),
        msg(Role::Assistant, &format!("answer one {long}")),
        msg(Role::User, "second"),
        msg(Role::Assistant, "answer two"),
        msg(Role::User, "make it iterative"),
    ];
    let show = |budget: usize| {
        let (kept, dropped) = trim_conversation(&conv, &ApproxTokenCounter, budget);
        let firsts: Vec<String> = kept
            .iter()
            .map(|m| m.content.split(' ').next().unwrap().to_string())
            .collect();
        format!("{} dropped: {}", firsts.join(","), dropped)
    };
    expect![[r#"
        [
            "sys,first,answer,second,answer,make dropped: 0",
            "sys,second,answer,make dropped: 2",
            "sys,make dropped: 4",
        ]
    "#]]
    .assert_debug_eq(&[show(10_000), show(100), show(10)]);
}

#[test]
fn prompts_quote_the_code_the_errors_and_the_context_within_the_budget() {
    let t = Target {
        start: 0,
        end: 0,
        name: Some("top".into()),
        what: "function",
        indent: String::new(),
        owner: None,
    };
    let context = vec![
        ("environment".to_string(), "python 3.11".to_string()),
        (
            "lib/util.py".to_string(),
            "def helper(x):\n    ...".to_string(),
        ),
    ];
    let errors =
        vec!["TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'".to_string()];
    let input = PromptInput {
        kind: CodeActionKind::Fix,
        lang: Language::Python,
        path: "calc.py",
        code: "def top(n):\n    return n + 1",
        target: &t,
        context: &context,
        errors: &errors,
        prompt: None,
        framework: None,
        owner_code: None,
        owner_uses: &[],
        before: "",
        after: "",
        previous: None,
    };
    let (m, dropped) = action_messages(&input, &ApproxTokenCounter, 10_000);
    assert_eq!(dropped, 0);
    expect![[r#"
        Context from the project (the environment and definitions the code uses):

        `environment`:
        ```
        python 3.11
        ```

        `lib/util.py`:
        ```
        def helper(x):
            ...
        ```

        This function `top` from `calc.py` has an error:

        ```text
        TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'
        ```

        ```python
        def top(n):
            return n + 1
        ```

        Reply with the corrected function in one ```python code block, complete, changing only what the fix needs. Then explain the cause in one sentence."#]]
    .assert_eq(&m[1].content);
    // A small budget leaves context out, the task stays.
    let (m, dropped) = (0..1000)
        .map(|b| action_messages(&input, &ApproxTokenCounter, b))
        .find(|(_, d)| *d < 2)
        .unwrap();
    assert_eq!(dropped, 1);
    assert!(m[1].content.contains("python 3.11") && !m[1].content.contains("helper"));
    let tests = PromptInput {
        kind: CodeActionKind::Tests,
        framework: Some(Framework::Unittest),
        context: &[],
        ..input
    };
    let (m, _) = action_messages(&tests, &ApproxTokenCounter, 10_000);
    assert!(
        m[1].content.starts_with(
            "Write unit tests for this function `top` from `calc.py` with the unittest module"
        ),
        "{}",
        m[1].content
    );
    // A refactor whose answer changed nothing is asked again in the conversation: the answer
    // as the model's turn, then what was wrong with it.
    let unchanged = [UNCHANGED.to_string()];
    let again = PromptInput {
        kind: CodeActionKind::Refactor,
        context: &[],
        errors: &unchanged,
        previous: Some("```python\ndef top(n):\n    return n + 1\n```\n"),
        ..input
    };
    let (m, _) = action_messages(&again, &ApproxTokenCounter, 10_000);
    assert_is_follow_up(&m);
    assert!(
        m[1].content.starts_with("Refactor this function `top`")
            && !m[1].content.contains("earlier answer"),
        "{}",
        m[1].content
    );
    assert!(m[2].content.starts_with("```python\ndef top(n):"));
    assert!(
        m[3].content.starts_with("That is the same code")
            && m[3].content.ends_with("in one ```python code block."),
        "{}",
        m[3].content
    );
    // One that broke a test is told what nib saw, after its own answer.
    let broke = ["the rewrite breaks 1 test: `test_top_1` (AssertionError)".to_string()];
    let again = PromptInput {
        errors: &broke,
        ..again
    };
    let (m, _) = action_messages(&again, &ApproxTokenCounter, 10_000);
    assert_is_follow_up(&m);
    assert!(
        !m[1].content.contains("rejected") && m[2].content.starts_with("```python\ndef top(n):"),
        "{m:?}"
    );
    assert!(
        m[3].content
            .starts_with("That rewrite does not keep the behaviour")
            && m[3].content.contains("`test_top_1` (AssertionError)")
            && m[3].content.ends_with("in one ```python code block."),
        "{}",
        m[3].content
    );
}

/// A refactor asked again: the request, the model's earlier answer, then what was wrong.
fn assert_is_follow_up(m: &[ChatMessage]) {
    let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::User]
    );
}

#[test]
fn a_refactor_request_lists_where_the_code_can_be_simpler() {
    let code = "def count(xs):\n    n = 0\n    for x in xs:\n        if x > 0:\n            n += 1\n    return n";
    let t = Target {
        start: 0,
        end: code.len(),
        name: Some("count".into()),
        what: "function",
        indent: String::new(),
        owner: None,
    };
    let input = PromptInput {
        kind: CodeActionKind::Refactor,
        lang: Language::Python,
        path: "calc.py",
        code,
        target: &t,
        context: &[],
        errors: &[],
        prompt: None,
        framework: None,
        owner_code: None,
        owner_uses: &[],
        before: "",
        after: "",
        previous: None,
    };
    let (m, _) = action_messages(&input, &ApproxTokenCounter, 10_000);
    assert!(
        m[1].content.ends_with("```\n\nWhere it can be simpler (make these changes where they keep the behaviour exactly):\n- `for x in xs:`: the loop only adds to `n`: `sum(...)` (numbers) or `''.join(...)` (strings) over a generator expression with an `if` says it in one expression"),
        "{}",
        m[1].content
    );
    // Asked again after the same code, it is pointed back to them.
    let unchanged = [UNCHANGED.to_string()];
    let again = PromptInput {
        errors: &unchanged,
        previous: Some(code),
        ..input
    };
    let (m, _) = action_messages(&again, &ApproxTokenCounter, 10_000);
    assert_is_follow_up(&m);
    assert!(
        m[3].content
            .contains("make the changes listed with the code"),
        "{}",
        m[3].content
    );
    // The user's own wish comes without them.
    let wished = PromptInput {
        prompt: Some("make it faster"),
        ..input
    };
    let (m, _) = action_messages(&wished, &ApproxTokenCounter, 10_000);
    assert!(
        !m[1].content.contains("Where it can be simpler"),
        "{}",
        m[1].content
    );
}

#[test]
fn generated_code_loses_definitions_the_file_already_has() {
    let doc = "def mean(xs):\n    return 0\n\n\nclass Box:\n    pass\n";
    let code = "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n\n\n@cache\ndef mean(xs):\n    return 1\n\nclass Box:\n    pass\n";
    assert_eq!(
        without_existing_definitions(Language::Python, code, doc),
        "def median(xs):\n    return sorted(xs)[len(xs) // 2]"
    );
    assert_eq!(
        without_existing_definitions(Language::Rust, "fn a() {}\nfn b() {}\n", "fn a() {}"),
        "fn b() {}"
    );
}

#[test]
fn imports_the_file_has_elsewhere_are_dropped_from_a_rewrite() {
    let answer = "from typing import List\nimport os\n\n\ndef f(xs: List[int]) -> int:\n    return len(xs)\n";
    let elsewhere = "from typing import List\n\n\n\ndef g():\n    import os\n";
    assert_eq!(
        without_existing_imports(Language::Python, answer, elsewhere),
        "import os\n\n\ndef f(xs: List[int]) -> int:\n    return len(xs)\n"
    );
    // Nothing dropped: the code as it was.
    assert_eq!(
        without_existing_imports(Language::Python, answer, "import sys\n"),
        answer
    );
    assert_eq!(
        without_existing_imports(
            Language::Rust,
            "use std::fmt;\n\nfn a() {}\n",
            "use std::fmt;\nfn b() {}\n"
        ),
        "fn a() {}\n"
    );
}

#[test]
fn failing_python_tests_are_cut_with_their_decorators() {
    let code = "import pytest\n\n\ndef test_a():\n    assert f(1) == 1\n\n\n@pytest.mark.parametrize(\"x\", [1, 2])\ndef test_b(x):\n    assert f(x)\n\n\nclass TestF:\n    def test_c(self):\n        assert f(0) == 0\n\n    def test_d(self):\n        assert f(3) == 3\n\n\ndef test_e():\n    assert True\n";
    expect![[r#"
        import pytest


        def test_a():
            assert f(1) == 1


        class TestF:
            def test_c(self):
                assert f(0) == 0


        def test_e():
            assert True"#]]
    .assert_eq(&without_python_tests(
        code,
        &["test_b", "TestF.test_d", "test_missing"],
    ));
    assert_eq!(without_python_tests(code, &[]), code.trim_end());
}

#[test]
fn python_tests_cut_short_keep_the_finished_ones() {
    let cut = "import pytest\n\ndef test_a():\n    assert f(1) == 1\n\n@pytest.mark.skip\ndef test_b():\n    assert f(2) ==";
    assert_eq!(
        complete_python_tests(cut).as_deref(),
        Some("import pytest\n\ndef test_a():\n    assert f(1) == 1")
    );
    // Within one long test: its finished lines.
    assert_eq!(
        complete_python_tests("def test_a():\n    assert f(1)\n    assert f(2)\n    assert f(")
            .as_deref(),
        Some("def test_a():\n    assert f(1)\n    assert f(2)")
    );
    assert_eq!(complete_python_tests("def test_a():\n    assert f("), None);
    // A cut inside a bracket left open on an earlier line: back to whole definitions.
    let open =
        "def test_a():\n    assert f(1)\n\ndef test_b():\n    xs = [\n        1,\n        2,";
    assert_eq!(
        complete_python_tests(open).as_deref(),
        Some("def test_a():\n    assert f(1)")
    );
    let in_class = "class TestF:\n    def test_a(self):\n        assert f(1)\n\n    def test_b(self):\n        assert f(";
    assert_eq!(
        complete_python_tests(in_class).as_deref(),
        Some("class TestF:\n    def test_a(self):\n        assert f(1)")
    );
}

#[test]
fn a_test_of_only_asserts_is_split_into_one_test_each() {
    let code = "import pytest\n\ndef test_even():\n    # normal cases\n    assert is_even(4) == True, \"4\"\n    assert is_even(1) == True\n\n\ndef test_one():\n    assert is_even(2)\n\n\ndef test_setup():\n    x = 2\n    assert is_even(x)\n    assert not is_even(x + 1)\n";
    expect![[r#"
        import pytest

        def test_even_1():
            assert is_even(4) == True, "4"


        def test_even_2():
            assert is_even(1) == True


        def test_one():
            assert is_even(2)


        def test_setup():
            x = 2
            assert is_even(x)
            assert not is_even(x + 1)
    "#]]
    .assert_eq(&split_assert_tests(code));
}

#[test]
fn a_fix_without_explanation_is_described_by_the_lines_it_changed() {
    let old = "def f(s):\n    x = 1\n    return ' '.join(s)\n";
    let d = |new: &str| describe_change("function", 9, old, new);
    expect![[r#"
        [
            "The corrected function: line 12 `return ' '.join(s)` became `return ''.join(s)`.",
            "The corrected function: lines 11-12 `x = 1`, `return ' '.join(s)` became `return s`.",
            "The corrected function: added after line 11: `assert s`.",
            "The corrected function: removed line 11: `x = 1`.",
            "The corrected function.",
        ]
    "#]]
    .assert_debug_eq(&[
        d("def f(s):\n    x = 1\n    return ''.join(s)\n"),
        d("def f(s):\n    return s\n"),
        d("def f(s):\n    x = 1\n    assert s\n    return ' '.join(s)\n"),
        d("def f(s):\n    return ' '.join(s)\n"),
        d("def f(s):\n  x = 1\n  return ' '.join(s)\n"),
    ]);
}

#[test]
fn a_rewrite_of_comments_docstrings_and_layout_is_the_same_code() {
    let original = "def f(xs):\n    \"\"\"Sum.\"\"\"\n    # add up\n    t = 0\n    for x in xs:\n        t += x\n    return t\n";
    let relaid = "def f(xs):\n    \"\"\"The sum of xs.\"\"\"\n    t = 0\n    for x in xs:  # each\n        t  +=  x\n\n    return t\n";
    let renamed = "def f(xs):\n    \"\"\"Sum.\"\"\"\n    total = 0\n    for x in xs:\n        total += x\n    return total\n";
    assert!(same_code(Language::Python, original, relaid));
    assert!(!same_code(Language::Python, original, renamed));
    assert!(!same_code(
        Language::Python,
        original,
        "def f(xs):\n    return sum(xs)\n"
    ));
    // A string that is a value is code.
    assert!(!same_code(
        Language::Python,
        "def g():\n    return 'a'\n",
        "def g():\n    return 'b'\n"
    ));
    let rust = "fn f(x: i32) -> i32 {\n    // twice\n    x * 2\n}\n";
    assert!(same_code(
        Language::Rust,
        rust,
        "/// Twice.\nfn f(x: i32) -> i32 { x * 2 }\n"
    ));
    assert!(!same_code(
        Language::Rust,
        rust,
        "fn f(x: i32) -> i32 {\n    x + x\n}\n"
    ));
}

#[test]
fn a_repair_inside_the_target_becomes_an_answer_with_the_target_code() {
    let source = "import os\n\nclass A:\n    def f(self, x):\n        return x > 1\n\nZ = 1\n";
    let repaired = source.replace("x > 1", "x >= 1");
    let start = source.find("    def f").unwrap();
    let end = source.find("\n\nZ").unwrap();
    let answer = repair_answer(Language::Python, source, &repaired, start, end, "Why.").unwrap();
    expect![[r#"
        ```python
        def f(self, x):
            return x >= 1
        ```

        Why."#]]
    .assert_eq(&answer);
    let parts = split_answer(&answer);
    assert_eq!(parts.prose.trim(), "Why.");
    // A change outside the target is not this target's fix.
    let outside = source.replace("Z = 1", "Z = 2");
    assert_eq!(
        repair_answer(Language::Python, source, &outside, start, end, "Why."),
        None
    );
    let before = source.replace("import os", "import sys");
    assert_eq!(
        repair_answer(Language::Python, source, &before, start, end, "Why."),
        None
    );
}

#[test]
fn the_function_of_a_selection_is_the_one_around_it_or_starting_on_its_line() {
    let text = "import os\n\n\ndef f(x):\n    y = x + 1\n    return y\n\n\nZ = 1\n";
    let tree = nib_syntax::parse(Language::Python, text).unwrap();
    let at = |needle: &str| function_at(Language::Python, &tree, text, text.find(needle).unwrap());
    assert_eq!(at("def f").as_deref(), Some("f"));
    assert_eq!(at("    y = x").as_deref(), Some("f"));
    assert_eq!(at("import os"), None);
    assert_eq!(at("Z = 1"), None);
}

#[test]
fn a_renamed_function_gets_its_name_back() {
    let renamed = "def is_right(a, b, c):\n    \"\"\"is_right(3, 4, 5) == True\"\"\"\n    return is_right(b, a, c) if a > b else a * a + b * b == c * c\n";
    expect![[r#"
        def right_angle_triangle(a, b, c):
            """right_angle_triangle(3, 4, 5) == True"""
            return right_angle_triangle(b, a, c) if a > b else a * a + b * b == c * c
    "#]]
    .assert_eq(&with_name(Language::Python, renamed, "right_angle_triangle").unwrap());
    let decorated = "@cache\ndef g(n):\n    return n if n < 2 else g(n - 1) + self.g\n";
    assert_eq!(
        with_name(Language::Python, decorated, "fib").as_deref(),
        Some("@cache\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + self.g\n")
    );
    let rust = "pub fn total(xs: &[u32]) -> u32 {\n    xs.iter().sum()\n}\n";
    assert_eq!(
        with_name(Language::Rust, rust, "sum_all").as_deref(),
        Some("pub fn sum_all(xs: &[u32]) -> u32 {\n    xs.iter().sum()\n}\n")
    );
    // Nothing to do: the same name; two functions; the old name already used; not code.
    assert_eq!(
        with_name(Language::Python, "def f(x):\n    return x\n", "f"),
        None
    );
    assert_eq!(
        with_name(
            Language::Python,
            "def g(x):\n    return h(x)\n\ndef h(x):\n    return x\n",
            "f"
        ),
        None
    );
    assert_eq!(
        with_name(Language::Python, "def g(x):\n    return f(x) + 1\n", "f"),
        None
    );
    assert_eq!(with_name(Language::Python, "x = 1\n", "f"), None);
    assert_eq!(
        only_function(
            Language::Python,
            "import os\n\n@cache\ndef f(x):\n    return x\n"
        )
        .as_deref(),
        Some("f")
    );
    assert_eq!(
        only_function(
            Language::Python,
            "class A:\n    def f(self):\n        pass\n"
        ),
        None
    );
}

const SHOP: &str = "from dataclasses import dataclass\n\nRATE = 2\n\n\n@dataclass\nclass Item:\n    name: str\n    price: float = 0.0\n\n    def total(self, n):\n        return self.price * n\n\n\nclass Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, item):\n        self.items.append(item)\n        return self\n\n    def total(self):\n        return sum(i.price for i in self.items)\n";

#[test]
fn a_method_knows_its_class_and_how_the_class_is_built() {
    let owner = |text: &str, needle: &str, lang: Language| {
        let tree = nib_syntax::parse(lang, text).unwrap();
        let at = text.find(needle).unwrap();
        let t = target(CodeActionKind::Tests, lang, Some(&tree), text, at, at).unwrap();
        t.owner.map(|o| {
            let (built, others) = owner_summary(
                &o.name,
                &dedent(&text[o.start..o.end]),
                t.name.as_deref().unwrap(),
            );
            format!("{} {:?} {}: {built} {others:?}", t.what, t.name, o.name)
        })
    };
    expect![[r#"
        [
            Some(
                "method Some(\"total\") Item: Item(name: str, price: float = 0.0) []",
            ),
            Some(
                "method Some(\"total\") Cart: Cart() [\"add(item)\"]",
            ),
            None,
            Some(
                "method Some(\"area\") Square:  [\"Square::new(side: u32) -> Self\"]",
            ),
        ]
    "#]]
    .assert_debug_eq(&[
        owner(SHOP, "self.price * n", Language::Python),
        owner(SHOP, "sum(i.price", Language::Python),
        owner(PY, "n + 1", Language::Python),
        owner(
            "struct Square { side: u32 }\n\nimpl Square {\n    pub fn new(side: u32) -> Self {\n        Square { side }\n    }\n\n    fn area(&self) -> u32 {\n        self.side * self.side\n    }\n}\n",
            "self.side *",
            Language::Rust,
        ),
    ]);
}

#[test]
fn tests_of_a_method_import_its_class_and_what_else_they_use_from_the_module() {
    assert_eq!(top_level_names(SHOP), ["RATE", "Item", "Cart"]);
    let tests = "def helper():\n    return Cart()\n\ndef test_total():\n    c = helper().add(Item('a', 2.0))\n    assert c.total() == 2.0\n\nclass Cart2: pass\n";
    assert_eq!(tests_imports(SHOP, tests, "Cart"), ["Cart", "Item"]);
    // A name the tests define themselves is not imported.
    assert_eq!(
        tests_imports(SHOP, "RATE = 3\ndef test_r():\n    assert Cart()\n", "Cart"),
        ["Cart"]
    );
    assert_eq!(
        imported("from shop import (Cart, Item as I)"),
        ["Cart", "Item"]
    );
    assert_eq!(imported("import os.path, sys"), ["os.path", "sys"]);
    assert!(imported("x = 1").is_empty());
    // The model's own import of the class (from a module it guessed) goes; others stay.
    let names = top_level_names(SHOP);
    assert_eq!(
        tests_from_code(
            Language::Python,
            "import pytest\nfrom my_module import Cart\nfrom shop import Item, RATE\n\ndef test_a():\n    assert Cart().total() == 0\n",
            &names
        )
        .as_deref(),
        Some("import pytest\n\ndef test_a():\n    assert Cart().total() == 0")
    );
}

#[test]
fn the_tests_prompt_of_a_method_shows_its_class() {
    let t = Target {
        start: 0,
        end: 0,
        name: Some("total".into()),
        what: "method",
        indent: String::new(),
        owner: Some(Owner {
            name: "Cart".into(),
            start: 0,
            end: 0,
        }),
    };
    let input = PromptInput {
        kind: CodeActionKind::Tests,
        lang: Language::Python,
        path: "shop.py",
        code: "def total(self):\n    return sum(i.price for i in self.items)",
        target: &t,
        context: &[],
        errors: &[],
        prompt: None,
        framework: Some(Framework::Pytest),
        owner_code: Some("class Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, item):\n        self.items.append(item)"),
        owner_uses: &["Item(name: str, price: float = 0.0)".to_string()],
        before: "",
        after: "",
        previous: None,
    };
    let (m, _) = action_messages(&input, &ApproxTokenCounter, 10_000);
    expect![[r#"
        Write unit tests for this method `total` from `shop.py` with pytest: plain `test_` functions using `assert`. Cover normal cases and edge cases (empty input, boundaries, errors). Each test must pass on this code as it is. Do not repeat the method itself; answer with the tests in one ```python code block.

        ```python
        def total(self):
            return sum(i.price for i in self.items)
        ```

        It is a method of `Cart`: each test builds a `Cart`, calls `.total(...)` on it and checks the result; never call `total` alone, and do not repeat `Cart`. Write one short test function per case, using only the methods named here. A `Cart` is built as `Cart()`. Its other methods: `add(item)`. Other classes it uses are built as `Item(name: str, price: float = 0.0)`."#]]
    .assert_eq(&m[1].content);
}

#[test]
fn a_failing_test_is_cut_before_the_statement_that_failed() {
    let code = "import pytest\n\ndef test_a():\n    c = Cart()\n    assert c.total() == 0\n    # more\n    d = 2\n    c.add_items([d])\n    assert c.total() == 1\n\n\ndef test_b():\n    assert f(1)\n\n\nclass TestC:\n    def test_m(self):\n        x = 1\n        self.assertEqual(x, 1)\n        for i in range(2):\n            assert i < 1\n";
    // Line 6 (`c.add_items`) failed: the test keeps the statements up to the check before it.
    expect![[r#"
        import pytest

        def test_a():
            c = Cart()
            assert c.total() == 0


        def test_b():
            assert f(1)


        class TestC:
            def test_m(self):
                x = 1
                self.assertEqual(x, 1)
                for i in range(2):
                    assert i < 1
    "#]]
    .assert_eq(&cut_python_test(code, "test_a", 8).unwrap());
    // A method of a test class, before its loop.
    let m = cut_python_test(code, "TestC.test_m", 20).unwrap();
    assert!(m.ends_with("        self.assertEqual(x, 1)\n"), "{m}");
    // Inside the loop: not a statement of the test's own body.
    assert_eq!(cut_python_test(code, "TestC.test_m", 21), None);
    // No check before the failing statement, another test's line, an unknown test.
    assert_eq!(cut_python_test(code, "test_b", 13), None);
    assert_eq!(cut_python_test(code, "test_a", 4), None);
    assert_eq!(cut_python_test(code, "test_a", 13), None);
    assert_eq!(cut_python_test(code, "test_z", 8), None);
}

#[test]
fn a_rewrite_of_a_documented_function_starts_with_its_signature_and_docstring() {
    let code = "@cache\ndef f(xs):\n    \"\"\"Sum.\n\n    >>> f([1])\n    1\n    \"\"\"\n    return sum(xs)\n";
    let start = |kind, code| answer_start(kind, Language::Python, code);
    expect![[r#"
        Some(
            "```python\n@cache\ndef f(xs):\n    \"\"\"Sum.\n\n    >>> f([1])\n    1\n    \"\"\"\n",
        )
    "#]]
    .assert_debug_eq(&start(CodeActionKind::Refactor, code));
    assert_eq!(
        start(CodeActionKind::Fix, code),
        start(CodeActionKind::Refactor, code)
    );
    // Other actions write something else; code without a docstring or not starting with a
    // function is the model's to write whole.
    assert_eq!(start(CodeActionKind::Tests, code), None);
    assert_eq!(start(CodeActionKind::Explain, code), None);
    assert_eq!(
        start(CodeActionKind::Refactor, "def f(xs):\n    return sum(xs)\n"),
        None
    );
    assert_eq!(
        start(
            CodeActionKind::Refactor,
            "x = 1\ndef f():\n    \"\"\"Doc.\"\"\"\n    return x\n"
        ),
        None
    );
    assert_eq!(
        start(
            CodeActionKind::Refactor,
            "class A:\n    \"\"\"Doc.\"\"\"\n    x = 1\n"
        ),
        None
    );
    // A docstring with code after it on its line, or nothing after it at all.
    assert_eq!(
        start(
            CodeActionKind::Refactor,
            "def f():\n    \"\"\"Doc.\"\"\"; return 1\n"
        ),
        None
    );
    assert_eq!(
        start(CodeActionKind::Refactor, "def f():\n    \"\"\"Doc.\"\"\""),
        None
    );
    assert_eq!(
        answer_start(
            CodeActionKind::Refactor,
            Language::Rust,
            "/// Doc.\nfn f() {}\n"
        ),
        None
    );
}

#[test]
fn the_prompt_shows_a_long_docstring_the_answer_repeats_by_its_first_line() {
    let doc = "\"\"\"\n    Count the primes among the hexadecimal digits of num.\n\n    >>> hex_key(\"AB\")\n    1\n    >>> hex_key(\"1077E\")\n    2\n    >>> hex_key(\"ABED1A33\")\n    4\n    \"\"\"";
    let code =
        format!("def hex_key(num):\n    {doc}\n    return sum(c in '2357BD' for c in num)\n");
    let shortened = shortened_docstring(CodeActionKind::Refactor, Language::Python, &code);
    expect![[r#"
        Some(
            (
                "\"\"\"\n    Count the primes among the hexadecimal digits of num.\n\n    >>> hex_key(\"AB\")\n    1\n    >>> hex_key(\"1077E\")\n    2\n    >>> hex_key(\"ABED1A33\")\n    4\n    \"\"\"",
                "\"\"\"Count the primes among the hexadecimal digits of num. ...\"\"\"",
            ),
        )
    "#]]
    .assert_debug_eq(&shortened);
    // The text replaced is the answer start's docstring, as it stands there.
    let start = answer_start(CodeActionKind::Fix, Language::Python, &code).unwrap();
    assert!(start.contains(&shortened.unwrap().0));
    // Other quotes and prefixes are kept.
    let raw = code.replace(doc, &format!("r'''{}'''", &doc[3..doc.len() - 3]));
    let (_, short) = shortened_docstring(CodeActionKind::Fix, Language::Python, &raw).unwrap();
    assert_eq!(
        short,
        "r'''Count the primes among the hexadecimal digits of num. ...'''"
    );
    // A short docstring, another action, or no answer start: nothing is shortened.
    let short_doc = "def f(xs):\n    \"\"\"Sum of xs.\"\"\"\n    return sum(xs)\n";
    assert_eq!(
        shortened_docstring(CodeActionKind::Refactor, Language::Python, short_doc),
        None
    );
    assert_eq!(
        shortened_docstring(CodeActionKind::Explain, Language::Python, &code),
        None
    );
    assert_eq!(
        shortened_docstring(
            CodeActionKind::Refactor,
            Language::Python,
            &format!("x = 1\n{code}")
        ),
        None
    );
}

#[test]
fn rust_tests_cut_short_keep_their_complete_functions() {
    let cut = "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn one() {\n        assert_eq!(largest(&[1]), Some(1));\n    }\n\n    #[test]\n    fn two() {\n        assert_eq!(largest(&[1, 2]), Some(2));\n    }\n\n    #[test]\n    fn three() {\n        assert_eq!(largest(&[";
    let whole = complete_rust_tests(cut).unwrap();
    assert!(whole.ends_with("Some(2));\n    }\n}"), "{whole}");
    assert_eq!(syntax_errors(Language::Rust, &whole), 0, "{whole}");
    assert_eq!(
        tests_from_code(Language::Rust, &whole, &[]).unwrap(),
        "#[test]\nfn one() {\n    assert_eq!(largest(&[1]), Some(1));\n}\n\n#[test]\nfn two() {\n    assert_eq!(largest(&[1, 2]), Some(2));\n}"
    );
    // Bare functions, the last one cut.
    let bare = "#[test]\nfn one() {\n    assert!(true);\n}\n\n#[test]\nfn two() {\n    assert";
    assert_eq!(
        complete_rust_tests(bare).as_deref(),
        Some("#[test]\nfn one() {\n    assert!(true);\n}")
    );
    // Nothing complete: nothing kept.
    assert_eq!(complete_rust_tests("#[test]\nfn one() {\n    assert"), None);
}

#[test]
fn an_explanation_cut_short_ends_on_its_last_complete_line() {
    let cut = "The function counts primes.\n\n### Inputs:\n- `num`: a hex string.\n\n### Surprising:\n- It ret";
    assert_eq!(
        complete_explanation(cut),
        "The function counts primes.\n\n### Inputs:\n- `num`: a hex string."
    );
    // A heading or an empty list item the cut left with nothing under it goes too.
    assert_eq!(
        complete_explanation("It sorts `xs`.\n\n**Edge cases:**\n- \n-"),
        "It sorts `xs`."
    );
    // No complete line: the text as it is.
    assert_eq!(
        complete_explanation("It sorts `xs` in pla"),
        "It sorts `xs` in pla"
    );
    assert_eq!(complete_explanation("### Inputs:\n- x"), "### Inputs:\n- x");
}

#[test]
fn a_python_tests_answer_starts_with_its_first_test() {
    assert_eq!(
        tests_answer_start(Language::Python, Framework::Pytest).as_deref(),
        Some("```python\nimport pytest\n\n\ndef test")
    );
    let unittest = tests_answer_start(Language::Python, Framework::Unittest).unwrap();
    assert!(
        unittest.ends_with("import unittest\n\n\nclass Test"),
        "{unittest}"
    );
    // The start joins an answer to a whole tests file.
    let answer = format!("{unittest}Clamp(unittest.TestCase):\n    def test_low(self):\n        self.assertEqual(clamp(-1, 0, 9), 0)\n```\n");
    let parts = split_answer(&answer);
    let code = parts.code.unwrap();
    assert!(
        code.starts_with("import unittest\n\n\nclass TestClamp(unittest.TestCase):"),
        "{code}"
    );
    assert_eq!(syntax_errors(Language::Python, &code), 0);
    assert_eq!(
        tests_answer_start(Language::Rust, Framework::RustModule),
        None
    );
}

#[test]
fn a_rewrite_cut_short_is_completed_from_the_original_where_it_copies_it() {
    let original = "def f(xs):\n    total = 0\n    for x in xs:\n        if x > 0:\n            total += x\n\n        else:\n            total -= 1\n    return total";
    // The fix changed the comparison, then copied two lines; the cut came inside the third.
    let cut = "def f(xs):\n    total = 0\n    for x in xs:\n        if x >= 0:\n            total += x\n\n        else:\n            tot";
    let done = complete_from_original(original, cut).expect("completed");
    assert_eq!(
        done.code,
        "def f(xs):\n    total = 0\n    for x in xs:\n        if x >= 0:\n            total += x\n\n        else:\n            total -= 1\n    return total"
    );
    assert_eq!(done.copied_lines, 2);
    // One line copied since the change is not enough to place the cut.
    let one = "def f(xs):\n    total = 0\n    for x in xs:\n        if x >= 0:\n            total += x\n        e";
    assert_eq!(complete_from_original(original, one), None);
    // The last lines still being written differ from the original: no guess.
    let diverging = "def f(xs):\n    total = 0\n    for x in xs:\n        total += abs(x)\n    ret";
    assert_eq!(complete_from_original(original, diverging), None);
    // The answer copied everything: nothing to complete (it might have gone on).
    let all = format!("{original}\n    ");
    assert_eq!(complete_from_original(original, &all), None);
}

#[test]
fn a_cut_rewrite_is_placed_by_more_lines_when_two_fit_twice() {
    let original = "def g(a, b):\n    if a > 1:\n        x = 1\n        return x\n    if b:\n        y = 2\n        x = 1\n        return x\n    return 0";
    // `x = 1` and `return x` fit twice; with the line before them, once.
    let cut = "def g(a, b):\n    if a >= 1:\n        x = 1\n        return x\n    if b:\n        y = 2\n        x = 1\n        return x\n    re";
    let done = complete_from_original(original, cut).expect("placed by three lines");
    assert!(
        done.code.ends_with("    if a >= 1:\n        x = 1\n        return x\n    if b:\n        y = 2\n        x = 1\n        return x\n    return 0"),
        "{}",
        done.code
    );
    assert_eq!(done.copied_lines, 1);
    // The third line is the answer's own: the place stays ambiguous, no guess.
    let ambiguous = "def g(a, b):\n    if a > 1:\n        x = 1\n        return x\n    if c:\n        x = 1\n        return x\n    re";
    assert_eq!(complete_from_original(original, ambiguous), None);
}

#[test]
fn a_function_left_with_its_docstring_alone_has_an_empty_body() {
    let py = |c| empty_body(Language::Python, c);
    assert_eq!(py("def f(x):\n    \"\"\"Doc.\"\"\"\n"), Some(true));
    assert_eq!(
        py("def f(x):\n    \"\"\"Doc.\"\"\"\n    # todo\n    pass\n"),
        Some(true)
    );
    assert_eq!(py("@cache\ndef f(x):\n    ...\n"), Some(true));
    assert_eq!(
        py("def f(x):\n    \"\"\"Doc.\"\"\"\n    return x\n"),
        Some(false)
    );
    assert_eq!(py("x = 1\n"), None);
    let rs = |c| empty_body(Language::Rust, c);
    assert_eq!(rs("fn f() {\n    // later\n}\n"), Some(true));
    assert_eq!(rs("fn f() -> u8 {\n    1\n}\n"), Some(false));
}
