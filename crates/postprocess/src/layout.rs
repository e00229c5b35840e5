//! Python's layout rules, which tree-sitter forgives: a line indented deeper than its block
//! without a block header before it ("unexpected indent"), and a dedent to a column that no
//! enclosing block uses ("unindent does not match any outer indentation level").
//!
//! tree-sitter-python parses `return x` followed by a deeper `y = 1` without an ERROR node,
//! while CPython refuses the file; a single-line suggestion at the wrong indentation is the
//! most common way a small model breaks a Python file.

use nib_syntax::Language;

use crate::doc::{indent_width, last_code_char, Doc};
use crate::scan::{Ev, Lexer};
use crate::Mode;

/// Most lines a single-line suggestion grows to when Python's layout needs more (see
/// [`needs_more_lines`]).
pub const MAX_LAYOUT_LINES: usize = 6;

/// (Python, single-line mode, nothing but indentation before the cursor, outside brackets and
/// strings) The suggestion may grow past its first line when the layout needs it: the engine
/// must not stop at the first line break, and [`crate::should_stop`] decides.
pub fn may_extend(lang: Option<Language>, prefix: &str, suffix: &str, mode: Mode) -> bool {
    if lang != Some(Language::Python) || mode != Mode::SingleLine {
        return false;
    }
    let doc = Doc::new(lang, prefix, suffix);
    doc.lex.in_code() && doc.lex.stack.is_empty() && doc.line_prefix_blank()
}

/// (Python, a cursor on a blank line or before the indentation of code) `text`, made of whole
/// lines inserted at the cursor, leaves the layout broken where it meets the next code line:
/// it ends with a block header and the next line is not deeper (the body is missing), or it
/// ends with a statement and the next line is deeper (a header is missing). A suggestion that
/// stops there leaves the file broken; one more line may mend it.
pub(crate) fn needs_more_lines(doc: &Doc, text: &str) -> bool {
    if doc.lang != Some(Language::Python)
        || !doc.line_prefix_blank()
        || !doc.lex.in_code()
        || !doc.lex.stack.is_empty()
    {
        // Inside brackets or a string the lines are not the layout's.
        return false;
    }
    let whole = format!("{}{}\n", doc.line_prefix(), text.trim_end());
    let mut lex = Lexer::new(doc.lang);
    lex.feed(&whole, |_, _| {});
    if !lex.in_code() || !lex.stack.is_empty() {
        // An open bracket or string: the statement is not finished, nothing to compare.
        return false;
    }
    let Some(last) = whole
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !doc.is_comment_line(l))
    else {
        return false;
    };
    let next = if doc.line_suffix().trim().is_empty() {
        match doc
            .suffix
            .lines()
            .skip(1)
            .find(|l| !l.trim().is_empty() && !doc.is_comment_line(l))
        {
            Some(l) => indent_width(l),
            // The end of the file: a header still needs its body.
            None => return last_code_char(doc.lang, last) == Some(':'),
        }
    } else {
        indent_width(doc.line_prefix()) + indent_width(doc.line_suffix())
    };
    let header = last_code_char(doc.lang, last) == Some(':');
    let level = indent_width(last);
    let broken = if header { next <= level } else { next > level };
    broken || breaks_following_lines(doc, text)
}

/// (Python) A line of `text` (inserted at the cursor) starts a statement less indented than
/// the suggestion's first line: the suggestion left the block it was asked for (a `def main():`
/// after the function, say). Growth never goes there.
pub(crate) fn leaves_block(doc: &Doc, text: &str) -> bool {
    let whole = format!("{}{}", doc.line_prefix(), text);
    let mut lex = Lexer::new(doc.lang);
    let mut first: Option<usize> = None;
    let mut continued = false;
    for line in whole.split_inclusive('\n') {
        let logical_start = lex.in_code() && lex.stack.is_empty() && !continued;
        let code = line.trim();
        if logical_start && !code.is_empty() && !doc.is_comment_line(line) {
            let w = indent_width(line);
            match first {
                None => first = Some(w),
                Some(f) if w < f => return true,
                Some(_) => {}
            }
        }
        lex.feed(line, |_, _| {});
        continued = lex.in_code() && line.trim_end().ends_with('\\');
    }
    false
}

/// How many code lines after the suggestion [`breaks_following_lines`] looks at.
const FOLLOWING_LINES: usize = 4;

/// (Python) With `text` inserted, one of the next few code lines after it breaks the layout
/// (a dedent to no enclosing level, or an indent without a header): the lines the code below
/// needs, like the `if` an `else` belongs to, are still missing. Errors the code below has
/// anyway count too: they are where the document waits for lines at the cursor.
fn breaks_following_lines(doc: &Doc, text: &str) -> bool {
    let line_start = doc.prefix.len() - doc.line_prefix().len();
    let rest = if doc.line_suffix().trim().is_empty() {
        doc.suffix.get(doc.line_suffix().len() + 1..).unwrap_or("")
    } else {
        // The cursor's line keeps its code (and its indentation) below the new lines.
        &doc.suffix[..]
    };
    let mut head = String::new();
    let mut code_lines = 0;
    for line in rest.split_inclusive('\n') {
        if code_lines == FOLLOWING_LINES {
            break;
        }
        if !line.trim().is_empty() && !doc.is_comment_line(line) {
            code_lines += 1;
        }
        head.push_str(line);
    }
    if code_lines == 0 {
        return false;
    }
    let carried = if doc.line_suffix().trim().is_empty() {
        ""
    } else {
        doc.line_prefix()
    };
    let whole = format!(
        "{}{}{}\n{carried}",
        &doc.prefix[..line_start],
        doc.line_prefix(),
        text.trim_end()
    );
    let from = whole.len() - carried.len();
    layout_errors(&format!("{whole}{head}"))
        .into_iter()
        .any(|at| at >= from)
}

/// Byte offsets (line starts) of the logical lines of `text` that break Python's layout:
/// an indent without a header, a dedent to no enclosing level, and a clause (`else`, `elif`,
/// `except`, `finally`) after a simple statement at its level (the `if` or `try` it belongs
/// to is missing: tree-sitter parses `return x` then `else:` without complaint).
///
/// Forgiving where a window may start mid-file: the first code line sets the base level, and
/// a dedent below every level seen so far starts a new base instead of being an error. A line
/// after a block header that is not deeper ("expected an indented block") is not reported:
/// while typing, a header often comes before its body.
pub(crate) fn layout_errors(text: &str) -> Vec<usize> {
    let mut errors = Vec::new();
    let mut lex = Lexer::new(Some(Language::Python));
    let mut levels: Vec<usize> = Vec::new();
    // Per level: the last statement there was compound (a clause may follow it); `None`
    // before any statement at that level was seen (a window may start mid-block).
    let mut compound: Vec<Option<bool>> = Vec::new();
    let mut opens_block = false;
    let mut continued = false;
    let mut start = 0;
    while start < text.len() {
        let end = text[start..]
            .find('\n')
            .map_or(text.len(), |i| start + i + 1);
        let line = &text[start..end];
        let logical_start = lex.in_code() && lex.stack.is_empty() && !continued;
        let code = line.trim();
        if logical_start && !code.is_empty() && !code.starts_with('#') {
            let w = indent_width(line);
            let mut error = false;
            match levels.last().copied() {
                None => {
                    levels.push(w);
                    compound.push(None);
                }
                Some(top) if w > top => {
                    error |= !opens_block;
                    levels.push(w);
                    compound.push(None);
                }
                Some(top) if w < top => {
                    while levels.last().is_some_and(|&l| l > w) {
                        levels.pop();
                        compound.pop();
                    }
                    match levels.last() {
                        None => {
                            levels.push(w);
                            compound.push(None);
                        }
                        Some(&l) if l != w => {
                            error = true;
                            levels.push(w);
                            compound.push(None);
                        }
                        Some(_) => {}
                    }
                }
                Some(_) => {}
            }
            let word = first_word(code);
            let last = compound.last_mut().expect("a level was pushed");
            if CLAUSE_KEYWORDS.contains(&word) && *last == Some(false) {
                error = true;
            }
            *last = Some(COMPOUND_KEYWORDS.contains(&word));
            if error {
                errors.push(start);
            }
        }
        let mut comment_at = None;
        lex.feed(line, |i, ev| {
            if ev == Ev::LineComment && comment_at.is_none() {
                comment_at = Some(i);
            }
        });
        let body = line[..comment_at.unwrap_or(line.len())].trim_end();
        continued = lex.in_code() && body.ends_with('\\');
        if lex.in_code() && lex.stack.is_empty() && !continued && !body.trim().is_empty() {
            // The logical line ends here.
            opens_block = last_code_char(Some(Language::Python), body) == Some(':');
        }
        start = end;
    }
    errors
}

/// Python clauses: they continue a compound statement at their own level.
pub(crate) const CLAUSE_KEYWORDS: &[&str] = &["else", "elif", "except", "finally"];

/// Words that start a Python statement a clause (`else`, `except`, ...) may follow.
const COMPOUND_KEYWORDS: &[&str] = &[
    "if", "elif", "else", "for", "while", "try", "except", "async",
];

/// The first identifier-like word of `code`.
pub(crate) fn first_word(code: &str) -> &str {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("")
}

/// (Python) The indentation a block header at the cursor needs for the next code line to be
/// its body: one level less than that line. For a retry when a suggestion left the next line
/// indented deeper than its block. `None` when the cursor's line has text or the layout says
/// nothing.
pub fn header_indent(lang: Option<Language>, prefix: &str, suffix: &str) -> Option<String> {
    if lang != Some(Language::Python) {
        return None;
    }
    let doc = Doc::new(lang, prefix, suffix);
    if !doc.lex.in_code() || !doc.lex.stack.is_empty() || !doc.line_prefix_blank() {
        return None;
    }
    // The new line goes above the code the cursor's line has, or above the next code line.
    let next = if doc.line_suffix().trim().is_empty() {
        doc.suffix
            .lines()
            .skip(1)
            .find(|l| !l.trim().is_empty() && !doc.is_comment_line(l))?
            .to_string()
    } else {
        format!("{}{}", doc.line_prefix(), doc.line_suffix())
    };
    let next = next.as_str();
    let next_indent = &next[..next.len() - next.trim_start_matches([' ', '\t']).len()];
    if CLAUSE_KEYWORDS.contains(&first_word(next.trim_start())) {
        // A clause: its `if` / `try` goes level with it.
        let typed = doc.line_prefix();
        return next_indent
            .starts_with(typed)
            .then(|| next_indent.to_string());
    }
    let unit = if next_indent.ends_with('\t') {
        "\t"
    } else {
        let line_start = doc.prefix.len() - doc.line_prefix().len();
        let prev = doc.prefix[..line_start]
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !doc.is_comment_line(l))
            .map_or(0, indent_width);
        // The step the file uses: the smaller of 4 and the next line's depth over the
        // previous code line, when that is a plausible step.
        let w = indent_width(next_indent);
        if w > prev && w - prev < 4 {
            &next_indent[..w - prev]
        } else {
            "    "
        }
    };
    let header = next_indent.strip_suffix(unit)?;
    let typed = doc.line_prefix();
    header.starts_with(typed).then(|| header.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_lines_are_needed_for_a_missing_body_or_header() {
        let py = Some(Language::Python);
        let prefix = "def f(xs):\n    total = 0\n";
        let suffix = "    return total\n";
        let doc = Doc::new(py, prefix, suffix);
        assert!(needs_more_lines(&doc, "    for x in xs:\n"));
        assert!(!needs_more_lines(
            &doc,
            "    for x in xs:\n        total += x\n"
        ));
        assert!(!needs_more_lines(&doc, "    total += 1\n"));
        // The next line is deeper: a statement leaves it orphaned, a header adopts it.
        let doc = Doc::new(py, prefix, "\n        total += x\n    return total\n");
        assert!(needs_more_lines(&doc, "    total = 1"));
        assert!(!needs_more_lines(&doc, "    for x in xs:"));
        // At the end of the file a header needs its body, a statement nothing.
        let doc = Doc::new(py, prefix, "");
        assert!(needs_more_lines(&doc, "    for x in xs:"));
        assert!(!needs_more_lines(
            &doc,
            "    for x in xs:\n        total += x"
        ));
        assert!(!needs_more_lines(&doc, "    return total"));
        // Inside brackets: nothing to say.
        let doc = Doc::new(py, prefix, suffix);
        assert!(!needs_more_lines(&doc, "    xs = [\n"));
        // A comment line after the statement changes nothing.
        let doc = Doc::new(py, prefix, "\n        total += x\n");
        assert!(needs_more_lines(
            &doc,
            "    total = 1\n\n# Check the solution"
        ));
    }

    #[test]
    fn more_lines_are_needed_until_the_code_below_fits() {
        let py = Some(Language::Python);
        // The hidden lines held an `if` whose body and `else` follow the cursor.
        let prefix = "def f(xs):\n    out = []\n";
        let suffix =
            "            out.append(x)\n        else:\n            out.append(0)\n    return out\n";
        let doc = Doc::new(py, prefix, suffix);
        assert!(needs_more_lines(&doc, "    for x in xs:"));
        assert!(!needs_more_lines(&doc, "    for x in xs:\n        if x:"));
        // On a blank line above the same code.
        let below = format!("\n{suffix}");
        let doc = Doc::new(py, "def f(xs):\n    out = []\n    ", &below);
        assert!(needs_more_lines(&doc, "for x in xs:"));
        assert!(!needs_more_lines(&doc, "for x in xs:\n        if x:"));
        // An error further below is not the suggestion's business.
        let far = "    a = 1\n    b = 2\n    c = 3\n    d = 4\n      e = 5\n";
        let doc = Doc::new(py, prefix, far);
        assert!(!needs_more_lines(&doc, "    z = 0"));
    }

    #[test]
    fn growth_stays_in_the_block() {
        let py = Some(Language::Python);
        let doc = Doc::new(
            py,
            "def f(a, b):\n",
            "        if a:\n            return 1\n",
        );
        assert!(leaves_block(
            &doc,
            "    x = 1\n    return x\n\n\ndef main():\n"
        ));
        assert!(!leaves_block(&doc, "    def g(i):\n        y = (1,\n2)\n"));
        assert!(!leaves_block(
            &doc,
            "    x = 1\n# a comment at column 0\n    y = 2\n"
        ));
    }

    fn lines_with_errors(text: &str) -> Vec<usize> {
        layout_errors(text)
            .into_iter()
            .map(|at| text[..at].matches('\n').count() + 1)
            .collect()
    }

    #[test]
    fn a_clean_file_has_no_layout_errors() {
        let text = "import os\n\n\ndef f(xs):\n    \"\"\"Doc.\n\n  odd indentation inside a string\n    \"\"\"\n    total = (1 +\n  2)\n    for x in xs:  # c\n        if x:\n            total += x\n    # a comment at any column\n            # deeper comment\n    return \\\n        total\n\n\nclass A:\n    def g(self): return 1\n";
        assert_eq!(lines_with_errors(text), Vec::<usize>::new());
    }

    #[test]
    fn unexpected_indent_and_bad_dedent_are_found() {
        // A statement where a header belongs: the next line is too deep.
        let text = "def f(s):\n    for c in s:\n        if c:\n            d += 1\n    return d\n            d -= 1\n";
        assert_eq!(lines_with_errors(text), vec![6]);
        // A dedent to a column no block uses.
        let text = "def f(x):\n    if x:\n        y = 1\n      z = 2\n";
        assert_eq!(lines_with_errors(text), vec![4]);
    }

    #[test]
    fn a_clause_needs_its_compound_statement() {
        let text = "def f(a, b):\n    x = len(a)\n    else:\n        return b\n";
        assert_eq!(lines_with_errors(text), vec![3]);
        let text = "def f(a):\n    try:\n        g()\n    except E:\n        pass\n    finally:\n        h()\n    for x in a:\n        if x: return 1\n        elif x == 2: return 2\n    else:\n        pass\n";
        assert_eq!(lines_with_errors(text), Vec::<usize>::new());
        // A window that starts inside the `if` body does not know its header.
        let text = "        return a\n    else:\n        return b\n";
        assert_eq!(lines_with_errors(text), Vec::<usize>::new());
        // The header before a clause goes level with it.
        let py = Some(Language::Python);
        let prefix = "def f(a, b):\n    x = len(a)\n";
        assert_eq!(
            header_indent(py, prefix, "    else:\n        return b\n").as_deref(),
            Some("    ")
        );
    }

    #[test]
    fn a_window_may_start_inside_a_block() {
        let text = "        x = 1\n        return x\n\n    def g(self):\n        pass\nclass B:\n    pass\n";
        assert_eq!(lines_with_errors(text), Vec::<usize>::new());
    }

    #[test]
    fn header_indent_is_one_level_above_the_next_line() {
        let py = Some(Language::Python);
        let prefix = "def f(s):\n    for c in s:\n        if c:\n            d += 1\n";
        let suffix = "\n                d -= 1\n";
        assert_eq!(
            header_indent(py, prefix, suffix).as_deref(),
            Some("            ")
        );
        // Two-space files.
        let prefix = "def f(s):\n  for c in s:\n    d += 1\n";
        let suffix = "\n      d -= 1\n";
        assert_eq!(header_indent(py, prefix, suffix).as_deref(), Some("    "));
        // The cursor before the next line's code: the same answer.
        assert_eq!(
            header_indent(py, prefix, "      d -= 1\n").as_deref(),
            Some("    ")
        );
        // Text before the cursor, or another language: nothing.
        assert_eq!(header_indent(py, "    x", suffix), None);
        assert_eq!(header_indent(Some(Language::Rust), prefix, suffix), None);
    }
}
