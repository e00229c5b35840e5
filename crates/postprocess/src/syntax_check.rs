//! Does a completion introduce syntax errors that the document without it did not have?
//!
//! Counts tree-sitter ERROR and MISSING nodes in `prefix + suffix` and in
//! `prefix + completion + suffix`, overall and near the edit (from the start of the cursor's
//! line to the end of the line where the completion ends). A completion is rejected only when
//! both counts grow: errors elsewhere (a call left open at the end of a partial line, a window
//! that starts mid-construct) are not the completion's fault.
//!
//! Python also gets its layout checked ([`crate::layout`]), which tree-sitter forgives: the
//! completion is rejected when it adds layout errors in the lines it touches and the dozen
//! after, or leaves the first code line after it indented deeper than its block (a statement
//! where a block header belongs), even when the document had that error without it.

use nib_syntax::{parse, tree_sitter::Tree, Language};

use crate::doc::Doc;
use crate::layout::layout_errors;
use crate::DropReason;

/// Lines after the completion where new layout errors count.
const LAYOUT_LINES: usize = 12;

pub(crate) struct Checker<'d, 'a> {
    doc: &'d Doc<'a>,
    lang: Language,
    base: Option<(usize, usize)>,
    /// Layout errors of `prefix + suffix` (byte offsets), Python only.
    base_layout: Option<Vec<usize>>,
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
            base_layout: None,
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
        self.verdict(text, as_new_line).is_some()
    }

    /// Why `text` inserted at the cursor (followed by a line break when `as_new_line`) breaks
    /// the document: [`DropReason::IntroducesSyntaxError`] (tree-sitter) or
    /// [`DropReason::BreaksIndentation`] (Python's layout); `None` when it does not.
    pub(crate) fn verdict(&mut self, text: &str, as_new_line: bool) -> Option<DropReason> {
        let doc = self.doc;
        let nl = if as_new_line { "\n" } else { "" };
        let new = format!("{}{}{}{}", doc.prefix, text, nl, doc.suffix);
        let end = doc.prefix.len() + text.len() + nl.len();
        if let Some((base_total, base_near)) = self.base() {
            if let Some(tree) = parse(self.lang, &new) {
                let line_end = new[end..].find('\n').map_or(new.len(), |i| end + i);
                let (total, near) = errors(&tree, (self.line_start(), line_end));
                if total > base_total && near > base_near {
                    return Some(DropReason::IntroducesSyntaxError);
                }
            }
        }
        if self.lang == Language::Python && self.breaks_layout(&new, end, as_new_line) {
            return Some(DropReason::BreaksIndentation);
        }
        None
    }

    /// `new` (the document with the completion, which ends at byte `end`) has more layout
    /// errors near the completion than the document without it, or one at the first code line
    /// after the completion.
    fn breaks_layout(&mut self, new: &str, end: usize, as_new_line: bool) -> bool {
        let doc = self.doc;
        let start = self.line_start();
        // Suffix bytes (from the end of the cursor's line) covered by the region.
        let rest = &doc.suffix[doc.line_suffix().len()..];
        let span = rest
            .match_indices('\n')
            .nth(LAYOUT_LINES)
            .map_or(rest.len(), |(i, _)| i);
        let span = doc.line_suffix().len() + span;
        let base = self
            .base_layout
            .get_or_insert_with(|| layout_errors(&format!("{}{}", doc.prefix, doc.suffix)));
        let base_near = base
            .iter()
            .filter(|&&e| e >= start && e <= doc.prefix.len() + span)
            .count();
        let errs = layout_errors(new);
        let region_end = end + span;
        let near = errs
            .iter()
            .filter(|&&e| e >= start && e <= region_end)
            .count();
        if near > base_near {
            return true;
        }
        // The first code line after the completion's last line.
        let after = if as_new_line {
            end
        } else {
            new[end..].find('\n').map_or(new.len(), |i| end + i + 1)
        };
        let mut at = after;
        for line in new[after..].split_inclusive('\n') {
            let t = line.trim();
            if !t.is_empty() && !t.starts_with('#') {
                return errs.contains(&at);
            }
            at += line.len();
        }
        false
    }
}
