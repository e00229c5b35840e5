//! Truncation: where a raw output stops being the completion the cursor asked for.

use std::borrow::Cow;

use nib_syntax::Language;

use crate::doc::{indent_width, last_code_char, significant, strip_indent, Doc};
use crate::scan::{is_ident, Ev};

/// A multi-line completion never keeps more lines than this.
pub const MAX_LINES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CutReason {
    /// A line equal to the suffix's first non-blank line.
    SuffixRepeat,
    /// Python: a line indented less than the block's body.
    Dedent,
    /// A closing bracket of a block opened before the cursor, or one that matches nothing.
    LeftBlock,
    /// A line repeating the line before it.
    RepeatedLine,
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) end: usize,
    pub(crate) reason: Option<CutReason>,
}

/// Where the cursor's line already has text, spaces the model repeats after `x = ` go.
fn dedup_space<'s>(doc: &Doc, s: &'s str) -> &'s str {
    let lp = doc.line_prefix();
    if !doc.line_prefix_blank() && lp.ends_with([' ', '\t']) && doc.lex.in_code() {
        s.trim_start_matches([' ', '\t'])
    } else {
        s
    }
}

/// Single line: the first line of the output; when the output starts with a line break, only
/// at a blank cursor line does the next non-blank line count (re-indented to the cursor).
pub(crate) fn single_line(doc: &Doc, raw: &str) -> String {
    let first_end = raw.find('\n').unwrap_or(raw.len());
    let first = &raw[..first_end];
    let line = if first.trim().is_empty() && first_end < raw.len() {
        if !doc.line_prefix_blank() {
            // The model ended the cursor's line: nothing to add to it.
            return String::new();
        }
        let line = raw[first_end + 1..]
            .split('\n')
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        strip_indent(line, indent_width(doc.line_prefix()))
    } else {
        dedup_space(doc, first)
    };
    line.to_string()
}

/// Multi-line output before scope cutting: at a blank cursor line leading blank lines go and
/// the first line is re-indented to the cursor.
pub(crate) fn prepare_multi<'s>(doc: &Doc, raw: &'s str) -> Cow<'s, str> {
    if doc.line_prefix_blank() {
        let first_end = raw.find('\n').unwrap_or(raw.len());
        if raw[..first_end].trim().is_empty() && first_end < raw.len() {
            let mut pos = first_end + 1;
            loop {
                let end = raw[pos..].find('\n').map_or(raw.len(), |i| pos + i);
                if !raw[pos..end].trim().is_empty() {
                    return Cow::Borrowed(strip_indent(
                        &raw[pos..],
                        indent_width(doc.line_prefix()),
                    ));
                }
                if end >= raw.len() {
                    return Cow::Borrowed("");
                }
                pos = end + 1;
            }
        }
        Cow::Borrowed(raw)
    } else {
        Cow::Borrowed(dedup_space(doc, raw))
    }
}

/// Python: (the smallest indentation a line of the completion may have and still belong to
/// the block the cursor is in, the indentation the completion starts at).
fn python_block_indent(doc: &Doc, s: &str) -> (usize, usize) {
    let cur = indent_width(doc.line_prefix());
    let mut lines = s.split('\n');
    let first = lines.next().unwrap_or("");
    let later = lines.find(|l| !l.trim().is_empty()).map(indent_width);
    if !doc.line_prefix_blank() {
        let body = if last_code_char(doc.lang, doc.line_prefix()) == Some(':') {
            match later {
                Some(w) if w > cur => w,
                _ => cur + 1,
            }
        } else {
            cur
        };
        (body, body)
    } else {
        let first = if !first.trim().is_empty() {
            cur + indent_width(first)
        } else {
            later.unwrap_or(cur)
        };
        // The completion may close blocks down to where the suffix continues (anywhere when
        // the document ends), but an indented cursor never runs on into top-level code.
        let next = doc.next_line_indent().unwrap_or(0);
        // The body of a header just written, with the code after it already there at the
        // header's level: the body is what is missing.
        let header = doc
            .prev_line()
            .filter(|l| last_code_char(doc.lang, l) == Some(':'))
            .map(indent_width);
        if header == Some(next) && next < first {
            return (first, first);
        }
        (
            if next < first {
                next.max(usize::from(first > 0))
            } else {
                first
            },
            first,
        )
    }
}

/// Python: `else:`, `elif ..:`, `except ..:`, `finally:` continue the statement of an enclosing
/// block (not a top-level one when the completion started indented).
fn continues_compound(trimmed: &str, indent: usize, first: usize) -> bool {
    (indent > 0 || first == 0)
        && ["else:", "elif ", "except", "finally:"]
            .iter()
            .any(|k| trimmed.starts_with(k))
}

/// Python: a line that starts a new definition.
fn starts_definition(trimmed: &str) -> bool {
    ["def ", "class ", "async def ", "@"]
        .iter()
        .any(|k| trimmed.starts_with(k))
}

fn same_as_next(doc: &Doc, line: &str, abs_indent: usize) -> bool {
    let Some(next) = doc.next_line() else {
        return false;
    };
    let (lt, nt) = (line.trim(), next.trim());
    lt == nt && (nt.len() >= 8 || doc.next_line_indent() == Some(abs_indent))
}

/// Where a multi-line completion leaves the cursor's scope. With `complete == false` (the
/// output is still being generated) a last line without a line break is not compared for
/// equality, but its indentation and brackets count.
pub(crate) fn scope_cut(doc: &Doc, s: &str, complete: bool) -> Cut {
    let python = doc.lang == Some(Language::Python);
    let block_indent = if python {
        python_block_indent(doc, s)
    } else {
        (0, 0)
    };
    let cur_indent = indent_width(doc.line_prefix());
    let lp_blank = doc.line_prefix_blank();
    let base = doc.lex.stack.len();
    let mut lex = doc.lex.clone();
    let mut prev_sig: Option<&str> = None;
    let mut start = 0;
    let mut idx = 0;
    let cut = |end, reason| Cut {
        end,
        reason: Some(reason),
    };
    while start < s.len() {
        let end = s[start..].find('\n').map_or(s.len(), |i| start + i);
        let line = &s[start..end];
        let complete_line = end < s.len() || complete;
        let trimmed = line.trim();
        if idx >= MAX_LINES {
            return cut(start, CutReason::TooLong);
        }
        let at_top = lex.in_code() && lex.stack.len() <= base;
        if at_top && (idx > 0 || lp_blank) && !trimmed.is_empty() {
            let abs_indent = if idx == 0 {
                cur_indent + indent_width(line)
            } else {
                indent_width(line)
            };
            if complete_line && same_as_next(doc, line, abs_indent) {
                return cut(start, CutReason::SuffixRepeat);
            }
            let (block, first) = block_indent;
            if python
                && idx > 0
                && lex.stack.is_empty()
                && ((abs_indent < block && !continues_compound(trimmed, abs_indent, first))
                    || (abs_indent < first && starts_definition(trimmed)))
            {
                return cut(start, CutReason::Dedent);
            }
            if complete_line && significant(trimmed) && prev_sig == Some(trimmed) {
                return cut(start, CutReason::RepeatedLine);
            }
        }
        if !trimmed.is_empty() {
            prev_sig = Some(trimmed);
        }
        let mut hit = None;
        lex.feed(&s[start..(end + 1).min(s.len())], |off, ev| {
            if hit.is_some() {
                return;
            }
            if let Ev::Close { matched, depth } = ev {
                if matched && depth > base {
                    return; // closes the completion's own bracket
                }
                // Closes a bracket opened before the cursor: leave it to the suffix when the
                // suffix closes it, else keep it (in Rust the block is done: end with its line).
                if !matched || doc.suffix_pops >= base + 1 - depth {
                    hit = Some(start + off);
                } else if !python {
                    hit = Some(end);
                }
            }
        });
        if let Some(pos) = hit {
            return cut(pos, CutReason::LeftBlock);
        }
        start = end + 1;
        idx += 1;
    }
    Cut {
        end: s.len(),
        reason: None,
    }
}

/// Bracket trouble of `mid` followed by the rest of the cursor's line: closers that match
/// nothing, a different number of brackets left open than without `mid`, strings left open.
fn bracket_score(doc: &Doc, mid: &str, rest: &str) -> u32 {
    let run = |mid: &str| {
        let mut lx = doc.lex.clone();
        let unterminated = lx.unterminated;
        let mut bad = 0u32;
        let mut on = |_, ev| {
            if let Ev::Close { matched: false, .. } = ev {
                bad += 1;
            }
        };
        lx.feed(mid, &mut on);
        lx.feed(rest, &mut on);
        (
            bad,
            lx.stack.len(),
            (lx.unterminated - unterminated) + lx.in_string() as u32,
        )
    };
    let (_, base_open, _) = run("");
    let (bad, open, strings) = run(mid);
    bad.saturating_add(open.abs_diff(base_open) as u32)
        .saturating_add(strings)
}

/// Drop what the rest of the cursor's line already has: a tail of the output equal to the
/// start of the line's suffix (when that does not unbalance brackets or strings), and in
/// single-line mode closers beyond what the prefix opened and the suffix does not need.
pub(crate) fn fix_suffix(doc: &Doc, single: bool, text: &str) -> String {
    let text = text.trim_end();
    let ls = doc.line_suffix().trim_end();
    let mut best = text;
    if !ls.is_empty() && !text.is_empty() {
        let lb = ls.as_bytes();
        let mut best_score = bracket_score(doc, text, ls);
        let ks = ls.char_indices().map(|(i, _)| i).skip(1).chain([ls.len()]);
        for k in ks {
            if k > text.len() || !text.ends_with(&ls[..k]) {
                continue;
            }
            let cand = &text[..text.len() - k];
            // Cutting inside a word of the suffix (`or a|nd`) is not a repeat.
            let safe = k == ls.len() || !(is_ident(lb[k - 1]) && is_ident(lb[k]));
            let score = bracket_score(doc, cand, ls);
            if score < best_score || (score == best_score && safe) {
                best = cand;
                best_score = score;
            }
        }
    }
    // Spaces before text the line already has (`x, ` before `a)`) are part of the completion.
    let keep_spaces = best.len() < text.len() && !ls.starts_with(char::is_whitespace);
    if single {
        best = trim_excess_closers(doc, best, ls);
    }
    if keep_spaces && !best.trim().is_empty() {
        best.trim_end_matches('\n').to_string()
    } else {
        best.trim_end().to_string()
    }
}

/// Python: a block header ending the completion, with no body in the suffix either, goes.
pub(crate) fn drop_trailing_header(doc: &Doc, text: &mut String) {
    if doc.lang != Some(Language::Python) {
        return;
    }
    loop {
        let t = text.trim_end();
        let Some(nl) = t.rfind('\n') else { return };
        let last = &t[nl + 1..];
        if last_code_char(doc.lang, last) != Some(':') {
            return;
        }
        // The suffix may hold the body.
        if doc
            .next_line_indent()
            .is_some_and(|next| next > indent_width(last))
        {
            return;
        }
        text.truncate(nl);
    }
}

fn trim_excess_closers<'s>(doc: &Doc, mut text: &'s str, ls: &str) -> &'s str {
    let base = doc.lex.stack.len();
    let count_bad = |lx: &mut crate::scan::Lexer, s: &str| {
        let mut bad = 0;
        lx.feed(s, |_, ev| {
            if let Ev::Close { matched: false, .. } = ev {
                bad += 1;
            }
        });
        bad
    };
    let baseline = count_bad(&mut doc.lex.clone(), ls);
    for _ in 0..64 {
        let mut lx = doc.lex.clone();
        let mut first_unmatched = None;
        let mut last_pop = None;
        lx.feed(text, |i, ev| {
            if let Ev::Close { matched, depth } = ev {
                if !matched {
                    first_unmatched.get_or_insert(i);
                } else if depth <= base {
                    last_pop = Some(i);
                }
            }
        });
        if let Some(i) = first_unmatched {
            text = text[..i].trim_end();
            continue;
        }
        if count_bad(&mut lx, ls) > baseline {
            if let Some(i) = last_pop {
                text = text[..i].trim_end();
                continue;
            }
        }
        break;
    }
    text
}
