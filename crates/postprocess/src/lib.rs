//! Post-processing of raw model completions (fill-in-the-middle "ghost text").
//!
//! A small model's raw output is often right for a line and then keeps writing over the code
//! that follows. This crate turns the raw middle into what the editor should show:
//! - decides single- vs multi-line from the cursor's position ([`decide_mode`]);
//! - cuts the output to the cursor's scope: the first line, or the lines until the output
//!   leaves the enclosing block (Python indentation, bracket balance) ([`process`]);
//! - drops what duplicates the suffix (closers and quotes the line already has, a rewrite of
//!   the next line) and closers that match nothing;
//! - filters outputs that are empty, only comments, repeat the previous line or add syntax
//!   errors (tree-sitter, compared with the document without the completion), and noise
//!   nobody accepts ([`noise`]): a comment that only annotates the finished line before the
//!   cursor (`else:  # EOF`; taken off when code follows), closers the suffix already has;
//! - says which indentation a new line at the cursor must have, where the layout decides it
//!   ([`expected_indent`], for constrained decoding);
//! - flags a line that repeats code further down ([`repeats_later_line`]) or makes it
//!   unreachable ([`makes_code_unreachable`]): worth a retry;
//! - tells a streaming decoder when it can stop ([`should_stop`]), buckets confidence from
//!   token log-probabilities ([`confidence`]) and ranks alternatives ([`rank_alternatives`]);
//! - takes the code out of a chat answer ([`answer_code`]) and the body of the function being
//!   written out of that code, with the imports and helpers it needs ([`function_body`]).
//!
//! - (Python, single-line mode on a new line) lets the suggestion grow past its first line
//!   when the layout needs it: a block header gets its body, a statement above a deeper line
//!   becomes the header that line needs ([`may_extend`]).
//!
//! Invariants and boundary:
//! - Pure: no IO, no async, no LSP types; strings in, strings out.
//! - Never panics, on any input (empty, CRLF, non-ASCII, huge); work is linear in the input
//!   plus at most a handful of tree-sitter parses of `prefix + completion + suffix`.
//! - Works on `\n` internally; when the document uses `\r\n`, so does the output.
//! - A single-line result never contains a line break, except where Python's layout needs
//!   more lines (at most [`MAX_LAYOUT_LINES`]) and a final one when the cursor is
//!   at the start of a line that has code and the result is a line of its own (inserted above
//!   that code: the cursor is before the code's indentation, or inline it would add syntax
//!   errors). Results never end in whitespace, except
//!   spaces before text the cursor's line already has (`x, ` before `a)`), that final line
//!   break (in either mode) and, in multi-line mode, a line break plus the line's indentation
//!   before a closer the cursor's line already has (so `}` / `)` lands on a line of its own).
//! - The suffix's first non-blank line (when at least 8 characters) never appears in a result.

mod cut;
mod doc;
mod extract;
mod indent;
mod layout;
mod scan;
mod syntax_check;

use std::collections::HashSet;

pub use cut::MAX_LINES;
pub use extract::{answer_code, code_block_closed, function_body, Extracted};
pub use indent::expected_indent;
pub use layout::{header_indent, may_extend, MAX_LAYOUT_LINES};
pub use nib_syntax::Language;

use crate::cut::CutReason;
use crate::doc::{last_code_char, normalize, significant, Doc};
use crate::syntax_check::Checker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SingleLine,
    MultiLine,
}

/// Raw outputs longer than this are cut before any processing.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// Decide from the cursor's syntactic position.
///
/// - Code after the cursor on the same line (anything but closing brackets, quotes,
///   `;`, `,` and whitespace), or a cursor inside a string or comment: [`Mode::SingleLine`].
/// - The line before the cursor ends a block header (`:` in Python, `{` in Rust, either for
///   plain text), or the cursor's line is blank right after such a line (an empty body), or
///   (Python) right after the docstring that follows such a line (a function body to write
///   from its signature and docstring): [`Mode::MultiLine`].
/// - (code) A blank line of its own, nothing before or after the cursor on it: new lines are
///   being written, [`Mode::MultiLine`]; except (Python) where the layout asks for one
///   particular line (the next code line is deeper than the previous one, or is an `else:` /
///   `except:` clause): [`Mode::SingleLine`].
/// - Anything else (mid-statement, code after the cursor): [`Mode::SingleLine`].
pub fn decide_mode(lang: Option<Language>, prefix: &str, suffix: &str) -> Mode {
    let doc = Doc::new(lang, prefix, suffix);
    if !doc.lex.in_code() {
        return Mode::SingleLine;
    }
    let closers_only = doc
        .line_suffix()
        .chars()
        .all(|c| c.is_whitespace() || ")]}\"'`;,".contains(c));
    if !closers_only {
        return Mode::SingleLine;
    }
    let opens_block = |c: char| match lang {
        Some(Language::Python) => c == ':',
        Some(Language::Rust) => c == '{',
        None => c == ':' || c == '{',
    };
    let header = if doc.line_prefix_blank() {
        doc.prev_line().and_then(|l| last_code_char(lang, l))
    } else {
        doc.line_prefix_last_char()
    };
    let after_docstring = lang == Some(Language::Python)
        && doc.line_prefix_blank()
        && ends_with_header_docstring(lang, &prefix[..prefix.rfind('\n').map_or(0, |i| i + 1)]);
    let blank_line = lang.is_some()
        && doc.line_prefix_blank()
        && doc.line_suffix().trim().is_empty()
        && !layout_wants_a_line(&doc);
    if header.is_some_and(opens_block) || after_docstring || blank_line {
        Mode::MultiLine
    } else {
        Mode::SingleLine
    }
}

/// (Python, a blank cursor line) The layout asks for one particular line here: the next code
/// line is deeper than the previous one (its header is missing) or is a clause (`else:`,
/// `except ..:`) that needs its `if` / `try`. Single-line mode handles those (the header's
/// indentation, a retry at it).
fn layout_wants_a_line(doc: &Doc) -> bool {
    if doc.lang != Some(Language::Python) {
        return false;
    }
    let line_start = doc.prefix.len() - doc.line_prefix().len();
    let code = |l: &&str| !l.trim().is_empty() && !doc.is_comment_line(l);
    let prev = doc.prefix[..line_start].lines().rev().find(code);
    let Some(next) = doc.suffix.lines().skip(1).find(code) else {
        return false;
    };
    let deeper = prev.is_some_and(|p| doc::indent_width(next) > doc::indent_width(p));
    deeper || layout::CLAUSE_KEYWORDS.contains(&layout::first_word(next.trim_start()))
}

/// `text` (the prefix up to the cursor's line) ends with a docstring that is the first
/// statement after a block header (`def f():` then `"""..."""`).
pub(crate) fn ends_with_header_docstring(lang: Option<Language>, text: &str) -> bool {
    let t = text.trim_end();
    for q in ["\"\"\"", "'''"] {
        let Some(body) = t.strip_suffix(q) else {
            continue;
        };
        let Some(open) = body.rfind(q) else {
            return false;
        };
        let before = body[..open].trim_end_matches(|c: char| "rRuUbB".contains(c));
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if !before[line_start..].trim().is_empty() {
            return false;
        }
        let header = before[..line_start]
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty());
        return header.and_then(|l| last_code_char(lang, l)) == Some(':');
    }
    false
}

#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// `None` = plain text: only the language-independent rules.
    pub lang: Option<Language>,
    /// Document text before the cursor (may be a window starting at a line start).
    pub prefix: &'a str,
    /// Document text after the cursor (window).
    pub suffix: &'a str,
    /// The model's raw output (the middle).
    pub raw: &'a str,
    pub mode: Mode,
}

/// What to show; `text == ""` means nothing, and then `dropped` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    pub dropped: Option<DropReason>,
}

impl Output {
    fn dropped(reason: DropReason) -> Output {
        Output {
            text: String::new(),
            dropped: Some(reason),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Nothing (or nothing for this line) was generated.
    Empty,
    /// Only whitespace or comments where code is expected.
    OnlyWhitespaceOrComment,
    /// Repeats the line before the cursor.
    RepeatsPrevious,
    /// Everything was a repeat of the text after the cursor.
    RepeatsSuffix,
    /// Adds tree-sitter ERROR/MISSING nodes near the cursor that the document did not have.
    IntroducesSyntaxError,
    /// (Python) Breaks the layout: the next code line ends up deeper than its block, or a
    /// dedent matches no enclosing block.
    BreaksIndentation,
}

fn cap(raw: &str) -> &str {
    let mut end = raw.len().min(MAX_RAW_BYTES);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

/// Turn a raw model output into what the editor shows. See the crate docs for the rules.
pub fn process(input: &Input) -> Output {
    let doc = Doc::new(input.lang, input.prefix, input.suffix);
    let raw = normalize(cap(input.raw));
    let single = input.mode == Mode::SingleLine;
    let (text, cut) = if single {
        let mut text = cut::single_line(&doc, &raw);
        if layout::needs_more_lines(&doc, &text) {
            // Python's layout needs more lines here: the first few that mend it, if any.
            let s = cut::prepare_multi(&doc, &raw);
            let ends = s.match_indices('\n').map(|(i, _)| i).chain([s.len()]);
            let mended = ends
                .skip(1)
                .take(MAX_LAYOUT_LINES - 1)
                .map(|end| s[..end].trim_end())
                .take_while(|t| !layout::leaves_block(&doc, t))
                .find(|t| !layout::needs_more_lines(&doc, t));
            if let Some(t) = mended {
                text = t.to_string();
            }
        }
        (text, None)
    } else {
        let s = cut::prepare_multi(&doc, &raw);
        let cut = cut::scope_cut(&doc, &s, true);
        let mut text = s[..cut.end].to_string();
        cut::drop_trailing_header(&doc, &mut text);
        (text, cut.reason)
    };
    if text.trim().is_empty() {
        let suffix_repeat = cut == Some(CutReason::SuffixRepeat) && !raw.trim().is_empty();
        return Output::dropped(if suffix_repeat {
            DropReason::RepeatsSuffix
        } else {
            DropReason::Empty
        });
    }
    let mut text = cut::fix_suffix(&doc, single, &text);
    if single && doc.line_prefix_blank() && text.trim() == doc.next_line().unwrap_or("").trim() {
        // A rewrite of the next line. Shallower than that line, the model wanted a line the
        // layout needs there (the header the next line is the body of): worth a retry at
        // the header's indentation, which `BreaksIndentation` asks for.
        let as_line = !doc.line_suffix().trim().is_empty();
        let width = doc::indent_width(&format!("{}{}", doc.line_prefix(), text));
        let shallower = doc.next_line_indent().is_some_and(|next| width < next);
        let breaks = shallower
            && Checker::new(&doc).is_some_and(|mut c| c.introduces_errors(&text, as_line));
        if breaks {
            return Output::dropped(DropReason::BreaksIndentation);
        }
        text.clear();
    }
    // The suffix's first non-blank line never appears in the output.
    if let Some(next) = doc.next_line().map(str::trim).filter(|n| n.len() >= 8) {
        if let Some(i) = text.find(next) {
            text.truncate(i);
            text.truncate(text.trim_end().len());
        }
    }
    if text.trim().is_empty() {
        return Output::dropped(DropReason::RepeatsSuffix);
    }
    if let Some(reason) = noise_in(&doc, &mut text) {
        return Output::dropped(reason);
    }
    if repeats_previous(&doc, &text) {
        return Output::dropped(DropReason::RepeatsPrevious);
    }
    // At a line start before existing code, the completion may also be meant as lines of
    // their own: then it ends with a line break, which pushes the existing code down.
    let as_line = doc.line_prefix_blank() && !doc.line_suffix().trim().is_empty();
    // Before the indentation of existing code the text cannot be meant inline (and
    // tree-sitter accepts `return x            return y` on one line).
    let before_indent = as_line && doc.line_suffix().starts_with([' ', '\t']);
    let mut own_line = false;
    if let Some(mut checker) = Checker::new(&doc) {
        let mut verdict = |t: &str| {
            if before_indent {
                return checker.verdict(t, true);
            }
            let inline = checker.verdict(t, false)?;
            if as_line {
                checker.verdict(t, true)
            } else {
                Some(inline)
            }
        };
        if single {
            if let Some(reason) = verdict(&text) {
                return Output::dropped(reason);
            }
        } else if let Some(reason) = verdict(&text) {
            // Keep the longest run of whole lines that parses no worse.
            let ends: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
            let shorter = ends
                .iter()
                .rev()
                .take(8)
                .map(|&i| text[..i].trim_end())
                .find(|t| !t.trim().is_empty() && verdict(t).is_none());
            match shorter {
                Some(t) => text.truncate(t.len()),
                None => return Output::dropped(reason),
            }
        }
        own_line = as_line
            && checker.introduces_errors(&text, false)
            && !checker.introduces_errors(&text, true);
    }
    own_line |= before_indent && !text.ends_with('\n');
    if own_line {
        text.push('\n');
    }
    if !single
        && !own_line
        && text.contains('\n')
        && doc.line_suffix().trim_start().starts_with([')', ']', '}'])
    {
        // Keep the closer the line already has on a line of its own.
        let lp = doc.line_prefix();
        let indent = &lp[..lp.len() - lp.trim_start().len()];
        text.push('\n');
        text.push_str(indent);
    }
    if doc.crlf {
        text = text.replace('\n', "\r\n");
    }
    Output {
        text,
        dropped: None,
    }
}

/// How far below the cursor [`repeats_later_line`] looks.
pub const LATER_LINES: usize = 40;

/// A kept single-line `text` that writes, on a line of its own, a line the suffix already has
/// further down at the same indentation, with nothing shallower in between (the model skipped
/// ahead to code that exists: `return x` above the `return x` that ends the function). Worth
/// a second candidate; callers keep `text` when the second candidate is no better.
pub fn repeats_later_line(input: &Input, text: &str) -> bool {
    if input.mode != Mode::SingleLine {
        return false;
    }
    let doc = Doc::new(input.lang, input.prefix, input.suffix);
    let line = text.trim();
    if !doc.line_prefix_blank() || line.len() < 6 || !significant(line) {
        return false;
    }
    let text_line = text.trim_end_matches('\n');
    let indent = doc::indent_width(doc.line_prefix()) + doc::indent_width(text_line);
    for l in doc.suffix.lines().take(LATER_LINES) {
        if l.trim().is_empty() {
            continue;
        }
        let w = doc::indent_width(l);
        if l.trim() == line && w == indent {
            return true;
        }
        if w < indent {
            return false;
        }
    }
    false
}

/// A kept single-line `text` ends with a statement that leaves the block (`return`, `raise`,
/// `break`, `continue`) right above code at the same indentation, which it makes
/// unreachable: `return None` above the function's real `return`, `return True` above the
/// loop that decides it. Hand-written code almost never does this (1 of 1,033 HumanEval
/// infilling lines), a small model often does. Worth a second candidate, like
/// [`repeats_later_line`].
pub fn makes_code_unreachable(input: &Input, text: &str) -> bool {
    if input.mode != Mode::SingleLine || input.lang.is_none() {
        return false;
    }
    let doc = Doc::new(input.lang, input.prefix, input.suffix);
    if !doc.line_prefix_blank() || !doc.lex.in_code() {
        return false;
    }
    let Some((i, last)) = text
        .trim_end()
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !doc.is_comment_line(l))
        .last()
    else {
        return false;
    };
    let word = layout::first_word(last.trim_start());
    let exits = match input.lang {
        Some(Language::Python) => ["return", "raise", "break", "continue"].contains(&word),
        _ => ["return", "break", "continue"].contains(&word),
    };
    if !exits {
        return false;
    }
    let width = doc::indent_width(last)
        + if i == 0 {
            doc::indent_width(doc.line_prefix())
        } else {
            0
        };
    let Some(next) = indent::next_code_line(&doc) else {
        return false;
    };
    let next_width = if doc.line_suffix().trim().is_empty() {
        doc::indent_width(next)
    } else {
        doc::indent_width(doc.line_prefix()) + doc::indent_width(next)
    };
    let next_word = layout::first_word(next.trim_start());
    // Lines that continue a compound statement (or close a Rust block) are not code after it.
    let continues = layout::CLAUSE_KEYWORDS.contains(&next_word)
        || next_word == "case"
        || next.trim_start().starts_with(['}', ')', ']']);
    width == next_width && !continues
}

/// Whether a suggestion is noise nobody accepts, and why: only comments where code is
/// expected, only the closers the suffix already has, or nothing once a comment that
/// merely annotates the finished line before the cursor (`else:  # EOF`) is taken off. Such
/// a comment is taken off `text` when code follows it. Callers that trim a processed
/// suggestion afterwards (the deadline) ask again; showing nothing is better than noise.
pub fn noise(input: &Input, text: &mut String) -> Option<DropReason> {
    let doc = Doc::new(input.lang, input.prefix, input.suffix);
    noise_in(&doc, text)
}

fn noise_in(doc: &Doc, text: &mut String) -> Option<DropReason> {
    if text.trim().is_empty() {
        return Some(DropReason::Empty);
    }
    if only_comments(doc, text) {
        return Some(DropReason::OnlyWhitespaceOrComment);
    }
    strip_trailing_comment(doc, text);
    if text.trim().is_empty() {
        return Some(DropReason::OnlyWhitespaceOrComment);
    }
    if only_closes_what_the_suffix_closes(doc, text) {
        return Some(DropReason::RepeatsSuffix);
    }
    None
}

/// The cursor ends a line of code and the suggestion's first line is only a comment on it,
/// with code on the lines after: the comment goes, the lines stay.
fn strip_trailing_comment(doc: &Doc, text: &mut String) {
    if doc.lang.is_none()
        || !doc.lex.in_code()
        || doc.line_prefix_blank()
        || !doc.line_suffix().trim().is_empty()
    {
        return;
    }
    let first = text.split('\n').next().unwrap_or("");
    if first.trim().is_empty() || !doc.is_comment_line(first) || !first.starts_with([' ', '\t']) {
        return;
    }
    let rest = text[first.len()..].to_string();
    *text = if rest.trim().is_empty() {
        String::new()
    } else {
        rest
    };
}

/// The suggestion is only closing brackets (and `;` / `,`), and the text after the cursor
/// (past whitespace and line breaks) starts with those same closers.
fn only_closes_what_the_suffix_closes(doc: &Doc, text: &str) -> bool {
    let closers: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if closers.is_empty()
        || !closers
            .chars()
            .all(|c| matches!(c, ')' | ']' | '}' | ';' | ','))
    {
        return false;
    }
    let after: String = doc
        .suffix
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(closers.chars().count())
        .collect();
    after == closers
}

/// All non-blank lines are comments, where code is expected (the cursor is in code and is
/// not continuing a block of comment lines).
fn only_comments(doc: &Doc, text: &str) -> bool {
    if doc.lang.is_none() || !doc.lex.in_code() {
        return false;
    }
    if doc.line_prefix_blank() && doc.prev_line().is_some_and(|l| doc.is_comment_line(l)) {
        return false;
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| doc.is_comment_line(l))
}

/// The first line the completion writes equals the non-blank line before it.
fn repeats_previous(doc: &Doc, text: &str) -> bool {
    let first = text.split('\n').next().unwrap_or("");
    let (line, prev) = if !first.trim().is_empty() {
        let rest = if text.contains('\n') {
            ""
        } else {
            doc.line_suffix()
        };
        (
            format!("{}{}{}", doc.line_prefix(), first, rest),
            doc.prev_line(),
        )
    } else {
        let Some(line) = text.split('\n').find(|l| !l.trim().is_empty()) else {
            return false;
        };
        let prev = if doc.line_prefix_blank() {
            doc.prev_line()
        } else {
            Some(doc.line_prefix())
        };
        (line.to_string(), prev)
    };
    let line = line.trim();
    significant(line) && prev.is_some_and(|p| p.trim() == line)
}

/// Streaming early stop: `input.raw` is the text generated so far. True once more tokens
/// cannot change what [`process`] keeps: in single-line mode a line break after the line's
/// text (or right away when the cursor's line is not blank); in multi-line mode when the
/// output left the block, repeated the suffix's first non-blank line or grew too long.
pub fn should_stop(input: &Input) -> bool {
    let doc = Doc::new(input.lang, input.prefix, input.suffix);
    let raw = normalize(cap(input.raw));
    if raw.len() >= MAX_RAW_BYTES {
        return true;
    }
    match input.mode {
        Mode::SingleLine if layout::may_extend(doc.lang, &doc.prefix, &doc.suffix, input.mode) => {
            // Whole lines so far: stop at the first line break where the layout is whole, or
            // after the most lines a suggestion may grow to.
            let s = cut::prepare_multi(&doc, &raw);
            let mut lines = 0;
            for (end, _) in s.match_indices('\n') {
                let t = &s[..end];
                if t.trim().is_empty() {
                    continue;
                }
                lines += 1;
                if lines >= MAX_LAYOUT_LINES
                    || layout::leaves_block(&doc, t)
                    || !layout::needs_more_lines(&doc, t)
                {
                    return true;
                }
            }
            false
        }
        Mode::SingleLine => {
            let Some(first_end) = raw.find('\n') else {
                return false;
            };
            if !raw[..first_end].trim().is_empty() || !doc.line_prefix_blank() {
                return true;
            }
            // A blank cursor line: the first non-blank line counts.
            let rest =
                raw[first_end + 1..].trim_start_matches(|c: char| c.is_whitespace() && c != '\n');
            let rest = rest.trim_start();
            rest.contains('\n')
        }
        Mode::MultiLine => {
            let s = cut::prepare_multi(&doc, &raw);
            cut::scope_cut(&doc, &s, false).reason.is_some()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// Total log-probability of the kept tokens at or above which (with [`HIGH_MIN_LOGPROB`]) an
/// inline suggestion is [`Confidence::High`]: the chance that the whole suggestion is what the
/// model would write, about e^-1 or better. Calibrated on HumanEval single-line infilling (see
/// docs/evaluation.md, "Confidence").
pub const HIGH_SUM_LOGPROB: f32 = -1.0;
/// Every token at or above this for [`Confidence::High`].
pub const HIGH_MIN_LOGPROB: f32 = -1.1;
/// Total below this is [`Confidence::Low`].
pub const LOW_SUM_LOGPROB: f32 = -3.0;

/// Confidence bucket of an inline suggestion from the log-probabilities of its kept tokens:
/// their sum (longer suggestions have more ways to be wrong) and the weakest token. No
/// tokens, or a value that is not a finite log-probability (NaN, infinite, positive), is
/// [`Confidence::Low`].
pub fn confidence(token_logprobs: &[f32]) -> Confidence {
    if !valid_logprobs(token_logprobs) {
        return Confidence::Low;
    }
    let sum = token_logprobs.iter().map(|&p| p as f64).sum::<f64>();
    let min = token_logprobs.iter().copied().fold(f32::INFINITY, f32::min);
    if sum < LOW_SUM_LOGPROB as f64 {
        Confidence::Low
    } else if sum >= HIGH_SUM_LOGPROB as f64 && min >= HIGH_MIN_LOGPROB {
        Confidence::High
    } else {
        Confidence::Medium
    }
}

fn valid_logprobs(token_logprobs: &[f32]) -> bool {
    !token_logprobs.is_empty() && token_logprobs.iter().all(|p| p.is_finite() && *p <= 1e-3)
}

/// Confidence of a long generated body (a code action), where a sum would always be low:
/// the mean token log-probability (high from -0.3, low under -1.2) and the weakest token (high
/// from -2.5, low under -6). Not calibrated on evaluation data yet.
pub fn confidence_per_token(token_logprobs: &[f32]) -> Confidence {
    if !valid_logprobs(token_logprobs) {
        return Confidence::Low;
    }
    let mean = token_logprobs.iter().map(|&p| p as f64).sum::<f64>() / token_logprobs.len() as f64;
    let min = token_logprobs.iter().copied().fold(f32::INFINITY, f32::min);
    if mean < -1.2 || min < -6.0 {
        Confidence::Low
    } else if mean >= -0.3 && min >= -2.5 {
        Confidence::High
    } else {
        Confidence::Medium
    }
}

/// Up to `n` alternatives, best score first (ties keep their order; NaN scores last), without
/// dropped or empty ones and without duplicates that differ only in whitespace.
pub fn rank_alternatives(cands: Vec<(Output, f32)>, n: usize) -> Vec<Output> {
    let mut cands: Vec<(Output, f32)> = cands
        .into_iter()
        .filter(|(o, _)| o.dropped.is_none() && !o.text.trim().is_empty())
        .collect();
    let key = |s: f32| if s.is_nan() { f32::NEG_INFINITY } else { s };
    cands.sort_by(|a, b| key(b.1).total_cmp(&key(a.1)));
    let mut seen = HashSet::new();
    cands
        .into_iter()
        .filter(|(o, _)| {
            seen.insert(
                o.text
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>(),
            )
        })
        .map(|(o, _)| o)
        .take(n)
        .collect()
}
