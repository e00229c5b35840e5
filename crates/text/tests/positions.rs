use nib_text::{Document, OffsetEncoding, Position, PositionError, Range, TextChange};
use proptest::prelude::*;

const ENCODINGS: [OffsetEncoding; 3] = [
    OffsetEncoding::Utf8,
    OffsetEncoding::Utf16,
    OffsetEncoding::Utf32,
];

#[test]
fn non_ascii_columns_in_every_encoding() {
    // 'é' is 2 bytes / 1 UTF-16 unit; '😀' is 4 bytes / 2 UTF-16 units; '漢' is 3 bytes / 1 unit.
    let doc = Document::new("aé😀漢b\nx", 0);
    let b_byte = "aé😀漢".len();
    assert_eq!(
        doc.offset(Position::new(0, 7), OffsetEncoding::Utf8)
            .unwrap(),
        "aé😀".len()
    );
    assert_eq!(
        doc.offset(Position::new(0, 10), OffsetEncoding::Utf8)
            .unwrap(),
        b_byte
    );
    assert_eq!(
        doc.offset(Position::new(0, 5), OffsetEncoding::Utf16)
            .unwrap(),
        b_byte
    );
    assert_eq!(
        doc.offset(Position::new(0, 4), OffsetEncoding::Utf32)
            .unwrap(),
        b_byte
    );
    assert_eq!(
        doc.position(b_byte, OffsetEncoding::Utf16),
        Position::new(0, 5)
    );
    assert_eq!(
        doc.position(b_byte, OffsetEncoding::Utf8),
        Position::new(0, 10)
    );
    assert_eq!(
        doc.position(b_byte, OffsetEncoding::Utf32),
        Position::new(0, 4)
    );
    // Inside the emoji's surrogate pair.
    assert!(matches!(
        doc.offset(Position::new(0, 3), OffsetEncoding::Utf16),
        Err(PositionError::InsideCharacter { .. })
    ));
    // Inside a UTF-8 sequence.
    assert!(matches!(
        doc.offset(Position::new(0, 2), OffsetEncoding::Utf8),
        Err(PositionError::InsideCharacter { .. })
    ));
}

#[test]
fn out_of_range_is_an_error_not_a_panic() {
    let doc = Document::new("ab\ncd", 0);
    assert!(matches!(
        doc.offset(Position::new(5, 0), OffsetEncoding::Utf16),
        Err(PositionError::LineOutOfRange { .. })
    ));
    assert!(matches!(
        doc.offset(Position::new(0, 3), OffsetEncoding::Utf16),
        Err(PositionError::CharacterOutOfRange { .. })
    ));
    assert_eq!(
        doc.offset(Position::new(1, 2), OffsetEncoding::Utf16)
            .unwrap(),
        5
    );
    assert!(doc
        .offset(Position::new(u32::MAX, u32::MAX), OffsetEncoding::Utf8)
        .is_err());
}

#[test]
fn crlf_and_cr_line_breaks() {
    let doc = Document::new("ab\r\ncd\ref", 0);
    assert_eq!(doc.len_lines(), 3);
    assert_eq!(
        doc.offset(Position::new(1, 0), OffsetEncoding::Utf16)
            .unwrap(),
        4
    );
    assert_eq!(
        doc.offset(Position::new(2, 1), OffsetEncoding::Utf16)
            .unwrap(),
        8
    );
    // The line break is not part of the line.
    assert!(doc
        .offset(Position::new(0, 3), OffsetEncoding::Utf16)
        .is_err());
}

/// Found by the `text` fuzz target: the offset between the `\r` and `\n` of a line break gave
/// a position one past the line's end, which the strict conversion then refused.
#[test]
fn offset_inside_crlf_maps_to_the_end_of_the_line() {
    let doc = Document::new("+\n\r\r\r\r\n", 0);
    for enc in ENCODINGS {
        let pos = doc.position(6, enc);
        assert_eq!(pos, Position::new(4, 0));
        assert_eq!(doc.offset(pos, enc), Ok(5));
    }
    let doc = Document::new("ab\r\ncd", 0);
    assert_eq!(doc.position(3, OffsetEncoding::Utf16), Position::new(0, 2));
}

#[test]
fn incremental_edits_with_emoji() {
    let mut doc = Document::new("fn 😀() {}\n", 1);
    let change = TextChange {
        range: Some(Range {
            start: Position::new(0, 3),
            end: Position::new(0, 5),
        }),
        text: "main".into(),
    };
    let edits = doc.apply(&[change], 2, OffsetEncoding::Utf16).unwrap();
    assert_eq!(doc.text(), "fn main() {}\n");
    assert_eq!(doc.version(), 2);
    assert_eq!(
        (
            edits[0].start_byte,
            edits[0].old_end_byte,
            edits[0].new_end_byte
        ),
        (3, 7, 7)
    );
}

#[test]
fn inverted_range_is_refused() {
    let mut doc = Document::new("abc", 1);
    let change = TextChange {
        range: Some(Range {
            start: Position::new(0, 2),
            end: Position::new(0, 1),
        }),
        text: "x".into(),
    };
    assert!(doc.apply(&[change], 2, OffsetEncoding::Utf16).is_err());
    assert_eq!(doc.text(), "abc");
}

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("é"),
            Just("😀"),
            Just("漢"),
            Just("\n"),
            Just("\r\n"),
            Just("\r"),
            Just(" "),
            Just("\u{2028}")
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    /// Every character boundary survives offset -> position -> offset in every encoding.
    #[test]
    fn offset_position_round_trip(text in text_strategy()) {
        let doc = Document::new(&text, 0);
        for (byte, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
            // A byte between \r and \n is a position of the \r\n line break itself; LSP has no such position.
            if byte > 0 && text.as_bytes()[byte - 1] == b'\r' && text.as_bytes().get(byte) == Some(&b'\n') {
                continue;
            }
            for enc in ENCODINGS {
                let pos = doc.position(byte, enc);
                prop_assert_eq!(doc.offset(pos, enc), Ok(byte), "byte {} pos {:?} enc {:?}", byte, pos, enc);
            }
        }
    }

    /// Applying random range edits equals the same edits on a String.
    #[test]
    fn incremental_edits_equal_string_edits(
        text in text_strategy(),
        edits in proptest::collection::vec((0usize..60, 0usize..8, text_strategy()), 1..6),
    ) {
        let mut doc = Document::new(&text, 0);
        let mut expected = text.clone();
        for (i, (at, len, insert)) in edits.into_iter().enumerate() {
            let bounds: Vec<usize> = expected.char_indices().map(|(b, _)| b).chain(std::iter::once(expected.len())).collect();
            let start = bounds[at % bounds.len()];
            let end = bounds[(at % bounds.len() + len).min(bounds.len() - 1)];
            // Don't split a \r\n pair: LSP cannot address the point between them.
            let splits_crlf = |b: usize| b > 0 && expected.as_bytes()[b - 1] == b'\r' && expected.as_bytes().get(b) == Some(&b'\n');
            if splits_crlf(start) || splits_crlf(end) {
                continue;
            }
            let enc = ENCODINGS[i % 3];
            let range = Range { start: doc.position(start, enc), end: doc.position(end, enc) };
            doc.apply(&[TextChange { range: Some(range), text: insert.clone() }], i as i32, enc).unwrap();
            expected.replace_range(start..end, &insert);
            prop_assert_eq!(doc.text(), expected.clone());
        }
    }
}
