//! Syntax: tree-sitter grammars, language detection and (incremental) parsing.
//!
//! Invariants and boundary:
//! - Pure: no IO, no async, no LSP types. Callers hand in text and edits as byte offsets.
//! - One cargo feature per language grammar; a language whose feature is off is simply not
//!   detected (callers degrade to plain-text behaviour).
//! - Parsing never panics on arbitrary input; tree-sitter produces ERROR nodes instead.

mod language;
mod parsed;
pub mod refactor;
pub mod tags;

pub use language::Language;
pub use parsed::{input_edit, parse, point_of, reparse_edited, InputEdit, ParsedDocument};
pub use tree_sitter;
