//! `decide_mode`, `should_stop`, `confidence`, `rank_alternatives`.

use expect_test::{expect, Expect};
use nib_postprocess::{
    confidence, confidence_per_token, decide_mode, rank_alternatives, should_stop, Confidence,
    DropReason, Input, Language, Mode, Output,
};

const PY: Option<Language> = Some(Language::Python);
const RS: Option<Language> = Some(Language::Rust);

fn check_modes(cases: &[(Option<Language>, &str)], expect: Expect) {
    let mut s = String::new();
    for (lang, fixture) in cases {
        let (prefix, suffix) = fixture.split_once("$0").expect("$0");
        s.push_str(&format!(
            "{:?}  {fixture:?}\n",
            decide_mode(*lang, prefix, suffix)
        ));
    }
    expect.assert_eq(&s);
}

#[test]
fn modes() {
    check_modes(
        &[
            (PY, "def f(x):$0\n"),
            (PY, "def f(x):  # note$0\n"),
            (PY, "def f(x):\n    $0\n"),
            (PY, "def f(x):\n$0"),
            (PY, "x = foo($0)\n"),
            (PY, "x = $0 + 1\n"),
            (PY, "    y = 1\n    $0\n"),
            (PY, "print(\"a:$0\")\n"),
            (PY, "# header:$0\n"),
            (PY, "def f(x):\n    \"\"\"Doc.\"\"\"\n$0"),
            (
                PY,
                "def f(x):\n    \"\"\"Doc.\n\n    >>> f(1)\n    \"\"\"\n\n$0\n    return x\n",
            ),
            (PY, "def f(\n    x,\n) -> int:\n    r'''Doc.'''\n    $0"),
            (PY, "x = 1\n\"\"\"Module doc.\"\"\"\n$0"),
            (PY, "def f(x):\n    y = \"\"\"a\"\"\"\n$0"),
            (PY, "def f(x):\n    \"\"\"Doc.\"\"\"\n    y = 1$0"),
            (RS, "fn main() {$0}\n"),
            (RS, "fn main() {\n    $0\n}\n"),
            (RS, "let v = vec![$0];\n"),
            (RS, "    let x = 1;\n    $0\n"),
            (PY, "def f(x):\n    y = 1\n$0\n        return y\n"),
            (
                PY,
                "def f(x):\n    y = 1\n    $0\n    else:\n        pass\n",
            ),
            (PY, "def f(x):\n    y = 1\n    $0\n    return y\n"),
            (None, "section {$0\n"),
            (None, "Dear $0\n"),
        ],
        expect![[r##"
            MultiLine  "def f(x):$0\n"
            SingleLine  "def f(x):  # note$0\n"
            MultiLine  "def f(x):\n    $0\n"
            MultiLine  "def f(x):\n$0"
            SingleLine  "x = foo($0)\n"
            SingleLine  "x = $0 + 1\n"
            MultiLine  "    y = 1\n    $0\n"
            SingleLine  "print(\"a:$0\")\n"
            SingleLine  "# header:$0\n"
            MultiLine  "def f(x):\n    \"\"\"Doc.\"\"\"\n$0"
            MultiLine  "def f(x):\n    \"\"\"Doc.\n\n    >>> f(1)\n    \"\"\"\n\n$0\n    return x\n"
            MultiLine  "def f(\n    x,\n) -> int:\n    r'''Doc.'''\n    $0"
            MultiLine  "x = 1\n\"\"\"Module doc.\"\"\"\n$0"
            MultiLine  "def f(x):\n    y = \"\"\"a\"\"\"\n$0"
            SingleLine  "def f(x):\n    \"\"\"Doc.\"\"\"\n    y = 1$0"
            MultiLine  "fn main() {$0}\n"
            MultiLine  "fn main() {\n    $0\n}\n"
            SingleLine  "let v = vec![$0];\n"
            MultiLine  "    let x = 1;\n    $0\n"
            SingleLine  "def f(x):\n    y = 1\n$0\n        return y\n"
            SingleLine  "def f(x):\n    y = 1\n    $0\n    else:\n        pass\n"
            MultiLine  "def f(x):\n    y = 1\n    $0\n    return y\n"
            MultiLine  "section {$0\n"
            SingleLine  "Dear $0\n"
        "##]],
    );
}

/// The first prefix of `raw` (by characters) at which `should_stop` says stop.
fn stop_at(lang: Option<Language>, fixture: &str, raw: &str, mode: Mode) -> String {
    let (prefix, suffix) = fixture.split_once("$0").expect("$0");
    for (i, _) in raw.char_indices().skip(1).chain([(raw.len(), ' ')]) {
        if should_stop(&Input {
            lang,
            prefix,
            suffix,
            raw: &raw[..i],
            mode,
        }) {
            return raw[..i].to_string();
        }
    }
    format!("<no stop> {raw}")
}

#[test]
fn stops() {
    let s = Mode::SingleLine;
    let m = Mode::MultiLine;
    let got = [
        stop_at(PY, "x = $0\n", "foo(1)\ny = 2\n", s),
        stop_at(PY, "def f():\n    $0\n", "\n\n    return 1\n    x\n", s),
        stop_at(PY, "x = 1$0\n", "\ny = 2\n", s),
        stop_at(
            PY,
            "def f():$0\n",
            "\n    a = 1\n    return a\nprint(f())\n",
            m,
        ),
        stop_at(
            PY,
            "def f():\n    $0\n    return a\n",
            "a = 1\n    return a\n",
            m,
        ),
        stop_at(
            RS,
            "fn f() {\n    $0\n}\n",
            "let a = 1;\n    a\n}\nfn g() {}\n",
            m,
        ),
        stop_at(
            RS,
            "fn f() {\n    $0\n}\n",
            "if x {\n        1\n    } else {\n        2\n    }\n}\n",
            m,
        ),
    ];
    expect![[r#"
        [
            "foo(1)\n",
            "\n\n    return 1\n",
            "\n",
            "\n    a = 1\n    return a\np",
            "a = 1\n    return a\n",
            "let a = 1;\n    a\n}",
            "if x {\n        1\n    } else {\n        2\n    }\n}",
        ]
    "#]]
    .assert_debug_eq(&got);
}

#[test]
fn confidence_buckets() {
    assert_eq!(confidence(&[]), Confidence::Low);
    assert_eq!(confidence(&[-0.01, -0.1, -0.05]), Confidence::High);
    // One weak token, or many fair ones, is not high.
    assert_eq!(confidence(&[-0.01, -1.5, -0.05]), Confidence::Medium);
    assert_eq!(confidence(&[-0.2; 8]), Confidence::Medium);
    assert_eq!(confidence(&[-0.5, -0.7, -0.9]), Confidence::Medium);
    assert_eq!(confidence(&[-0.2; 20]), Confidence::Low);
    assert_eq!(confidence(&[-0.01, -9.0]), Confidence::Low);
    assert_eq!(confidence(&[f32::NAN, -0.1]), Confidence::Low);
    assert_eq!(confidence(&[f32::NEG_INFINITY]), Confidence::Low);
    // A long body is judged per token.
    assert_eq!(confidence_per_token(&[-0.1; 40]), Confidence::High);
    assert_eq!(confidence_per_token(&[-0.5; 40]), Confidence::Medium);
    assert_eq!(confidence_per_token(&[-1.5; 40]), Confidence::Low);
    assert_eq!(confidence_per_token(&[]), Confidence::Low);
}

#[test]
fn ranking() {
    let o = |t: &str| Output {
        text: t.to_string(),
        dropped: None,
    };
    let dropped = Output {
        text: String::new(),
        dropped: Some(DropReason::Empty),
    };
    let ranked = rank_alternatives(
        vec![
            (o("foo(a, b)"), -1.0),
            (o("bar()"), -0.5),
            (dropped, 10.0),
            (o("foo(a,b)"), -0.2),
            (o("   "), 5.0),
            (o("baz"), f32::NAN),
            (o("qux"), -3.0),
        ],
        3,
    );
    let texts: Vec<&str> = ranked.iter().map(|o| o.text.as_str()).collect();
    assert_eq!(texts, ["foo(a,b)", "bar()", "qux"]);
    assert!(rank_alternatives(vec![(o("x"), 1.0)], 0).is_empty());
}

/// At a line start before existing code, a whole line keeps its line break (else the code
/// would join it: the HumanEval infilling situation).
#[test]
fn line_of_its_own_before_code() {
    let run = |prefix: &str, suffix: &str, raw: &str, mode: Mode| {
        nib_postprocess::process(&Input {
            lang: PY,
            prefix,
            suffix,
            raw,
            mode,
        })
        .text
    };
    let body = "def f(x):\n    y = 1\n";
    assert_eq!(
        run(
            body,
            "    return y\n",
            "    y += 1\n    return y\n",
            Mode::SingleLine
        ),
        "    y += 1\n"
    );
    assert_eq!(
        run(
            body,
            "    return y\n",
            "    if y:\n        y += 1\n    return y\n",
            Mode::MultiLine
        ),
        "    if y:\n        y += 1\n"
    );
    // Top-level code: inline it would not parse.
    assert_eq!(
        run(
            "import os\n",
            "import sys\n",
            "import re\n",
            Mode::SingleLine
        ),
        "import re\n"
    );
    // Mid-line, or on a line of its own: no line break.
    assert_eq!(
        run(
            "def f(x):\n    y = ",
            "\n    return y\n",
            "x + 1\n",
            Mode::SingleLine
        ),
        "x + 1"
    );
    assert_eq!(
        run(body, "\n    return y\n", "    y += 1\n", Mode::SingleLine),
        "    y += 1"
    );
}

#[test]
fn a_line_that_skips_ahead_to_existing_code_is_flagged() {
    let later = |fixture: &str, text: &str| {
        let (prefix, suffix) = fixture.split_once("$0").expect("$0");
        nib_postprocess::repeats_later_line(
            &Input {
                lang: PY,
                prefix,
                suffix,
                raw: "",
                mode: Mode::SingleLine,
            },
            text,
        )
    };
    // The function's last line, written above the block before it.
    let doc = "def f(a, b):\n    n = a * b\n$0        return True\n    return False\n";
    assert!(later(doc, "    return False\n"));
    // A nested repeat (another branch returns the same) is not flagged: a shallower line
    // comes first, or the indentation differs.
    let doc = "def f(m, d):\n    if m < 1:\n$0    if d < 1:\n        return False\n";
    assert!(!later(doc, "        return False\n"));
    let doc = "def f(n):\n    if n < 2:\n$0    for k in range(n):\n            return False\n";
    assert!(!later(doc, "        return False\n"));
    // Short or new lines are not flagged.
    assert!(!later("x = 1\n$0y = 2\n", "y = 2\n"));
    assert!(!later("def f():\n$0    return 1\n", "    return 2\n"));
}

/// Before the indentation of code that is deeper than the suggestion, a statement leaves that
/// code without its block header: the suggestion is dropped as breaking the layout (the
/// server then retries at the header's indentation), also when the statement rewrites that
/// code at the shallower level.
#[test]
fn a_statement_above_deeper_code_breaks_the_layout() {
    let run = |fixture: &str, raw: &str| {
        let (prefix, suffix) = fixture.split_once("$0").expect("$0");
        let out = nib_postprocess::process(&Input {
            lang: PY,
            prefix,
            suffix,
            raw,
            mode: Mode::SingleLine,
        });
        (out.text, out.dropped)
    };
    let doc = "def f(n):\n    while True:\n        if ok(n):\n            n -= 1\n$0            return n\n";
    // tree-sitter accepts `    return None            return n` as one line: the text is
    // judged as a line of its own.
    assert_eq!(
        run(doc, "    return None\n"),
        (String::new(), Some(DropReason::BreaksIndentation))
    );
    let doc = "def f(xs):\n    if bad(xs):\n        return False\n$0        return True\n    else:\n        return False\n";
    assert_eq!(
        run(doc, "    return True\n\nprint(f([]))\n"),
        (String::new(), Some(DropReason::BreaksIndentation))
    );
    // At the next line's own level a rewrite of it is only a repeat.
    assert_eq!(
        run(doc, "        return True\n"),
        (String::new(), Some(DropReason::RepeatsSuffix))
    );
    // A header at the right level is kept, on a line of its own.
    assert_eq!(
        run(doc, "    if xs:\n        return True\n"),
        ("    if xs:\n".to_string(), None)
    );
}

#[test]
fn an_exit_above_code_at_its_level_is_flagged() {
    let flagged = |lang: Option<Language>, fixture: &str, text: &str| {
        let (prefix, suffix) = fixture.split_once("$0").expect("$0");
        nib_postprocess::makes_code_unreachable(
            &Input {
                lang,
                prefix,
                suffix,
                raw: "",
                mode: Mode::SingleLine,
            },
            text,
        )
    };
    let doc = "def f(text):\n    \"\"\"Hash.\"\"\"\n$0    return md5(text)\n";
    assert!(flagged(PY, doc, "    return None\n"));
    assert!(!flagged(PY, doc, "    import hashlib\n"));
    // On a blank line, the next code line counts; a deeper exit ends its own block.
    let doc = "def f(d):\n    if not d:\n        return False\n$0\n    for k in d:\n        pass\n";
    assert!(flagged(PY, doc, "    return True"));
    assert!(!flagged(PY, doc, "        return True"));
    // What continues the statement, or the end of the block, is not unreachable.
    let doc = "def f(x):\n    if x:\n        y = 1\n$0    else:\n        y = 2\n";
    assert!(!flagged(PY, doc, "        return y\n"));
    assert!(!flagged(PY, "def f(x):\n    y = x\n$0", "    return y"));
    let rs = Some(Language::Rust);
    assert!(!flagged(
        rs,
        "fn f() -> u8 {\n    let a = 1;\n$0}\n",
        "    return a;\n"
    ));
    assert!(flagged(
        rs,
        "fn f() -> u8 {\n    let a = 1;\n$0    a + 1\n}\n",
        "    return a;\n"
    ));
    // Mid-line, or in multi-line mode: not flagged.
    assert!(!flagged(
        PY,
        "def f(x):\n    y = $0\n    return y\n",
        "return 1"
    ));
}

/// After a block header, with the code after the block already there at the header's level,
/// a multi-line suggestion is the body only; where the suffix continues further out, the
/// suggestion may also close the block and go on.
#[test]
fn the_body_of_a_header_followed_by_code() {
    let run = |fixture: &str, raw: &str| {
        let (prefix, suffix) = fixture.split_once("$0").expect("$0");
        nib_postprocess::process(&Input {
            lang: PY,
            prefix,
            suffix,
            raw,
            mode: Mode::MultiLine,
        })
        .text
    };
    let raw = "        total += x\n    for x in ys:\n        total -= x\n";
    let doc = "def f(xs, ys):\n    total = 0\n    for x in xs:\n$0\n    return total\n";
    assert_eq!(run(doc, raw), "        total += x");
    let doc = "def f(xs, ys):\n    total = 0\n    for x in xs:\n$0\nprint(f([1], [2]))\n";
    assert_eq!(run(doc, raw), raw.trim_end());
}
