use tree_sitter::{Parser, Point, Tree};

use crate::Language;

pub use tree_sitter::InputEdit;

/// Parse `text` from scratch. `None` only when the language has no grammar compiled in.
pub fn parse(lang: Language, text: &str) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()?).ok()?;
    parser.parse(text, None)
}

/// The tree of `text`, which is the text of `old` after `edit`: reparsed incrementally from
/// `old` (left as it was). `None` only when the language has no grammar compiled in.
pub fn reparse_edited(lang: Language, old: &Tree, edit: &InputEdit, text: &str) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()?).ok()?;
    let mut tree = old.clone();
    tree.edit(edit);
    parser.parse(text, Some(&tree))
}

/// A document's syntax tree, kept up to date by incremental reparsing.
pub struct ParsedDocument {
    lang: Language,
    parser: Parser,
    tree: Option<Tree>,
}

impl std::fmt::Debug for ParsedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedDocument")
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

impl ParsedDocument {
    /// `None` when the language has no grammar compiled in.
    pub fn new(lang: Language, text: &str) -> Option<ParsedDocument> {
        let mut parser = Parser::new();
        parser.set_language(&lang.grammar()?).ok()?;
        let tree = parser.parse(text, None);
        Some(ParsedDocument { lang, parser, tree })
    }

    pub fn language(&self) -> Language {
        self.lang
    }

    pub fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    /// Tell the old tree about an edit (byte offsets and points in the old and new text).
    /// Call [`ParsedDocument::reparse`] once after a batch of edits.
    pub fn edit(&mut self, edit: &InputEdit) {
        if let Some(tree) = &mut self.tree {
            tree.edit(edit);
        }
    }

    /// Reparse `text` reusing the edited old tree.
    pub fn reparse(&mut self, text: &str) {
        self.tree = self.parser.parse(text, self.tree.as_ref());
    }

    /// Reparse with text supplied in chunks (e.g. from a rope): `chunk_at(byte)` returns the
    /// text starting at `byte` (any non-empty prefix of the rest), or "" past the end.
    pub fn reparse_with<'a, F>(&mut self, mut chunk_at: F)
    where
        F: FnMut(usize) -> &'a [u8],
    {
        self.tree = self.parser.parse_with_options(
            &mut |byte, _point: Point| chunk_at(byte),
            self.tree.as_ref(),
            None,
        );
    }
}

/// Build an [`InputEdit`] from byte offsets and the (row, byte column) points of the old text.
pub fn input_edit(
    start_byte: usize,
    old_end_byte: usize,
    new_end_byte: usize,
    start: (usize, usize),
    old_end: (usize, usize),
    new_end: (usize, usize),
) -> InputEdit {
    InputEdit {
        start_byte,
        old_end_byte,
        new_end_byte,
        start_position: Point::new(start.0, start.1),
        old_end_position: Point::new(old_end.0, old_end.1),
        new_end_position: Point::new(new_end.0, new_end.1),
    }
}

/// Point (row, byte column) of byte offset `byte` in `text`.
pub fn point_of(text: &str, byte: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..byte.min(text.len())];
    let row = before.iter().filter(|&&b| b == b'\n').count();
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count();
    (row, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(text: &str, start: usize, end: usize, new: &str) -> String {
        let mut s = String::from(&text[..start]);
        s.push_str(new);
        s.push_str(&text[end..]);
        s
    }

    const SRC: &str = "def f(x):\n    return x + 1\n\nclass A:\n    def g(self):\n        pass\n";

    #[test]
    fn an_edited_copy_is_reparsed_like_a_fresh_parse_and_the_old_tree_is_kept() {
        let old = parse(Language::Python, SRC).unwrap();
        let at = SRC.find("x + 1").unwrap();
        let new_text = apply(SRC, at, at, "2 * ");
        let edit = input_edit(
            at,
            at,
            at + 4,
            point_of(SRC, at),
            point_of(SRC, at),
            point_of(&new_text, at + 4),
        );
        let tree = reparse_edited(Language::Python, &old, &edit, &new_text).unwrap();
        let fresh = parse(Language::Python, &new_text).unwrap();
        assert_eq!(tree.root_node().to_sexp(), fresh.root_node().to_sexp());
        assert_eq!(old.root_node().end_byte(), SRC.len());
    }

    proptest! {
        #[test]
        fn incremental_equals_fresh(start in 0usize..SRC.len(), len in 0usize..10, new in "[a-z():\n ]{0,8}") {
            let end = (start + len).min(SRC.len());
            let mut doc = ParsedDocument::new(Language::Python, SRC).unwrap();
            let new_text = apply(SRC, start, end, &new);
            let edit = input_edit(start, end, start + new.len(), point_of(SRC, start), point_of(SRC, end), point_of(&new_text, start + new.len()));
            doc.edit(&edit);
            doc.reparse(&new_text);
            let fresh = parse(Language::Python, &new_text).unwrap();
            prop_assert_eq!(doc.tree().unwrap().root_node().to_sexp(), fresh.root_node().to_sexp());
        }
    }

    #[test]
    fn parses_rust_and_python() {
        let t = parse(Language::Rust, "fn main() { let x = 1; }").unwrap();
        assert!(!t.root_node().has_error());
        let t = parse(Language::Python, "def f(:\n").unwrap();
        assert!(t.root_node().has_error());
    }
}
