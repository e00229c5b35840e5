use ropey::Rope;

/// The unit LSP `character` offsets are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetEncoding {
    Utf8,
    /// LSP's default.
    #[default]
    Utf16,
    Utf32,
}

impl OffsetEncoding {
    /// The LSP `positionEncoding` name.
    pub fn as_lsp(self) -> &'static str {
        match self {
            OffsetEncoding::Utf8 => "utf-8",
            OffsetEncoding::Utf16 => "utf-16",
            OffsetEncoding::Utf32 => "utf-32",
        }
    }

    pub fn from_lsp(name: &str) -> Option<OffsetEncoding> {
        match name {
            "utf-8" => Some(OffsetEncoding::Utf8),
            "utf-16" => Some(OffsetEncoding::Utf16),
            "utf-32" => Some(OffsetEncoding::Utf32),
            _ => None,
        }
    }

    fn units(self, c: char) -> usize {
        match self {
            OffsetEncoding::Utf8 => c.len_utf8(),
            OffsetEncoding::Utf16 => c.len_utf16(),
            OffsetEncoding::Utf32 => 1,
        }
    }
}

/// A zero-based (line, character) position; `character` counts units of an [`OffsetEncoding`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

impl Position {
    pub fn new(line: u32, character: u32) -> Position {
        Position { line, character }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("line {line} is out of range: the document has {lines} lines")]
    LineOutOfRange { line: u32, lines: usize },
    #[error("character {character} is out of range: line {line} is {len} units long")]
    CharacterOutOfRange {
        line: u32,
        character: u32,
        len: usize,
    },
    #[error("character {character} on line {line} falls inside a character")]
    InsideCharacter { line: u32, character: u32 },
    #[error("range start {start:?} is after its end {end:?}")]
    InvertedRange { start: Position, end: Position },
}

/// Byte range of line `line`'s content, without its line break.
pub(crate) fn line_bounds(rope: &Rope, line: usize) -> (usize, usize) {
    let start = rope.line_to_byte(line);
    let slice = rope.line(line);
    let mut len = slice.len_bytes();
    // Strip the line break: \n, \r\n or \r.
    if len > 0 && slice.byte(len - 1) == b'\n' {
        len -= 1;
    }
    if len > 0 && slice.byte(len - 1) == b'\r' {
        len -= 1;
    }
    (start, start + len)
}

/// Strict conversion of a position to a byte offset.
pub(crate) fn offset_of(
    rope: &Rope,
    pos: Position,
    enc: OffsetEncoding,
) -> Result<usize, PositionError> {
    let lines = rope.len_lines();
    let line = pos.line as usize;
    if line >= lines {
        return Err(PositionError::LineOutOfRange {
            line: pos.line,
            lines,
        });
    }
    let (start, end) = line_bounds(rope, line);
    let want = pos.character as usize;
    let mut units = 0usize;
    let mut byte = start;
    for c in rope.byte_slice(start..end).chars() {
        if units == want {
            return Ok(byte);
        }
        units += enc.units(c);
        byte += c.len_utf8();
        if units > want {
            return Err(PositionError::InsideCharacter {
                line: pos.line,
                character: pos.character,
            });
        }
    }
    if units == want {
        Ok(byte)
    } else {
        Err(PositionError::CharacterOutOfRange {
            line: pos.line,
            character: pos.character,
            len: units,
        })
    }
}

/// Lenient conversion, as used for edits: past-the-end positions clamp to the end of the line
/// (or of the document), and a position inside a character moves to its start.
pub(crate) fn offset_clamped(rope: &Rope, pos: Position, enc: OffsetEncoding) -> usize {
    let lines = rope.len_lines();
    let line = pos.line as usize;
    if line >= lines {
        return rope.len_bytes();
    }
    let (start, end) = line_bounds(rope, line);
    let want = pos.character as usize;
    let mut units = 0usize;
    let mut byte = start;
    for c in rope.byte_slice(start..end).chars() {
        let next = units + enc.units(c);
        if next > want {
            return byte;
        }
        units = next;
        byte += c.len_utf8();
    }
    byte
}

/// The position of byte offset `byte` (clamped to the document, moved back to a character start).
pub(crate) fn position_of(rope: &Rope, byte: usize, enc: OffsetEncoding) -> Position {
    let mut byte = byte.min(rope.len_bytes());
    while byte > 0 && !is_char_boundary(rope, byte) {
        byte -= 1;
    }
    let line = rope.byte_to_line(byte);
    // Between the `\r` and `\n` of a line break: the end of the line's content, the only
    // position there is.
    let (start, end) = line_bounds(rope, line);
    let byte = byte.min(end);
    let character: usize = rope
        .byte_slice(start..byte)
        .chars()
        .map(|c| enc.units(c))
        .sum();
    Position {
        line: line as u32,
        character: character as u32,
    }
}

fn is_char_boundary(rope: &Rope, byte: usize) -> bool {
    if byte >= rope.len_bytes() {
        return true;
    }
    // UTF-8 continuation bytes are 0b10xx_xxxx.
    (rope.byte(byte) & 0xC0) != 0x80
}
