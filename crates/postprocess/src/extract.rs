//! Code out of a chat answer: an instruct model asked to write a function answers with prose
//! and a fenced code block holding the whole function (often with its imports and helpers).
//! These functions find the block, the function in it, and the body to insert under the
//! function's signature and docstring in the document.

use nib_syntax::tree_sitter::Node;
use nib_syntax::{parse, Language};

/// The code of a chat answer: the first fenced block (a ```` ``` ```` line, with or without a
/// language, to the next ```` ``` ```` line or the end when the answer was cut short), or the
/// whole answer when it has no fence.
pub fn answer_code(answer: &str) -> &str {
    let Some((_, body_start)) = fence_after(answer, 0) else {
        return answer;
    };
    match fence_after(answer, body_start) {
        Some((close, _)) => &answer[body_start..close],
        None => &answer[body_start..],
    }
}

/// Whether the answer's first code block is complete: a decoder can stop there (the prose
/// after it is not used).
pub fn code_block_closed(answer: &str) -> bool {
    fence_after(answer, 0).is_some_and(|(_, body)| fence_after(answer, body).is_some())
}

/// The first line at or after `from` (a line start) that starts with ```` ``` ````: its start, and
/// the start of the line after it (`None` when that line is not complete yet).
fn fence_after(text: &str, from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    while at < text.len() {
        let end = text[at..].find('\n').map(|i| at + i);
        let line = &text[at..end.unwrap_or(text.len())];
        if line.trim_start().starts_with("```") {
            return end.map(|e| (at, e + 1));
        }
        at = end? + 1;
    }
    None
}

/// A function's body taken out of a chat answer, ready to go under its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The body's lines, indented relative to the function's `def` / `fn` line (which is at
    /// column 0 here), without a docstring (the document has it), `\n` line ends, no trailing
    /// line break.
    pub body: String,
    /// Top-level imports of the answer, and top-level functions of the answer that the body
    /// calls, that `document` does not have (dedented, in answer order): they go at the top of
    /// the body (nested functions and local imports are valid in Python and Rust).
    pub support: Vec<String>,
    /// The indentation of the body's first line (where support items go).
    pub body_indent: String,
}

impl Extracted {
    /// The support items, then the body, for a function whose `def` / `fn` line is indented
    /// by `def_indent` (blank lines stay empty).
    pub fn indented(&self, def_indent: &str) -> String {
        let support_indent = format!("{def_indent}{}", self.body_indent);
        let mut lines = Vec::new();
        for item in &self.support {
            lines.extend(item.lines().map(|l| (support_indent.as_str(), l)));
        }
        lines.extend(self.body.lines().map(|l| (def_indent, l)));
        lines
            .into_iter()
            .map(|(indent, l)| {
                if l.trim().is_empty() {
                    String::new()
                } else {
                    format!("{indent}{l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Whether a function body says only that it is to be written: nothing but comments and
/// `pass`, `...`, `raise NotImplementedError`, `todo!()` or `unimplemented!()`.
fn is_placeholder(body: &str) -> bool {
    body.lines()
        .map(|l| l.trim().trim_end_matches(';'))
        .filter(|l| !(l.is_empty() || l.starts_with('#') || l.starts_with("//")))
        .all(|l| {
            matches!(l, "pass" | "..." | "raise NotImplementedError")
                || l.starts_with("raise NotImplementedError(")
                || l.starts_with("todo!(")
                || l.starts_with("unimplemented!(")
        })
}

/// The body of the function `name` in `code` (the first definition of that name, at any depth),
/// with what it needs from the rest of `code` that `document` lacks. Body lines that start
/// before byte `keep_from` of `code` are left out (the document already has them: the answer
/// was started with the function's beginning). `None` when `code` has no such function or
/// nothing is left of its body but a placeholder ([`is_placeholder`]).
pub fn function_body(
    lang: Language,
    code: &str,
    name: &str,
    document: &str,
    keep_from: usize,
) -> Option<Extracted> {
    let crlf_before = code
        .get(..keep_from)
        .map_or(0, |c| c.matches("\r\n").count());
    let code = code.replace("\r\n", "\n");
    let keep_from = keep_from - crlf_before;
    let tree = parse(lang, &code)?;
    let root = tree.root_node();
    let func = find_function(lang, root, &code, name)?;
    let block = func.child_by_field_name("body")?;
    let def_line = &code[line_start(&code, func.start_byte())..];
    let def_indent = &def_line[..def_line.len() - def_line.trim_start().len()];
    let body = block_text(lang, block, &code, keep_from)?;
    let body = relative_to(&body, Some(def_indent));
    if is_placeholder(&body) {
        return None;
    }
    let first = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let body_indent = first[..first.len() - first.trim_start().len()].to_string();
    let mut support = Vec::new();
    let mut cursor = root.walk();
    for item in root.named_children(&mut cursor) {
        if item.id() == func.id() || item.start_byte() < keep_from.min(func.start_byte()) {
            continue;
        }
        let text = &code[item.start_byte()..item.end_byte()];
        let keep = if is_import(lang, item) {
            !document
                .lines()
                .any(|l| l.trim() == text.trim() || contains_line(text, l.trim()))
        } else {
            match function_name(lang, item, &code) {
                Some(helper) => {
                    calls(&body, helper)
                        && !document.contains(&format!("{} {helper}(", def_keyword(lang)))
                }
                None => false,
            }
        };
        if keep {
            support.push(relative_to(text, None));
        }
    }
    Some(Extracted {
        body,
        support,
        body_indent,
    })
}

fn line_start(code: &str, byte: usize) -> usize {
    code[..byte].rfind('\n').map_or(0, |i| i + 1)
}

/// `text` (an import, maybe of several lines) is the single line `line` of the document.
fn contains_line(text: &str, line: &str) -> bool {
    !line.is_empty() && text.lines().count() == 1 && text.trim() == line
}

fn def_keyword(lang: Language) -> &'static str {
    match lang {
        Language::Python => "def",
        Language::Rust => "fn",
    }
}

fn is_function(lang: Language, node: Node<'_>) -> bool {
    match lang {
        Language::Python => node.kind() == "function_definition",
        Language::Rust => node.kind() == "function_item",
    }
}

fn is_import(lang: Language, node: Node<'_>) -> bool {
    match lang {
        Language::Python => matches!(
            node.kind(),
            "import_statement" | "import_from_statement" | "future_import_statement"
        ),
        Language::Rust => node.kind() == "use_declaration",
    }
}

/// The name of a function definition (also under a Python decorator).
fn function_name<'c>(lang: Language, node: Node<'_>, code: &'c str) -> Option<&'c str> {
    let node = if lang == Language::Python && node.kind() == "decorated_definition" {
        node.child_by_field_name("definition")?
    } else {
        node
    };
    if !is_function(lang, node) {
        return None;
    }
    let n = node.child_by_field_name("name")?;
    code.get(n.start_byte()..n.end_byte())
}

/// The first function named `name` in document order.
fn find_function<'t>(lang: Language, root: Node<'t>, code: &str, name: &str) -> Option<Node<'t>> {
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if is_function(lang, node) && function_name(lang, node, code) == Some(name) {
            return Some(node);
        }
        let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    None
}

/// Whether `body` mentions `name(` as a whole word.
fn calls(body: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    body.match_indices(name).any(|(i, _)| {
        !body[..i].chars().next_back().is_some_and(word)
            && body[i + name.len()..].trim_start().starts_with('(')
    })
}

/// The lines of a function body (from the start of its first line), without a leading
/// Python docstring or the braces of a Rust block, from the line of `keep_from` on.
fn block_text(lang: Language, block: Node<'_>, code: &str, keep_from: usize) -> Option<String> {
    let next_line = |byte: usize| code[byte..].find('\n').map_or(code.len(), |i| byte + i + 1);
    let (start, end) = match lang {
        Language::Python => {
            let mut start = block.start_byte();
            if !code[line_start(code, start)..start].trim().is_empty() {
                // `def f(): return x`: the body shares the signature's line.
                let text = code[start..block.end_byte()].trim();
                return Some(format!("    {text}"));
            }
            let first = block.named_child(0)?;
            let docstring = first.kind() == "expression_statement"
                && first.named_child_count() == 1
                && first.named_child(0).is_some_and(|s| s.kind() == "string");
            if docstring {
                start = next_line(first.end_byte()).min(block.end_byte());
            }
            (line_start(code, start), block.end_byte())
        }
        Language::Rust => {
            let open = block.start_byte() + 1;
            let close = block.end_byte().saturating_sub(1);
            if close <= open || !code[open..close].contains('\n') {
                let text = code.get(open..close)?.trim();
                return Some(format!("    {text}"));
            }
            let start = next_line(open).min(close);
            (start, line_start(code, close).max(start))
        }
    };
    let start = if keep_from >= end {
        end
    } else if keep_from > start {
        line_start(code, keep_from).max(start)
    } else {
        start
    };
    Some(code[start..end].to_string())
}

/// Lines made relative to `indent` (removed where a line starts with it; other lines, e.g.
/// inside a multi-line string, stay as they are); without blank lines at both ends and
/// trailing blanks. `None`: the indentation all non-blank lines share.
fn relative_to(text: &str, indent: Option<&str>) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(0);
    let last = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let lines = &lines[first..last.max(first)];
    let common = match indent {
        Some(indent) => indent,
        None => lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| &l[..l.len() - l.trim_start().len()])
            .reduce(|a, b| {
                let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                &a[..n]
            })
            .unwrap_or(""),
    };
    lines
        .iter()
        .map(|l| l.strip_prefix(common).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    #[test]
    fn the_first_fenced_block_or_the_whole_answer() {
        let a = "Here is it:\n```python\ndef f():\n    return 1\n```\nAnd a test:\n```python\nf()\n```\n";
        assert_eq!(answer_code(a), "def f():\n    return 1\n");
        assert!(code_block_closed(a));
        // Cut short by the token cap: the block runs to the end.
        let cut = "```\ndef f():\n    ret";
        assert_eq!(answer_code(cut), "def f():\n    ret");
        assert!(!code_block_closed(cut));
        // The opening fence line itself is not complete yet.
        assert!(!code_block_closed("```pyth"));
        assert_eq!(
            answer_code("def f():\n    return 1"),
            "def f():\n    return 1"
        );
        assert!(!code_block_closed("def f():\n    return 1"));
        assert_eq!(answer_code(""), "");
    }

    fn check(lang: Language, answer: &str, name: &str, document: &str, expect: Expect) {
        let got = function_body(lang, answer_code(answer), name, document, 0)
            .map_or_else(|| "None".to_string(), |e| e.indented("> "));
        expect.assert_eq(&got);
    }

    const HE_DOC: &str = "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    \"\"\" Check ...\n    \"\"\"\n";

    #[test]
    fn python_body_without_the_repeated_docstring() {
        check(
            Language::Python,
            "Sure! Here's the implementation:\n\n```python\nfrom typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    \"\"\" Check ...\n    >>> x\n    \"\"\"\n    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n\n            if abs(a - b) < threshold:\n                return True\n    return False\n\n\nprint(has_close_elements([1.0], 0.5))\n```\n\nThis checks every pair.",
            "has_close_elements",
            HE_DOC,
            expect![[r#"
                >     for i, a in enumerate(numbers):
                >         for b in numbers[i + 1:]:

                >             if abs(a - b) < threshold:
                >                 return True
                >     return False"#]],
        );
    }

    #[test]
    fn python_imports_and_called_helpers_the_document_lacks_go_first() {
        check(
            Language::Python,
            "```python\nimport math\nfrom typing import List\n\ndef is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(math.sqrt(n)) + 1))\n\ndef unused():\n    pass\n\ndef count_primes(numbers: List[int]) -> int:\n    return sum(1 for n in numbers if is_prime(n))\n```",
            "count_primes",
            "from typing import List\n\ndef count_primes(numbers: List[int]) -> int:\n    \"\"\"Count.\"\"\"\n",
            expect![[r#"
                >     import math
                >     def is_prime(n):
                >         return n > 1 and all(n % d for d in range(2, int(math.sqrt(n)) + 1))
                >     return sum(1 for n in numbers if is_prime(n))"#]],
        );
        // A helper the document already defines is not repeated.
        check(
            Language::Python,
            "```python\ndef is_palindrome(s):\n    return s == s[::-1]\n\ndef make_palindrome(s):\n    return s if is_palindrome(s) else s + s[::-1]\n```",
            "make_palindrome",
            "def is_palindrome(s: str) -> bool:\n    return s == s[::-1]\n\ndef make_palindrome(s):\n    \"\"\"Make.\"\"\"\n",
            expect![">     return s if is_palindrome(s) else s + s[::-1]"],
        );
    }

    #[test]
    fn python_method_one_liner_and_failures() {
        check(
            Language::Python,
            "```python\nclass A:\n    def area(self):\n        '''Area.'''\n        return self.w * self.h\n```",
            "area",
            "",
            expect![">     return self.w * self.h"],
        );
        check(
            Language::Python,
            "def double(x): return 2 * x\n",
            "double",
            "",
            expect![">     return 2 * x"],
        );
        // Another function only, or a stub: nothing to insert.
        check(
            Language::Python,
            "```python\ndef other():\n    return 1\n```",
            "double",
            "",
            expect!["None"],
        );
        check(
            Language::Python,
            "```python\ndef double(x):\n    \"\"\"Doc.\"\"\"\n    pass\n```",
            "double",
            "",
            expect!["None"],
        );
        for stub in [
            "    # Your implementation goes here\n    pass",
            "    raise NotImplementedError(\"later\")",
            "    ...",
        ] {
            check(
                Language::Python,
                &format!("```python\ndef double(x):\n{stub}\n```"),
                "double",
                "",
                expect!["None"],
            );
        }
        check(
            Language::Rust,
            "```rust\nfn one() -> i32 {\n    // TODO\n    todo!(\"one\");\n}\n```",
            "one",
            "",
            expect!["None"],
        );
        // Code with a comment is not a placeholder.
        check(
            Language::Python,
            "```python\ndef double(x):\n    # twice\n    return 2 * x\n```",
            "double",
            "",
            expect![">     return 2 * x"],
        );
        check(
            Language::Python,
            "I cannot help with that.",
            "double",
            "",
            expect!["None"],
        );
    }

    #[test]
    fn rust_block_contents_and_uses() {
        check(
            Language::Rust,
            "```rust\nuse std::collections::HashSet;\n\n/// Unique.\nfn unique(xs: &[i32]) -> usize {\n    let s: HashSet<_> = xs.iter().collect();\n    s.len()\n}\n```",
            "unique",
            "/// Unique.\nfn unique(xs: &[i32]) -> usize {\n    // count distinct\n}\n",
            expect![[r#"
                >     use std::collections::HashSet;
                >     let s: HashSet<_> = xs.iter().collect();
                >     s.len()"#]],
        );
        check(
            Language::Rust,
            "```rust\nfn one() -> i32 { 1 }\n```",
            "one",
            "",
            expect![">     1"],
        );
    }

    #[test]
    fn lines_the_answer_was_started_with_are_left_out() {
        let fence = "```python\n";
        let prefill = format!("{fence}def f(self, xs):\n    total = 0\n    # add the squares\n");
        let answer = "    for x in xs:\n        total += x * x\n    return total\n```";
        let full = format!("{prefill}{answer}");
        let e = function_body(
            Language::Python,
            answer_code(&full),
            "f",
            "",
            prefill.len() - fence.len(),
        )
        .unwrap();
        assert_eq!(e.body_indent, "    ");
        // A method: the document's `def` is indented.
        assert_eq!(
            e.indented("    "),
            "        for x in xs:\n            total += x * x\n        return total"
        );
        // Nothing written after the start: nothing to insert.
        let only = format!("{prefill}```");
        assert_eq!(
            function_body(
                Language::Python,
                answer_code(&only),
                "f",
                "",
                prefill.len() - fence.len()
            ),
            None
        );
    }

    #[test]
    fn dedent_keeps_relative_indentation_and_crlf_answers_work() {
        assert_eq!(
            relative_to("\n    a\n      b\n\n    c\n\n", None),
            "a\n  b\n\nc"
        );
        assert_eq!(relative_to("\ta\n  b", None), "\ta\n  b");
        assert_eq!(relative_to("    a\nb\n      c", Some("    ")), "a\nb\n  c");
        check(
            Language::Python,
            "```python\r\ndef f():\r\n    return 1\r\n```\r\n",
            "f",
            "",
            expect![">     return 1"],
        );
    }
}
