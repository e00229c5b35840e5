//! Text: documents held in a rope, incremental edits, and conversions between byte offsets and
//! LSP positions in every negotiated encoding.
//!
//! Invariants and boundary:
//! - Pure: no IO, no async, no LSP crate; positions are plain `(line, character)` pairs.
//! - Lines are split exactly as LSP does: `\n`, `\r\n` and `\r`.
//! - Conversions never panic. A position outside the document, or inside a character (e.g.
//!   between the two UTF-16 units of an emoji), is a [`PositionError`] for requests; edits use
//!   the clamped variant, as editors do.
//! - Offsets are byte offsets into the UTF-8 text and always fall on character boundaries.

mod document;
mod position;

pub use document::{Document, Edit, TextChange};
pub use position::{OffsetEncoding, Position, PositionError, Range};
pub use ropey::Rope;
