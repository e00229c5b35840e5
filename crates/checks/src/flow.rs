//! Taint-lite: where can the value of an expression come from?
//!
//! A deliberately small, intra-procedural analysis over a tree-sitter tree that may contain
//! ERROR nodes. Names are resolved to the enclosing function's parameters or to the last
//! assignment before the use (in the function, else at module level); anything it cannot see
//! through is `Unknown`. It never fails: the worst answer is `Unknown`.

use nib_syntax::tree_sitter::Node;
use nib_syntax::Language;

/// Where a value may come from, ordered from harmless to attacker-controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// Only literals (and names bound to literals).
    Constant,
    /// Something the analysis cannot see through (a call result, a loop variable, ...).
    Unknown,
    /// A parameter of the enclosing function: the caller decides.
    Param,
    /// Input from whoever runs the program: `sys.argv`, the environment, stdin, `input()`.
    Local,
    /// Input from the network: request objects of web frameworks.
    Remote,
}

/// The result of classifying an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub origin: Origin,
    /// The value is a string built by formatting or concatenation.
    pub built: bool,
    /// A short description of the most dangerous source seen, e.g. "parameter `name`".
    pub source: Option<String>,
    /// The most dangerous source is the content (or handle) of a file the program opens:
    /// `open(p).read()`, `Path(p).read_text()`.
    pub file: bool,
    /// The most dangerous source is the environment (`os.environ`, `std::env::var`): set by
    /// whoever runs the program, often on purpose (`CC`, `EDITOR`, `OUT_DIR`).
    pub env: bool,
}

impl Flow {
    pub fn constant() -> Flow {
        Flow {
            origin: Origin::Constant,
            built: false,
            source: None,
            file: false,
            env: false,
        }
    }
    fn unknown() -> Flow {
        Flow {
            origin: Origin::Unknown,
            built: false,
            source: None,
            file: false,
            env: false,
        }
    }
    fn of(origin: Origin, source: String) -> Flow {
        Flow {
            origin,
            built: false,
            source: Some(source),
            file: false,
            env: false,
        }
    }
    fn of_env(source: String) -> Flow {
        Flow {
            env: true,
            ..Flow::of(Origin::Local, source)
        }
    }
    /// The flow of a value made of `self` and `other`: the more dangerous origin wins; on a
    /// tie it comes from a file (the environment) only if both parts do.
    pub fn join(mut self, other: Flow) -> Flow {
        if other.origin > self.origin {
            self.origin = other.origin;
            self.source = other.source;
            self.file = other.file;
            self.env = other.env;
        } else if other.origin == self.origin {
            self.file &= other.file;
            if self.env && !other.env {
                self.source = other.source;
            }
            self.env &= other.env;
        }
        self.built |= other.built;
        self
    }
    fn read_from_file(mut self) -> Flow {
        self.file = true;
        self
    }
    fn built(mut self) -> Flow {
        self.built = true;
        self
    }
    fn at_least_unknown(mut self) -> Flow {
        if self.origin < Origin::Unknown {
            self.origin = Origin::Unknown;
        }
        self
    }
}

const MAX_DEPTH: u32 = 12;

/// Classify the expression `node` of `src`.
pub fn classify(lang: Language, node: Node<'_>, src: &str) -> Flow {
    match lang {
        Language::Python => Py { src }.expr(node, 0),
        Language::Rust => Rs { src }.expr(node, 0),
    }
}

fn text<'a>(node: Node<'_>, src: &'a str) -> &'a str {
    src.get(node.byte_range()).unwrap_or("")
}

fn named_children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// The innermost ancestor (or `node` itself) whose kind is one of `kinds`.
pub fn enclosing<'t>(node: Node<'t>, kinds: &[&str]) -> Option<Node<'t>> {
    let mut cur = node.parent();
    while let Some(n) = cur {
        if kinds.contains(&n.kind()) {
            return Some(n);
        }
        cur = n.parent();
    }
    None
}

/// Depth-first walk of `node` not descending into nodes of kind `skip` (other than `node`).
fn walk<'t>(node: Node<'t>, skip: &[&str], f: &mut dyn FnMut(Node<'t>)) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        f(n);
        if n != node && skip.contains(&n.kind()) {
            continue;
        }
        let mut cursor = n.walk();
        let children: Vec<_> = n.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
}

// ---------------------------------------------------------------- Python

const PY_SCOPES: &[&str] = &["function_definition", "lambda", "class_definition"];
/// Calls whose result carries exactly the origin of their arguments.
const PY_PURE_FUNCS: &[&str] = &[
    "str",
    "repr",
    "bytes",
    "list",
    "tuple",
    "dict",
    "set",
    "sorted",
    "reversed",
    "format",
    "Path",
    "PurePath",
    "text",
    "bytearray",
];
/// Calls that make any input harmless for the sinks nib checks.
const PY_SANITISERS: &[&str] = &[
    "int",
    "float",
    "bool",
    "len",
    "abs",
    "quote",
    "escape",
    "basename",
    "secure_filename",
    "literal_eval",
    "hexdigest",
    "uuid4",
    "Identifier",
    "Literal",
    "Placeholder",
    "safe_join",
];
/// Dotted calls that make any input harmless for the sinks nib checks.
const PY_SANITISER_CALLS: &[&str] = &["shlex.join"];
/// Calls returning a file object for their path argument.
const PY_OPEN_FUNCS: &[&str] = &["open", "io.open", "codecs.open"];
const PY_PURE_METHODS: &[&str] = &[
    "format",
    "join",
    "strip",
    "lstrip",
    "rstrip",
    "lower",
    "upper",
    "replace",
    "encode",
    "decode",
    "split",
    "get",
    "getlist",
    "read",
    "readline",
    "readlines",
    "casefold",
    "title",
    "removeprefix",
    "removesuffix",
    "format_map",
    "copy",
    "values",
    "keys",
    "items",
    "pop",
    "splitlines",
    "dumps",
    "b64decode",
    "b64encode",
    "urlsafe_b64decode",
    "urlsafe_b64encode",
    "unquote",
    "unquote_plus",
];

struct Py<'s> {
    src: &'s str,
}

impl<'s> Py<'s> {
    fn expr(&self, node: Node<'_>, depth: u32) -> Flow {
        if depth > MAX_DEPTH {
            return Flow::unknown();
        }
        let d = depth + 1;
        match node.kind() {
            "string" => {
                let mut flow = Flow::constant();
                for child in named_children(node) {
                    if child.kind() == "interpolation" {
                        flow = flow.built();
                        if let Some(e) = child.child_by_field_name("expression") {
                            flow = flow.join(self.expr(e, d));
                        }
                    }
                }
                flow
            }
            // `a if cond else b`: the condition does not flow into the value.
            "conditional_expression" => {
                let c = named_children(node);
                let mut flow = Flow::constant();
                for (i, child) in c.iter().enumerate() {
                    if i != 1 {
                        flow = flow.join(self.expr(*child, d));
                    }
                }
                flow
            }
            // Booleans carry no attacker-controlled text.
            "comparison_operator" | "not_operator" => Flow::constant(),
            "integer" | "float" | "true" | "false" | "none" | "ellipsis" | "comment" => {
                Flow::constant()
            }
            "concatenated_string" => self.join_children(node, d),
            "binary_operator" => {
                let op = node
                    .child_by_field_name("operator")
                    .map(|o| text(o, self.src));
                let mut flow = self.join_children(node, d);
                if matches!(op, Some("+" | "%"))
                    && named_children(node).iter().any(|c| is_py_stringish(*c))
                {
                    flow = flow.built();
                }
                flow
            }
            "identifier" => self.name(text(node, self.src), node, d),
            "attribute" => {
                let t = text(node, self.src);
                if let Some((origin, src)) = py_external_attr(t) {
                    if py_env_source(&src) {
                        return Flow::of_env(src);
                    }
                    return Flow::of(origin, src);
                }
                match node.child_by_field_name("object") {
                    Some(obj) if matches!(text(obj, self.src), "self" | "cls") => Flow::unknown(),
                    Some(obj) => self.expr(obj, d),
                    None => Flow::unknown(),
                }
            }
            "subscript" => match node.child_by_field_name("value") {
                Some(v) => self.expr(v, d),
                None => Flow::unknown(),
            },
            "call" => self.call(node, d),
            "parenthesized_expression"
            | "list"
            | "tuple"
            | "set"
            | "dictionary"
            | "pair"
            | "boolean_operator"
            | "await"
            | "list_splat"
            | "dictionary_splat"
            | "expression_list"
            | "ERROR"
            | "keyword_argument"
            | "argument_list"
            | "list_comprehension"
            | "generator_expression"
            | "set_comprehension"
            | "dictionary_comprehension"
            | "for_in_clause"
            | "format_expression"
            | "interpolation"
            | "named_expression"
            | "unary_operator" => {
                if node.kind() == "keyword_argument" {
                    return node
                        .child_by_field_name("value")
                        .map_or(Flow::unknown(), |v| self.expr(v, d));
                }
                self.join_children(node, d)
            }
            _ => Flow::unknown(),
        }
    }

    fn join_children(&self, node: Node<'_>, d: u32) -> Flow {
        named_children(node)
            .into_iter()
            .fold(Flow::constant(), |acc, c| acc.join(self.expr(c, d)))
    }

    fn call(&self, node: Node<'_>, d: u32) -> Flow {
        let Some(func) = node.child_by_field_name("function") else {
            return Flow::unknown();
        };
        let args = node.child_by_field_name("arguments");
        let args_flow = || args.map_or(Flow::constant(), |a| self.join_children(a, d));
        let ftext = text(func, self.src);
        if matches!(ftext, "input" | "raw_input") {
            return Flow::of(Origin::Local, "`input()`".into());
        }
        if let Some((origin, src)) = py_external_call(ftext) {
            if py_env_source(&src) {
                return Flow::of_env(src);
            }
            return Flow::of(origin, src);
        }
        let last = ftext.rsplit('.').next().unwrap_or(ftext);
        if PY_SANITISERS.contains(&last) || PY_SANITISER_CALLS.contains(&ftext) {
            return Flow::constant();
        }
        // `compile(source, filename, mode)`: only the source is code.
        if ftext == "compile" {
            return args
                .and_then(|a| positional_args(a).into_iter().next())
                .map_or(Flow::unknown(), |a| self.expr(a, d));
        }
        if PY_OPEN_FUNCS.contains(&ftext) {
            return args_flow().read_from_file();
        }
        match func.kind() {
            "identifier" if PY_PURE_FUNCS.contains(&ftext) => args_flow(),
            "attribute" => {
                let recv = func.child_by_field_name("object");
                // psycopg `sql.SQL("... {}").format(sql.Identifier(x))` composes safely.
                let recv_is_sql = recv.is_some_and(|r| {
                    r.kind() == "call"
                        && r.child_by_field_name("function").is_some_and(|f| {
                            let t = text(f, self.src);
                            t == "SQL" || t.ends_with(".SQL")
                        })
                });
                if recv_is_sql {
                    return Flow::constant();
                }
                let flow = recv
                    .map_or(Flow::unknown(), |r| self.expr(r, d))
                    .join(args_flow());
                if matches!(last, "read_text" | "read_bytes" | "open") {
                    flow.read_from_file()
                } else if matches!(last, "format" | "join") && recv.is_some_and(is_py_stringish) {
                    flow.built()
                } else if matches!(last, "format" | "join" | "format_map") {
                    flow.built().at_least_unknown()
                } else if PY_PURE_METHODS.contains(&last) {
                    flow
                } else {
                    flow.at_least_unknown()
                }
            }
            _ => args_flow().at_least_unknown(),
        }
    }

    /// Resolve `name` used at `at`.
    fn name(&self, name: &str, at: Node<'_>, d: u32) -> Flow {
        if name == "self" || name == "cls" {
            return Flow::unknown();
        }
        let mut scope = enclosing(at, PY_SCOPES);
        while let Some(s) = scope {
            if s.kind() == "class_definition" {
                scope = enclosing(s, PY_SCOPES);
                continue;
            }
            if let Some(flow) = self.last_binding(s, name, at, d) {
                return flow;
            }
            if py_is_param(s, name, self.src) {
                return Flow::of(Origin::Param, format!("parameter `{name}`"));
            }
            // Closures: keep looking in the enclosing function.
            scope = enclosing(s, PY_SCOPES);
        }
        let root = {
            let mut r = at;
            while let Some(p) = r.parent() {
                r = p;
            }
            r
        };
        self.last_binding(root, name, at, d)
            .unwrap_or_else(Flow::unknown)
    }

    /// The flow of the last binding of `name` in `scope` that starts before `at`.
    fn last_binding(&self, scope: Node<'_>, name: &str, at: Node<'_>, d: u32) -> Option<Flow> {
        let mut best: Option<Node<'_>> = None;
        let limit = at.start_byte();
        walk(scope, PY_SCOPES, &mut |n| {
            if n.start_byte() >= limit {
                return;
            }
            let binds = match n.kind() {
                "assignment" | "augmented_assignment" => n
                    .child_by_field_name("left")
                    .is_some_and(|l| py_target_binds(l, name, self.src)),
                "for_statement" | "for_in_clause" => n
                    .child_by_field_name("left")
                    .is_some_and(|l| py_target_binds(l, name, self.src)),
                "named_expression" => n
                    .child_by_field_name("name")
                    .is_some_and(|l| text(l, self.src) == name),
                "as_pattern" => n
                    .child_by_field_name("alias")
                    .is_some_and(|l| py_target_binds(l, name, self.src)),
                // `import x` / `from m import x as y`: a module or library object, constant.
                "import_statement" | "import_from_statement" => {
                    let mut c = n.walk();
                    let names: Vec<_> = n.children_by_field_name("name", &mut c).collect();
                    names
                        .into_iter()
                        .any(|imported| py_import_binds(imported, name, self.src))
                }
                _ => false,
            };
            // The assignment must be complete before the use (not `x = f(x)` seen from inside).
            if binds && n.end_byte() <= limit {
                best = Some(n);
            }
        });
        let n = best?;
        Some(match n.kind() {
            "assignment" => match n.child_by_field_name("right") {
                Some(r) => self.expr(r, d),
                None => Flow::unknown(),
            },
            "augmented_assignment" => {
                let right = n
                    .child_by_field_name("right")
                    .map_or(Flow::unknown(), |r| self.expr(r, d));
                let prev = self
                    .last_binding(scope, name, n, d)
                    .unwrap_or_else(Flow::unknown);
                let op = n.child_by_field_name("operator").map(|o| text(o, self.src));
                let flow = prev.join(right);
                if op == Some("+=") && flow.origin > Origin::Constant {
                    flow.built()
                } else {
                    flow
                }
            }
            "for_statement" | "for_in_clause" => match n.child_by_field_name("right") {
                Some(r) => self.expr(r, d),
                None => Flow::unknown(),
            },
            "named_expression" => n
                .child_by_field_name("value")
                .map_or(Flow::unknown(), |v| self.expr(v, d)),
            "as_pattern" => named_children(n)
                .first()
                .map_or(Flow::unknown(), |v| self.expr(*v, d)),
            "import_statement" | "import_from_statement" => Flow::constant(),
            _ => Flow::unknown(),
        })
    }
}

/// Whether the imported `node` (`a.b`, `x as y`) of an import statement binds `name`.
fn py_import_binds(node: Node<'_>, name: &str, src: &str) -> bool {
    match node.kind() {
        "aliased_import" => node
            .child_by_field_name("alias")
            .is_some_and(|a| text(a, src) == name),
        "dotted_name" => {
            let t = text(node, src);
            let from_import = node
                .parent()
                .is_some_and(|p| p.kind() == "import_from_statement");
            if from_import {
                t == name
            } else {
                t.split('.').next() == Some(name)
            }
        }
        _ => false,
    }
}

fn is_py_stringish(node: Node<'_>) -> bool {
    matches!(node.kind(), "string" | "concatenated_string")
}

fn py_target_binds(target: Node<'_>, name: &str, src: &str) -> bool {
    match target.kind() {
        "identifier" => text(target, src) == name,
        "pattern_list" | "tuple_pattern" | "list_pattern" | "expression_list" | "tuple"
        | "list" => named_children(target)
            .into_iter()
            .any(|c| py_target_binds(c, name, src)),
        "as_pattern_target" => named_children(target)
            .into_iter()
            .any(|c| py_target_binds(c, name, src)),
        _ => false,
    }
}

fn py_is_param(scope: Node<'_>, name: &str, src: &str) -> bool {
    let Some(params) = scope.child_by_field_name("parameters") else {
        return false;
    };
    named_children(params).into_iter().any(|p| {
        let ident = match p.kind() {
            "identifier" => Some(p),
            "default_parameter" | "typed_default_parameter" => p.child_by_field_name("name"),
            "typed_parameter" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                named_children(p)
                    .into_iter()
                    .find(|c| c.kind() == "identifier")
            }
            _ => None,
        };
        ident.is_some_and(|i| text(i, src) == name)
    })
}

fn positional_args(args: Node<'_>) -> Vec<Node<'_>> {
    named_children(args)
        .into_iter()
        .filter(|c| !matches!(c.kind(), "keyword_argument" | "comment"))
        .collect()
}

fn py_external_attr(t: &str) -> Option<(Origin, String)> {
    let root = t.split('.').next().unwrap_or(t);
    if root == "request" {
        return Some((
            Origin::Remote,
            format!("`{}`", t.split('.').take(2).collect::<Vec<_>>().join(".")),
        ));
    }
    for prefix in ["sys.argv", "os.environ", "sys.stdin", "environ"] {
        if t == prefix || t.starts_with(&format!("{prefix}.")) {
            return Some((Origin::Local, format!("`{prefix}`")));
        }
    }
    None
}

fn py_env_source(source: &str) -> bool {
    matches!(source, "`os.environ`" | "`environ`" | "the environment")
}

fn py_external_call(f: &str) -> Option<(Origin, String)> {
    if let Some(src) = py_external_attr(f) {
        return Some(src);
    }
    match f {
        "os.getenv" | "getenv" => Some((Origin::Local, "the environment".into())),
        _ => None,
    }
}

// ---------------------------------------------------------------- Rust

const RS_SCOPES: &[&str] = &["function_item", "closure_expression"];
/// Methods whose result is harmless for the sinks nib checks (numbers, last path component).
const RS_SANITISERS: &[&str] = &[
    "file_name",
    "file_stem",
    "len",
    "parse",
    "is_empty",
    "count",
];
const RS_PURE_METHODS: &[&str] = &[
    "to_string",
    "as_str",
    "to_owned",
    "clone",
    "into",
    "trim",
    "to_lowercase",
    "to_uppercase",
    "as_ref",
    "unwrap",
    "expect",
    "unwrap_or_default",
    "unwrap_or",
    "borrow",
    "as_bytes",
    "join",
    "concat",
    "replace",
    "nth",
    "next",
    "collect",
    "skip",
    "get",
    "iter",
    "as_deref",
    "trim_end",
    "trim_start",
    "lines",
    "to_vec",
    "push_str",
];

struct Rs<'s> {
    src: &'s str,
}

impl<'s> Rs<'s> {
    fn expr(&self, node: Node<'_>, depth: u32) -> Flow {
        if depth > MAX_DEPTH {
            return Flow::unknown();
        }
        let d = depth + 1;
        match node.kind() {
            "string_literal" | "raw_string_literal" | "char_literal" | "integer_literal"
            | "float_literal" | "boolean_literal" | "line_comment" | "block_comment" => {
                Flow::constant()
            }
            "identifier" => self.name(text(node, self.src), node, d),
            "self" => Flow::unknown(),
            "macro_invocation" => self.mac(node, d),
            "call_expression" => self.call(node, d),
            "field_expression" => node
                .child_by_field_name("value")
                .map_or(Flow::unknown(), |v| self.expr(v, d)),
            "index_expression" => named_children(node)
                .first()
                .map_or(Flow::unknown(), |v| self.expr(*v, d)),
            "binary_expression" => {
                let mut flow = self.join_children(node, d);
                let is_plus = node
                    .child_by_field_name("operator")
                    .is_some_and(|o| text(o, self.src) == "+");
                if is_plus && flow.origin > Origin::Constant {
                    flow = flow.built();
                }
                flow
            }
            "reference_expression"
            | "parenthesized_expression"
            | "try_expression"
            | "type_cast_expression"
            | "unary_expression"
            | "array_expression"
            | "tuple_expression"
            | "arguments"
            | "ERROR"
            | "if_expression"
            | "block"
            | "else_clause"
            | "expression_statement" => self.join_children(node, d),
            "scoped_identifier" => Flow::unknown(),
            _ => Flow::unknown(),
        }
    }

    fn join_children(&self, node: Node<'_>, d: u32) -> Flow {
        named_children(node)
            .into_iter()
            .fold(Flow::constant(), |acc, c| acc.join(self.expr(c, d)))
    }

    fn mac(&self, node: Node<'_>, d: u32) -> Flow {
        let name = node
            .child_by_field_name("macro")
            .map(|m| text(m, self.src))
            .unwrap_or("");
        let last = name.rsplit("::").next().unwrap_or(name);
        let tree = named_children(node)
            .into_iter()
            .find(|c| c.kind() == "token_tree");
        let mut flow = Flow::constant();
        if let Some(tree) = tree {
            flow = self.token_tree(tree, d);
        }
        if matches!(last, "format" | "concat" | "format_args") {
            flow = flow.built();
        } else if !matches!(last, "vec") {
            flow = flow.at_least_unknown();
        }
        flow
    }

    fn token_tree(&self, tree: Node<'_>, d: u32) -> Flow {
        let mut flow = Flow::constant();
        let children = named_children(tree);
        for (i, c) in children.iter().enumerate() {
            match c.kind() {
                // `a.b` inside a token tree: only the first identifier of a path is a variable.
                "identifier" => {
                    let after_dot = c
                        .prev_sibling()
                        .is_some_and(|p| matches!(text(p, self.src), "." | "::"));
                    let is_named_arg = c.next_sibling().is_some_and(|n| text(n, self.src) == "=")
                        && c.next_sibling()
                            .and_then(|n| n.next_sibling())
                            .is_some_and(|n| text(n, self.src) != "=");
                    // `ids.len()`: a number, as outside a macro.
                    let sanitised = c.next_sibling().is_some_and(|n| text(n, self.src) == ".")
                        && c.next_sibling()
                            .and_then(|n| n.next_sibling())
                            .is_some_and(|m| RS_SANITISERS.contains(&text(m, self.src)));
                    if !after_dot && !is_named_arg && !sanitised {
                        flow = flow.join(self.name(text(*c, self.src), *c, d));
                    }
                }
                "token_tree" => flow = flow.join(self.token_tree(*c, d)),
                "string_literal" if i == 0 => {
                    // Inline captures: format!("{name}") / "{name:?}".
                    let s = text(*c, self.src);
                    for cap in inline_captures(s) {
                        flow = flow.join(self.name(cap, *c, d));
                    }
                }
                _ => {}
            }
        }
        flow
    }

    fn call(&self, node: Node<'_>, d: u32) -> Flow {
        let Some(func) = node.child_by_field_name("function") else {
            return Flow::unknown();
        };
        let ftext = text(func, self.src);
        for (pat, desc) in [
            ("env::args", "`std::env::args`"),
            ("env::var", "the environment"),
            ("stdin", "stdin"),
            ("read_line", "stdin"),
        ] {
            if ftext.contains(pat) {
                if pat == "env::var" {
                    return Flow::of_env(desc.into());
                }
                return Flow::of(Origin::Local, desc.into());
            }
        }
        let args = node
            .child_by_field_name("arguments")
            .map_or(Flow::constant(), |a| self.join_children(a, d));
        match func.kind() {
            "field_expression" => {
                let method = func
                    .child_by_field_name("field")
                    .map(|f| text(f, self.src))
                    .unwrap_or("");
                if RS_SANITISERS.contains(&method) {
                    return Flow::constant();
                }
                let recv = func
                    .child_by_field_name("value")
                    .map_or(Flow::unknown(), |v| self.expr(v, d));
                let flow = recv.join(args);
                if RS_PURE_METHODS.contains(&method) {
                    flow
                } else {
                    flow.at_least_unknown()
                }
            }
            _ => {
                if ftext.ends_with("String::from")
                    || ftext.ends_with("PathBuf::from")
                    || ftext.ends_with("Path::new")
                {
                    args
                } else {
                    args.at_least_unknown()
                }
            }
        }
    }

    fn name(&self, name: &str, at: Node<'_>, d: u32) -> Flow {
        let mut scope = enclosing(at, RS_SCOPES);
        while let Some(s) = scope {
            if let Some(flow) = self.last_let(s, name, at, d) {
                return flow;
            }
            if let Some(ty) = rs_param_type(s, name, self.src) {
                if let Some(extractor) = rs_request_extractor(ty, at, self.src) {
                    return Flow::of(Origin::Remote, format!("the request (`{extractor}`)"));
                }
                return Flow::of(Origin::Param, format!("parameter `{name}`"));
            }
            scope = enclosing(s, RS_SCOPES);
        }
        let mut root = at;
        while let Some(p) = root.parent() {
            root = p;
        }
        // Module-level `const` / `static`, and `let`s of a fragment without its function.
        let mut found: Option<Node<'_>> = None;
        walk(root, RS_SCOPES, &mut |n| {
            if matches!(n.kind(), "const_item" | "static_item")
                && n.child_by_field_name("name")
                    .is_some_and(|i| text(i, self.src) == name)
            {
                found = Some(n);
            }
        });
        if let Some(n) = found {
            return n
                .child_by_field_name("value")
                .map_or(Flow::unknown(), |v| self.expr(v, d));
        }
        self.last_let(root, name, at, d)
            .unwrap_or_else(Flow::unknown)
    }

    fn last_let(&self, scope: Node<'_>, name: &str, at: Node<'_>, d: u32) -> Option<Flow> {
        let n = self.last_binding(scope, name, at)?;
        Some(match n.kind() {
            "let_declaration" => {
                let init = n
                    .child_by_field_name("value")
                    .map_or(Flow::unknown(), |v| self.expr(v, d));
                rs_mutations(scope, name, n.end_byte(), at.start_byte(), self.src)
                    .into_iter()
                    .fold(init, |acc, m| acc.join(self.mutation(m, d)))
            }
            "for_expression" => n
                .child_by_field_name("value")
                .map_or(Flow::unknown(), |v| self.expr(v, d)),
            _ => Flow::unknown(),
        })
    }

    /// The `let` or `for` in `scope` that last binds `name` before `at`.
    fn last_binding<'t>(&self, scope: Node<'t>, name: &str, at: Node<'t>) -> Option<Node<'t>> {
        let mut best: Option<Node<'t>> = None;
        let limit = at.start_byte();
        walk(scope, RS_SCOPES, &mut |n| {
            if n.end_byte() > limit {
                return;
            }
            let binds = match n.kind() {
                "let_declaration" => n
                    .child_by_field_name("pattern")
                    .is_some_and(|p| rs_pattern_binds(p, name, self.src)),
                "for_expression" => n
                    .child_by_field_name("pattern")
                    .is_some_and(|p| rs_pattern_binds(p, name, self.src)),
                _ => false,
            };
            if binds {
                best = Some(n);
            }
        });
        // A `for` loop only binds inside its body, which ends after the use, so also look at
        // loops enclosing `at`.
        let mut cur = at.parent();
        while let Some(p) = cur {
            if p == scope {
                break;
            }
            if p.kind() == "for_expression"
                && p.child_by_field_name("pattern")
                    .is_some_and(|pat| rs_pattern_binds(pat, name, self.src))
                && best.is_none_or(|b| b.start_byte() < p.start_byte())
            {
                best = Some(p);
            }
            cur = p.parent();
        }
        best
    }

    /// What the mutation `m` (see [`rs_mutations`]) adds to the variable's value.
    fn mutation(&self, m: Node<'_>, d: u32) -> Flow {
        let added = match m.kind() {
            "compound_assignment_expr" => m
                .child_by_field_name("right")
                .map_or(Flow::unknown(), |r| self.expr(r, d)),
            "macro_invocation" => named_children(m)
                .into_iter()
                .find(|c| c.kind() == "token_tree")
                .map_or(Flow::unknown(), |t| self.token_tree(t, d)),
            "call_expression" => {
                let func = m.child_by_field_name("function");
                let method = func
                    .and_then(|f| f.child_by_field_name("field"))
                    .map_or("", |f| text(f, self.src));
                let recv = func.and_then(|f| f.child_by_field_name("value"));
                if RS_READ_INTO.contains(&method) {
                    // `stdin().read_line(&mut buf)`, `file.read_to_string(&mut buf)`.
                    let recv_text = recv.map_or("", |r| text(r, self.src));
                    if recv_text.contains("stdin") {
                        return Flow::of(Origin::Local, "stdin".into());
                    }
                    return recv
                        .map_or(Flow::unknown(), |r| self.expr(r, d))
                        .at_least_unknown();
                }
                m.child_by_field_name("arguments")
                    .map_or(Flow::unknown(), |a| self.join_children(a, d))
            }
            _ => Flow::unknown(),
        };
        if added.origin > Origin::Constant {
            added.built()
        } else {
            added
        }
    }
}

/// Methods that append to a string / path / buffer variable.
const RS_APPEND: &[&str] = &[
    "push_str",
    "push",
    "extend",
    "insert_str",
    "extend_from_slice",
];
/// Methods that fill a buffer passed as `&mut name`.
const RS_READ_INTO: &[&str] = &["read_line", "read_to_string", "read_to_end"];

/// Statements between byte `from` and `to` of `scope` that change the value of the variable
/// `name`: `name.push_str(x)`, `name.push(x)`, `name += x`, `write!(name, ..)`,
/// `reader.read_line(&mut name)`.
fn rs_mutations<'t>(
    scope: Node<'t>,
    name: &str,
    from: usize,
    to: usize,
    src: &str,
) -> Vec<Node<'t>> {
    let is_name = |n: Node<'_>| {
        let t = text(n, src)
            .trim_start_matches('&')
            .trim_start_matches("mut ")
            .trim();
        t.trim_start_matches('*') == name
    };
    let mut out = Vec::new();
    walk(scope, RS_SCOPES, &mut |n| {
        if n.start_byte() < from || n.end_byte() > to {
            return;
        }
        let mutates = match n.kind() {
            "compound_assignment_expr" => {
                n.child_by_field_name("left").is_some_and(is_name)
                    && n.child_by_field_name("operator")
                        .is_some_and(|o| text(o, src) == "+=")
            }
            "macro_invocation" => {
                let mac = n.child_by_field_name("macro").map_or("", |m| text(m, src));
                matches!(mac, "write" | "writeln")
                    && named_children(n)
                        .into_iter()
                        .find(|c| c.kind() == "token_tree")
                        .and_then(|t| named_children(t).into_iter().next())
                        .is_some_and(|first| text(first, src) == name)
            }
            "call_expression" => {
                let func = n
                    .child_by_field_name("function")
                    .filter(|f| f.kind() == "field_expression");
                let method = func
                    .and_then(|f| f.child_by_field_name("field"))
                    .map_or("", |f| text(f, src));
                let recv_is_name = func
                    .and_then(|f| f.child_by_field_name("value"))
                    .is_some_and(is_name);
                let fills_name = RS_READ_INTO.contains(&method)
                    && n.child_by_field_name("arguments").is_some_and(|a| {
                        named_children(a)
                            .into_iter()
                            .any(|arg| arg.kind() == "reference_expression" && is_name(arg))
                    });
                (RS_APPEND.contains(&method) && recv_is_name) || fills_name
            }
            _ => false,
        };
        if mutates {
            out.push(n);
        }
    });
    out
}

/// The text of the Rust expression `node` followed by the texts of the values its local
/// names are bound to (`let`, module `const` / `static`, and later `push` / `push_str` /
/// `+=` on them), recursively: `File::create(&p)` after `let p = dir.join("x.lock")` and
/// `let dir = env::temp_dir()` expands to all three. For predicates that look for a source
/// pattern (`temp_dir()`, a SQL keyword) through local variables.
pub fn rs_expand(node: Node<'_>, src: &str) -> String {
    let mut out = String::new();
    let mut seen = Vec::new();
    rs_expand_into(node, src, 0, &mut out, &mut seen);
    out
}

fn rs_expand_into(node: Node<'_>, src: &str, depth: u32, out: &mut String, seen: &mut Vec<usize>) {
    out.push_str(text(node, src));
    out.push('\n');
    if depth >= 6 {
        return;
    }
    // (where it is used, the name): identifiers that start a path, and inline format
    // captures (`format!("{name}")`).
    let mut names: Vec<(Node<'_>, &str)> = Vec::new();
    walk(node, &[], &mut |n| match n.kind() {
        "identifier" => {
            let after_path = n
                .prev_sibling()
                .is_some_and(|p| matches!(text(p, src), "." | "::"));
            if !after_path {
                names.push((n, text(n, src)));
            }
        }
        "string_literal" if n.parent().is_some_and(|p| p.kind() == "token_tree") => {
            names.extend(inline_captures(text(n, src)).into_iter().map(|c| (n, c)));
        }
        _ => {}
    });
    let rs = Rs { src };
    for (ident, name) in names {
        let mut scope = enclosing(ident, RS_SCOPES);
        let mut found = None;
        while let Some(s) = scope {
            if let Some(b) = rs.last_binding(s, name, ident) {
                found = Some((s, b));
                break;
            }
            scope = enclosing(s, RS_SCOPES);
        }
        let mut root = ident;
        while let Some(p) = root.parent() {
            root = p;
        }
        // A fragment without its function: its `let`s are at the top.
        if found.is_none() {
            found = rs.last_binding(root, name, ident).map(|b| (root, b));
        }
        let mut parts = Vec::new();
        match found {
            Some((s, b)) => {
                if let Some(v) = b.child_by_field_name("value") {
                    parts.push(v);
                }
                parts.extend(rs_mutations(s, name, b.end_byte(), ident.start_byte(), src));
            }
            None => {
                walk(root, RS_SCOPES, &mut |n| {
                    if matches!(n.kind(), "const_item" | "static_item")
                        && n.child_by_field_name("name")
                            .is_some_and(|i| text(i, src) == name)
                    {
                        parts.extend(n.child_by_field_name("value"));
                    }
                });
            }
        }
        for p in parts {
            if !seen.contains(&p.start_byte()) {
                seen.push(p.start_byte());
                rs_expand_into(p, src, depth + 1, out, seen);
            }
        }
    }
}

fn rs_pattern_binds(p: Node<'_>, name: &str, src: &str) -> bool {
    match p.kind() {
        "identifier" => text(p, src) == name,
        "mut_pattern"
        | "tuple_pattern"
        | "ref_pattern"
        | "reference_pattern"
        | "tuple_struct_pattern" => named_children(p)
            .into_iter()
            .any(|c| rs_pattern_binds(c, name, src)),
        _ => false,
    }
}

/// The type of parameter `name` of `scope` (`""` for closure parameters without one), or
/// `None` if it is not a parameter.
fn rs_param_type<'s>(scope: Node<'_>, name: &str, src: &'s str) -> Option<&'s str> {
    let params = scope.child_by_field_name("parameters")?;
    named_children(params)
        .into_iter()
        .find_map(|p| match p.kind() {
            "parameter" => p
                .child_by_field_name("pattern")
                .filter(|pat| rs_pattern_binds(*pat, name, src))
                .map(|_| p.child_by_field_name("type").map_or("", |t| text(t, src))),
            _ => rs_pattern_binds(p, name, src).then_some(""),
        })
}

/// Web framework extractors: a handler parameter of these generic types is request data.
const RS_EXTRACTORS: &[&str] = &["Path", "Query", "Json", "Form", "RawQuery", "Multipart"];

/// `ty` is a request extractor (`Path<String>`, `web::Query<Q>`, or a generic type imported
/// from a web framework under another name: `use axum::extract::Path as UrlPath`).
fn rs_request_extractor<'s>(ty: &'s str, at: Node<'_>, src: &str) -> Option<&'s str> {
    let (head, _) = ty.split_once('<')?;
    let head = head.trim();
    let last = head.rsplit("::").next().unwrap_or(head);
    if RS_EXTRACTORS.contains(&last) {
        return Some(head);
    }
    let mut root = at;
    while let Some(p) = root.parent() {
        root = p;
    }
    let mut aliased = false;
    walk(root, RS_SCOPES, &mut |n| {
        if n.kind() == "use_declaration" {
            let t = text(n, src);
            let framework = ["axum", "actix_web", "rocket", "warp", "poem", "salvo"]
                .iter()
                .any(|f| t.contains(&format!("{f}::")));
            aliased |= framework
                && RS_EXTRACTORS.iter().any(|e| {
                    t.split([',', '{', '}', ';'])
                        .any(|part| part.trim().ends_with(&format!("{e} as {last}")))
                });
        }
    });
    aliased.then_some(head)
}

/// Names captured inline by a format string literal: `"{a} {b:?} {{x}} {0} {}"` -> `a`, `b`.
pub fn inline_captures(lit: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = lit.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if bytes.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            let ident = &lit[start..j];
            if !ident.is_empty() && !ident.as_bytes()[0].is_ascii_digit() {
                out.push(ident);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}
