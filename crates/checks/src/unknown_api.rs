//! Unknown-API check: imports and module attributes that do not exist in the Environment.
//! Quiet whenever the Environment lacks the information to decide.

use std::collections::{BTreeMap, BTreeSet};

use nib_syntax::tree_sitter::{Node, Tree};
use nib_syntax::{point_of, Language};

use crate::{Category, Environment, Finding, Severity};

const FIX_HINT: &str = "Check the name against the library's documentation; install the package or use an API that exists";

pub(crate) fn check(env: &Environment, lang: Language, tree: &Tree, src: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    match lang {
        Language::Python => python(env, tree.root_node(), src, &mut out),
        Language::Rust => rust(env, tree.root_node(), src, &mut out),
    }
    out
}

fn text<'a>(n: Node<'_>, src: &'a str) -> &'a str {
    src.get(n.byte_range()).unwrap_or("")
}

/// Every node of the tree under `root`, in source order (pre-order).
pub(crate) fn all_nodes<'t>(root: Node<'t>) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut c = n.walk();
        let children: Vec<_> = n.children(&mut c).collect();
        stack.extend(children.into_iter().rev());
    }
    out
}

fn finding(rule: &str, message: String, node: Node<'_>, src: &str) -> Finding {
    Finding {
        rule_id: rule.to_string(),
        cwe: None,
        severity: Severity::Medium,
        message,
        fix_hint: FIX_HINT.to_string(),
        start_byte: node.start_byte(),
        end_byte: node.end_byte(),
        start: point_of(src, node.start_byte()),
        end: point_of(src, node.end_byte()),
        category: Category::UnknownApi,
    }
}

// ---------------------------------------------------------------- Python

fn python(env: &Environment, root: Node<'_>, src: &str, out: &mut Vec<Finding>) {
    let nodes = all_nodes(root);
    // Local name -> dotted stdlib module it is bound to by an import.
    let mut bindings: BTreeMap<String, String> = BTreeMap::new();
    // Names bound some other way (assignment, parameter, def, class): never checked.
    let mut shadowed: BTreeSet<String> = BTreeSet::new();
    for n in &nodes {
        match n.kind() {
            "import_statement" => {
                let mut c = n.walk();
                for name in n.children_by_field_name("name", &mut c) {
                    let (dotted, alias) = dotted_and_alias(name, src);
                    if check_module(env, &dotted, dotted_node(name), src, out) {
                        match alias {
                            Some(a) => {
                                bindings.insert(a, dotted.clone());
                            }
                            None => {
                                let top = dotted.split('.').next().unwrap_or(&dotted).to_string();
                                bindings.insert(top.clone(), top);
                            }
                        }
                    }
                }
            }
            "import_from_statement" => {
                let Some(module) = n.child_by_field_name("module_name") else {
                    continue;
                };
                if module.kind() != "dotted_name" {
                    continue; // relative import: the project's own business
                }
                let dotted = text(module, src).to_string();
                if !check_module(env, &dotted, module, src, out) {
                    continue;
                }
                let mut c = n.walk();
                for name in n.children_by_field_name("name", &mut c) {
                    let (member, alias) = dotted_and_alias(name, src);
                    let full = format!("{dotted}.{member}");
                    if let Some(table) = env.python_symbols.get(&dotted) {
                        if !table.contains(&member) && !env.is_stdlib_module(&full) {
                            out.push(finding(
                                "python/unknown-attribute",
                                format!("`{member}` does not exist in the standard library module `{dotted}`"),
                                dotted_node(name),
                                src,
                            ));
                            continue;
                        }
                    }
                    if env.is_stdlib_module(&full) {
                        bindings.insert(alias.unwrap_or(member), full);
                    }
                }
            }
            "assignment" | "augmented_assignment" | "for_statement" => {
                if let Some(l) = n.child_by_field_name("left") {
                    for id in all_nodes(l)
                        .into_iter()
                        .filter(|x| x.kind() == "identifier")
                    {
                        shadowed.insert(text(id, src).to_string());
                    }
                }
            }
            "function_definition" | "class_definition" => {
                if let Some(name) = n.child_by_field_name("name") {
                    shadowed.insert(text(name, src).to_string());
                }
                if let Some(params) = n.child_by_field_name("parameters") {
                    for id in all_nodes(params)
                        .into_iter()
                        .filter(|x| x.kind() == "identifier")
                    {
                        shadowed.insert(text(id, src).to_string());
                    }
                }
            }
            _ => {}
        }
    }
    for n in &nodes {
        if n.kind() != "attribute" {
            continue;
        }
        let (Some(obj), Some(attr)) = (
            n.child_by_field_name("object"),
            n.child_by_field_name("attribute"),
        ) else {
            continue;
        };
        let Some(module) = resolve_module(env, obj, src, &bindings, &shadowed) else {
            continue;
        };
        let Some(table) = env.python_symbols.get(&module) else {
            continue;
        };
        let name = text(attr, src);
        if !table.contains(name) && !env.is_stdlib_module(&format!("{module}.{name}")) {
            // Assigning a new attribute (monkeypatching) is not a use of a made-up API.
            let is_target = n.parent().is_some_and(|p| {
                p.kind() == "assignment" && p.child_by_field_name("left").is_some_and(|l| l == *n)
            });
            if !is_target {
                out.push(finding(
                    "python/unknown-attribute",
                    format!("`{module}.{name}` does not exist in the standard library"),
                    *n,
                    src,
                ));
            }
        }
    }
}

fn dotted_node(name: Node<'_>) -> Node<'_> {
    if name.kind() == "aliased_import" {
        name.child_by_field_name("name").unwrap_or(name)
    } else {
        name
    }
}

fn dotted_and_alias(name: Node<'_>, src: &str) -> (String, Option<String>) {
    if name.kind() == "aliased_import" {
        let dotted = name
            .child_by_field_name("name")
            .map(|n| text(n, src))
            .unwrap_or("");
        let alias = name
            .child_by_field_name("alias")
            .map(|n| text(n, src).to_string());
        (dotted.to_string(), alias)
    } else {
        (text(name, src).to_string(), None)
    }
}

/// Check an imported dotted module; returns whether it is known to be a stdlib module path
/// (so that later uses can be checked against symbol tables).
fn check_module(
    env: &Environment,
    dotted: &str,
    node: Node<'_>,
    src: &str,
    out: &mut Vec<Finding>,
) -> bool {
    let top = dotted.split('.').next().unwrap_or(dotted);
    if top.is_empty() {
        return false;
    }
    if env.python_stdlib.contains(top) && !env.project_modules.contains(top) {
        if dotted == top || env.is_stdlib_module(dotted) {
            return true;
        }
        // `import os.pathx`: the parent package's table says what exists.
        let (parent, last) = dotted.rsplit_once('.').unwrap_or((dotted, ""));
        if let Some(table) = env.python_symbols.get(parent) {
            if !table.contains(last) {
                out.push(finding(
                    "python/unknown-module",
                    format!("`{dotted}` is not a standard library module"),
                    node,
                    src,
                ));
            }
        } else if env.is_stdlib_module(parent)
            && !env
                .python_stdlib_submodules
                .iter()
                .any(|s| s.starts_with(&format!("{dotted}.")))
        {
            out.push(finding(
                "python/unknown-module",
                format!("`{dotted}` is not a standard library module"),
                node,
                src,
            ));
        }
        return false;
    }
    if env.python_top_level_known(top) == Some(false) {
        out.push(finding(
            "python/unknown-module",
            format!(
                "`{top}` is not in the standard library, the project or the installed packages"
            ),
            node,
            src,
        ));
    }
    false
}

fn resolve_module(
    env: &Environment,
    node: Node<'_>,
    src: &str,
    bindings: &BTreeMap<String, String>,
    shadowed: &BTreeSet<String>,
) -> Option<String> {
    match node.kind() {
        "identifier" => {
            let name = text(node, src);
            if shadowed.contains(name) {
                return None;
            }
            bindings.get(name).cloned()
        }
        "attribute" => {
            let base = resolve_module(
                env,
                node.child_by_field_name("object")?,
                src,
                bindings,
                shadowed,
            )?;
            let full = format!(
                "{base}.{}",
                text(node.child_by_field_name("attribute")?, src)
            );
            env.is_stdlib_module(&full).then_some(full)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- Rust

const RUST_ROOTS: &[&str] = &[
    "std",
    "core",
    "alloc",
    "crate",
    "self",
    "super",
    "proc_macro",
    "test",
    "Self",
];
const RUST_PRIMITIVES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "str",
];

fn rust(env: &Environment, root: Node<'_>, src: &str, out: &mut Vec<Finding>) {
    if env.cargo_deps.is_none() {
        return;
    }
    let nodes = all_nodes(root);
    let mut known: BTreeSet<&str> = RUST_ROOTS.iter().chain(RUST_PRIMITIVES).copied().collect();
    for n in &nodes {
        match n.kind() {
            k if k.ends_with("_item") || k == "macro_definition" => {
                if let Some(name) = n.child_by_field_name("name") {
                    known.insert(text(name, src));
                }
            }
            "extern_crate_declaration" => {
                if let Some(name) = n.child_by_field_name("name") {
                    known.insert(text(name, src));
                }
                if let Some(alias) = n.child_by_field_name("alias") {
                    known.insert(text(alias, src));
                }
            }
            "use_as_clause" => {
                if let Some(alias) = n.child_by_field_name("alias") {
                    known.insert(text(alias, src));
                }
            }
            "use_list" => {
                let mut c = n.walk();
                for item in n.named_children(&mut c) {
                    match item.kind() {
                        "identifier" => {
                            known.insert(text(item, src));
                        }
                        "scoped_identifier" => {
                            if let Some(name) = item.child_by_field_name("name") {
                                known.insert(text(name, src));
                            }
                        }
                        _ => {}
                    }
                }
            }
            "use_declaration" => {
                let arg = n
                    .child_by_field_name("argument")
                    .filter(|a| a.kind() == "scoped_identifier");
                if let Some(name) = arg.and_then(|a| a.child_by_field_name("name")) {
                    known.insert(text(name, src));
                }
            }
            "type_parameters" => {
                for id in all_nodes(*n)
                    .into_iter()
                    .filter(|x| x.kind() == "type_identifier")
                {
                    known.insert(text(id, src));
                }
            }
            _ => {}
        }
    }
    let mut seen_use_roots = BTreeSet::new();
    for n in &nodes {
        let root_seg = match n.kind() {
            "use_declaration" => n.child_by_field_name("argument").and_then(use_root),
            "scoped_identifier" | "scoped_type_identifier" => {
                if inside_use(*n) {
                    None
                } else {
                    n.child_by_field_name("path")
                        .filter(|p| p.kind() == "identifier")
                }
            }
            _ => None,
        };
        let Some(seg) = root_seg else { continue };
        let name = text(seg, src);
        if name.is_empty()
            || !name.starts_with(|c: char| c.is_ascii_lowercase())
            || known.contains(name)
        {
            continue;
        }
        if env.cargo_dep_known(name) == Some(false)
            && seen_use_roots.insert((name, seg.start_byte()))
        {
            out.push(finding(
                "rust/unknown-crate",
                format!("`{name}` is not a dependency in Cargo.toml, a standard crate or a module in scope"),
                seg,
                src,
            ));
        }
    }
}

fn inside_use(n: Node<'_>) -> bool {
    let mut cur = n.parent();
    while let Some(p) = cur {
        if p.kind() == "use_declaration" {
            return true;
        }
        cur = p.parent();
    }
    false
}

/// The first segment of a `use` tree, `None` for `::x` and for names we don't judge.
fn use_root(arg: Node<'_>) -> Option<Node<'_>> {
    let mut cur = arg;
    loop {
        match cur.kind() {
            "identifier" => return Some(cur),
            "scoped_identifier" | "scoped_use_list" | "use_as_clause" | "use_wildcard" => {
                cur = cur
                    .child_by_field_name("path")
                    .or_else(|| cur.named_child(0))?;
            }
            _ => return None,
        }
    }
}
