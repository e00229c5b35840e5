//! Syntax: does splicing a suggestion in introduce parse errors?

use nib_syntax::tree_sitter::{Node, Parser, Tree};
use nib_syntax::{input_edit, parse, point_of, Language};

use crate::{Category, Finding, Severity};

/// Byte ranges of ERROR and MISSING nodes, outermost only.
pub fn error_ranges(tree: &Tree) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        if n.is_error() || n.is_missing() {
            out.push((n.start_byte(), n.end_byte()));
            continue;
        }
        if !n.has_error() {
            continue;
        }
        let mut c = n.walk();
        let children: Vec<Node<'_>> = n.children(&mut c).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// A finding (offsets relative to `suggestion`) when `before + suggestion + after` has more
/// parse errors than `before + after`. `None` when the splice is no worse.
pub fn syntax_regression(
    lang: Language,
    before: &str,
    suggestion: &str,
    after: &str,
) -> Option<Finding> {
    let full = parse(lang, &format!("{before}{suggestion}{after}"))?;
    syntax_regression_in(lang, &full, before, suggestion, after)
}

/// [`syntax_regression`] given the tree of `before + suggestion + after`; the tree of
/// `before + after` is derived from it by an incremental reparse.
pub(crate) fn syntax_regression_in(
    lang: Language,
    full_tree: &Tree,
    before: &str,
    suggestion: &str,
    after: &str,
) -> Option<Finding> {
    let base = format!("{before}{after}");
    let mut old = full_tree.clone();
    let start = point_of(before, before.len());
    let full_end = {
        let (r, c) = point_of(suggestion, suggestion.len());
        if r == 0 {
            (start.0, start.1 + c)
        } else {
            (start.0 + r, c)
        }
    };
    old.edit(&input_edit(
        before.len(),
        before.len() + suggestion.len(),
        before.len(),
        start,
        full_end,
        start,
    ));
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()?).ok()?;
    let base_errors = error_ranges(&parser.parse(&base, Some(&old))?);
    let full_errors = error_ranges(full_tree);
    let (s0, s1) = (before.len(), before.len() + suggestion.len());
    // More errors than without the suggestion. (An incomplete line the suggestion leaves
    // incomplete is not a regression: the count stays the same.)
    if full_errors.len() <= base_errors.len() {
        return None;
    }
    let shift = suggestion.len();
    let existed = |&(a, b): &(usize, usize)| {
        (b <= s0 && base_errors.contains(&(a, b)))
            || (a >= s1 && base_errors.contains(&(a - shift, b - shift)))
    };
    let new: Vec<_> = full_errors
        .iter()
        .filter(|e| !existed(e))
        .copied()
        .collect();
    // Report the first new error clipped to the suggestion (or the whole suggestion).
    let (a, b) = new
        .iter()
        .find(|(a, b)| *b > s0 && *a < s1)
        .map(|(a, b)| ((*a).max(s0) - s0, (*b).min(s1) - s0))
        .unwrap_or((0, suggestion.len()));
    let b = b.max(a);
    Some(Finding {
        rule_id: "syntax/parse-error".into(),
        cwe: None,
        severity: Severity::Medium,
        message: "the suggestion does not parse in its surrounding code".into(),
        fix_hint: "Discard or trim the suggestion".into(),
        start_byte: a,
        end_byte: b,
        start: point_of(suggestion, a),
        end: point_of(suggestion, b),
        category: Category::Syntax,
    })
}
