//! Simple mutants of one Python or Rust function (tree-sitter): each is the module with one small
//! change inside the function that a good test notices. The list is deterministic (source
//! order, then operator order), free of duplicates, and every mutant parses.

use nib_syntax::tree_sitter::Node;
use nib_syntax::{parse, Language};

/// The kind of change a mutant makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `<` to `>=`, `==` to `!=`, `in` to `not in`, ...
    ComparisonFlipped,
    /// An integer constant or a `range` bound one more or one less.
    OffByOne,
    /// `and` to `or` and back.
    BooleanSwapped,
    /// A string, boolean, float or large integer constant changed.
    ConstantChanged,
    /// `return x` to `return None`.
    ReturnReplaced,
}

impl Operator {
    pub fn name(self) -> &'static str {
        match self {
            Operator::ComparisonFlipped => "comparison flipped",
            Operator::OffByOne => "off by one",
            Operator::BooleanSwapped => "boolean operator swapped",
            Operator::ConstantChanged => "constant changed",
            Operator::ReturnReplaced => "return value replaced",
        }
    }
}

/// The module with one change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mutant {
    pub operator: Operator,
    /// 1-based line of the change.
    pub line: usize,
    /// The text replaced and its replacement.
    pub original: String,
    pub replacement: String,
    /// The whole mutated module.
    pub source: String,
}

impl Mutant {
    /// For people: `line 3: comparison flipped (< -> >=)`.
    pub fn describe(&self) -> String {
        format!(
            "line {}: {} ({} -> {})",
            self.line,
            self.operator.name(),
            self.original,
            self.replacement
        )
    }
}

/// The definition node of `function` in the module: the first `def` of that name in source
/// order; `Class.method` names a method of a class.
pub(crate) fn find_function<'t>(root: Node<'t>, src: &str, function: &str) -> Option<Node<'t>> {
    let (class, name) = match function.rsplit_once('.') {
        Some((c, n)) => (Some(c), n),
        None => (None, function),
    };
    let mut stack = vec![root];
    let mut found = Vec::new();
    while let Some(n) = stack.pop() {
        if n.kind() == "function_definition"
            && n.child_by_field_name("name")
                .is_some_and(|x| &src[x.byte_range()] == name)
        {
            let in_class = n
                .parent()
                .and_then(|b| b.parent())
                .filter(|c| c.kind() == "class_definition")
                .and_then(|c| c.child_by_field_name("name"))
                .map(|x| &src[x.byte_range()]);
            if class.is_none() || class == in_class {
                found.push(n);
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    found.into_iter().min_by_key(|n| n.start_byte())
}

struct Edit {
    start: usize,
    end: usize,
    replacement: String,
    operator: Operator,
}

impl Edit {
    /// `n` replaced.
    fn of(n: Node, replacement: String, operator: Operator) -> Edit {
        Edit {
            start: n.start_byte(),
            end: n.end_byte(),
            replacement,
            operator,
        }
    }
}

fn flipped(op: &str) -> Option<&'static str> {
    Some(match op {
        "<" => ">=",
        "<=" => ">",
        ">" => "<=",
        ">=" => "<",
        "==" => "!=",
        "!=" => "==",
        "in" => "not in",
        "not in" => "in",
        "is" => "is not",
        "is not" => "is",
        _ => return None,
    })
}

/// A decimal integer literal's value (`1_000` too).
fn int_value(text: &str) -> Option<i128> {
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// `text - 1` or `text + 1`, parenthesised unless `text` is a primary expression.
fn shifted(node: Node, text: &str, delta: &str) -> String {
    match node.kind() {
        "identifier" | "call" | "attribute" | "subscript" | "parenthesized_expression" => {
            format!("{text} {delta}")
        }
        _ => format!("({text}) {delta}"),
    }
}

fn is_docstring(node: Node, body: Node) -> bool {
    node.parent().is_some_and(|p| {
        p.kind() == "expression_statement"
            && p.named_child_count() == 1
            && body
                .named_child(0)
                .is_some_and(|first| first.id() == p.id())
    })
}

fn edits_in(node: Node, body: Node, src: &str, out: &mut Vec<Edit>) {
    let text = &src[node.byte_range()];
    let mut edit = |n: Node, replacement: String, operator: Operator| {
        out.push(Edit::of(n, replacement, operator))
    };
    match node.kind() {
        "comparison_operator" => {
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                if child.is_named() {
                    continue;
                }
                if let Some(to) = flipped(&src[child.byte_range()]) {
                    edit(child, to.to_string(), Operator::ComparisonFlipped);
                }
            }
        }
        "boolean_operator" => {
            if let Some(op) = node.child_by_field_name("operator") {
                let to = match &src[op.byte_range()] {
                    "and" => "or",
                    "or" => "and",
                    _ => "",
                };
                if !to.is_empty() {
                    edit(op, to.to_string(), Operator::BooleanSwapped);
                }
            }
        }
        "integer" => {
            if let Some(v) = int_value(text) {
                edit(node, (v + 1).to_string(), Operator::OffByOne);
                if v > 0 {
                    edit(node, (v - 1).to_string(), Operator::OffByOne);
                }
                if v.abs() > 1 {
                    edit(node, "0".to_string(), Operator::ConstantChanged);
                }
            }
        }
        "float" => {
            let to = if text.parse::<f64>().is_ok_and(|v| v == 0.0) {
                "1.0"
            } else {
                "0.0"
            };
            edit(node, to.to_string(), Operator::ConstantChanged);
        }
        "true" => edit(node, "False".to_string(), Operator::ConstantChanged),
        "false" => edit(node, "True".to_string(), Operator::ConstantChanged),
        "string" | "concatenated_string"
            if node
                .parent()
                .is_none_or(|p| p.kind() != "concatenated_string")
                && !is_docstring(node, body) =>
        {
            // A string whose value is empty becomes one that is not, and the other way round.
            let empty = text
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .trim_matches(|c| c == '"' || c == '\'')
                .is_empty();
            let to = if empty { "'x'" } else { "''" };
            edit(node, to.to_string(), Operator::ConstantChanged);
            return;
        }
        "call" => {
            let is_range = node
                .child_by_field_name("function")
                .is_some_and(|f| &src[f.byte_range()] == "range");
            let args = node.child_by_field_name("arguments");
            if let (true, Some(args)) = (is_range, args) {
                let mut cursor = args.walk();
                let positional: Vec<Node> = args
                    .named_children(&mut cursor)
                    .filter(|a| a.kind() != "comment")
                    .collect();
                let literal = |n: &Node| n.kind() == "integer";
                let bound = match positional.len() {
                    1 => Some((positional[0], "- 1")),
                    2 | 3 => Some((positional[1], "- 1")),
                    _ => None,
                };
                if let Some((stop, delta)) = bound.filter(|(n, _)| !literal(n)) {
                    let t = &src[stop.byte_range()];
                    edit(stop, shifted(stop, t, delta), Operator::OffByOne);
                }
                if positional.len() >= 2 && !literal(&positional[0]) {
                    let start = positional[0];
                    let t = &src[start.byte_range()];
                    edit(start, shifted(start, t, "+ 1"), Operator::OffByOne);
                }
            }
        }
        "return_statement" => {
            if let Some(value) = node.named_child(0) {
                if value.kind() != "none" {
                    edit(node, "return None".to_string(), Operator::ReturnReplaced);
                }
            }
        }
        _ => {}
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        edits_in(child, body, src, out);
    }
}

/// The mutants of `function` in `module` (Python source); empty when the function is not
/// found. Ordered by position of the change, then by operator.
pub fn mutants(module: &str, function: &str) -> Vec<Mutant> {
    let Some(tree) = parse(Language::Python, module) else {
        return Vec::new();
    };
    let Some(def) = find_function(tree.root_node(), module, function) else {
        return Vec::new();
    };
    let Some(body) = def.child_by_field_name("body") else {
        return Vec::new();
    };
    let mut edits = Vec::new();
    edits_in(body, body, module, &mut edits);
    applied(Language::Python, module, edits)
}

/// The mutants of the Rust function `function` (the first `fn` of that name, methods too) in
/// `source`: a comparison flipped, `&&` and `||` swapped, an integer one more or one less (or
/// 0), a range's end included or left out, a boolean or string literal changed. Some may not
/// compile (a literal's type changed): whoever runs them leaves those out. Ordered like
/// [`mutants`].
pub fn rust_mutants(source: &str, function: &str) -> Vec<Mutant> {
    let Some(tree) = parse(Language::Rust, source) else {
        return Vec::new();
    };
    let mut stack = vec![tree.root_node()];
    let mut def = None;
    while let Some(n) = stack.pop() {
        if n.kind() == "function_item"
            && n.child_by_field_name("name")
                .is_some_and(|x| &source[x.byte_range()] == function)
        {
            def = Some(n);
            break;
        }
        let mut cursor = n.walk();
        let children: Vec<Node> = n.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    let Some(body) = def.and_then(|d| d.child_by_field_name("body")) else {
        return Vec::new();
    };
    let mut edits = Vec::new();
    rust_edits_in(body, source, &mut edits);
    applied(Language::Rust, source, edits)
}

fn rust_edits_in(node: Node, src: &str, out: &mut Vec<Edit>) {
    let text = &src[node.byte_range()];
    let mut edit = |n: Node, replacement: String, operator: Operator| {
        out.push(Edit::of(n, replacement, operator))
    };
    match node.kind() {
        "binary_expression" => {
            if let Some(op) = node.child_by_field_name("operator") {
                match &src[op.byte_range()] {
                    "&&" => edit(op, "||".into(), Operator::BooleanSwapped),
                    "||" => edit(op, "&&".into(), Operator::BooleanSwapped),
                    o => {
                        if let Some(to) = flipped(o).filter(|t| !t.contains(' ')) {
                            edit(op, to.to_string(), Operator::ComparisonFlipped);
                        }
                    }
                }
            }
        }
        "range_expression" => {
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                let to = match &src[child.byte_range()] {
                    ".." if child.next_sibling().is_some() && child.prev_sibling().is_some() => {
                        "..="
                    }
                    "..=" => "..",
                    _ => continue,
                };
                edit(child, to.to_string(), Operator::OffByOne);
            }
        }
        "integer_literal" => {
            // Decimal digits, then a type suffix (`10usize`).
            let split = text
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(text.len());
            let (digits, suffix) = text.split_at(split);
            let decimal = suffix.is_empty() || suffix.starts_with(['i', 'u']);
            if let Some(v) = int_value(digits).filter(|_| decimal) {
                edit(node, format!("{}{suffix}", v + 1), Operator::OffByOne);
                if v > 0 {
                    edit(node, format!("{}{suffix}", v - 1), Operator::OffByOne);
                }
                if v.abs() > 1 {
                    edit(node, format!("0{suffix}"), Operator::ConstantChanged);
                }
            }
        }
        "boolean_literal" => {
            let to = if text == "true" { "false" } else { "true" };
            edit(node, to.to_string(), Operator::ConstantChanged);
        }
        "string_literal" => {
            let to = if text == "\"\"" { "\"x\"" } else { "\"\"" };
            edit(node, to.to_string(), Operator::ConstantChanged);
            return;
        }
        _ => {}
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        rust_edits_in(child, src, out);
    }
}

/// Each edit applied alone to `module`: the distinct results that differ from it and parse.
fn applied(lang: Language, module: &str, mut edits: Vec<Edit>) -> Vec<Mutant> {
    edits.sort_by_key(|e| (e.start, e.operator, e.end));
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in edits {
        let source = format!(
            "{}{}{}",
            &module[..e.start],
            e.replacement,
            &module[e.end..]
        );
        if source == module || !seen.insert(source.clone()) {
            continue;
        }
        if parse(lang, &source).is_none_or(|t| t.root_node().has_error()) {
            continue;
        }
        out.push(Mutant {
            operator: e.operator,
            line: module[..e.start].matches('\n').count() + 1,
            original: module[e.start..e.end].to_string(),
            replacement: e.replacement,
            source,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_mutants_change_comparisons_booleans_literals_and_ranges() {
        let source = "fn other(x: u8) -> bool {\n    x < 3\n}\n\npub fn count(xs: &[i32], name: &str) -> usize {\n    let mut n = 0usize;\n    for i in 0..xs.len() {\n        if xs[i] >= 10 && name != \"\" || false {\n            n += 1;\n        }\n    }\n    n\n}\n";
        let found: Vec<String> = rust_mutants(source, "count")
            .iter()
            .map(Mutant::describe)
            .collect();
        expect_test::expect![[r#"
            [
                "line 6: off by one (0usize -> 1usize)",
                "line 7: off by one (0 -> 1)",
                "line 7: off by one (.. -> ..=)",
                "line 8: comparison flipped (>= -> <)",
                "line 8: off by one (10 -> 11)",
                "line 8: off by one (10 -> 9)",
                "line 8: constant changed (10 -> 0)",
                "line 8: boolean operator swapped (&& -> ||)",
                "line 8: comparison flipped (!= -> ==)",
                "line 8: constant changed (\"\" -> \"x\")",
                "line 8: boolean operator swapped (|| -> &&)",
                "line 8: constant changed (false -> true)",
                "line 9: off by one (1 -> 2)",
                "line 9: off by one (1 -> 0)",
            ]
        "#]]
        .assert_debug_eq(&found);
        assert!(rust_mutants(source, "missing").is_empty());
        // Each is the whole file with one change.
        for m in rust_mutants(source, "count") {
            assert!(m
                .source
                .starts_with("fn other(x: u8) -> bool {\n    x < 3\n}"));
        }
    }
    use expect_test::{expect, Expect};

    fn check(module: &str, function: &str, expected: Expect) {
        let ms = mutants(module, function);
        let text: String = ms.iter().map(|m| format!("{}\n", m.describe())).collect();
        expected.assert_eq(&text);
        for m in &ms {
            assert!(
                !parse(Language::Python, &m.source)
                    .unwrap()
                    .root_node()
                    .has_error(),
                "{}",
                m.source
            );
            assert_ne!(m.source, module);
        }
        assert_eq!(ms, mutants(module, function), "deterministic");
    }

    #[test]
    fn every_operator() {
        check(
            r#"def other(x):
    return x < 1

def f(xs, limit):
    """Docstring: 'left alone'."""
    total = 0
    for i in range(len(xs)):
        if xs[i] >= limit and i not in (3, 4):
            total += 2.5
    ok = total == 0 or False
    return "none" if ok else total
"#,
            "f",
            expect![[r#"
                line 6: off by one (0 -> 1)
                line 7: off by one (len(xs) -> len(xs) - 1)
                line 8: comparison flipped (>= -> <)
                line 8: boolean operator swapped (and -> or)
                line 8: comparison flipped (not in -> in)
                line 8: off by one (3 -> 4)
                line 8: off by one (3 -> 2)
                line 8: constant changed (3 -> 0)
                line 8: off by one (4 -> 5)
                line 8: off by one (4 -> 3)
                line 8: constant changed (4 -> 0)
                line 9: constant changed (2.5 -> 0.0)
                line 10: comparison flipped (== -> !=)
                line 10: off by one (0 -> 1)
                line 10: boolean operator swapped (or -> and)
                line 10: constant changed (False -> True)
                line 11: return value replaced (return "none" if ok else total -> return None)
                line 11: constant changed ("none" -> '')
            "#]],
        );
    }

    #[test]
    fn range_bounds_and_methods() {
        check(
            "class C:\n    def f(self, a, b):\n        return [i for i in range(a, b + 1, 2)]\n\ndef f():\n    return None\n",
            "C.f",
            expect![[r#"
                line 3: return value replaced (return [i for i in range(a, b + 1, 2)] -> return None)
                line 3: off by one (a -> a + 1)
                line 3: off by one (b + 1 -> (b + 1) - 1)
                line 3: off by one (1 -> 2)
                line 3: off by one (1 -> 0)
                line 3: off by one (2 -> 3)
                line 3: off by one (2 -> 1)
                line 3: constant changed (2 -> 0)
            "#]],
        );
        // `return None` and a function without changes give nothing; an unknown name neither.
        check("def f():\n    return None\n", "f", expect![""]);
        check("def f():\n    return 1\n", "g", expect![""]);
    }
}
