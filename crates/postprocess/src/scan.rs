//! A small, forgiving lexer that tracks brackets, strings and comments.
//!
//! Not a tokenizer: it only knows enough to tell whether a bracket is code (and not inside a
//! string or comment), so that bracket balance can be followed across the prefix, the
//! completion and the suffix. It works on bytes; every delimiter it looks at is ASCII, so it
//! never splits a UTF-8 character and never panics.

use nib_syntax::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Code,
    LineComment,
    /// Rust `/* */`, nested.
    BlockComment(u32),
    /// Python `'..'`/`".."` (single-line) or `'''..'''`/`"""..."""`; plain-text `".."`.
    Str {
        quote: u8,
        triple: bool,
    },
    /// Rust `".."` (may span lines).
    RustStr,
    /// Rust `r#".."#` with this many `#`.
    RawStr(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ev {
    Open,
    /// A closing bracket in code. `depth` is the stack length before it; `matched` says
    /// whether it closed the opener on top of the stack (and popped it).
    Close {
        matched: bool,
        depth: usize,
    },
    /// A line comment starts here.
    LineComment,
}

#[derive(Debug, Clone)]
pub(crate) struct Lexer {
    lang: Option<Language>,
    pub(crate) state: State,
    /// Open brackets (`(`, `[`, `{`) in code.
    pub(crate) stack: Vec<u8>,
    /// Single-line strings cut off by the end of a line.
    pub(crate) unterminated: u32,
    prev: u8,
    prev2: u8,
}

pub(crate) fn opener_of(close: u8) -> u8 {
    match close {
        b')' => b'(',
        b']' => b'[',
        _ => b'{',
    }
}

pub(crate) fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

impl Lexer {
    pub(crate) fn new(lang: Option<Language>) -> Lexer {
        Lexer {
            lang,
            state: State::Code,
            stack: Vec::new(),
            unterminated: 0,
            prev: b'\n',
            prev2: b'\n',
        }
    }

    pub(crate) fn in_code(&self) -> bool {
        self.state == State::Code
    }

    pub(crate) fn in_string(&self) -> bool {
        matches!(
            self.state,
            State::Str { .. } | State::RustStr | State::RawStr(_)
        )
    }

    /// Scan `text`, calling `on(byte_offset_in_text, event)` for each bracket in code.
    pub(crate) fn feed(&mut self, text: &str, mut on: impl FnMut(usize, Ev)) {
        let b = text.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let mut next = i + 1;
            match self.state {
                State::Code => match c {
                    b'(' | b'[' | b'{' => {
                        self.stack.push(c);
                        on(i, Ev::Open);
                    }
                    b')' | b']' | b'}' => {
                        let depth = self.stack.len();
                        let matched = self.stack.last() == Some(&opener_of(c));
                        if matched {
                            self.stack.pop();
                        }
                        on(i, Ev::Close { matched, depth });
                    }
                    _ => match self.lang {
                        Some(Language::Python) => match c {
                            b'#' => {
                                self.state = State::LineComment;
                                on(i, Ev::LineComment);
                            }
                            b'"' | b'\'' => {
                                if at(i + 1) == c && at(i + 2) == c {
                                    self.state = State::Str {
                                        quote: c,
                                        triple: true,
                                    };
                                    next = i + 3;
                                } else {
                                    self.state = State::Str {
                                        quote: c,
                                        triple: false,
                                    };
                                }
                            }
                            _ => {}
                        },
                        Some(Language::Rust) => match c {
                            b'/' if at(i + 1) == b'/' => {
                                self.state = State::LineComment;
                                on(i, Ev::LineComment);
                                next = i + 2;
                            }
                            b'/' if at(i + 1) == b'*' => {
                                self.state = State::BlockComment(1);
                                next = i + 2;
                            }
                            b'"' => self.state = State::RustStr,
                            b'r' if self.raw_string_may_start() => {
                                let mut j = i + 1;
                                while at(j) == b'#' {
                                    j += 1;
                                }
                                if at(j) == b'"' {
                                    self.state = State::RawStr((j - i - 1) as u32);
                                    next = j + 1;
                                }
                            }
                            b'\'' => {
                                // A char literal, or a lifetime / label (left alone).
                                if at(i + 1) == b'\\' {
                                    let end =
                                        (i + 2..(i + 14).min(b.len())).find(|&j| b[j] == b'\'');
                                    if let Some(end) = end {
                                        next = end + 1;
                                    }
                                } else if i + 1 < b.len() {
                                    let n = utf8_len(b[i + 1]);
                                    if at(i + 1 + n) == b'\'' && b[i + 1] != b'\'' {
                                        next = i + 2 + n;
                                    }
                                }
                            }
                            _ => {}
                        },
                        None => {
                            if c == b'"' {
                                self.state = State::Str {
                                    quote: c,
                                    triple: false,
                                };
                            }
                        }
                    },
                },
                State::LineComment => {
                    if c == b'\n' {
                        self.state = State::Code;
                    }
                }
                State::BlockComment(depth) => {
                    if c == b'*' && at(i + 1) == b'/' {
                        self.state = if depth <= 1 {
                            State::Code
                        } else {
                            State::BlockComment(depth - 1)
                        };
                        next = i + 2;
                    } else if c == b'/' && at(i + 1) == b'*' {
                        self.state = State::BlockComment(depth.saturating_add(1));
                        next = i + 2;
                    }
                }
                State::Str { quote, triple } => {
                    if c == b'\\' {
                        next = i + 2;
                    } else if c == b'\n' && !triple {
                        self.unterminated += 1;
                        self.state = State::Code;
                    } else if c == quote {
                        if !triple {
                            self.state = State::Code;
                        } else if at(i + 1) == quote && at(i + 2) == quote {
                            self.state = State::Code;
                            next = i + 3;
                        }
                    }
                }
                State::RustStr => {
                    if c == b'\\' {
                        next = i + 2;
                    } else if c == b'"' {
                        self.state = State::Code;
                    }
                }
                State::RawStr(hashes) => {
                    if c == b'"' && (1..=hashes as usize).all(|k| at(i + k) == b'#') {
                        self.state = State::Code;
                        next = i + 1 + hashes as usize;
                    }
                }
            }
            let next = next.min(b.len()).max(i + 1);
            self.prev2 = if next >= i + 2 {
                b[next - 2]
            } else {
                self.prev
            };
            self.prev = b[next - 1];
            i = next;
        }
    }

    /// `r` starts a raw string only where an identifier cannot continue (`r"`, `br"`).
    fn raw_string_may_start(&self) -> bool {
        !is_ident(self.prev) || (self.prev == b'b' && !is_ident(self.prev2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(lang: Option<Language>, text: &str) -> (usize, State) {
        let mut lx = Lexer::new(lang);
        lx.feed(text, |_, _| {});
        (lx.stack.len(), lx.state)
    }

    #[test]
    fn python_strings_and_comments_hide_brackets() {
        let py = Some(Language::Python);
        assert_eq!(depth(py, "f('(', \"[\") # (\n").0, 0);
        assert_eq!(depth(py, "x = \"\"\"(\n'\n\"\"\" + (").0, 1);
        assert_eq!(
            depth(py, "s = '(").1,
            State::Str {
                quote: b'\'',
                triple: false
            }
        );
        assert_eq!(depth(py, "s = '(\n").1, State::Code);
    }

    #[test]
    fn rust_lifetimes_chars_and_raw_strings() {
        let rs = Some(Language::Rust);
        assert_eq!(
            depth(rs, "fn f<'a>(x: &'a str) { let c = '{'; let d = '\\''; ").0,
            1
        );
        assert_eq!(depth(rs, "let s = r#\"(\"# ; /* ( /* ( */ */ // (\n").0, 0);
        assert_eq!(depth(rs, "let s = br\"(\";").0, 0);
        assert_eq!(depth(rs, "let é = 'é'; (").0, 1);
    }
}
