//! Counting tree-sitter ERROR and MISSING nodes of a Python document.

use nib_syntax::Language;

/// ERROR plus MISSING nodes in the tree of `text` (0 when Python is not compiled in).
pub fn error_nodes(text: &str) -> usize {
    let Some(tree) = nib_syntax::parse(Language::Python, text) else {
        return 0;
    };
    let mut cursor = tree.walk();
    let mut count = 0;
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            count += 1;
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors() {
        assert_eq!(error_nodes("def f(x):\n    return x + 1\n"), 0);
        assert!(error_nodes("def f(x):\n    return (x + 1\n") > 0);
        assert!(error_nodes("def f(x):\n    return x +\n") > 0);
        assert!(error_nodes("def f(x:\n    pass\n") > 0);
    }
}
