//! nib_text::Document against a plain String: after any sequence of incremental edits the
//! document's text equals the same edits applied to the string, and every position conversion
//! agrees with a straightforward reference and round-trips (or is an error), in UTF-8, UTF-16
//! and UTF-32.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nib_text::{Document, OffsetEncoding, Position, PositionError, Range, TextChange};

#[derive(Arbitrary, Debug)]
struct Input {
    initial: String,
    enc: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// One didChange batch.
    Change(Vec<Change>),
    /// A request position.
    Position { line: u8, character: u8 },
    /// A byte offset (e.g. the end of a suggestion) turned into a position.
    Offset(u16),
}

#[derive(Arbitrary, Debug)]
struct Change {
    /// `None`: replace everything.
    range: Option<(u8, u8, u8, u8)>,
    text: String,
}

fn encoding(b: u8) -> OffsetEncoding {
    match b % 3 {
        0 => OffsetEncoding::Utf8,
        1 => OffsetEncoding::Utf16,
        _ => OffsetEncoding::Utf32,
    }
}

fn units(c: char, enc: OffsetEncoding) -> usize {
    match enc {
        OffsetEncoding::Utf8 => c.len_utf8(),
        OffsetEncoding::Utf16 => c.len_utf16(),
        OffsetEncoding::Utf32 => 1,
    }
}

/// (start, end of content) of every line; lines end at `\n`, `\r\n` or `\r`, as in LSP.
fn lines(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                out.push((start, i));
                start = i + 1;
            }
            b'\r' => {
                out.push((start, i));
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push((start, b.len()));
    out
}

/// The reference strict conversion.
fn offset(text: &str, pos: Position, enc: OffsetEncoding) -> Result<usize, ()> {
    let ls = lines(text);
    let &(start, end) = ls.get(pos.line as usize).ok_or(())?;
    let mut u = 0;
    for (i, c) in text[start..end].char_indices() {
        if u == pos.character as usize {
            return Ok(start + i);
        }
        u += units(c, enc);
    }
    if u == pos.character as usize {
        Ok(end)
    } else {
        Err(())
    }
}

/// The reference lenient conversion edits use.
fn offset_clamped(text: &str, pos: Position, enc: OffsetEncoding) -> usize {
    let ls = lines(text);
    let Some(&(start, end)) = ls.get(pos.line as usize) else {
        return text.len();
    };
    let mut u = 0;
    for (i, c) in text[start..end].char_indices() {
        u += units(c, enc);
        if u > pos.character as usize {
            return start + i;
        }
    }
    end
}

fn position(text: &str, byte: usize, enc: OffsetEncoding) -> Position {
    let mut byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    let ls = lines(text);
    // The line whose start is the last at or before `byte`.
    let line = ls.iter().rposition(|&(s, _)| s <= byte).unwrap();
    // Inside a `\r\n` break: the end of the line's content.
    let byte = byte.min(ls[line].1);
    let character = text[ls[line].0..byte]
        .chars()
        .map(|c| units(c, enc))
        .sum::<usize>();
    Position::new(line as u32, character as u32)
}

/// (row, byte column), as tree-sitter edits take them.
fn point(text: &str, byte: usize) -> (usize, usize) {
    let byte = byte.min(text.len());
    let ls = lines(text);
    let line = ls.iter().rposition(|&(s, _)| s <= byte).unwrap();
    (line, byte - ls[line].0)
}

fuzz_target!(|input: Input| {
    let enc = encoding(input.enc);
    let mut reference = input.initial.clone();
    let mut doc = Document::new(&input.initial, 0);
    let mut version = 0;
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Change(changes) => {
                let changes: Vec<TextChange> = changes
                    .into_iter()
                    .take(8)
                    .map(|c| TextChange {
                        range: c.range.map(|(a, b, c, d)| Range {
                            start: Position::new(a as u32 % 16, b as u32),
                            end: Position::new(c as u32 % 16, d as u32),
                        }),
                        text: c.text,
                    })
                    .collect();
                version += 1;
                let mut expected_edits = Vec::new();
                let mut inverted = false;
                for c in &changes {
                    let (s, e) = match c.range {
                        None => (0, reference.len()),
                        Some(r) if r.start > r.end => {
                            inverted = true;
                            break;
                        }
                        Some(r) => (
                            offset_clamped(&reference, r.start, enc),
                            offset_clamped(&reference, r.end, enc),
                        ),
                    };
                    let (sp, ep) = (point(&reference, s), point(&reference, e));
                    reference.replace_range(s..e, &c.text);
                    let new_end = s + c.text.len();
                    expected_edits.push((s, e, new_end, sp, ep, point(&reference, new_end)));
                }
                match doc.apply(&changes, version, enc) {
                    Ok(edits) => {
                        assert!(!inverted);
                        let got: Vec<_> = edits
                            .iter()
                            .map(|e| {
                                (
                                    e.start_byte,
                                    e.old_end_byte,
                                    e.new_end_byte,
                                    e.start_point,
                                    e.old_end_point,
                                    e.new_end_point,
                                )
                            })
                            .collect();
                        assert_eq!(got, expected_edits);
                        assert_eq!(doc.version(), version);
                    }
                    Err(e) => {
                        assert!(inverted, "{e}");
                        assert!(matches!(e, PositionError::InvertedRange { .. }));
                    }
                }
                assert_eq!(doc.text(), reference);
                assert_eq!(doc.len_lines(), lines(&reference).len());
            }
            Op::Position { line, character } => {
                let pos = Position::new(line as u32 % 16, character as u32);
                let got = doc.offset(pos, enc);
                assert_eq!(
                    got.is_ok(),
                    offset(&reference, pos, enc).is_ok(),
                    "{pos:?} {got:?}"
                );
                if let Ok(b) = got {
                    assert_eq!(Ok(b), offset(&reference, pos, enc));
                    assert_eq!(doc.position(b, enc), pos, "round trip of {pos:?}");
                }
            }
            Op::Offset(b) => {
                let b = b as usize % (reference.len() + 2);
                let pos = doc.position(b, enc);
                assert_eq!(pos, position(&reference, b, enc));
                let back = doc.offset(pos, enc).expect("a position nib gave is valid");
                let mut floor = b.min(reference.len());
                while !reference.is_char_boundary(floor) {
                    floor -= 1;
                }
                // Between `\r` and `\n` the offset is inside a line break: it maps to the end
                // of the line's content.
                let ls = lines(&reference);
                let (_, end) = ls[pos.line as usize];
                assert_eq!(back, floor.min(end), "round trip of byte {b}");
                let (bs, be) = doc.line_bounds(pos.line as usize).unwrap();
                assert_eq!((bs, be), ls[pos.line as usize]);
                // Points are asked for at character boundaries (the offsets nib computes).
                assert_eq!(doc.point(floor), point(&reference, floor));
            }
        }
    }
});
