//! Cheap bracket repair for fragments, so that `os.system("rm " + x` still parses as a call.
//!
//! Unclosed brackets are closed at the end of the line where the bracketed expression
//! evidently stops (the next line is not indented deeper than the opener's line) or at the
//! end of the text; unmatched closers are blanked out with spaces. Strings and comments are
//! skipped. Offsets in the repaired text map back to the original with [`Repair::to_original`].

use nib_syntax::Language;

/// A repaired text and the insertions that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repair {
    pub text: String,
    /// (offset in the original text, inserted length), ascending.
    inserts: Vec<(usize, usize)>,
}

impl Repair {
    /// Map an offset of the repaired text to the original text.
    pub fn to_original(&self, rep: usize) -> usize {
        let mut shift = 0;
        for &(at, len) in &self.inserts {
            let start = at + shift;
            if rep < start {
                break;
            }
            if rep < start + len {
                return at;
            }
            shift += len;
        }
        rep - shift
    }

    /// Map an offset of the original text to the repaired text (insertions at the same
    /// offset come after it).
    pub fn to_repaired(&self, orig: usize) -> usize {
        orig + self
            .inserts
            .iter()
            .filter(|(at, _)| *at < orig)
            .map(|(_, len)| len)
            .sum::<usize>()
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// `None` when nothing needed repairing.
pub(crate) fn repair(lang: Language, code: &str) -> Option<Repair> {
    let b = code.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(code.len() + 8);
    let mut inserts = Vec::new();
    // (closer, indentation of the opener's line)
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut line_start = 0;
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                // Close brackets whose expression evidently ended on this line.
                let rest = &code[i + 1..];
                let next = rest.lines().find(|l| !l.trim().is_empty());
                let mut closers = Vec::new();
                if let Some(next) = next {
                    let ni = indent_of(next);
                    let first = next.trim_start().as_bytes().first().copied();
                    while let Some(&(closer, ind)) = stack.last() {
                        // `foo(\n)` style: the next line closes this bracket itself.
                        if ni <= ind && first != Some(closer) {
                            closers.push(closer);
                            stack.pop();
                        } else {
                            break;
                        }
                    }
                }
                if !closers.is_empty() {
                    inserts.push((i, closers.len()));
                    out.extend_from_slice(&closers);
                    changed = true;
                }
                out.push(c);
                i += 1;
                line_start = i;
                continue;
            }
            b'(' | b'[' | b'{' => {
                let closer = match c {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                stack.push((closer, indent_of(&code[line_start..])));
            }
            b')' | b']' | b'}' => {
                if stack.last().map(|s| s.0) == Some(c) {
                    stack.pop();
                } else if let Some(pos) = stack.iter().rposition(|s| s.0 == c) {
                    stack.truncate(pos);
                } else {
                    out.push(b' ');
                    changed = true;
                    i += 1;
                    continue;
                }
            }
            b'#' if lang == Language::Python => {
                let end = code[i..].find('\n').map_or(b.len(), |e| i + e);
                out.extend_from_slice(&b[i..end]);
                i = end;
                continue;
            }
            b'/' if lang == Language::Rust && b.get(i + 1) == Some(&b'/') => {
                let end = code[i..].find('\n').map_or(b.len(), |e| i + e);
                out.extend_from_slice(&b[i..end]);
                i = end;
                continue;
            }
            b'"' | b'\'' => {
                let end = string_end(lang, b, i);
                out.extend_from_slice(&b[i..end]);
                i = end;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    if !stack.is_empty() {
        let closers: Vec<u8> = stack.iter().rev().map(|s| s.0).collect();
        // Before a trailing newline, so the closers stay on the last line.
        let at = if code.ends_with('\n') {
            code.len() - 1
        } else {
            code.len()
        };
        inserts.push((at, closers.len()));
        let at_out = out.len() - (code.len() - at);
        out.splice(at_out..at_out, closers);
        changed = true;
    }
    if !changed {
        return None;
    }
    // Only ASCII was inserted or replaced ASCII bytes, so this stays valid UTF-8.
    let text = String::from_utf8(out).ok()?;
    Some(Repair { text, inserts })
}

/// End (exclusive) of the string or char literal starting at `i`; a Rust lifetime is one byte.
fn string_end(lang: Language, b: &[u8], i: usize) -> usize {
    let q = b[i];
    if lang == Language::Rust && q == b'\'' {
        // 'x' or '\n' are chars, anything else is a lifetime.
        let is_char = b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\');
        if !is_char {
            return i + 1;
        }
    }
    let triple = lang == Language::Python && b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    if triple {
        let mut j = i + 3;
        while j + 2 < b.len() + 2 && j < b.len() {
            if b[j] == q && b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                return j + 3;
            }
            j += 1;
        }
        return b.len();
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'\n' if lang == Language::Python => return j,
            x if x == q => return j + 1,
            _ => j += 1,
        }
    }
    b.len().min(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_at_line_end_and_blanks_stray_closers() {
        let r = repair(Language::Python, "x = f(a\ny = 1\n").unwrap();
        assert_eq!(r.text, "x = f(a)\ny = 1\n");
        assert_eq!(r.to_original(7), 7);
        assert_eq!(r.to_original(8), 7);
        assert_eq!(r.to_original(9), 8);
        assert_eq!(r.to_repaired(8), 9);
        let r = repair(Language::Rust, "    a(b, |r| r.get(0)\n    }}\n").unwrap();
        assert_eq!(r.text, "    a(b, |r| r.get(0))\n      \n");
        let r = repair(Language::Python, "call(\n    a,\n    b").unwrap();
        assert_eq!(r.text, "call(\n    a,\n    b)");
        assert_eq!(repair(Language::Python, "s = '(' + \"[\"  # (\n"), None);
        assert_eq!(
            repair(Language::Rust, "fn f<'a>(x: &'a str) -> char { '(' }"),
            None
        );
    }
}
