//! Places in a function where a refactoring has something concrete to do: a loop that only
//! sums or collects, an index loop over a sequence, a condition returned as `True`/`False`, a
//! value computed several times, an `else` after a `return`. Told to the model with a refactor
//! request, they turn "make it clearer" (which a small model answers with the same code) into
//! changes it can make; whether a change keeps the behaviour is checked elsewhere.
//!
//! Python only; other languages get no hints.

use tree_sitter::Node;

use crate::{parse, Language};

/// One opportunity: the code it is about (its first line) and what could be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefactorHint {
    /// 1-based line in the text given.
    pub line: usize,
    /// The statement's first line, trimmed and shortened.
    pub code: String,
    pub advice: String,
}

/// At most this many hints: the first ones in the text.
pub const MAX_HINTS: usize = 4;

/// Builtins and methods whose repeated calls with the same plain arguments compute the same
/// value (as long as the arguments are not reassigned or mutated).
const PURE_CALLS: &[&str] = &[
    "len", "sorted", "set", "sum", "max", "min", "abs", "str", "int", "list", "tuple",
];
const PURE_METHODS: &[&str] = &[
    "lower", "upper", "strip", "split", "keys", "values", "items",
];
/// Methods that change their object: an argument they are called on is not constant.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "sort",
    "reverse",
    "add",
    "discard",
    "update",
    "popitem",
    "setdefault",
];

/// The hints for `code` (a function or a few statements), first ones first.
pub fn refactor_hints(lang: Language, code: &str) -> Vec<RefactorHint> {
    if lang != Language::Python {
        return Vec::new();
    }
    let Some(tree) = parse(lang, code) else {
        return Vec::new();
    };
    let root = tree.root_node();
    if root.has_error() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "for_statement" => {
                if let Some(h) = accumulating_loop(n, code).or_else(|| index_loop(n, code)) {
                    out.push(h);
                }
            }
            "if_statement" => {
                if let Some(h) = boolean_return(n, code)
                    .or_else(|| same_shape_branches(n, code))
                    .or_else(|| clamp_by_if(n, code))
                    .or_else(|| else_after_return(n, code))
                {
                    out.push(h);
                }
            }
            "conditional_expression" => {
                if let Some(h) = boolean_conditional(n, code) {
                    out.push(h);
                }
            }
            "while_statement" => {
                if let Some(h) = counting_while(n, code) {
                    out.push(h);
                }
            }
            "subscript" => {
                if let Some(h) = length_minus_index(n, code) {
                    out.push(h);
                }
            }
            "function_definition" => {
                if let Some(h) = repeated_call(n, code) {
                    out.push(h);
                }
            }
            _ => {}
        }
        let mut cursor = n.walk();
        let children: Vec<Node> = n.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    out.sort_by_key(|h| h.line);
    out.dedup();
    out.truncate(MAX_HINTS);
    out
}

fn text<'a>(n: Node, src: &'a str) -> &'a str {
    &src[n.byte_range()]
}

fn hint(n: Node, src: &str, advice: String) -> RefactorHint {
    let first = text(n, src).lines().next().unwrap_or("").trim();
    let code = if first.chars().count() > 70 {
        let cut: String = first.chars().take(67).collect();
        format!("{cut}...")
    } else {
        first.to_string()
    };
    RefactorHint {
        line: n.start_position().row + 1,
        code,
        advice,
    }
}

/// The only statement of a block, if it has exactly one.
fn single_statement(block: Node) -> Option<Node> {
    (block.named_child_count() == 1)
        .then(|| block.named_child(0))
        .flatten()
        .filter(|s| s.kind() != "comment")
}

/// The expression of an expression statement.
fn expression_of(stmt: Node) -> Option<Node> {
    (stmt.kind() == "expression_statement")
        .then(|| stmt.named_child(0))
        .flatten()
}

/// The statement a loop body repeats, looking through one `if` without `elif`/`else`.
fn loop_work(body: Node) -> Option<(Node, bool)> {
    let stmt = single_statement(body)?;
    if stmt.kind() == "if_statement" {
        if stmt.child_by_field_name("alternative").is_some() {
            return None;
        }
        let inner = single_statement(stmt.child_by_field_name("consequence")?)?;
        return Some((inner, true));
    }
    Some((stmt, false))
}

/// `for x in xs: total += f(x)` or `for x in xs: out.append(f(x))`, maybe under one `if`.
fn accumulating_loop(n: Node, src: &str) -> Option<RefactorHint> {
    if n.child_by_field_name("alternative").is_some() {
        return None;
    }
    let body = n.child_by_field_name("body")?;
    if let Some(h) = folding_loop(n, body, src) {
        return Some(h);
    }
    let (work, filtered) = loop_work(body)?;
    let expr = expression_of(work)?;
    let filter = if filtered { " with an `if`" } else { "" };
    match expr.kind() {
        "augmented_assignment" => {
            let target = expr.child_by_field_name("left")?;
            let op = expr.child_by_field_name("operator")?;
            if target.kind() != "identifier" || text(op, src) != "+=" {
                return None;
            }
            let name = text(target, src);
            Some(hint(
                n,
                src,
                format!(
                    "the loop only adds to `{name}`: `sum(...)` (numbers) or `''.join(...)` (strings) over a generator expression{filter} says it in one expression"
                ),
            ))
        }
        "call" => {
            let f = expr.child_by_field_name("function")?;
            if f.kind() != "attribute" {
                return None;
            }
            let method = text(f.child_by_field_name("attribute")?, src);
            let object = f.child_by_field_name("object")?;
            if method != "append" || object.kind() != "identifier" {
                return None;
            }
            Some(hint(
                n,
                src,
                format!(
                    "the loop only appends to `{}`: a list comprehension{filter} builds it in one expression",
                    text(object, src)
                ),
            ))
        }
        _ => None,
    }
}

/// `for x in xs: total += x; product *= x`: every statement folds the loop variable itself into
/// a name, which `sum(xs)` and `math.prod(xs)` give.
fn folding_loop(n: Node, body: Node, src: &str) -> Option<RefactorHint> {
    let var = n.child_by_field_name("left")?;
    if var.kind() != "identifier" || body.named_child_count() < 2 {
        return None;
    }
    let mut names = Vec::new();
    let mut cursor = body.walk();
    for stmt in body.named_children(&mut cursor) {
        let e = expression_of(stmt)?;
        if e.kind() != "augmented_assignment" {
            return None;
        }
        let op = text(e.child_by_field_name("operator")?, src);
        let target = e.child_by_field_name("left")?;
        let value = e.child_by_field_name("right")?;
        if !matches!(op, "+=" | "*=")
            || target.kind() != "identifier"
            || text(value, src) != text(var, src)
        {
            return None;
        }
        let fold = if op == "+=" { "sum" } else { "math.prod" };
        names.push(format!("`{}` is `{fold}(...)`", text(target, src)));
    }
    Some(hint(
        n,
        src,
        format!(
            "the loop only folds `{}` into names: {} of what it iterates over (`math.prod` needs `import math`)",
            text(var, src),
            names.join(", ")
        ),
    ))
}

/// `True if c else False`: the condition itself.
fn boolean_conditional(n: Node, src: &str) -> Option<RefactorHint> {
    let parts: Vec<&str> = {
        let mut cursor = n.walk();
        n.named_children(&mut cursor)
            .map(|c| text(c, src))
            .collect()
    };
    match parts.as_slice() {
        ["True", _, "False"] | ["False", _, "True"] => Some(hint(
            enclosing_statement(n),
            src,
            "`True if <condition> else False` is the condition itself (`bool(...)` if it is not already a bool; `not` for the reverse)".to_string(),
        )),
        _ => None,
    }
}

/// `if x < lo: x = lo`: `x = max(x, lo)` (and the like with `>` and `min`).
fn clamp_by_if(n: Node, src: &str) -> Option<RefactorHint> {
    if n.child_by_field_name("alternative").is_some() {
        return None;
    }
    let mut cond = n.child_by_field_name("condition")?;
    while cond.kind() == "parenthesized_expression" {
        cond = cond.named_child(0)?;
    }
    if cond.kind() != "comparison_operator" || cond.named_child_count() != 2 {
        return None;
    }
    let (a, b) = (cond.named_child(0)?, cond.named_child(1)?);
    let op = text(cond.child(1)?, src);
    let assign = expression_of(single_statement(n.child_by_field_name("consequence")?)?)?;
    if assign.kind() != "assignment" {
        return None;
    }
    let (target, value) = (
        text(assign.child_by_field_name("left")?, src),
        text(assign.child_by_field_name("right")?, src),
    );
    let (x, bound) = (text(a, src), text(b, src));
    let f = match op {
        "<" | "<=" if target == x && value == bound => "max",
        ">" | ">=" if target == x && value == bound => "min",
        _ => return None,
    };
    Some(hint(
        n,
        src,
        format!("the `if` only bounds `{x}`: `{x} = {f}({x}, {bound})`"),
    ))
}

/// `i = 0` ... `while i < n: ...; i += 1` with `i` changed nowhere else in the loop: a `for`
/// over a `range`.
fn counting_while(n: Node, src: &str) -> Option<RefactorHint> {
    let cond = n.child_by_field_name("condition")?;
    if cond.kind() != "comparison_operator" || text(cond.child(1)?, src) != "<" {
        return None;
    }
    let i = cond.named_child(0)?;
    if i.kind() != "identifier" {
        return None;
    }
    let i = text(i, src);
    let body = n.child_by_field_name("body")?;
    let last = body.named_child(body.named_child_count().checked_sub(1)?)?;
    let step = expression_of(last)?;
    if step.kind() != "augmented_assignment"
        || text(step.child_by_field_name("left")?, src) != i
        || text(step.child_by_field_name("operator")?, src) != "+="
        || text(step.child_by_field_name("right")?, src) != "1"
    {
        return None;
    }
    // Any other change of `i` (or a `continue`, which would skip the step) rules it out.
    let mut changes = 0;
    let mut stack = vec![body];
    while let Some(m) = stack.pop() {
        match m.kind() {
            "continue_statement" => return None,
            "assignment" | "augmented_assignment" | "for_statement"
                if m.child_by_field_name("left")
                    .is_some_and(|t| identifiers(t, src).iter().any(|v| v == i)) =>
            {
                changes += 1;
            }
            _ => {}
        }
        let mut cursor = m.walk();
        let children: Vec<Node> = m.named_children(&mut cursor).collect();
        stack.extend(children);
    }
    if changes != 1 {
        return None;
    }
    Some(hint(
        n,
        src,
        format!(
            "`{i}` only counts up by one: `for {i} in range(...)` says so (and drops the `{i} += 1`)"
        ),
    ))
}

/// An `if`/`elif` chain of four or more branches that each do the same thing with a different
/// value (`out.append("A")`, `grade = "B"`): a helper or a table says it once.
fn same_shape_branches(n: Node, src: &str) -> Option<RefactorHint> {
    let shape = |block: Node| -> Option<String> {
        let e = expression_of(single_statement(block)?)?;
        match e.kind() {
            "call" => Some(format!(
                "{}(...)",
                text(e.child_by_field_name("function")?, src)
            )),
            "assignment" => Some(format!(
                "{} = ...",
                text(e.child_by_field_name("left")?, src)
            )),
            _ => None,
        }
    };
    let first = shape(n.child_by_field_name("consequence")?)?;
    let mut branches = 1;
    let mut cursor = n.walk();
    for alt in n.children_by_field_name("alternative", &mut cursor) {
        let block = alt
            .child_by_field_name("consequence")
            .or_else(|| alt.child_by_field_name("body"))?;
        if shape(block)? != first {
            return None;
        }
        branches += 1;
    }
    (branches >= 4).then(|| {
        hint(
            n,
            src,
            format!(
                "the {branches} branches differ only in the value in `{first}`: a helper function returning the value (or a table of conditions and values) says it once"
            ),
        )
    })
}

/// `for i in range(len(xs))` whose body reads `xs[i]`.
fn index_loop(n: Node, src: &str) -> Option<RefactorHint> {
    let var = n.child_by_field_name("left")?;
    let right = n.child_by_field_name("right")?;
    if var.kind() != "identifier" || right.kind() != "call" {
        return None;
    }
    if text(right.child_by_field_name("function")?, src) != "range" {
        return None;
    }
    let args = right.child_by_field_name("arguments")?;
    if args.named_child_count() != 1 {
        return None;
    }
    let len = args.named_child(0)?;
    if len.kind() != "call" || text(len.child_by_field_name("function")?, src) != "len" {
        return None;
    }
    let seq = len.child_by_field_name("arguments")?.named_child(0)?;
    if seq.kind() != "identifier" {
        return None;
    }
    let (i, xs) = (text(var, src), text(seq, src));
    let body = text(n.child_by_field_name("body")?, src);
    if !body.contains(&format!("{xs}[{i}]")) {
        return None;
    }
    Some(hint(
        n,
        src,
        format!("the loop reads `{xs}[{i}]`: `for {i}, x in enumerate({xs})` (or iterating over `{xs}` itself) names the item"),
    ))
}

/// `if c: return True` then `return False` (as `else` or as the next statement), or the reverse.
fn boolean_return(n: Node, src: &str) -> Option<RefactorHint> {
    let returns = |stmt: Option<Node>| -> Option<&str> {
        let s = stmt?;
        if s.kind() != "return_statement" {
            return None;
        }
        let v = text(s.named_child(0)?, src);
        matches!(v, "True" | "False").then_some(v)
    };
    let then = returns(single_statement(n.child_by_field_name("consequence")?))?;
    let other = match n.child_by_field_name("alternative") {
        Some(alt) if alt.kind() == "else_clause" => {
            returns(single_statement(alt.child_by_field_name("body")?))
        }
        Some(_) => None,
        None => returns(n.next_named_sibling()),
    }?;
    if then == other {
        return None;
    }
    let how = if then == "True" {
        "`return <condition>`"
    } else {
        "`return not (<condition>)`"
    };
    Some(hint(
        n,
        src,
        format!("returning `True`/`False` by a condition is {how} (wrap it in `bool(...)` if the condition is not already a bool)"),
    ))
}

/// `if c: ... return x` followed by `else:`: the `else` can go, its body dedented.
fn else_after_return(n: Node, src: &str) -> Option<RefactorHint> {
    let alt = n.child_by_field_name("alternative")?;
    if alt.kind() != "else_clause" {
        return None;
    }
    let consequence = n.child_by_field_name("consequence")?;
    let last = consequence.named_child(consequence.named_child_count().checked_sub(1)?)?;
    if !matches!(last.kind(), "return_statement" | "raise_statement") {
        return None;
    }
    let ends = if last.kind() == "return_statement" {
        "return"
    } else {
        "raise"
    };
    Some(hint(
        n,
        src,
        format!("the `if` branch ends in a `{ends}`: the `else:` can go and its body move one level out (an early {ends})"),
    ))
}

/// `xs[len(xs) - k]`: a negative index says it (`xs[-k]`).
fn length_minus_index(n: Node, src: &str) -> Option<RefactorHint> {
    let value = n.child_by_field_name("value")?;
    let index = n.child_by_field_name("subscript")?;
    if value.kind() != "identifier" || index.kind() != "binary_operator" {
        return None;
    }
    // The leftmost operand of a chain of subtractions, and what is subtracted from it.
    let mut left = index;
    let mut subtracted = Vec::new();
    while left.kind() == "binary_operator" {
        if text(left.child_by_field_name("operator")?, src) != "-" {
            return None;
        }
        subtracted.push(left.child_by_field_name("right")?);
        left = left.child_by_field_name("left")?;
    }
    if left.kind() != "call" || text(left.child_by_field_name("function")?, src) != "len" {
        return None;
    }
    let arg = left.child_by_field_name("arguments")?.named_child(0)?;
    if text(arg, src) != text(value, src) {
        return None;
    }
    // What is subtracted must be at least 1 for the negative index to be the same element:
    // the last term is a positive integer (`len(xs) - i - 1`, `i` from a `range`).
    let last = *subtracted.first()?;
    if !(last.kind() == "integer" && text(last, src).parse::<u64>().is_ok_and(|v| v >= 1)) {
        return None;
    }
    let terms: Vec<&str> = subtracted.iter().rev().map(|t| text(*t, src)).collect();
    let negative = match terms.as_slice() {
        [one] => format!("-{one}"),
        many => format!("-({})", many.join(" + ")),
    };
    Some(hint(
        n,
        src,
        format!(
            "`{}` is `{}[{negative}]`: a negative index",
            text(n, src),
            text(value, src)
        ),
    ))
}

/// The same pure call (`len(xs)`, `s.lower()`) made two or more times in a function whose
/// arguments it never reassigns or mutates: computed once into a name, it reads better.
fn repeated_call(def: Node, src: &str) -> Option<RefactorHint> {
    let body = def.child_by_field_name("body")?;
    let mut calls: Vec<(String, Vec<String>, Node)> = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        match n.kind() {
            // Nested definitions have their own scope.
            "function_definition" | "class_definition" | "lambda" => continue,
            "assignment" | "augmented_assignment" | "for_statement" => {
                if let Some(t) = n.child_by_field_name("left") {
                    changed.extend(identifiers(t, src));
                }
            }
            "call" => {
                if let Some(c) = pure_call(n, src) {
                    calls.push((text(n, src).to_string(), c, n));
                } else if let Some(object) = mutated_object(n, src) {
                    changed.push(object);
                }
            }
            _ => {}
        }
        let mut cursor = n.walk();
        let children: Vec<Node> = n.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    calls.sort_by_key(|c| c.2.start_byte());
    for (i, (call, args, node)) in calls.iter().enumerate() {
        if args.iter().any(|a| changed.contains(a)) {
            continue;
        }
        let n = calls.iter().skip(i).filter(|c| &c.0 == call).count();
        if n >= 2 && calls[..i].iter().all(|c| &c.0 != call) {
            let stmt = enclosing_statement(*node);
            return Some(hint(
                stmt,
                src,
                format!("`{call}` is computed {n} times: name it once"),
            ));
        }
    }
    None
}

/// `f(a, b)` with `f` in [`PURE_CALLS`] or `a.m()` with `m` in [`PURE_METHODS`], every
/// argument a plain name: the names.
fn pure_call(n: Node, src: &str) -> Option<Vec<String>> {
    let f = n.child_by_field_name("function")?;
    let args = n.child_by_field_name("arguments")?;
    let mut names = Vec::new();
    let mut cursor = args.walk();
    for a in args.named_children(&mut cursor) {
        if a.kind() != "identifier" {
            return None;
        }
        names.push(text(a, src).to_string());
    }
    match f.kind() {
        "identifier" if PURE_CALLS.contains(&text(f, src)) && !names.is_empty() => Some(names),
        "attribute" => {
            let object = f.child_by_field_name("object")?;
            let method = text(f.child_by_field_name("attribute")?, src);
            (object.kind() == "identifier" && PURE_METHODS.contains(&method) && names.is_empty())
                .then(|| vec![text(object, src).to_string()])
        }
        _ => None,
    }
}

/// `xs.append(...)` and the like: the name whose value the call changes.
fn mutated_object(n: Node, src: &str) -> Option<String> {
    let f = n.child_by_field_name("function")?;
    if f.kind() != "attribute" {
        return None;
    }
    let object = f.child_by_field_name("object")?;
    let method = text(f.child_by_field_name("attribute")?, src);
    (object.kind() == "identifier" && MUTATING_METHODS.contains(&method))
        .then(|| text(object, src).to_string())
}

fn identifiers(n: Node, src: &str) -> Vec<String> {
    match n.kind() {
        "identifier" => vec![text(n, src).to_string()],
        // `xs[i] = v` and `o.a = v` change `xs` and `o`.
        "subscript" => n
            .child_by_field_name("value")
            .map_or_else(Vec::new, |v| identifiers(v, src)),
        "attribute" => n
            .child_by_field_name("object")
            .map_or_else(Vec::new, |v| identifiers(v, src)),
        _ => {
            let mut cursor = n.walk();
            let children: Vec<Node> = n.named_children(&mut cursor).collect();
            children
                .into_iter()
                .flat_map(|c| identifiers(c, src))
                .collect()
        }
    }
}

/// The statement a node is part of (for the line shown).
fn enclosing_statement(mut n: Node) -> Node {
    while let Some(p) = n.parent() {
        if p.kind() == "block" || p.kind() == "module" {
            return n;
        }
        n = p;
    }
    n
}

#[cfg(test)]
mod tests;
