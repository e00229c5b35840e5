use ropey::Rope;

use crate::position::{self, line_bounds};
use crate::{OffsetEncoding, Position, PositionError, Range};

/// One change from `textDocument/didChange`: a range edit, or a full replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChange {
    pub range: Option<Range>,
    pub text: String,
}

/// What an applied change did, in byte offsets and (row, byte column) points: exactly what an
/// incremental parser needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub start_byte: usize,
    pub old_end_byte: usize,
    pub new_end_byte: usize,
    pub start_point: (usize, usize),
    pub old_end_point: (usize, usize),
    pub new_end_point: (usize, usize),
}

/// A text document: a rope plus the version the editor gave it.
#[derive(Debug, Clone)]
pub struct Document {
    rope: Rope,
    version: i32,
}

impl Document {
    pub fn new(text: &str, version: i32) -> Document {
        Document {
            rope: Rope::from_str(text),
            version,
        }
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    pub fn len_bytes(&self) -> usize {
        self.rope.len_bytes()
    }

    pub fn len_lines(&self) -> usize {
        self.rope.len_lines()
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    /// The text of `start..end` (byte offsets, clamped and moved to character boundaries).
    pub fn slice(&self, start: usize, end: usize) -> String {
        let end = self.floor_boundary(end.min(self.len_bytes()));
        let start = self.floor_boundary(start.min(end));
        self.rope.byte_slice(start..end).to_string()
    }

    /// Strict: an error for a position outside the document or inside a character.
    pub fn offset(&self, pos: Position, enc: OffsetEncoding) -> Result<usize, PositionError> {
        position::offset_of(&self.rope, pos, enc)
    }

    pub fn position(&self, byte: usize, enc: OffsetEncoding) -> Position {
        position::position_of(&self.rope, byte, enc)
    }

    /// Byte range of the content of line `line` (without the line break), `None` past the end.
    pub fn line_bounds(&self, line: usize) -> Option<(usize, usize)> {
        (line < self.rope.len_lines()).then(|| line_bounds(&self.rope, line))
    }

    /// The line containing byte offset `byte`.
    pub fn line_of(&self, byte: usize) -> usize {
        self.rope.byte_to_line(byte.min(self.len_bytes()))
    }

    /// Byte offset of the start of line `line` (the end of the document past the last line).
    pub fn line_start(&self, line: usize) -> usize {
        if line >= self.rope.len_lines() {
            self.len_bytes()
        } else {
            self.rope.line_to_byte(line)
        }
    }

    /// (row, byte column) of a byte offset.
    pub fn point(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.len_bytes());
        let row = self.rope.byte_to_line(byte);
        (row, byte - self.rope.line_to_byte(row))
    }

    /// Apply changes in order and set the new version. Ranges are clamped as editors expect;
    /// only an inverted range is refused, and then nothing of this batch after it is applied.
    pub fn apply(
        &mut self,
        changes: &[TextChange],
        version: i32,
        enc: OffsetEncoding,
    ) -> Result<Vec<Edit>, PositionError> {
        let mut edits = Vec::with_capacity(changes.len());
        for change in changes {
            edits.push(self.apply_one(change, enc)?);
        }
        self.version = version;
        Ok(edits)
    }

    fn apply_one(
        &mut self,
        change: &TextChange,
        enc: OffsetEncoding,
    ) -> Result<Edit, PositionError> {
        let (start, end) = match change.range {
            None => (0, self.len_bytes()),
            Some(range) => {
                if range.start > range.end {
                    return Err(PositionError::InvertedRange {
                        start: range.start,
                        end: range.end,
                    });
                }
                (
                    position::offset_clamped(&self.rope, range.start, enc),
                    position::offset_clamped(&self.rope, range.end, enc),
                )
            }
        };
        let start_point = self.point(start);
        let old_end_point = self.point(end);
        let start_char = self.rope.byte_to_char(start);
        let end_char = self.rope.byte_to_char(end);
        self.rope.remove(start_char..end_char);
        self.rope.insert(start_char, &change.text);
        let new_end = start + change.text.len();
        Ok(Edit {
            start_byte: start,
            old_end_byte: end,
            new_end_byte: new_end,
            start_point,
            old_end_point,
            new_end_point: self.point(new_end),
        })
    }

    fn floor_boundary(&self, mut byte: usize) -> usize {
        while byte > 0 && byte < self.len_bytes() && (self.rope.byte(byte) & 0xC0) == 0x80 {
            byte -= 1;
        }
        byte
    }
}
