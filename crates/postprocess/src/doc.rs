//! The cursor's surroundings, normalized to `\n` line endings and analysed once.

use std::borrow::Cow;

use nib_syntax::Language;

use crate::scan::{Ev, Lexer};

/// `\r\n` and lone `\r` become `\n`.
pub(crate) fn normalize(s: &str) -> Cow<'_, str> {
    if s.contains('\r') {
        Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Width of the leading whitespace (tab stops of 8).
pub(crate) fn indent_width(line: &str) -> usize {
    let mut w = 0;
    for c in line.chars() {
        match c {
            ' ' => w += 1,
            '\t' => w = (w / 8 + 1) * 8,
            _ => break,
        }
    }
    w
}

/// `line` without up to `cols` columns of leading whitespace.
pub(crate) fn strip_indent(line: &str, cols: usize) -> &str {
    let mut w = 0;
    for (i, c) in line.char_indices() {
        if w >= cols {
            return &line[i..];
        }
        match c {
            ' ' => w += 1,
            '\t' => w = (w / 8 + 1) * 8,
            _ => return &line[i..],
        }
    }
    ""
}

/// A line worth comparing for repeats: at least 3 visible characters, one of them a letter or
/// digit (so `}` or `)` lines, which legitimately repeat, never count).
pub(crate) fn significant(trimmed: &str) -> bool {
    trimmed.chars().filter(|c| !c.is_whitespace()).count() >= 3
        && trimmed.chars().any(|c| c.is_alphanumeric())
}

pub(crate) struct Doc<'a> {
    pub(crate) lang: Option<Language>,
    pub(crate) prefix: Cow<'a, str>,
    pub(crate) suffix: Cow<'a, str>,
    /// The document uses `\r\n`.
    pub(crate) crlf: bool,
    /// Byte offset in `prefix` where the cursor's line starts.
    line_start: usize,
    /// Byte offset in `suffix` where the cursor's line ends.
    line_end: usize,
    /// Lexer state at the cursor.
    pub(crate) lex: Lexer,
    /// How many of the brackets open at the cursor the suffix closes (within its window).
    pub(crate) suffix_pops: usize,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(lang: Option<Language>, prefix: &'a str, suffix: &'a str) -> Doc<'a> {
        let crlf = prefix.contains("\r\n") || suffix.contains("\r\n");
        let prefix = normalize(prefix);
        let suffix = normalize(suffix);
        let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
        let line_end = suffix.find('\n').unwrap_or(suffix.len());
        let mut lex = Lexer::new(lang);
        lex.feed(&prefix, |_, _| {});
        let base = lex.stack.len();
        let mut min = base;
        let mut after = lex.clone();
        after.feed(&suffix, |_, ev| {
            if let Ev::Close {
                matched: true,
                depth,
            } = ev
            {
                min = min.min(depth - 1);
            }
        });
        Doc {
            lang,
            prefix,
            suffix,
            crlf,
            line_start,
            line_end,
            lex,
            suffix_pops: base - min,
        }
    }

    /// The current line before the cursor.
    pub(crate) fn line_prefix(&self) -> &str {
        &self.prefix[self.line_start..]
    }

    /// The current line after the cursor.
    pub(crate) fn line_suffix(&self) -> &str {
        &self.suffix[..self.line_end]
    }

    pub(crate) fn line_prefix_blank(&self) -> bool {
        self.line_prefix().trim().is_empty()
    }

    /// The nearest non-blank line before the cursor's line.
    pub(crate) fn prev_line(&self) -> Option<&str> {
        self.prefix[..self.line_start]
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
    }

    /// The suffix's first non-blank line (the rest of the cursor's line counts), untrimmed.
    pub(crate) fn next_line(&self) -> Option<&str> {
        self.suffix.lines().find(|l| !l.trim().is_empty())
    }

    /// Absolute indentation of [`Doc::next_line`]; `None` when it starts mid-line.
    pub(crate) fn next_line_indent(&self) -> Option<usize> {
        if !self.line_suffix().trim().is_empty() {
            return self
                .line_prefix_blank()
                .then(|| indent_width(self.line_prefix()) + indent_width(self.line_suffix()));
        }
        self.next_line().map(indent_width)
    }

    pub(crate) fn is_comment_line(&self, line: &str) -> bool {
        let t = line.trim_start();
        match self.lang {
            Some(Language::Rust) => t.starts_with("//") || t.starts_with("/*"),
            Some(l) => t.starts_with(l.line_comment()),
            None => false,
        }
    }

    /// The last meaningful character of the cursor's line before the cursor, ignoring a
    /// trailing line comment.
    pub(crate) fn line_prefix_last_char(&self) -> Option<char> {
        last_code_char(self.lang, self.line_prefix())
    }
}

/// The last character of `line` that is not whitespace or part of a trailing line comment.
pub(crate) fn last_code_char(lang: Option<Language>, line: &str) -> Option<char> {
    let mut lx = Lexer::new(lang);
    let mut comment_at = None;
    lx.feed(line, |i, ev| {
        if ev == Ev::LineComment && comment_at.is_none() {
            comment_at = Some(i);
        }
    });
    line[..comment_at.unwrap_or(line.len())]
        .trim_end()
        .chars()
        .last()
}
