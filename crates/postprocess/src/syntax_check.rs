//! Does a completion introduce syntax errors that the document without it did not have?
//!
//! Counts tree-sitter ERROR and MISSING nodes in `prefix + suffix` and in
//! `prefix + completion + suffix`, overall and near the edit (from the start of the cursor's
//! line to the end of the line where the completion ends). A completion is rejected only when
//! both counts grow: errors elsewhere (a call left open at the end of a partial line, a window
//! that starts mid-construct) are not the completion's fault.

use nib_syntax::{parse, tree_sitter::Tree, Language};

use crate::doc::Doc;

pub(crate) struct Checker<'d, 'a> {
    doc: &'d Doc<'a>,
    lang: Language,
    base: Option<(usize, usize)>,
}

/// (all error nodes, error nodes touching `region`).
fn errors(tree: &Tree, region: (usize, usize)) -> (usize, usize) {
    let mut total = 0;
    let mut near = 0;
    let mut cursor = tree.walk();
    'walk: loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            total += 1;
            if node.start_byte() <= region.1 && node.end_byte() >= region.0 {
                near += 1;
            }
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    (total, near)
}

impl<'d, 'a> Checker<'d, 'a> {
    pub(crate) fn new(doc: &'d Doc<'a>) -> Option<Checker<'d, 'a>> {
        let lang = doc.lang?;
        Some(Checker {
            doc,
            lang,
            base: None,
        })
    }

    fn line_start(&self) -> usize {
        self.doc.prefix.len() - self.doc.line_prefix().len()
    }

    fn base(&mut self) -> Option<(usize, usize)> {
        if self.base.is_none() {
            let doc = self.doc;
            let text = format!("{}{}", doc.prefix, doc.suffix);
            let tree = parse(self.lang, &text)?;
            let region = (
                self.line_start(),
                doc.prefix.len() + doc.line_suffix().len(),
            );
            self.base = Some(errors(&tree, region));
        }
        self.base
    }

    /// `text` inserted at the cursor (followed by a line break when `as_new_line`) adds errors.
    pub(crate) fn introduces_errors(&mut self, text: &str, as_new_line: bool) -> bool {
        let Some((base_total, base_near)) = self.base() else {
            return false;
        };
        let doc = self.doc;
        let nl = if as_new_line { "\n" } else { "" };
        let new = format!("{}{}{}{}", doc.prefix, text, nl, doc.suffix);
        let Some(tree) = parse(self.lang, &new) else {
            return false;
        };
        let end = doc.prefix.len() + text.len() + nl.len();
        let line_end = new[end..].find('\n').map_or(new.len(), |i| end + i);
        let (total, near) = errors(&tree, (self.line_start(), line_end));
        total > base_total && near > base_near
    }
}
