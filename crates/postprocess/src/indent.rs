//! The indentation a new line at the cursor must have, where Python's layout decides it.
//!
//! A small model at the start of a line often picks the wrong indentation, and then writes
//! the right statement in the wrong block (or the statement that belongs after the suffix).
//! An editor would have auto-indented; here the layout of the lines around the cursor gives
//! the answer in the unambiguous cases, and the engine constrains the output to start with it.

use nib_syntax::Language;

use crate::doc::{indent_width, last_code_char, Doc};
use crate::Mode;

/// The whole indentation (as text) the cursor's line must start with, or `None` when the
/// layout leaves it open (the model chooses).
///
/// Only for Python, with the cursor in code, outside brackets, and nothing but whitespace
/// before it on its line:
/// - the previous code line ends the docstring that opens a body: level with it;
/// - the previous code line opens a block (ends with `:`): one level deeper than that line;
/// - (single-line) the next code line is deeper than the previous one: the new line is the
///   header of that block, one level less than the next line and level with the previous.
///
/// A cursor already indented deeper than the answer (or differently) gets `None`: what the
/// user typed wins.
pub fn expected_indent(
    lang: Option<Language>,
    prefix: &str,
    suffix: &str,
    mode: Mode,
) -> Option<String> {
    if lang != Some(Language::Python) {
        return None;
    }
    let doc = Doc::new(lang, prefix, suffix);
    if !doc.lex.in_code() || !doc.lex.stack.is_empty() || !doc.line_prefix_blank() {
        return None;
    }
    let typed = doc.line_prefix();
    let line_start = doc.prefix.len() - typed.len();
    let before = &doc.prefix[..line_start];
    let prev = before
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !doc.is_comment_line(l))?;
    let last = last_code_char(lang, prev)?;
    if last == '\\' || last == ',' {
        return None;
    }
    let prev_indent = leading_ws(prev);
    let unit = indent_unit(lang, before, prev_indent);
    let answer = if crate::ends_with_header_docstring(lang, before) {
        // The body goes on below its docstring.
        prev_indent.to_string()
    } else if last == ':' {
        format!("{prev_indent}{unit}")
    } else if mode == Mode::SingleLine {
        let next = next_code_line(&doc)?;
        let next_indent = leading_ws(next);
        let blank_before = before.lines().last().is_some_and(|l| l.trim().is_empty());
        let code_on_line = !doc.line_suffix().trim().is_empty();
        if indent_width(next_indent) < indent_width(prev_indent) && blank_before && code_on_line {
            // A blank line after a deeper block, above code: the new line goes with that
            // code (12 of 14 such HumanEval infilling lines do).
            return next_indent
                .starts_with(typed)
                .then(|| next_indent.to_string());
        }
        if indent_width(next_indent) <= indent_width(prev_indent) {
            return None;
        }
        // The header sits where the previous line does (otherwise the file mixes widths).
        let header = next_indent.strip_suffix(unit.as_str())?;
        if header != prev_indent {
            return None;
        }
        header.to_string()
    } else {
        return None;
    };
    answer.starts_with(typed).then_some(answer)
}

/// The suffix's first code line, with the rest of the cursor's line counting as one when it
/// has code (the new line goes above it).
pub(crate) fn next_code_line<'d>(doc: &'d Doc<'_>) -> Option<&'d str> {
    let rest = doc.line_suffix();
    if !rest.trim().is_empty() {
        return Some(rest);
    }
    doc.suffix
        .lines()
        .skip(1)
        .find(|l| !l.trim().is_empty() && !doc.is_comment_line(l))
}

fn leading_ws(line: &str) -> &str {
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// One level of indentation: a tab when the line uses tabs, else the most common step from a
/// block header to its first line in `text`, else four spaces.
fn indent_unit(lang: Option<Language>, text: &str, line_indent: &str) -> String {
    if line_indent.contains('\t') {
        return "\t".into();
    }
    let mut counts = [0usize; 9];
    let mut header: Option<usize> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let w = indent_width(line);
        if let Some(h) = header.take() {
            if w > h && w - h <= 8 {
                counts[w - h] += 1;
            }
        }
        if last_code_char(lang, line) == Some(':') {
            header = Some(w);
        }
    }
    let best = (1..=8).max_by_key(|&w| (counts[w], w == 4)).unwrap_or(4);
    let best = if counts[best] == 0 { 4 } else { best };
    " ".repeat(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(doc: &str, mode: Mode) -> Option<String> {
        let (prefix, suffix) = doc.split_once("$0").unwrap();
        expected_indent(Some(Language::Python), prefix, suffix, mode)
    }

    #[test]
    fn one_level_deeper_after_a_block_header() {
        let doc = "def f(xs):\n    for x in xs:\n$0        print(x)\n";
        assert_eq!(check(doc, Mode::SingleLine).as_deref(), Some("        "));
        // Also when the header is followed by a comment and blank lines.
        let doc = "def f(xs):\n    if xs:  # note\n\n$0";
        assert_eq!(check(doc, Mode::MultiLine).as_deref(), Some("        "));
    }

    #[test]
    fn the_header_of_a_deeper_next_line() {
        // `balance += op` then a deeper `return True`: the missing line is an `if`.
        let doc = "def f(ops):\n    for op in ops:\n        b += op\n$0            return True\n    return False\n";
        assert_eq!(check(doc, Mode::SingleLine).as_deref(), Some("        "));
        // Multi-line suggestions may end anywhere: no constraint from the next line.
        assert_eq!(check(doc, Mode::MultiLine), None);
        // Mixed widths (a 2-column step under a 4-column body): no answer.
        let doc = "def f(a):\n    x = a\n$0      if x:\n        return 1\n";
        assert_eq!(check(doc, Mode::SingleLine), None);
    }

    #[test]
    fn after_a_blank_line_the_new_line_goes_with_the_code_below() {
        let doc = "def f(v):\n    if v:\n        while v:\n            v = v[:-1]\n\n$0    if v == 1:\n        return 2\n";
        assert_eq!(check(doc, Mode::SingleLine).as_deref(), Some("    "));
        // Without the blank line the deeper block may go on.
        let doc = "def f(v):\n    if v:\n        while v:\n            v = v[:-1]\n$0    if v == 1:\n        return 2\n";
        assert_eq!(check(doc, Mode::SingleLine), None);
    }

    #[test]
    fn the_body_goes_on_below_its_docstring() {
        let doc = "def f(x):\n    \"\"\"Doc.\n\n    More.\n    \"\"\"\n$0    return x\n";
        assert_eq!(check(doc, Mode::SingleLine).as_deref(), Some("    "));
        let doc = "class A:\n    def f(self):\n        '''Doc.'''\n\n$0";
        assert_eq!(check(doc, Mode::MultiLine).as_deref(), Some("        "));
        // A string that is not a docstring decides nothing.
        let doc = "def f(x):\n    y = 1\n    s = \"\"\"a\"\"\"\n$0    return x\n";
        assert_eq!(check(doc, Mode::SingleLine), None);
    }

    #[test]
    fn open_cases_are_left_to_the_model() {
        // Same level or a dedent: could be `else:` or a statement.
        let doc = "def f(x):\n    if x:\n        a = 1\n$0        b = 2\n";
        assert_eq!(check(doc, Mode::SingleLine), None);
        let doc = "def f(x):\n    if x:\n        a = 1\n$0    return a\n";
        assert_eq!(check(doc, Mode::SingleLine), None);
        // A dedent after a blank line but with an empty cursor line: open too.
        let doc = "def f(x):\n    if x:\n        a = 1\n\n$0\n    return a\n";
        assert_eq!(check(doc, Mode::SingleLine), None);
        // Inside brackets, a string, after a continuation, or with code before the cursor.
        assert_eq!(check("x = foo(\n$0    1)\n", Mode::SingleLine), None);
        assert_eq!(check("s = \"\"\"\n$0\"\"\"\n", Mode::SingleLine), None);
        assert_eq!(check("x = 1 + \\\n$0", Mode::SingleLine), None);
        assert_eq!(check("if x:\n    y = $0\n", Mode::SingleLine), None);
        // Not Python.
        let (p, s) = ("fn f() {\n", "\n}\n");
        assert_eq!(
            expected_indent(Some(Language::Rust), p, s, Mode::MultiLine),
            None
        );
    }

    #[test]
    fn what_the_user_typed_wins() {
        let doc = "if x:\n    $0\n";
        assert_eq!(check(doc, Mode::MultiLine).as_deref(), Some("    "));
        let doc = "if x:\n        $0\n";
        assert_eq!(check(doc, Mode::MultiLine), None);
    }

    #[test]
    fn the_unit_comes_from_the_file() {
        let doc = "def f(x):\n  if x:\n    return 1\n  while x:\n$0";
        assert_eq!(check(doc, Mode::MultiLine).as_deref(), Some("    "));
        let doc = "def f(x):\n\tif x:\n$0";
        assert_eq!(check(doc, Mode::MultiLine).as_deref(), Some("\t\t"));
    }
}
