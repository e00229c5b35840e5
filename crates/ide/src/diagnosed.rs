//! Incremental document diagnostics: the last safety findings of a document are kept through
//! its edits (findings after an edit shift, those it touches are dropped) with the span edited
//! since. The next check matches rules only in the top-level definitions that span touches,
//! on the document's incrementally reparsed tree, so a keystroke in a 20,000-line file costs
//! one function's check, not the file's. Whatever a local check cannot decide (module-level
//! code, a tree with errors) falls back to the whole document.

use nib_checks::Finding;
use nib_syntax::tree_sitter::Tree;
use nib_syntax::Language;
use nib_text::Edit;

/// Findings valid for the document's current text outside `dirty`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Diagnosed {
    pub findings: Vec<Finding>,
    /// The span (current byte offsets) edited since the findings were computed.
    pub dirty: Option<(usize, usize)>,
}

impl Diagnosed {
    pub fn new(findings: Vec<Finding>) -> Diagnosed {
        Diagnosed {
            findings,
            dirty: None,
        }
    }

    /// Follow one edit of the document.
    pub fn edit(&mut self, e: &Edit) {
        let (start, old_end, new_end) = (e.start_byte, e.old_end_byte, e.new_end_byte);
        let map = |x: usize| {
            if x <= start {
                x
            } else if x >= old_end {
                x - old_end + new_end
            } else {
                new_end
            }
        };
        self.findings.retain_mut(|f| {
            if f.end_byte < start {
                true
            } else if f.start_byte > old_end {
                f.start_byte = map(f.start_byte);
                f.end_byte = map(f.end_byte);
                true
            } else {
                false
            }
        });
        self.dirty = Some(match self.dirty {
            Some((s, t)) => (map(s).min(start), map(t).max(new_end)),
            None => (start, new_end),
        });
    }
}

/// Top-level nodes whose findings depend only on themselves (and on what the rules read from
/// the rest of the tree, which they see whole).
fn local_kind(lang: Language, kind: &str) -> bool {
    match lang {
        Language::Python => matches!(
            kind,
            "function_definition" | "class_definition" | "decorated_definition" | "comment"
        ),
        Language::Rust => matches!(
            kind,
            "function_item"
                | "impl_item"
                | "struct_item"
                | "enum_item"
                | "trait_item"
                | "mod_item"
                | "line_comment"
                | "block_comment"
        ),
    }
}

/// The byte range to check again for an edited span: the top-level definitions it touches.
/// `None` when it touches module-level code, whose change can alter findings anywhere.
pub(crate) fn region(lang: Language, tree: &Tree, dirty: (usize, usize)) -> Option<(usize, usize)> {
    let root = tree.root_node();
    let (mut start, mut end) = dirty;
    let mut cursor = root.walk();
    for child in root.children(&mut cursor) {
        if child.end_byte() < dirty.0 || child.start_byte() > dirty.1 {
            continue;
        }
        if !local_kind(lang, child.kind()) {
            return None;
        }
        start = start.min(child.start_byte());
        end = end.max(child.end_byte());
    }
    Some((start, end))
}

/// The kept findings outside `region` and the new ones inside it, in the checker's order, with
/// their (row, column) points recomputed for `text`.
pub(crate) fn merge(
    old: Vec<Finding>,
    new: Vec<Finding>,
    region: (usize, usize),
    text: &str,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = old
        .into_iter()
        .filter(|f| f.end_byte <= region.0 || f.start_byte >= region.1)
        .chain(new)
        .collect();
    out.sort_by(|a, b| {
        (a.start_byte, a.end_byte, &a.rule_id).cmp(&(b.start_byte, b.end_byte, &b.rule_id))
    });
    set_points(text, &mut out);
    out
}

/// (row, byte column) of every finding's ends, counting `\n` as the checker does, in one pass.
fn set_points(text: &str, findings: &mut [Finding]) {
    let mut at: Vec<(usize, usize, bool)> = Vec::with_capacity(findings.len() * 2);
    for (i, f) in findings.iter().enumerate() {
        at.push((f.start_byte.min(text.len()), i, false));
        at.push((f.end_byte.min(text.len()), i, true));
    }
    at.sort_unstable();
    let bytes = text.as_bytes();
    let (mut pos, mut row, mut line_start) = (0, 0, 0);
    for (byte, i, is_end) in at {
        while pos < byte {
            if bytes[pos] == b'\n' {
                row += 1;
                line_start = pos + 1;
            }
            pos += 1;
        }
        let point = (row, byte - line_start);
        if is_end {
            findings[i].end = point;
        } else {
            findings[i].start = point;
        }
    }
}
