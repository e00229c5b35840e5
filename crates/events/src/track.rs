//! Following a suggestion through the edits after it, in byte offsets of the document (pure:
//! no IO, no clock; the caller feeds the edits in order and decides when to look).
//!
//! - [`Pending`]: a shown suggestion nobody has reported on. The user typing its text (or one
//!   edit inserting it) makes it accepted; typing something else at its start makes it rejected,
//!   with what was typed instead. Other edits move it or, when they touch it, end the tracking.
//! - [`Kept`]: an accepted suggestion's text in the document. Each edit inside it replaces part
//!   of the original; [`Kept::kept`] counts what is left of it.

/// One applied change: the bytes `start..end` of the document before it replaced by `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteEdit<'a> {
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
}

/// What the edits say about a [`Pending`] suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not decided yet.
    Open,
    /// Its whole text was typed or inserted at its start, which the suggestion now occupies.
    Accepted { start: usize },
    /// Something else was typed at its start.
    Rejected { instead: String },
    /// An edit touched it in a way that says nothing (a deletion around it, a replaced document).
    Lost,
}

/// A shown suggestion waiting for the edits that follow it.
#[derive(Debug, Clone)]
pub struct Pending {
    start: usize,
    suggestion: String,
    /// What was typed from `start` on since the suggestion was shown.
    typed: String,
}

impl Pending {
    /// The suggestion `suggestion`, to be inserted at byte `start`.
    pub fn new(start: usize, suggestion: &str) -> Pending {
        Pending {
            start,
            suggestion: suggestion.to_string(),
            typed: String::new(),
        }
    }

    pub fn start(&self) -> usize {
        self.start
    }

    pub fn suggestion(&self) -> &str {
        &self.suggestion
    }

    /// The user typed something that is not the suggestion.
    fn diverged(&self) -> bool {
        !self.suggestion.starts_with(&self.typed)
    }

    /// The verdict when the tracking ends without one (another suggestion was shown, the
    /// document closed, time ran out): rejected when the typed text went elsewhere.
    pub fn finish(&self) -> Step {
        if self.diverged() {
            Step::Rejected {
                instead: self.typed.clone(),
            }
        } else {
            Step::Lost
        }
    }

    /// Apply one edit.
    pub fn edit(&mut self, e: ByteEdit<'_>) -> Step {
        let typed_end = self.start + self.typed.len();
        if e.start >= self.start && e.start <= typed_end && e.end >= typed_end {
            // Typing at the end of what was typed, a backspace, or the client's own insertion
            // of the suggestion over the typed part.
            self.typed.truncate(e.start - self.start);
            self.typed.push_str(e.text);
            if self.typed.starts_with(&self.suggestion) {
                return Step::Accepted { start: self.start };
            }
            if self.diverged() {
                // The line the user wrote instead is finished with its newline.
                let common = common_prefix(&self.typed, &self.suggestion);
                if let Some(nl) = self.typed[common..].find('\n') {
                    return Step::Rejected {
                        instead: self.typed[..common + nl].to_string(),
                    };
                }
            }
            return Step::Open;
        }
        if e.end <= self.start {
            self.start = self.start - (e.end - e.start) + e.text.len();
            return Step::Open;
        }
        if e.start > typed_end {
            return if self.diverged() {
                self.finish()
            } else {
                Step::Open
            };
        }
        self.finish()
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or_else(|| a.len().min(b.len()), |((i, _), _)| i)
}

/// A piece of the tracked text: a part of the original suggestion, or text written since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Original { from: usize, to: usize },
    Written { len: usize },
}

impl Piece {
    fn len(self) -> usize {
        match self {
            Piece::Original { from, to } => to - from,
            Piece::Written { len } => len,
        }
    }

    /// The part `a..b` (relative to the piece).
    fn part(self, a: usize, b: usize) -> Piece {
        match self {
            Piece::Original { from, .. } => Piece::Original {
                from: from + a,
                to: from + b,
            },
            Piece::Written { .. } => Piece::Written { len: b - a },
        }
    }
}

/// An accepted suggestion's text in the document, followed through later edits.
#[derive(Debug, Clone)]
pub struct Kept {
    start: usize,
    suggestion: String,
    pieces: Vec<Piece>,
}

impl Kept {
    /// `suggestion` in the document at byte `start`.
    pub fn new(start: usize, suggestion: &str) -> Kept {
        Kept {
            start,
            suggestion: suggestion.to_string(),
            pieces: vec![Piece::Original {
                from: 0,
                to: suggestion.len(),
            }],
        }
    }

    fn len(&self) -> usize {
        self.pieces.iter().map(|p| p.len()).sum()
    }

    /// The bytes of the document the suggestion's text now spans (with what was written
    /// inside it).
    pub fn range(&self) -> (usize, usize) {
        (self.start, self.start + self.len())
    }

    /// Apply one edit. Text inserted at either edge is outside; text written inside is not
    /// part of the suggestion.
    pub fn edit(&mut self, e: ByteEdit<'_>) {
        let (start, end) = self.range();
        if start == end {
            // Nothing left to follow but the place.
            if e.end <= start {
                self.start = start - (e.end - e.start) + e.text.len();
            } else if e.start < start {
                self.start = e.start;
            }
            return;
        }
        if e.start >= end {
            return;
        }
        if e.end <= start {
            self.start = start - (e.end - e.start) + e.text.len();
            return;
        }
        // Overlaps: remove the covered part, put the new text where it started.
        let a = e.start.max(start) - start;
        let b = e.end.min(end) - start;
        let mut out = Vec::with_capacity(self.pieces.len() + 2);
        let mut at = 0;
        let mut inserted = false;
        for p in &self.pieces {
            let (ps, pe) = (at, at + p.len());
            at = pe;
            if pe <= a || ps >= b {
                if ps >= b && !inserted {
                    out.push(Piece::Written { len: e.text.len() });
                    inserted = true;
                }
                out.push(*p);
                continue;
            }
            if ps < a {
                out.push(p.part(0, a - ps));
            }
            if !inserted {
                out.push(Piece::Written { len: e.text.len() });
                inserted = true;
            }
            if pe > b {
                out.push(p.part(b - ps, pe - ps));
            }
        }
        if !inserted {
            out.push(Piece::Written { len: e.text.len() });
        }
        out.retain(|p| p.len() > 0);
        self.pieces = out;
        self.start = start.min(e.start);
    }

    /// Length of the suggestion in UTF-16 code units.
    pub fn suggestion_len(&self) -> usize {
        crate::utf16_len(&self.suggestion)
    }

    /// UTF-16 code units of the original suggestion still in the document.
    pub fn kept(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match *p {
                Piece::Original { from, to } => {
                    self.suggestion.get(from..to).map_or(0, crate::utf16_len)
                }
                Piece::Written { .. } => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(at: usize, text: &str) -> ByteEdit<'_> {
        ByteEdit {
            start: at,
            end: at,
            text,
        }
    }

    fn del(start: usize, end: usize) -> ByteEdit<'static> {
        ByteEdit {
            start,
            end,
            text: "",
        }
    }

    #[test]
    fn typing_the_suggestion_accepts_it() {
        let mut p = Pending::new(10, "sum(xs)");
        for (i, c) in ["s", "u", "m", "(", "x", "s"].iter().enumerate() {
            assert_eq!(p.edit(ins(10 + i, c)), Step::Open);
        }
        assert_eq!(p.edit(ins(16, ")")), Step::Accepted { start: 10 });
    }

    #[test]
    fn one_edit_inserting_the_suggestion_accepts_it() {
        let mut p = Pending::new(4, "len(items)");
        assert_eq!(p.edit(ins(4, "len(items)")), Step::Accepted { start: 4 });
        // After two typed characters the client replaces them with the whole text.
        let mut p = Pending::new(4, "len(items)");
        p.edit(ins(4, "l"));
        p.edit(ins(5, "e"));
        let e = ByteEdit {
            start: 4,
            end: 6,
            text: "len(items)",
        };
        assert_eq!(p.edit(e), Step::Accepted { start: 4 });
    }

    #[test]
    fn typing_past_with_other_text_rejects_it_with_what_was_written() {
        let mut p = Pending::new(0, "sum(xs)\n");
        for (i, c) in "sorted(xs".chars().enumerate() {
            let s = c.to_string();
            assert_eq!(p.edit(ins(i, &s)), Step::Open, "{c}");
        }
        assert_eq!(
            p.edit(ins(9, ")\n")),
            Step::Rejected {
                instead: "sorted(xs)".into()
            }
        );
        // Without a newline, the verdict comes when the tracking ends.
        let mut p = Pending::new(0, "sum(xs)");
        p.edit(ins(0, "max"));
        assert_eq!(
            p.finish(),
            Step::Rejected {
                instead: "max".into()
            }
        );
    }

    #[test]
    fn backspace_undoes_a_divergence() {
        let mut p = Pending::new(3, "abc");
        p.edit(ins(3, "x"));
        assert_eq!(p.edit(del(3, 4)), Step::Open);
        assert_eq!(p.finish(), Step::Lost, "nothing typed: no verdict");
        assert_eq!(p.edit(ins(3, "abc")), Step::Accepted { start: 3 });
    }

    #[test]
    fn edits_before_move_it_and_edits_across_lose_it() {
        let mut p = Pending::new(10, "abc");
        assert_eq!(p.edit(ins(0, "1234")), Step::Open);
        assert_eq!(p.start(), 14);
        assert_eq!(p.edit(del(0, 2)), Step::Open);
        assert_eq!(p.start(), 12);
        assert_eq!(p.edit(ins(30, "zzz")), Step::Open, "an edit after it");
        p.edit(ins(12, "a"));
        assert_eq!(p.edit(del(11, 13)), Step::Lost);
        // A full replacement of the document.
        let mut p = Pending::new(5, "abc");
        let all = ByteEdit {
            start: 0,
            end: 40,
            text: "new text",
        };
        assert_eq!(p.edit(all), Step::Lost);
    }

    #[test]
    fn a_diverged_suggestion_is_rejected_by_an_edit_elsewhere() {
        let mut p = Pending::new(0, "abc");
        p.edit(ins(0, "xy"));
        assert_eq!(
            p.edit(ins(50, "q")),
            Step::Rejected {
                instead: "xy".into()
            }
        );
    }

    #[test]
    fn kept_counts_what_is_left_of_the_original() {
        // "total / len(items)" at 8.
        let mut k = Kept::new(8, "total / len(items)");
        assert_eq!((k.kept(), k.suggestion_len()), (18, 18));
        k.edit(ins(0, "# note\n"));
        assert_eq!(k.range(), (15, 33));
        k.edit(ins(33, "\n"));
        k.edit(ins(15, "    "));
        assert_eq!(k.range(), (19, 37), "inserts at the edges are outside");
        assert_eq!(k.kept(), 18);
        // "len(items)" -> "max(1, len(items))": the original is all there, with text inside.
        k.edit(ins(27, "max(1, "));
        assert_eq!(k.range(), (19, 44));
        k.edit(ins(44, ")"));
        assert_eq!(k.kept(), 18);
        assert_eq!(k.range(), (19, 44), "the closing bracket is at the edge");
        // Replace "total" (19..24) with "sum(xs)".
        k.edit(ByteEdit {
            start: 19,
            end: 24,
            text: "sum(xs)",
        });
        assert_eq!(k.kept(), 13);
        assert_eq!(k.range(), (19, 46));
        // Delete the whole line and more around it.
        k.edit(del(10, 60));
        assert_eq!(k.kept(), 0);
    }

    #[test]
    fn kept_counts_utf16_units() {
        let mut k = Kept::new(0, "a = \"é😀\"");
        assert_eq!(k.suggestion_len(), 9);
        // Delete the emoji (4 bytes at 7).
        k.edit(del(7, 11));
        assert_eq!(k.kept(), 7);
    }
}
