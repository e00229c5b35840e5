//! Fixture tests: `$0` marks the cursor in the document; `UPDATE_EXPECT=1` rewrites.

use expect_test::{expect, Expect};
use nib_postprocess::{decide_mode, process, Input, Language, Mode};

const PY: Option<Language> = Some(Language::Python);
const RS: Option<Language> = Some(Language::Rust);
const TXT: Option<Language> = None;

/// Shows the mode, then each output line after `|` (so leading spaces are visible), `\r` as `␍`.
fn run(lang: Option<Language>, fixture: &str, raw: &str, mode: Option<Mode>) -> String {
    let (prefix, suffix) = fixture.split_once("$0").expect("fixture needs a $0 cursor");
    let mode = mode.unwrap_or_else(|| decide_mode(lang, prefix, suffix));
    let out = process(&Input {
        lang,
        prefix,
        suffix,
        raw,
        mode,
    });
    let mut s = format!("{mode:?}\n");
    match out.dropped {
        Some(reason) => {
            assert_eq!(out.text, "");
            s.push_str(&format!("dropped: {reason:?}\n"));
        }
        None => {
            for line in out.text.split('\n') {
                s.push_str(&format!("|{}\n", line.replace('\r', "␍")));
            }
        }
    }
    s
}

/// Mode from [`decide_mode`].
fn check(lang: Option<Language>, fixture: &str, raw: &str, expect: Expect) {
    expect.assert_eq(&run(lang, fixture, raw, None));
}

fn check_single(lang: Option<Language>, fixture: &str, raw: &str, expect: Expect) {
    expect.assert_eq(&run(lang, fixture, raw, Some(Mode::SingleLine)));
}

fn check_multi(lang: Option<Language>, fixture: &str, raw: &str, expect: Expect) {
    expect.assert_eq(&run(lang, fixture, raw, Some(Mode::MultiLine)));
}

// ---- Python, single line ----

#[test]
fn py_mid_word_before_closer() {
    check(
        PY,
        "print(resu$0)\nx = 1\n",
        "lt)\nx = 1\n",
        expect![[r#"
        SingleLine
        |lt
    "#]],
    );
}

#[test]
fn py_call_args_repeat_closer() {
    check(
        PY,
        "foo($0)\n",
        "a, b)",
        expect![[r#"
        SingleLine
        |a, b
    "#]],
    );
}

#[test]
fn py_nested_call_repeats_both_closers() {
    check(
        PY,
        "print(len($0))\n",
        "items))\nprint(1)",
        expect![[r#"
        SingleLine
        |items
    "#]],
    );
}

#[test]
fn py_inner_call_keeps_own_closer() {
    check(
        PY,
        "print($0)\n",
        "len(items))\n",
        expect![[r#"
        SingleLine
        |len(items)
    "#]],
    );
    check(
        PY,
        "print($0)\n",
        "len(items)",
        expect![[r#"
        SingleLine
        |len(items)
    "#]],
    );
}

#[test]
fn py_string_literal_repeats_quote() {
    check(
        PY,
        "print(\"$0\")\n",
        "hello world\")\n",
        expect![[r#"
        SingleLine
        |hello world
    "#]],
    );
    check(
        PY,
        "name = '$0'\n",
        "bob'\n",
        expect![[r#"
        SingleLine
        |bob
    "#]],
    );
}

#[test]
fn py_tail_equals_suffix() {
    check(
        PY,
        "x = $0 + 1\n",
        "y + 1\n",
        expect![[r#"
        SingleLine
        |y
    "#]],
    );
    // A repeated last word of the suffix's start is cut when it is a whole word.
    check(
        PY,
        "foo($0a)\n",
        "x, a",
        expect![[r#"
        SingleLine
        |x, 
    "#]],
    );
}

#[test]
fn py_mid_word_rewrites_rest_of_word() {
    check(
        PY,
        "x = resu$0lt_of_call\n",
        "lt_of_call\n",
        expect![[r#"
        SingleLine
        dropped: RepeatsSuffix
    "#]],
    );
    check(
        PY,
        "value = compute_$0sum(a)\n",
        "total_sum(a)\n",
        expect![[r#"
        SingleLine
        |total_
    "#]],
    );
}

#[test]
fn py_blank_line_in_body_keeps_first_line() {
    check(
        PY,
        "def f(x):\n    y = x * 2\n    $0\n",
        "return y\n\ndef g():\n    pass\n",
        expect![[r#"
            MultiLine
            |return y
        "#]],
    );
}

#[test]
fn py_leading_newline_at_blank_line_is_reindented() {
    check(
        PY,
        "def f(x):\n    y = 1\n    $0\n",
        "\n    return y\n",
        expect![[r#"
            MultiLine
            |return y
        "#]],
    );
}

#[test]
fn py_leading_newline_after_code_means_nothing_for_this_line() {
    check_single(
        PY,
        "def add(a, b):$0\n",
        "\n    return a + b\n",
        expect![[r#"
        SingleLine
        dropped: Empty
    "#]],
    );
    check(
        PY,
        "x = 1$0\n",
        "\ny = 2\n",
        expect![[r#"
        SingleLine
        dropped: Empty
    "#]],
    );
}

#[test]
fn py_whole_rest_of_file_single_line() {
    check(
        PY,
        "def mean(xs):\n    total = sum(xs)\n    return $0\n\n\nprint(mean([1, 2]))\n",
        "total / len(xs)\n\n\nprint(mean([1, 2]))\n",
        expect![[r#"
            SingleLine
            |total / len(xs)
        "#]],
    );
}

#[test]
fn py_block_header_gets_its_body_in_single_line() {
    // A header alone would leave `return total` as its body: the body line comes along.
    check_single(
        PY,
        "def f(items):\n    total = 0\n    $0\n    return total\n",
        "for x in items:\n        total += x\n    return total\n",
        expect![[r#"
            SingleLine
            |for x in items:
            |        total += x
        "#]],
    );
    // On a blank line of its own the mode is multi-line anyway: the same block.
    check(
        PY,
        "def f(items):\n    total = 0\n    $0\n    return total\n",
        "for x in items:\n        total += x\n    return total\n",
        expect![[r#"
            MultiLine
            |for x in items:
            |        total += x
        "#]],
    );
}

#[test]
fn py_repeats_previous_line() {
    check(
        PY,
        "x = compute(a)\n$0\n",
        "x = compute(a)\n",
        expect![[r#"
            MultiLine
            dropped: RepeatsPrevious
        "#]],
    );
    check(
        PY,
        "    x = compute(a)\n    x = $0\n",
        "compute(a)\n",
        expect![[r#"
        SingleLine
        dropped: RepeatsPrevious
    "#]],
    );
}

#[test]
fn py_repeats_next_line() {
    check(
        PY,
        "def f(a):\n    b = a\n    $0\n    return b\n",
        "return b\n",
        expect![[r#"
            MultiLine
            dropped: RepeatsSuffix
        "#]],
    );
}

#[test]
fn py_comment_only() {
    check(
        PY,
        "def f(x):\n    y = x + 1\n    $0\n",
        "# TODO: handle x\n",
        expect![[r#"
            MultiLine
            dropped: OnlyWhitespaceOrComment
        "#]],
    );
    check(
        PY,
        "def f(x):\n    y = x + 1\n    $0\n",
        "   \n  \n",
        expect![[r#"
            MultiLine
            dropped: Empty
        "#]],
    );
    // Continuing a comment or a block of comment lines is fine.
    check(
        PY,
        "# compute the $0\n",
        "sum of items\nx = 1\n",
        expect![[r#"
        SingleLine
        |sum of items
    "#]],
    );
    check(
        PY,
        "# Steps:\n# 1. read\n$0\n",
        "# 2. parse\n",
        expect![[r#"
            MultiLine
            |# 2. parse
        "#]],
    );
}

#[test]
fn py_unicode() {
    check(
        PY,
        "greeting = \"héllo $0\"\n",
        "wörld 🌍\"\nprint(greeting)\n",
        expect![[r#"
        SingleLine
        |wörld 🌍
    "#]],
    );
    check(
        PY,
        "données = [1, 2]\nrésultat = $0\n",
        "sum(données)\n",
        expect![[r#"
        SingleLine
        |sum(données)
    "#]],
    );
}

#[test]
fn py_space_after_equals_not_doubled() {
    check(
        PY,
        "x = $0\n",
        " 42\n",
        expect![[r#"
        SingleLine
        |42
    "#]],
    );
}

#[test]
fn py_excess_and_mismatched_closers() {
    check(
        PY,
        "x = $0\n",
        "compute(a))\n",
        expect![[r#"
        SingleLine
        |compute(a)
    "#]],
    );
    check(
        PY,
        "x = [1, 2, $0]\n",
        "3)]\n",
        expect![[r#"
        SingleLine
        |3
    "#]],
    );
    check(
        PY,
        "print($0)\n",
        "a, b))",
        expect![[r#"
        SingleLine
        |a, b
    "#]],
    );
}

#[test]
fn py_syntax_error_is_dropped_but_partial_line_kept() {
    check(
        PY,
        "x = foo($0)\n",
        "a +)\n",
        expect![[r#"
        SingleLine
        dropped: IntroducesSyntaxError
    "#]],
    );
    check(
        PY,
        "x = foo($0\n",
        "a, b\n",
        expect![[r#"
        SingleLine
        |a, b
    "#]],
    );
    check(
        PY,
        "result = $0\n",
        "foo(\n",
        expect![[r#"
        SingleLine
        |foo(
    "#]],
    );
}

#[test]
fn py_docstring() {
    check(
        PY,
        "def f():\n    \"\"\"$0\"\"\"\n",
        "Return the answer.\"\"\"\n    return 42\n",
        expect![[r#"
        SingleLine
        |Return the answer.
    "#]],
    );
}

// ---- Python, multi line ----

#[test]
fn py_after_colon_body_then_rest_of_file() {
    check(
        PY,
        "def add(a, b):$0\n",
        "\n    return a + b\n\n\nprint(add(1, 2))\n",
        expect![[r#"
        MultiLine
        |
        |    return a + b
    "#]],
    );
}

#[test]
fn py_blank_line_after_colon() {
    check(
        PY,
        "def add(a, b):\n    $0\n\nprint(add(1, 2))\n",
        "return a + b\n\n\nprint(add(1, 2))\n",
        expect![[r#"
            MultiLine
            |return a + b
        "#]],
    );
}

#[test]
fn py_multi_cut_at_suffix_line() {
    check_multi(
        PY,
        "def f(items):\n    total = 0\n    $0\n    return total\n",
        "for x in items:\n        total += x\n    return total\n",
        expect![[r#"
            MultiLine
            |for x in items:
            |        total += x
        "#]],
    );
}

#[test]
fn py_multi_dedent_ends_method() {
    check(
        PY,
        "class A:\n    def f(self):\n        $0\n",
        "x = 1\n        return x\n\n    def g(self):\n        pass\n",
        expect![[r#"
            MultiLine
            |x = 1
            |        return x
        "#]],
    );
}

#[test]
fn py_multi_nested_block_and_brackets_kept() {
    check(
        PY,
        "def f(xs):$0\n",
        "\n    out = [\n  x\n        for x in xs\n    ]\n    if out:\n        return out\n    return None\nf([])\n",
        expect![[r#"
            MultiLine
            |
            |    out = [
            |  x
            |        for x in xs
            |    ]
            |    if out:
            |        return out
            |    return None
        "#]],
    );
}

#[test]
fn py_multi_repeats_suffix_at_once() {
    check(
        PY,
        "def f():\n    $0\n    return 1\n",
        "return 1\n",
        expect![[r#"
        MultiLine
        dropped: RepeatsSuffix
    "#]],
    );
}

#[test]
fn py_multi_repeated_lines_loop() {
    check_multi(
        PY,
        "def f():\n$0",
        "    x = 1\n    x = 1\n    x = 1\n",
        expect![[r#"
        MultiLine
        |    x = 1
    "#]],
    );
}

#[test]
fn py_multi_open_call_closed_by_suffix() {
    check_multi(
        PY,
        "x = foo($0)\n",
        "\n    a,\n    b)\ny = 2\n",
        expect![[r#"
        MultiLine
        |
        |    a,
        |    b
        |
    "#]],
    );
}

#[test]
fn py_multi_trailing_header_without_body_is_cut() {
    check(
        PY,
        "def f(x):$0\n",
        "\n    y = x + 1\n    if y:\n",
        expect![[r#"
            MultiLine
            |
            |    y = x + 1
        "#]],
    );
}

#[test]
fn py_crlf_document() {
    check_multi(
        PY,
        "def f():\r\n    x = 1\r\n    $0\r\n    return x\r\n",
        "y = x\r\n    z = y\r\n    return x\r\n",
        expect![[r#"
            MultiLine
            |y = x␍
            |    z = y
        "#]],
    );
    check(
        PY,
        "x = [1,\r\n     $0]\r\n",
        "2]\r\n",
        expect![[r#"
        SingleLine
        |2
    "#]],
    );
}

// ---- Rust ----

#[test]
fn rs_after_brace_in_empty_body() {
    check(
        RS,
        "fn main() {$0}\n",
        "\n    println!(\"hi\");\n}\n\nfn other() {}\n",
        expect![[r#"
        MultiLine
        |
        |    println!("hi");
        |
    "#]],
    );
}

#[test]
fn rs_blank_line_in_body() {
    check(
        RS,
        "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n",
        "a + b\n}\n\nfn main() {}\n",
        expect![[r#"
            MultiLine
            |a + b
        "#]],
    );
}

#[test]
fn rs_nested_blocks_kept_enclosing_brace_cut() {
    check(
        RS,
        "fn f(x: Option<i32>) -> i32 {\n    $0\n}\n",
        "match x {\n        Some(v) => v,\n        None => 0,\n    }\n}\n\nfn g() {}\n",
        expect![[r#"
            MultiLine
            |match x {
            |        Some(v) => v,
            |        None => 0,
            |    }
        "#]],
    );
}

#[test]
fn rs_block_closed_by_completion_when_suffix_does_not() {
    check(
        RS,
        "fn f() {$0",
        "\n    1\n}\nfn g() {}\n",
        expect![[r#"
        MultiLine
        |
        |    1
        |}
    "#]],
    );
    check(
        RS,
        "fn f() {\n    let x = 1;\n$0",
        "}\n",
        expect![[r#"
            MultiLine
            |}
        "#]],
    );
}

#[test]
fn rs_mid_line_repeats_suffix() {
    check(
        RS,
        "let v = vec![1, 2, $0];\n",
        "3];\nlet w = 1;\n",
        expect![[r#"
        SingleLine
        |3
    "#]],
    );
    check(
        RS,
        "println!(\"{}\", $0);\n",
        "x);",
        expect![[r#"
        SingleLine
        |x
    "#]],
    );
    check(
        RS,
        "let s = \"$0\";\n",
        "hello\";\n",
        expect![[r#"
        SingleLine
        |hello
    "#]],
    );
    check(
        RS,
        "let c = '$0';\n",
        "a';\n",
        expect![[r#"
        SingleLine
        |a
    "#]],
    );
}

#[test]
fn rs_lifetimes_do_not_confuse_brackets() {
    check(
        RS,
        "fn f<'a>(x: &'a str) -> &'a str {\n    $0\n}\n",
        "x\n}\n",
        expect![[r#"
        MultiLine
        |x
    "#]],
    );
}

#[test]
fn rs_comment_only_and_repeat() {
    check(
        RS,
        "fn f() {\n    let x = 1;\n    $0\n}\n",
        "// done\n",
        expect![[r#"
            MultiLine
            dropped: OnlyWhitespaceOrComment
        "#]],
    );
    check(
        RS,
        "fn f(v: &mut Vec<i32>) {\n    v.push(1);\n    $0\n}\n",
        "v.push(1);\n",
        expect![[r#"
            MultiLine
            dropped: RepeatsPrevious
        "#]],
    );
}

#[test]
fn rs_syntax_error_dropped() {
    check(
        RS,
        "fn f() {\n    foo($0);\n}\n",
        "a b);\n",
        expect![[r#"
        SingleLine
        dropped: IntroducesSyntaxError
    "#]],
    );
    // The line already had an error: a completion that keeps it is not blamed.
    check(
        RS,
        "fn f() {\n    let x = $0\n}\n",
        "compute(1)\n",
        expect![[r#"
        SingleLine
        |compute(1)
    "#]],
    );
}

#[test]
fn rs_whole_rest_of_file_single() {
    check(
        RS,
        "fn f(v: &[i32]) -> i32 {\n    let s: i32 = v.iter().$0\n    s\n}\n",
        "sum();\n    s\n}\n",
        expect![[r#"
            SingleLine
            |sum();
        "#]],
    );
}

// ---- plain text ----

#[test]
fn txt_first_line_and_closer() {
    check(
        TXT,
        "Hello $0",
        "world\nmore text\n",
        expect![[r#"
        SingleLine
        |world
    "#]],
    );
    check(
        TXT,
        "see (page $0)",
        "12)",
        expect![[r#"
        SingleLine
        |12
    "#]],
    );
}

#[test]
fn py_statement_where_a_header_belongs_is_dropped() {
    // tree-sitter accepts `return d` followed by a deeper line; Python does not.
    check(
        PY,
        "def f(s):\n    for c in s:\n        if c == '(':\n            d += 1\n$0            d -= 1\n    return d\n",
        "    return d\n",
        expect![[r#"
        SingleLine
        dropped: BreaksIndentation
    "#]],
    );
    // The header the next line needs is kept.
    check(
        PY,
        "def f(s):\n    for c in s:\n        if c == '(':\n            d += 1\n$0            d -= 1\n    return d\n",
        "        else:\n",
        expect![[r#"
            SingleLine
            |        else:
            |
        "#]],
    );
    // A dedent that matches no enclosing block: the header one level too shallow.
    check(
        PY,
        "def f(g):\n    for i in g:\n        if i:\n            t = []\n            if i > 1:\n                t.append(1)\n\n$0\n                t.append(2)\n\n            v = min(t)\n",
        "        if i > 2:\n",
        expect![[r#"
            MultiLine
            dropped: BreaksIndentation
        "#]],
    );
}

// ---- Noise: a trailing comment after a complete statement, only closers ----

#[test]
fn py_trailing_comment_after_a_header_is_dropped() {
    check(
        PY,
        "if x:\n    a = 1\nelse:$0\n",
        "  # EOF\n",
        expect![[r#"
        MultiLine
        dropped: OnlyWhitespaceOrComment
    "#]],
    );
}

#[test]
fn py_trailing_comment_before_the_body_goes_the_body_stays() {
    check(
        PY,
        "class R:\n    def read_token(self):$0\n        pass\n",
        "  # read a token from the input stream\n        return self.next()\n",
        expect![[r#"
        MultiLine
        |
        |        return self.next()
    "#]],
    );
    check(
        RS,
        "fn f() {$0\n}\n",
        " // start\n    let x = 1;\n",
        expect![[r#"
        MultiLine
        |
        |    let x = 1;
    "#]],
    );
}

#[test]
fn trailing_comment_after_a_statement_is_dropped() {
    check(
        PY,
        "x = compute(a, b)$0\ny = 2\n",
        "  # the sum\ny = 2",
        expect![[r#"
        SingleLine
        dropped: OnlyWhitespaceOrComment
    "#]],
    );
    check(
        RS,
        "fn f() {\n    let x = g(a);$0\n}\n",
        " // done\n}",
        expect![[r#"
        SingleLine
        dropped: OnlyWhitespaceOrComment
    "#]],
    );
}

#[test]
fn a_comment_being_written_goes_on() {
    check(
        PY,
        "x = compute(a, b)  # total$0\n",
        " of both\n",
        expect![[r#"
        SingleLine
        | of both
    "#]],
    );
}

#[test]
fn closers_the_suffix_already_has_are_dropped() {
    check(
        RS,
        "fn f() {\n    let x = g(a$0);\n}\n",
        ");",
        expect![[r#"
        SingleLine
        dropped: RepeatsSuffix
    "#]],
    );
    check(
        RS,
        "fn f() {\n    if a {\n        b();$0\n    }\n}\n",
        "\n    }",
        expect![[r#"
        SingleLine
        dropped: Empty
    "#]],
    );
    // Closers the line needs stay.
    check(
        RS,
        "fn f() {\n    let x = vec![g(a$0\n}\n",
        ")]",
        expect![[r#"
        SingleLine
        |)]
    "#]],
    );
}

/// After the deadline cuts a kept suggestion, what is left is judged again.
#[test]
fn noise_left_after_a_cut() {
    let input = |prefix: &'static str, suffix: &'static str| Input {
        lang: PY,
        prefix,
        suffix,
        raw: "",
        mode: Mode::MultiLine,
    };
    let mut t = "  # EOF".to_string();
    assert_eq!(
        nib_postprocess::noise(&input("if x:\n    a = 1\nelse:", "\n"), &mut t),
        Some(nib_postprocess::DropReason::OnlyWhitespaceOrComment)
    );
    let mut t = ")".to_string();
    assert_eq!(
        nib_postprocess::noise(&input("print(a", ")\n"), &mut t),
        Some(nib_postprocess::DropReason::RepeatsSuffix)
    );
    let mut t = "  # EOF\n    pass".to_string();
    assert_eq!(
        nib_postprocess::noise(&input("if x:\n    a = 1\nelse:", "\n"), &mut t),
        None
    );
    assert_eq!(t, "\n    pass");
    let mut t = "b)".to_string();
    assert_eq!(
        nib_postprocess::noise(&input("print(a, ", ")\n"), &mut t),
        None
    );
    assert_eq!(t, "b)");
}
