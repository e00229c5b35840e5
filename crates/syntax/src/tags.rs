//! Tags: definitions, imports and enclosing scopes, extracted with per-language queries kept
//! as data (`queries/<lang>/tags.scm`). Adding a language is a grammar plus that query file;
//! the capture conventions are documented at the top of `queries/python/tags.scm`.

use std::ops::Range;
use std::sync::OnceLock;

use tree_sitter::{Node, Query, QueryCursor, QueryMatch, StreamingIterator, Tree};

use crate::Language;

/// What a definition defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefKind {
    Function,
    /// A function inside a class, impl or trait.
    Method,
    Class,
    Struct,
    Enum,
    Union,
    Trait,
    Impl,
    Const,
    Static,
    TypeAlias,
    Module,
    Macro,
}

impl DefKind {
    fn from_capture(suffix: &str) -> Option<DefKind> {
        Some(match suffix {
            "function" => DefKind::Function,
            "method" => DefKind::Method,
            "class" => DefKind::Class,
            "struct" => DefKind::Struct,
            "enum" => DefKind::Enum,
            "union" => DefKind::Union,
            "trait" => DefKind::Trait,
            "impl" => DefKind::Impl,
            "const" => DefKind::Const,
            "static" => DefKind::Static,
            "type" => DefKind::TypeAlias,
            "module" => DefKind::Module,
            "macro" => DefKind::Macro,
            _ => return None,
        })
    }

    /// Kinds whose members are methods.
    pub fn is_container(self) -> bool {
        matches!(self, DefKind::Class | DefKind::Impl | DefKind::Trait)
    }

    /// Kinds whose whole text (fields, variants, value) is worth showing when short.
    pub fn is_data(self) -> bool {
        matches!(
            self,
            DefKind::Struct
                | DefKind::Enum
                | DefKind::Union
                | DefKind::Const
                | DefKind::Static
                | DefKind::TypeAlias
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            DefKind::Function => "function",
            DefKind::Method => "method",
            DefKind::Class => "class",
            DefKind::Struct => "struct",
            DefKind::Enum => "enum",
            DefKind::Union => "union",
            DefKind::Trait => "trait",
            DefKind::Impl => "impl",
            DefKind::Const => "const",
            DefKind::Static => "static",
            DefKind::TypeAlias => "type",
            DefKind::Module => "module",
            DefKind::Macro => "macro",
        }
    }
}

/// One definition in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The defined name (for an impl: the implementing type's name, without generics).
    pub name: String,
    pub kind: DefKind,
    /// The header up to the body, e.g. `def f(a: int) -> str:` or `pub fn f(&self) -> u32`.
    pub signature: String,
    /// Doc comments just above the definition and/or its docstring, as source text.
    pub doc: Option<String>,
    /// Whether `doc` is a docstring inside the body (Python) rather than comments above it.
    pub doc_inside: bool,
    /// Byte range of the whole definition.
    pub range: Range<usize>,
    /// Byte range of the body, when it has one.
    pub body: Option<Range<usize>>,
    /// 0-based line of the definition's start.
    pub line: usize,
    /// Index (in the same vector) of the innermost enclosing definition.
    pub parent: Option<usize>,
}

/// How an import brings names in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportKind {
    /// Python `import a.b [as c]`; Rust `use a::b [as c]` (then `name` is the last segment).
    Import,
    /// Python `from m import n [as a]`.
    From,
    /// Rust `mod m;` (a child module in another file).
    Mod,
}

/// One imported path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub kind: ImportKind,
    /// Module path segments, e.g. `["a", "b"]`; Rust keeps `crate`/`self`/`super` segments.
    pub module: Vec<String>,
    /// The imported item inside `module` (Python from-imports, Rust `use a::b::Item`).
    pub name: Option<String>,
    pub alias: Option<String>,
    /// Python relative level: the number of leading dots (`from ..x import y` is 2).
    pub level: usize,
    /// `from m import *`, `use m::*`.
    pub glob: bool,
    /// 0-based line of the import statement.
    pub line: usize,
}

impl Import {
    /// The name this import binds in the importing file (`None` for globs).
    pub fn local_name(&self) -> Option<&str> {
        if self.glob {
            return None;
        }
        if let Some(a) = &self.alias {
            return Some(a);
        }
        match (&self.name, self.kind) {
            (Some(n), _) => Some(n),
            // `import a.b` binds `a`.
            (None, ImportKind::Import) => self.module.first().map(String::as_str),
            (None, _) => self.module.last().map(String::as_str),
        }
    }
}

/// A definition enclosing a position, for keeping its header in view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: DefKind,
    pub name: String,
    pub signature: String,
    pub range: Range<usize>,
    pub line: usize,
}

struct Tags {
    query: Query,
    name: Option<u32>,
    body: Option<u32>,
    doc: Option<u32>,
    /// Capture index -> definition kind, for `@definition.<kind>` captures.
    def_kinds: Vec<Option<DefKind>>,
}

/// The source of a language's tag query.
pub fn tags_query_source(lang: Language) -> &'static str {
    match lang {
        Language::Python => include_str!("../queries/python/tags.scm"),
        Language::Rust => include_str!("../queries/rust/tags.scm"),
    }
}

fn tags(lang: Language) -> Option<&'static Tags> {
    static PY: OnceLock<Option<Tags>> = OnceLock::new();
    static RS: OnceLock<Option<Tags>> = OnceLock::new();
    let cell = match lang {
        Language::Python => &PY,
        Language::Rust => &RS,
    };
    cell.get_or_init(|| {
        let grammar = lang.grammar()?;
        let query = match Query::new(&grammar, tags_query_source(lang)) {
            Ok(q) => q,
            Err(e) => panic!("invalid tags query for {}: {e}", lang.name()),
        };
        let def_kinds = query
            .capture_names()
            .iter()
            .map(|n| {
                n.strip_prefix("definition.")
                    .and_then(DefKind::from_capture)
            })
            .collect();
        Some(Tags {
            name: query.capture_index_for_name("name"),
            body: query.capture_index_for_name("body"),
            doc: query.capture_index_for_name("doc"),
            def_kinds,
            query,
        })
    })
    .as_ref()
}

/// Deepest node (from the root) a tagged definition or import may start at.
const MAX_TAG_DEPTH: u32 = 8;

/// Longest signature kept, in lines, for definitions without a body.
const MAX_SIGNATURE_LINES: usize = 6;

/// All definitions in `text` (parsed as `tree`), in source order, with parents linked.
pub fn definitions(lang: Language, tree: &Tree, text: &str) -> Vec<Definition> {
    collect_definitions(lang, tree, text, None)
}

/// Definitions and imports of a file in one pass of the query.
pub fn definitions_and_imports(
    lang: Language,
    tree: &Tree,
    text: &str,
) -> (Vec<Definition>, Vec<Import>) {
    let mut imports = Vec::new();
    let defs = collect(lang, tree, text, None, Some(&mut imports));
    (defs, imports)
}

fn collect_definitions(
    lang: Language,
    tree: &Tree,
    text: &str,
    byte_range: Option<Range<usize>>,
) -> Vec<Definition> {
    collect(lang, tree, text, byte_range, None)
}

fn collect(
    lang: Language,
    tree: &Tree,
    text: &str,
    byte_range: Option<Range<usize>>,
    mut imports: Option<&mut Vec<Import>>,
) -> Vec<Definition> {
    let Some(tags) = tags(lang) else {
        return Vec::new();
    };
    let mut cursor = QueryCursor::new();
    match byte_range {
        Some(r) => {
            cursor.set_byte_range(r);
        }
        // Definitions and imports sit near the top of the tree; not descending into deep
        // expression trees makes tagging a large file several times faster.
        None => {
            cursor.set_max_start_depth(Some(MAX_TAG_DEPTH));
        }
    }
    let mut out: Vec<Definition> = Vec::new();
    let mut matches = cursor.matches(&tags.query, tree.root_node(), text.as_bytes());
    while let Some(m) = matches.next() {
        let mut def: Option<(DefKind, Node)> = None;
        let (mut name, mut body, mut doc) = (None, None, None);
        for c in m.captures {
            if let Some(Some(kind)) = tags.def_kinds.get(c.index as usize) {
                def = Some((*kind, c.node));
            } else if Some(c.index) == tags.name {
                name = Some(c.node);
            } else if Some(c.index) == tags.body {
                body = Some(c.node);
            } else if Some(c.index) == tags.doc {
                doc = Some(c.node);
            }
        }
        let (Some((kind, node)), Some(name)) = (def, name) else {
            if let Some(imports) = imports.as_deref_mut() {
                import_from_match(&tags.query, m, text, imports);
            }
            continue;
        };
        if out.last().is_some_and(|d| d.range == node.byte_range()) {
            continue; // the same node matched twice (e.g. optional docstring)
        }
        out.push(make_definition(kind, node, name, body, doc, text));
    }
    out.sort_by_key(|d| (d.range.start, std::cmp::Reverse(d.range.end)));
    out.dedup_by(|a, b| a.range == b.range);
    link_parents(&mut out);
    out
}

fn make_definition(
    kind: DefKind,
    node: Node,
    name: Node,
    body: Option<Node>,
    doc: Option<Node>,
    text: &str,
) -> Definition {
    let range = node.byte_range();
    let signature = match body {
        Some(b) => without_trailing_comments(&text[range.start..b.start_byte()]),
        None => {
            let whole = text[range.clone()].trim_end();
            let mut lines = whole.lines();
            let head: Vec<&str> = lines.by_ref().take(MAX_SIGNATURE_LINES).collect();
            let mut s = head.join("\n");
            if lines.next().is_some() {
                s.push_str(" ...");
            }
            s
        }
    };
    let mut name_text = text[name.byte_range()].to_string();
    if let Some(i) = name_text.find('<') {
        name_text.truncate(i);
    }
    if let Some(i) = name_text.rfind("::") {
        name_text = name_text[i + 2..].to_string();
    }
    let above = comments_above(node, text);
    let (doc, doc_inside) = match (above, doc) {
        (_, Some(d)) => (Some(text[d.byte_range()].to_string()), true),
        (Some(c), None) => (Some(c), false),
        (None, None) => (None, false),
    };
    Definition {
        name: name_text.trim().to_string(),
        kind,
        signature,
        doc,
        doc_inside,
        body: body.map(|b| b.byte_range()),
        line: node.start_position().row,
        range,
        parent: None,
    }
}

/// A header without the comment lines between it and the body (Python puts comments that
/// precede the first statement before the block).
fn without_trailing_comments(header: &str) -> String {
    let mut lines: Vec<&str> = header.trim_end().lines().collect();
    while lines.len() > 1 {
        let last = lines[lines.len() - 1].trim();
        if last.is_empty() || last.starts_with('#') || last.starts_with("//") {
            lines.pop();
        } else {
            break;
        }
    }
    lines.join("\n").trim_end().to_string()
}

/// Comment siblings directly above `node` (attributes and decorators in between are skipped).
fn comments_above(node: Node, text: &str) -> Option<String> {
    let mut first_comment: Option<Node> = None;
    let mut cur = node;
    let mut row = node.start_position().row;
    while let Some(prev) = cur.prev_sibling() {
        let kind = prev.kind();
        let adjacent = prev.end_position().row + 1 >= row;
        if !adjacent {
            break;
        }
        if kind.contains("comment") {
            first_comment = Some(prev);
        } else if !(kind.contains("attribute") || kind.contains("decorator")) {
            break;
        }
        row = prev.start_position().row;
        cur = prev;
    }
    let first = first_comment?;
    let s = text[first.start_byte()..node.start_byte()].trim_end();
    // Keep only the comment lines (attributes in between are dropped).
    let lines: Vec<&str> = s
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("//") || l.starts_with('#') && !l.starts_with("#["))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn link_parents(defs: &mut [Definition]) {
    let mut stack: Vec<usize> = Vec::new();
    for i in 0..defs.len() {
        while let Some(&top) = stack.last() {
            if defs[top].range.end >= defs[i].range.end
                && defs[top].range.start <= defs[i].range.start
            {
                break;
            }
            stack.pop();
        }
        defs[i].parent = stack.last().copied();
        if defs[i].kind == DefKind::Function
            && defs[i].parent.is_some_and(|p| defs[p].kind.is_container())
        {
            defs[i].kind = DefKind::Method;
        }
        stack.push(i);
    }
}

/// Definitions that start inside `range` (a window of `text`), in source order; containers
/// around the window are not included.
pub fn definitions_in(
    lang: Language,
    tree: &Tree,
    text: &str,
    range: Range<usize>,
) -> Vec<Definition> {
    let range = range.start.min(text.len())..range.end.min(text.len());
    collect_definitions(lang, tree, text, Some(range.clone()))
        .into_iter()
        .filter(|d| range.contains(&d.range.start))
        .collect()
}

/// Definitions enclosing byte offset `byte`, outermost first.
pub fn enclosing_scopes(lang: Language, tree: &Tree, text: &str, byte: usize) -> Vec<Scope> {
    let byte = byte.min(text.len());
    let range = byte.saturating_sub(1)..(byte + 1).min(text.len()).max(byte);
    collect_definitions(lang, tree, text, Some(range))
        .into_iter()
        .filter(|d| d.range.start < byte && byte <= d.range.end && d.body.is_some())
        .filter(|d| d.body.as_ref().is_some_and(|b| b.start <= byte))
        .map(|d| Scope {
            kind: d.kind,
            name: d.name,
            signature: d.signature,
            range: d.range,
            line: d.line,
        })
        .collect()
}

/// All imports in `text`, in source order.
pub fn imports(lang: Language, tree: &Tree, text: &str) -> Vec<Import> {
    let mut out = Vec::new();
    collect(lang, tree, text, None, Some(&mut out));
    out
}

fn import_from_match(q: &Query, m: &QueryMatch, text: &str, out: &mut Vec<Import>) {
    let names = q.capture_names();
    let mut stmt: Option<(&str, Node)> = None;
    let (mut path, mut module, mut name, mut alias, mut tree_node) = (None, None, None, None, None);
    for c in m.captures {
        let t = &text[c.node.byte_range()];
        match names[c.index as usize] {
            n @ ("import" | "import.from" | "import.glob" | "import.use" | "import.mod") => {
                stmt = Some((n, c.node))
            }
            "import.path" => path = Some(t),
            "import.module" => module = Some(t),
            "import.name" => name = Some(t),
            "import.alias" => alias = Some(t),
            "import.tree" => tree_node = Some(t),
            _ => {}
        }
    }
    let Some((kind, node)) = stmt else { return };
    let line = node.start_position().row;
    match kind {
        "import" | "import.mod" => {
            if let Some(p) = path {
                out.push(Import {
                    kind: if kind == "import" {
                        ImportKind::Import
                    } else {
                        ImportKind::Mod
                    },
                    module: split_path(p),
                    name: None,
                    alias: alias.map(str::to_string),
                    level: 0,
                    glob: false,
                    line,
                });
            }
        }
        "import.from" | "import.glob" => {
            let m = module.unwrap_or("");
            let level = m.chars().take_while(|&c| c == '.').count();
            out.push(Import {
                kind: ImportKind::From,
                module: split_path(&m[level..]),
                name: name.map(str::to_string),
                alias: alias.map(str::to_string),
                level,
                glob: kind == "import.glob",
                line,
            });
        }
        "import.use" => {
            if let Some(t) = tree_node {
                for (segs, alias, glob) in expand_use_tree(t) {
                    let (module, name) = if glob {
                        (segs, None)
                    } else {
                        let mut segs = segs;
                        let last = segs.pop();
                        (segs, last)
                    };
                    out.push(Import {
                        kind: ImportKind::Import,
                        module,
                        name,
                        alias,
                        level: 0,
                        glob,
                        line,
                    });
                }
            }
        }
        _ => {}
    }
}

fn split_path(p: &str) -> Vec<String> {
    p.split(['.', ':'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Expand a use-tree such as `a::b::{c, d as e, f::*}` into (segments, alias, glob) triples.
/// `{self}` refers to the prefix itself.
pub fn expand_use_tree(tree: &str) -> Vec<(Vec<String>, Option<String>, bool)> {
    let compact: String = tree
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    expand_into(&compact, &[], &mut out);
    out
}

fn expand_into(s: &str, prefix: &[String], out: &mut Vec<(Vec<String>, Option<String>, bool)>) {
    let s = s.trim();
    if s.is_empty() {
        return;
    }
    if let Some(open) = s.find('{') {
        let head = s[..open].trim().trim_end_matches("::");
        let inner = s[open + 1..]
            .trim_end()
            .strip_suffix('}')
            .unwrap_or(&s[open + 1..]);
        let mut p = prefix.to_vec();
        p.extend(split_path(head));
        for part in split_top_level(inner) {
            expand_into(part, &p, out);
        }
        return;
    }
    let (path, alias) = match s.split_once(" as ") {
        Some((p, a)) => (p.trim(), Some(a.trim().to_string())),
        None => (s, None),
    };
    let mut segs = prefix.to_vec();
    segs.extend(split_path(path));
    if segs.last().is_some_and(|l| l == "*") {
        segs.pop();
        out.push((segs, None, true));
    } else {
        if segs.last().is_some_and(|l| l == "self") && segs.len() > 1 {
            segs.pop();
        }
        out.push((segs, alias, false));
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests;
