//! The pure parts of the assistant's actions: which code an action is about, the prompts,
//! reading the model's answers, where tests go, and trimming a conversation to the model's
//! context. No IO, no model.

use nib_engine::{ChatMessage, Role, TokenCounter};
use nib_syntax::tags::{self, DefKind};
use nib_syntax::tree_sitter::{Node, Tree};
use nib_syntax::Language;

use nib_verify::record::camel;

use crate::CodeActionKind;

/// The system message of every action and conversation.
pub(crate) const SYSTEM: &str =
    "You are nib, a careful coding assistant inside the user's editor. \
You answer briefly and precisely. When you write code, you write it in one fenced code block \
tagged with its language, complete and runnable, with no placeholders.";

/// The code an action is about: whole lines `start..end` of the document (bytes; `end` before
/// the last line's line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub start: usize,
    pub end: usize,
    /// The function or class name, when the target is one.
    pub name: Option<String>,
    /// `function`, `method`, `class` or `selection`.
    pub what: &'static str,
    /// The indentation of the first line.
    pub indent: String,
    /// For a method: the class (Python) or impl block / trait (Rust) it belongs to.
    pub owner: Option<Owner>,
}

/// The class, impl block or trait a method is defined in: its name and its lines
/// `start..end` (bytes, decorators included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// Bytes of the line holding `at`: its start and its end before the line break.
fn line_span(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let end = if end > start && text.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    (start, end)
}

/// The indentation (spaces and tabs) of the first non-blank line of `text`.
fn indent_of(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line[..line.len() - line.trim_start_matches([' ', '\t']).len()].to_string()
}

/// The innermost definition around byte `at` whose kind `accept` takes.
fn enclosing(
    lang: Language,
    tree: &Tree,
    text: &str,
    at: usize,
    accept: impl Fn(DefKind) -> bool,
) -> Option<tags::Scope> {
    let probe = |b: usize| {
        tags::enclosing_scopes(lang, tree, text, b)
            .into_iter()
            .rev()
            .find(|s| accept(s.kind))
    };
    let (s, e) = line_span(text, at);
    let first = s + (text[s..e].len() - text[s..e].trim_start().len());
    // In a line's indentation: the line's code.
    let at = at.max(first.min(e));
    probe(at).or_else(|| {
        // On a definition's first line, before its body: the definition starting there.
        let opening = text[first..e].rfind([':', '{']).map(|i| first + i + 1);
        // The next line with code (a Python body starts at its first statement).
        let next = text[e..]
            .find(|c: char| !c.is_whitespace())
            .map(|i| e + i + 1);
        [opening, next]
            .into_iter()
            .flatten()
            .find_map(|b| probe(b).filter(|d| d.range.start >= s && d.range.start <= e))
    })
}

fn is_code_unit(k: DefKind) -> bool {
    matches!(
        k,
        DefKind::Function
            | DefKind::Method
            | DefKind::Class
            | DefKind::Struct
            | DefKind::Enum
            | DefKind::Impl
            | DefKind::Trait
    )
}

fn is_function(k: DefKind) -> bool {
    matches!(k, DefKind::Function | DefKind::Method)
}

/// What `kind` is about for the selection `start..end` (bytes; equal for a cursor): a
/// non-empty selection as whole lines, else the enclosing function (or class, for explain).
/// `fix` falls back to the cursor's line with a few lines around it.
pub(crate) fn target(
    kind: CodeActionKind,
    lang: Language,
    tree: Option<&Tree>,
    text: &str,
    start: usize,
    end: usize,
) -> Option<Target> {
    let selection = !text[start..end].trim().is_empty();
    if selection && kind != CodeActionKind::Tests {
        let (s, _) = line_span(text, start);
        // A selection of whole lines ends at the start of the next one.
        let last = if end > start && text[..end].ends_with('\n') {
            end - 1
        } else {
            end
        };
        let (_, e) = line_span(text, last);
        // Blank lines at either end of a selection stay as they are.
        let skipped =
            text[s..e].len() - text[s..e].trim_start_matches(['\n', '\r', ' ', '\t']).len();
        let s = match text[s..s + skipped].rfind('\n') {
            Some(i) => s + i + 1,
            None => s,
        };
        let e = s + text[s..e].trim_end().len();
        return Some(Target {
            start: s,
            end: e,
            name: None,
            what: "selection",
            indent: indent_of(&text[s..e]),
            owner: None,
        });
    }
    let tree = tree?;
    let accept: fn(DefKind) -> bool = match kind {
        CodeActionKind::Explain => is_code_unit,
        _ => is_function,
    };
    match enclosing(lang, tree, text, start, accept) {
        Some(scope) => {
            // Decorators and attributes belong to the definition.
            let (s, _) = line_span(text, scope.range.start);
            let (_, e) = line_span(text, scope.range.end.saturating_sub(1).max(s));
            let owner = match scope.kind {
                DefKind::Method => owner_of(lang, tree, text, &scope),
                _ => None,
            };
            Some(Target {
                owner,
                start: s,
                end: e,
                what: match scope.kind {
                    DefKind::Function => "function",
                    DefKind::Method => "method",
                    DefKind::Impl => "impl block",
                    DefKind::Trait => "trait",
                    DefKind::Struct => "struct",
                    DefKind::Enum => "enum",
                    _ => "class",
                },
                name: Some(scope.name),
                indent: indent_of(&text[s..e]),
            })
        }
        None if kind == CodeActionKind::Fix => {
            let line = text[..start].matches('\n').count();
            let starts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect();
            let first = starts[line.saturating_sub(FIX_LINES_AROUND)];
            let last = starts[(line + FIX_LINES_AROUND).min(starts.len() - 1)];
            let (s, _) = line_span(text, first);
            let (_, e) = line_span(text, last);
            let (cs, ce) = line_span(text, start);
            // Keep whole lines around the cursor line at one indentation.
            let indent = indent_of(&text[cs..ce]);
            let (s, e) = if text[s..e]
                .lines()
                .all(|l| l.trim().is_empty() || l.starts_with(&indent))
            {
                (s, e)
            } else {
                (cs, ce)
            };
            Some(Target {
                start: s,
                end: e,
                name: None,
                what: "lines",
                indent,
                owner: None,
            })
        }
        None => None,
    }
}

/// The innermost class, impl block or trait around `method`.
fn owner_of(lang: Language, tree: &Tree, text: &str, method: &tags::Scope) -> Option<Owner> {
    tags::enclosing_scopes(lang, tree, text, method.range.start + 1)
        .into_iter()
        .filter(|s| {
            s.range != method.range
                && s.range.start <= method.range.start
                && method.range.end <= s.range.end
                && matches!(
                    s.kind,
                    DefKind::Class | DefKind::Struct | DefKind::Impl | DefKind::Trait
                )
        })
        .min_by_key(|s| s.range.len())
        .map(|s| {
            let (mut start, _) = line_span(text, s.range.start);
            // Decorators (`@dataclass`) say how the class is built.
            while start > 0 {
                let (above, _) = line_span(text, start - 1);
                if !text[above..start].trim_start().starts_with('@') {
                    break;
                }
                start = above;
            }
            Owner {
                name: s.name,
                start,
                end: s.range.end,
            }
        })
}

/// How a method's owner (`code`: a class or impl block, dedented) is built and what else it
/// offers, for a tests prompt: `(constructor, other methods)` as signatures without `self`.
/// A dataclass's fields make its constructor. `method` (the one under test) and dunder
/// methods are not listed.
pub(crate) fn owner_summary(name: &str, code: &str, method: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = code.lines().collect();
    let depth = |l: &str| l.len() - l.trim_start().len();
    let header = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| depth(l))
        .min()
        .unwrap_or(0);
    let member = lines
        .iter()
        .filter(|l| !l.trim().is_empty() && depth(l) > header)
        .map(|l| depth(l))
        .next()
        .unwrap_or(header + 4);
    let dataclass = lines
        .iter()
        .take_while(|l| !l.trim_start().starts_with("class "))
        .any(|l| l.trim_start().starts_with("@dataclass") || l.contains("dataclasses.dataclass"));
    let mut fields = Vec::new();
    let mut constructor = None;
    let mut methods = Vec::new();
    let mut decorator = "";
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        i += 1;
        if l.trim().is_empty() || depth(l) != member {
            continue;
        }
        let t = l.trim();
        if t.starts_with('@') {
            decorator = t;
            continue;
        }
        let bare = t.strip_prefix("pub ").unwrap_or(t);
        let bare = bare.strip_prefix("async ").unwrap_or(bare);
        let Some(rest) = bare
            .strip_prefix("def ")
            .or_else(|| bare.strip_prefix("fn "))
        else {
            decorator = "";
            // `name: type = default` before the methods: a dataclass field.
            if methods.is_empty() && constructor.is_none() && !t.starts_with(['#', '"', '\'']) {
                if let Some((field, _)) = t.split_once(':') {
                    if field.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        fields.push(t.to_string());
                    }
                }
            }
            continue;
        };
        // The signature, over as many lines as it takes.
        let mut sig = rest.trim_end().to_string();
        while !(sig.ends_with(':') || sig.ends_with('{') || sig.ends_with(';')) && i < lines.len() {
            sig.push(' ');
            sig.push_str(lines[i].trim());
            i += 1;
        }
        let sig = sig
            .trim_end_matches([':', '{', ';'])
            .trim()
            .replace("(self, ", "(")
            .replace("(self)", "()")
            .replace("(&self, ", "(")
            .replace("(&self)", "()")
            .replace("(&mut self, ", "(")
            .replace("(&mut self)", "()")
            .replace("(cls, ", "(")
            .replace("(cls)", "()");
        let fname: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let static_ = decorator.starts_with("@classmethod")
            || decorator.starts_with("@staticmethod")
            || (t.starts_with("pub fn ") || t.starts_with("fn ")) && !rest.contains("self");
        decorator = "";
        if fname == "__init__" {
            constructor = Some(format!("{name}{}", &sig[fname.len()..]));
        } else if fname == method || fname.starts_with("__") {
            continue;
        } else if static_ {
            let sep = if bare.starts_with("fn ") { "::" } else { "." };
            methods.push(format!("{name}{sep}{sig}"));
        } else {
            methods.push(sig);
        }
    }
    let constructor = constructor.unwrap_or_else(|| {
        if dataclass {
            format!("{name}({})", fields.join(", "))
        } else if methods
            .iter()
            .any(|m| m.starts_with(&format!("{name}::new(")))
        {
            String::new()
        } else {
            format!("{name}()")
        }
    });
    (constructor, methods)
}

/// The constructors of the top-level Python classes in `source` that `code` names (other than
/// `owner`): what a test needs to build the values a method takes or holds.
pub(crate) fn used_class_constructors(source: &str, code: &str, owner: &str) -> Vec<String> {
    let used: std::collections::HashSet<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix("class ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name == owner || !used.contains(name.as_str()) {
            continue;
        }
        // Its decorators above, its body below (up to the next top-level line).
        let first = (0..i)
            .rev()
            .take_while(|&j| lines[j].starts_with('@'))
            .last()
            .unwrap_or(i);
        let end = (i + 1..lines.len())
            .find(|&j| !lines[j].trim().is_empty() && !lines[j].starts_with([' ', '\t']))
            .unwrap_or(lines.len());
        let (built, _) = owner_summary(&name, &lines[first..end].join("\n"), "");
        if !built.is_empty() {
            out.push(built);
        }
    }
    out
}

/// The names a Python module defines at its top level (functions, classes, assignments).
pub(crate) fn top_level_names(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in source.lines() {
        if l.starts_with([' ', '\t']) {
            continue;
        }
        let t = l.strip_prefix("async ").unwrap_or(l);
        let name: String = match t.strip_prefix("def ").or_else(|| t.strip_prefix("class ")) {
            Some(rest) => rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect(),
            None => {
                let n: String = t
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let rest = t[n.len()..].trim_start();
                let assigned = (rest.starts_with('=') && !rest.starts_with("=="))
                    || (rest.starts_with(':') && rest.contains('='));
                if assigned && !n.starts_with(|c: char| c.is_ascii_digit()) {
                    n
                } else {
                    String::new()
                }
            }
        };
        if !name.is_empty() && !name.starts_with("__") && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// What the Python tests file imports from the module under test: `subject` (the function, or
/// a method's class) first, then the module's other top-level names the tests use and do not
/// define themselves, in the module's order.
pub(crate) fn tests_imports(source: &str, tests: &str, subject: &str) -> Vec<String> {
    let used: std::collections::HashSet<&str> = tests
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    let own = top_level_names(tests);
    let mut out = vec![subject.to_string()];
    for n in top_level_names(source) {
        if used.contains(n.as_str()) && !own.contains(&n) && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The names a Python import line brings in (`from m import a, b as c` gives `a`, `b`; `import
/// m.n` gives `m.n`).
pub(crate) fn imported(line: &str) -> Vec<&str> {
    let t = line.trim();
    let names = match (t.strip_prefix("from "), t.strip_prefix("import ")) {
        (Some(rest), _) => rest.split_once(" import ").map_or("", |(_, n)| n),
        (None, Some(rest)) => rest,
        _ => return Vec::new(),
    };
    names
        .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .split(',')
        .filter_map(|n| n.split_whitespace().next())
        .map(|n| n.trim_matches(|c| c == '(' || c == ')'))
        .filter(|n| !n.is_empty())
        .collect()
}

/// The name of the function around byte `at` (or defined on its line).
pub(crate) fn function_at(lang: Language, tree: &Tree, text: &str, at: usize) -> Option<String> {
    enclosing(lang, tree, text, at, is_function).map(|s| s.name)
}

/// Lines on each side of the cursor line that `fix` rewrites outside a function.
const FIX_LINES_AROUND: usize = 2;

/// Lines of a change shown in its description at most.
const DESCRIBED_LINES: usize = 3;

/// A fix's answer from a one-change repair (`repaired` is the whole file after the change):
/// the target's new code (dedented) in a fence, then why. `None` when the change is not inside
/// bytes `start..end` of `source`.
pub(crate) fn repair_answer(
    lang: Language,
    source: &str,
    repaired: &str,
    start: usize,
    end: usize,
    why: &str,
) -> Option<String> {
    let grown = repaired.len() as isize - source.len() as isize;
    let new_end = usize::try_from(end as isize + grown).ok()?;
    if new_end < start
        || !repaired.is_char_boundary(start)
        || !repaired.is_char_boundary(new_end)
        || repaired[..start] != source[..start]
        || repaired[new_end..] != source[end..]
    {
        return None;
    }
    Some(format!(
        "```{}\n{}\n```\n\n{why}",
        lang.name(),
        dedent(&repaired[start..new_end]).trim_end()
    ))
}

/// What a fix changed, for a result the model did not explain: the run of lines between the
/// common start and end of `old` and `new`, quoted, numbered in the file (`first_line` is the
/// 0-based line of `old`'s first line).
pub(crate) fn describe_change(what: &str, first_line: usize, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let same = |x: &str, y: &str| x.trim() == y.trim();
    let head = a.iter().zip(&b).take_while(|(x, y)| same(x, y)).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| same(x, y))
        .count();
    let (gone, came) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    if gone.is_empty() && came.is_empty() {
        return format!("The corrected {what}.");
    }
    let line = first_line + head + 1;
    let quote = |ls: &[&str]| {
        ls.iter()
            .take(DESCRIBED_LINES)
            .map(|l| format!("`{}`", l.trim()))
            .collect::<Vec<_>>()
            .join(", ")
            + if ls.len() > DESCRIBED_LINES {
                ", ..."
            } else {
                ""
            }
    };
    match (gone.len(), came.len()) {
        (0, _) => format!(
            "The corrected {what}: added after line {}: {}.",
            line - 1,
            quote(came)
        ),
        (_, 0) => format!(
            "The corrected {what}: removed line {line}: {}.",
            quote(gone)
        ),
        (1, _) => format!(
            "The corrected {what}: line {line} {} became {}.",
            quote(gone),
            quote(came)
        ),
        (n, _) => format!(
            "The corrected {what}: lines {line}-{} {} became {}.",
            line + n - 1,
            quote(gone),
            quote(came)
        ),
    }
}

/// Remove the indentation every non-blank line shares.
pub(crate) fn dedent(code: &str) -> String {
    let common = code
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    code.lines()
        .map(|l| {
            if l.len() >= common {
                &l[common..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `code` dedented, then every non-blank line indented by `indent`.
pub(crate) fn reindent(code: &str, indent: &str) -> String {
    dedent(code)
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("{indent}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// A model's answer split into its prose and its first fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The text outside the code block, trimmed.
    pub prose: String,
    /// The code in the first fenced block; an unclosed block runs to the end.
    pub code: Option<String>,
    /// The code block has its closing fence.
    pub closed: bool,
}

/// Split `answer`: the first line starting with ```` ``` ```` opens the code, the next one
/// closes it. Without a fence the answer is all prose.
pub(crate) fn split_answer(answer: &str) -> Answer {
    let mut lines = answer.split_inclusive('\n');
    let mut prose = String::new();
    let mut code: Option<String> = None;
    let mut closed = false;
    for l in lines.by_ref() {
        if l.trim_start().starts_with("```") {
            code = Some(String::new());
            break;
        }
        prose.push_str(l);
    }
    if let Some(c) = code.as_mut() {
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            c.push_str(l);
        }
    }
    if closed {
        for l in lines {
            prose.push_str(l);
        }
    }
    Answer {
        prose: prose.trim().to_string(),
        code: code
            .map(|c| c.trim_end().to_string())
            .filter(|c| !c.trim().is_empty()),
        closed,
    }
}

/// Error and missing nodes in `text` parsed as `lang` (`usize::MAX` when it cannot be parsed).
/// The code's tokens without comments and docstrings (a string that is a statement of its
/// own); `None` when it does not parse.
fn code_tokens(lang: Language, code: &str) -> Option<Vec<&str>> {
    let tree = nib_syntax::parse(lang, code)?;
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        let docstring = lang == Language::Python
            && n.kind() == "expression_statement"
            && n.named_child_count() == 1
            && n.named_child(0).is_some_and(|c| c.kind() == "string");
        if n.kind().contains("comment") || docstring {
            continue;
        }
        if n.child_count() == 0 {
            out.push(&code[n.byte_range()]);
            continue;
        }
        let mut cursor = n.walk();
        let children: Vec<Node> = n.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    Some(out)
}

/// The rewrite differs from the original only in comments, docstrings and layout.
pub(crate) fn same_code(lang: Language, original: &str, rewritten: &str) -> bool {
    match (code_tokens(lang, original), code_tokens(lang, rewritten)) {
        (Some(a), Some(b)) => a == b,
        _ => original.trim() == rewritten.trim(),
    }
}

/// The functions defined at the top level of `root` (a decorated one by its definition).
fn top_level_functions(lang: Language, root: Node<'_>) -> Vec<Node<'_>> {
    let function = match lang {
        Language::Python => "function_definition",
        Language::Rust => "function_item",
    };
    let mut c = root.walk();
    root.children(&mut c)
        .map(|n| match n.kind() {
            "decorated_definition" => n.child_by_field_name("definition").unwrap_or(n),
            _ => n,
        })
        .filter(|n| n.kind() == function)
        .collect()
}

/// The first function `code` defines at its top level has no body beyond a docstring, `pass`,
/// `...` or comments (Python), or an empty block (Rust). `None` when `code` defines none.
pub(crate) fn empty_body(lang: Language, code: &str) -> Option<bool> {
    let tree = nib_syntax::parse(lang, code)?;
    let f = *top_level_functions(lang, tree.root_node()).first()?;
    let body = f.child_by_field_name("body")?;
    let mut c = body.walk();
    let empty = body.named_children(&mut c).all(|n| match n.kind() {
        "comment" | "line_comment" | "block_comment" | "pass_statement" => true,
        "expression_statement" => {
            n.named_child_count() == 1
                && n.named_child(0)
                    .is_some_and(|e| matches!(e.kind(), "string" | "ellipsis"))
        }
        _ => false,
    });
    Some(empty)
}

/// The name of the one function `code` defines at its top level (decorated or not), if it
/// defines exactly one.
pub(crate) fn only_function(lang: Language, code: &str) -> Option<String> {
    let tree = nib_syntax::parse(lang, code)?;
    match top_level_functions(lang, tree.root_node()).as_slice() {
        [only] => Some(code[only.child_by_field_name("name")?.byte_range()].to_string()),
        _ => None,
    }
}

/// How the answer to a fix or a refactor of `code` (dedented, as the prompt shows it) starts,
/// when nib knows: a Python function (the first thing in `code`) with a docstring is answered
/// with its signature and docstring unchanged, so the answer opens with the fence and those
/// lines. A local model then reads them with the prompt instead of writing them out token by
/// token (a long docstring is most of such an answer). `None` for other actions, Rust, and
/// code that does not start with a documented function.
pub(crate) fn answer_start(kind: CodeActionKind, lang: Language, code: &str) -> Option<String> {
    let (_, line_end) = leading_docstring(kind, lang, code)?;
    Some(format!("```python\n{}\n", &code[..line_end]))
}

/// The start of a Python tests answer: the framework's import and the first test's
/// `def test` (or `class Test`), ending on a token boundary. A model writing it itself often
/// repeats the function under test first (a long docstring included); given this, it writes
/// tests from its first token. `None` for Rust.
pub(crate) fn tests_answer_start(lang: Language, framework: Framework) -> Option<String> {
    match (lang, framework) {
        (Language::Python, Framework::Unittest) => {
            Some("```python\nimport unittest\n\n\nclass Test".into())
        }
        (Language::Python, _) => Some("```python\nimport pytest\n\n\ndef test".into()),
        _ => None,
    }
}

/// The docstring [`answer_start`] repeats, and the shorter text a local model reading that
/// start may read in the prompt's copy of `code` instead: its first line between its quotes,
/// and `...`. Read once in full (in the answer) instead of twice. `None` without an answer
/// start, or when the docstring is too short for this to save anything.
pub(crate) fn shortened_docstring(
    kind: CodeActionKind,
    lang: Language,
    code: &str,
) -> Option<(String, String)> {
    let (doc, _) = leading_docstring(kind, lang, code)?;
    let text = &code[doc];
    let open = text.find(['"', '\''])?;
    let quote = if text[open..].starts_with("\"\"\"") || text[open..].starts_with("'''") {
        &text[open..open + 3]
    } else {
        &text[open..open + 1]
    };
    let inner = text[open + quote.len()..].strip_suffix(quote)?;
    let first = inner.lines().map(str::trim).find(|l| !l.is_empty())?;
    let short = format!("{}{quote}{first} ...{quote}", &text[..open]);
    (short.len() + MIN_SHORTENED_BYTES <= text.len()).then(|| (text.to_string(), short))
}

/// Bytes a shortened docstring must save (about 20 tokens).
const MIN_SHORTENED_BYTES: usize = 80;

/// The docstring of the Python function `code` starts with (decorated or not), for a fix or a
/// refactor: its byte range, and the end of its last line (where nothing else may follow it).
fn leading_docstring(
    kind: CodeActionKind,
    lang: Language,
    code: &str,
) -> Option<(std::ops::Range<usize>, usize)> {
    if !matches!(kind, CodeActionKind::Fix | CodeActionKind::Refactor) || lang != Language::Python {
        return None;
    }
    let tree = nib_syntax::parse(lang, code)?;
    let root = tree.root_node();
    let first = root.named_child(0)?;
    let function = match first.kind() {
        "decorated_definition" => first.child_by_field_name("definition")?,
        _ => first,
    };
    if function.kind() != "function_definition" {
        return None;
    }
    let statement = function.child_by_field_name("body")?.named_child(0)?;
    let doc = statement.named_child(0)?;
    if statement.kind() != "expression_statement" || doc.kind() != "string" {
        return None;
    }
    let end = doc.end_byte();
    let line_end = code[end..].find('\n').map_or(code.len(), |i| end + i);
    if !code[end..line_end].trim().is_empty() || line_end == code.len() {
        return None;
    }
    Some((doc.byte_range(), line_end))
}

/// A rewrite of the function `name` that renamed it, with its first name back wherever the new
/// name stands as a word (calls, recursion, docstring examples): the answer defines one
/// function at its top level, under another name, and never mentions `name`. Its callers and
/// tests know it by `name`. `None` when there is nothing to rename back.
pub(crate) fn with_name(lang: Language, code: &str, name: &str) -> Option<String> {
    let new = only_function(lang, code)?;
    let new = new.as_str();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    // Where `w` stands as a word of its own, not as an attribute (`x.w`).
    let at = |w: &str| -> Vec<usize> {
        code.match_indices(w)
            .map(|(i, _)| i)
            .filter(|&i| {
                let before = code[..i].bytes().next_back();
                let after = code[i + w.len()..].bytes().next();
                !before.is_some_and(|b| word(b) || b == b'.') && !after.is_some_and(word)
            })
            .collect()
    };
    if new == name || !at(name).is_empty() {
        return None;
    }
    let mut out = String::with_capacity(code.len());
    let mut from = 0;
    for i in at(new) {
        out.push_str(&code[from..i]);
        out.push_str(name);
        from = i + new.len();
    }
    out.push_str(&code[from..]);
    Some(out)
}

/// What a second try of a rewrite is told when the first changed nothing but comments,
/// docstrings or layout.
pub(crate) const UNCHANGED: &str =
    "The rewrite changed nothing but comments, docstrings or layout.";

pub(crate) fn syntax_errors(lang: Language, text: &str) -> usize {
    let Some(tree) = nib_syntax::parse(lang, text) else {
        return usize::MAX;
    };
    fn count(n: Node<'_>) -> usize {
        if n.is_error() || n.is_missing() {
            return 1;
        }
        if !n.has_error() {
            return 0;
        }
        let mut c = n.walk();
        n.children(&mut c).map(count).sum()
    }
    count(tree.root_node())
}

/// `text` with bytes `start..end` replaced by `new`.
pub(crate) fn replaced(text: &str, start: usize, end: usize, new: &str) -> String {
    format!("{}{new}{}", &text[..start], &text[end..])
}

/// A test framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    Pytest,
    Unittest,
    /// A `#[cfg(test)] mod tests` in the file itself.
    RustModule,
}

/// Where tests for a source file go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPlan {
    pub framework: Framework,
    /// The test file, relative to the project root (the source file itself for Rust).
    pub path: String,
    /// The Python module the test imports the function from (`pkg.mod`).
    pub module: Option<String>,
}

/// Where the project keeps tests for `source` (relative to the root), in which framework:
/// from `paths` (the project's files, relative), `configs` (texts of pyproject.toml,
/// setup.cfg, pytest.ini, tox.ini) and `tests` (texts of some existing test files).
pub fn plan_tests(
    lang: Language,
    source: &str,
    paths: &[String],
    configs: &[(String, String)],
    tests: &[String],
) -> TestPlan {
    if lang == Language::Rust {
        return TestPlan {
            framework: Framework::RustModule,
            path: source.to_string(),
            module: None,
        };
    }
    let says_pytest = configs.iter().any(|(p, t)| {
        p.ends_with("pytest.ini")
            || t.contains("[tool.pytest")
            || t.contains("[pytest]")
            || t.contains("[tool:pytest]")
            || t.contains("pytest")
    }) || paths.iter().any(|p| p.ends_with("conftest.py"))
        || tests.iter().any(|t| t.contains("import pytest"));
    let unittest_files = tests
        .iter()
        .filter(|t| t.contains("unittest.TestCase") || t.contains("(TestCase)"))
        .count();
    let framework = if !says_pytest && unittest_files > 0 && unittest_files * 2 >= tests.len() {
        Framework::Unittest
    } else {
        Framework::Pytest
    };
    let source = source.trim_start_matches("./");
    let (dir, file) = match source.rfind('/') {
        Some(i) => (&source[..i], &source[i + 1..]),
        None => ("", source),
    };
    let stem = file.strip_suffix(".py").unwrap_or(file);
    let names = [format!("test_{stem}.py"), format!("{stem}_test.py")];
    let existing = paths.iter().find(|p| {
        let name = p.rsplit('/').next().unwrap_or(p);
        names.iter().any(|n| n == name)
    });
    let tests_dir = ["tests", "test"]
        .into_iter()
        .find(|d| paths.iter().any(|p| p.starts_with(&format!("{d}/"))));
    let path = match (existing, tests_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => format!("{d}/{}", names[0]),
        (None, None) if dir.is_empty() => names[0].clone(),
        (None, None) => format!("{dir}/{}", names[0]),
    };
    // Next to the source: the module by its file name; elsewhere its dotted path from the
    // root (a `src/` layout's packages start below `src`).
    let same_dir = path.rsplit_once('/').map_or("", |p| p.0) == dir;
    let module = if same_dir {
        stem.to_string()
    } else {
        let dotted = format!("{dir}/{stem}");
        let dotted = dotted.trim_start_matches('/');
        dotted
            .strip_prefix("src/")
            .unwrap_or(dotted)
            .replace('/', ".")
    };
    TestPlan {
        framework,
        path,
        module: Some(module),
    }
}

/// The places a refactoring could simplify ([`nib_syntax::refactor`]), as a list following the
/// code in a refactor request; empty when there are none.
fn refactor_hints_text(lang: Language, code: &str) -> String {
    let hints = nib_syntax::refactor::refactor_hints(lang, code);
    if hints.is_empty() {
        return String::new();
    }
    let items: Vec<String> = hints
        .iter()
        .map(|h| format!("- `{}`: {}", h.code, h.advice))
        .collect();
    format!(
        "\n\nWhere it can be simpler (make these changes where they keep the behaviour exactly):\n{}",
        items.join("\n")
    )
}

/// Everything a prompt is built from.
pub(crate) struct PromptInput<'a> {
    pub kind: CodeActionKind,
    pub lang: Language,
    /// The file's path as the user knows it.
    pub path: &'a str,
    /// The target's code, dedented.
    pub code: &'a str,
    pub target: &'a Target,
    /// Context pieces (path, text), most important first: the environment header and the
    /// definitions the code uses.
    pub context: &'a [(String, String)],
    /// Error messages (diagnostics, a traceback) for `fix`.
    pub errors: &'a [String],
    /// The user's description (generate) or wish (refactor).
    pub prompt: Option<&'a str>,
    pub framework: Option<Framework>,
    /// For tests of a method: the code of its class or impl block (dedented, maybe outlined).
    pub owner_code: Option<&'a str>,
    /// For tests of a method: the constructors of the module's other classes its class uses.
    pub owner_uses: &'a [String],
    /// For generate: the file before and after the insertion line.
    pub before: &'a str,
    pub after: &'a str,
    /// For a refactor asked again (its answer changed nothing, or broke what nib ran it
    /// against, told in `errors`): that answer, shown as the model's turn before it is told so.
    pub previous: Option<&'a str>,
}

/// The chat for an action, within `budget` tokens: context pieces that do not fit are left
/// out, last first. Returns the messages and how many context pieces were left out.
pub(crate) fn action_messages(
    p: &PromptInput<'_>,
    counter: &dyn TokenCounter,
    budget: usize,
) -> (Vec<ChatMessage>, usize) {
    let lang = p.lang.name();
    let fence = |code: &str| format!("```{lang}\n{}\n```", code.trim_end());
    let name = p
        .target
        .name
        .as_deref()
        .map(|n| format!(" `{n}`"))
        .unwrap_or_default();
    let what = format!("{}{name}", p.target.what);
    let task = match p.kind {
        CodeActionKind::Explain => format!(
            "Explain this {what} from `{}` in markdown for a developer new to the code: what it does, its inputs and outputs, its side effects, and anything surprising (edge cases, bugs). Be concise: at most 12 lines, no code block.\n\n{}",
            p.path,
            fence(p.code)
        ),
        CodeActionKind::Fix => {
            let errors = if p.errors.is_empty() {
                "(no message: find the bug)".to_string()
            } else {
                p.errors.join("\n")
            };
            format!(
                "This {what} from `{}` has an error:\n\n```text\n{}\n```\n\n{}\n\nReply with the corrected {} in one ```{lang} code block, complete, changing only what the fix needs. Then explain the cause in one sentence.",
                p.path,
                errors.trim_end(),
                fence(p.code),
                p.target.what,
            )
        }
        CodeActionKind::Tests => {
            let how = match p.framework {
                Some(Framework::Unittest) => "with the unittest module: one `unittest.TestCase` class with `test_` methods",
                Some(Framework::RustModule) => "as `#[test]` functions for a `#[cfg(test)] mod tests` module (write only the functions, no module, no `use` lines)",
                _ => "with pytest: plain `test_` functions using `assert`",
            };
            let owner = match (&p.target.owner, p.owner_code, &p.target.name) {
                (Some(o), Some(code), Some(method)) => {
                    let (built, others) = owner_summary(&o.name, code, method);
                    let built = if built.is_empty() {
                        String::new()
                    } else {
                        format!(" A `{}` is built as `{built}`.", o.name)
                    };
                    let others = if others.is_empty() {
                        String::new()
                    } else {
                        let shown: Vec<String> = others
                            .iter()
                            .take(OWNER_METHODS_SHOWN)
                            .map(|m| format!("`{m}`"))
                            .collect();
                        format!(" Its other methods: {}.", shown.join(", "))
                    };
                    let more = if p.owner_uses.is_empty() {
                        String::new()
                    } else {
                        let shown: Vec<String> =
                            p.owner_uses.iter().map(|m| format!("`{m}`")).collect();
                        format!(" Other classes it uses are built as {}.", shown.join(", "))
                    };
                    format!(
                        "\n\nIt is a method of `{0}`: each test builds a `{0}`, calls `.{method}(...)` on it and checks the result; never call `{method}` alone, and do not repeat `{0}`. Write one short test function per case, using only the methods named here.{built}{others}{more}",
                        o.name
                    )
                }
                _ => String::new(),
            };
            format!(
                "Write unit tests for this {what} from `{}` {how}. Cover normal cases and edge cases (empty input, boundaries, errors). Each test must pass on this code as it is. Do not repeat the {} itself; answer with the tests in one ```{lang} code block.\n\n{}{owner}",
                p.path,
                p.target.what,
                fence(p.code)
            )
        }
        CodeActionKind::Refactor => {
            let wish = p
                .prompt
                .map(|w| format!(" The user asks: {w}."))
                .unwrap_or_default();
            let earlier = if p.errors.is_empty() || p.previous.is_some() {
                String::new()
            } else if p.errors == [UNCHANGED] {
                " An earlier answer returned the same code (only comments, docstrings or layout \
                 differed). Improve the code itself this time: for example clearer names, \
                 simpler conditions and loops, early returns, or built-ins and comprehensions \
                 where they read better."
                    .to_string()
            } else {
                format!(
                    " An earlier rewrite was rejected because it changed the behaviour:\n\n```text\n{}\n```\n\nKeep the original's logic and results exactly.",
                    p.errors.join("\n").trim_end()
                )
            };
            let hints = if p.prompt.is_none() {
                refactor_hints_text(p.lang, p.code)
            } else {
                String::new()
            };
            format!(
                "Refactor this {what} from `{}` for clarity and simplicity, keeping exactly the same behaviour (same inputs, outputs, errors and side effects) and the same names used by other code.{wish}{earlier} Answer with the rewritten code only, in one ```{lang} code block.\n\n{}{hints}",
                p.path,
                fence(p.code)
            )
        }
        CodeActionKind::GenerateFromPrompt | CodeActionKind::GenerateFromComment => format!(
            "In `{}`, write the {lang} code for this description, to go at the marked line:\n\n{}\n\n```{lang}\n{}<<WRITE HERE>>\n{}\n```\n\nAnswer with only the new code in one ```{lang} code block.",
            p.path,
            p.prompt.unwrap_or("the code the comments describe"),
            p.before,
            p.after,
        ),
    };
    // A refactor asked again is answered in the conversation: the model sees its own rewrite
    // and what was wrong with it (no change to the code, or what nib saw it break).
    let follow_up = match (p.kind, p.previous) {
        (CodeActionKind::Refactor, Some(previous))
            if p.errors.is_empty() || p.errors == [UNCHANGED] =>
        {
            let hints = refactor_hints_text(p.lang, p.code);
            let how = if hints.is_empty() {
                "for example clearer names, simpler conditions and loops, early returns, or \
                 built-ins and comprehensions where they read better"
            } else {
                "make the changes listed with the code, or others of that kind"
            };
            Some((
                previous.trim().to_string(),
                format!(
                    "That is the same code: only comments, docstrings or layout differ, if anything. \
                     Change the code itself this time, keeping exactly the same behaviour: {how}. \
                     Answer with the rewritten code only, in one ```{lang} code block."
                ),
            ))
        }
        (CodeActionKind::Refactor, Some(previous)) => Some((
            previous.trim().to_string(),
            format!(
                "That rewrite does not keep the behaviour. nib ran it:\n\n```text\n{}\n```\n\n\
                 Correct it so that it keeps the original's results exactly, on every input; \
                 where unsure, keep the original's logic. Answer with the corrected rewrite \
                 only, in one ```{lang} code block.",
                p.errors.join("\n").trim_end()
            ),
        )),
        _ => None,
    };
    let fixed = counter.count(SYSTEM)
        + counter.count(&task)
        + MESSAGE_OVERHEAD_TOKENS
        + follow_up.as_ref().map_or(0, |(a, u)| {
            counter.count(a) + counter.count(u) + 2 * MESSAGE_OVERHEAD_TOKENS
        });
    let mut left = budget.saturating_sub(fixed);
    let mut shown = Vec::new();
    let mut dropped = 0;
    for (path, text) in p.context {
        let piece = format!("`{path}`:\n```\n{}\n```\n", text.trim_end());
        let n = counter.count(&piece);
        if n <= left {
            left -= n;
            shown.push(piece);
        } else {
            dropped += 1;
        }
    }
    let user = if shown.is_empty() {
        task
    } else {
        format!(
            "Context from the project (the environment and definitions the code uses):\n\n{}\n{task}",
            shown.join("\n")
        )
    };
    let mut messages = vec![
        ChatMessage::new(Role::System, SYSTEM),
        ChatMessage::new(Role::User, user),
    ];
    if let Some((answer, told)) = follow_up {
        messages.push(ChatMessage::new(Role::Assistant, answer));
        messages.push(ChatMessage::new(Role::User, told));
    }
    (messages, dropped)
}

/// The other methods of a method's class named in a tests prompt at most.
const OWNER_METHODS_SHOWN: usize = 12;

/// Tokens a chat template adds around each message (role markers).
pub(crate) const MESSAGE_OVERHEAD_TOKENS: usize = 8;

/// The turns of a conversation that fit `budget` tokens: the system message and the last turn
/// always, then earlier turns newest first while they fit (a user turn with the answer that
/// followed it leave together). Returns the messages to send and how many were left out.
pub fn trim_conversation(
    messages: &[ChatMessage],
    counter: &dyn TokenCounter,
    budget: usize,
) -> (Vec<ChatMessage>, usize) {
    let cost = |m: &ChatMessage| counter.count(&m.content) + MESSAGE_OVERHEAD_TOKENS;
    let (system, turns): (Vec<&ChatMessage>, Vec<&ChatMessage>) =
        messages.iter().partition(|m| m.role == Role::System);
    let Some((last, earlier)) = turns.split_last() else {
        return (messages.to_vec(), 0);
    };
    let mut left = budget
        .saturating_sub(system.iter().map(|m| cost(m)).sum::<usize>())
        .saturating_sub(cost(last));
    // Earlier turns in exchanges (a user message and the answers after it), newest first.
    let mut exchanges: Vec<Vec<&ChatMessage>> = Vec::new();
    for m in earlier {
        if m.role == Role::User || exchanges.is_empty() {
            exchanges.push(vec![m]);
        } else if let Some(e) = exchanges.last_mut() {
            e.push(m);
        }
    }
    let mut kept: Vec<&ChatMessage> = Vec::new();
    let mut dropped = 0;
    let mut full = false;
    for e in exchanges.iter().rev() {
        let n: usize = e.iter().map(|m| cost(m)).sum();
        if !full && n <= left {
            left -= n;
            kept.splice(0..0, e.iter().copied());
        } else {
            // Once one does not fit, older ones go too: the conversation stays contiguous.
            full = true;
            dropped += e.len();
        }
    }
    let out = system
        .into_iter()
        .chain(kept)
        .chain(std::iter::once(*last))
        .cloned()
        .collect();
    (out, dropped)
}

/// A test template for a function: what the user fills in (shown with generated code).
pub(crate) fn test_stub(lang: Language, name: &str, framework: Option<Framework>) -> String {
    match (lang, framework) {
        (Language::Rust, _) => format!(
            "#[test]\nfn {name}_works() {{\n    let got = {name}(todo!(\"input\"));\n    assert_eq!(got, todo!(\"expected\"));\n}}"
        ),
        (Language::Python, Some(Framework::Unittest)) => format!(
            "class Test{}(unittest.TestCase):\n    def test_{name}(self):\n        self.assertEqual({name}(...), ...)",
            camel(name)
        ),
        (Language::Python, _) => {
            format!("def test_{name}():\n    assert {name}(...) == ...")
        }
    }
}

/// The tests in a model's answer, ready to go into the test file: Python without the lines
/// importing any of `names` (the module's own names; the caller writes the right import); Rust without a
/// wrapping `mod tests` and its `use` lines. `None` when there is no test in it.
pub(crate) fn tests_from_code(lang: Language, code: &str, names: &[String]) -> Option<String> {
    let kept: String = match lang {
        Language::Python => code
            .lines()
            .filter(|l| {
                // An import of the module's own names (the function, its class): the caller
                // writes the right one.
                !imported(l).iter().any(|n| names.iter().any(|m| m == n))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Language::Rust => {
            let inner = match (code.find("mod tests"), code.rfind('}')) {
                (Some(m), Some(close)) if close > m => match code[m..].find('{') {
                    Some(open) => &code[m + open + 1..close],
                    None => code,
                },
                _ => code,
            };
            inner
                .lines()
                .filter(|l| {
                    !l.trim_start().starts_with("use super::") && l.trim() != "#[cfg(test)]"
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let kept = dedent(&kept).trim().to_string();
    let has_test = match lang {
        Language::Python => kept.contains("def test"),
        Language::Rust => kept.contains("#[test]"),
    };
    has_test.then_some(kept)
}

/// `code` without its top-level definitions whose names `document` already defines (a
/// model asked for new code often repeats the file around it).
pub(crate) fn without_existing_definitions(lang: Language, code: &str, document: &str) -> String {
    let Some(tree) = nib_syntax::parse(lang, code) else {
        return code.to_string();
    };
    let root = tree.root_node();
    let mut c = root.walk();
    let mut out = String::new();
    let mut from = 0;
    for n in root.children(&mut c) {
        let def = if n.kind() == "decorated_definition" {
            n.child_by_field_name("definition").unwrap_or(n)
        } else {
            n
        };
        let existing = def.child_by_field_name("name").is_some_and(|name| {
            let name = &code[name.byte_range()];
            let patterns: &[String] = match lang {
                Language::Python => &[format!("def {name}("), format!("class {name}")],
                Language::Rust => &[
                    format!("fn {name}("),
                    format!("fn {name}<"),
                    format!("struct {name}"),
                ],
            };
            patterns.iter().any(|p| document.contains(p.as_str()))
        });
        if existing {
            out.push_str(&code[from..n.start_byte()]);
            from = n.end_byte();
        }
    }
    out.push_str(&code[from..]);
    // Blank lines left where definitions were.
    let mut tidy = String::new();
    let mut blank = 0;
    for l in out.trim().lines() {
        blank = if l.trim().is_empty() { blank + 1 } else { 0 };
        if blank <= 2 {
            tidy.push_str(l);
            tidy.push('\n');
        }
    }
    tidy.trim_end().to_string()
}

/// `code` (a fixed or rewritten function) without its top-level imports that `elsewhere` (the
/// file outside the code replaced) already has as a line of its own: a model restating
/// `from typing import List` above the function would add it to the file a second time.
pub(crate) fn without_existing_imports(lang: Language, code: &str, elsewhere: &str) -> String {
    let Some(tree) = nib_syntax::parse(lang, code) else {
        return code.to_string();
    };
    let kinds: &[&str] = match lang {
        Language::Python => &[
            "import_statement",
            "import_from_statement",
            "future_import_statement",
        ],
        Language::Rust => &["use_declaration"],
    };
    let root = tree.root_node();
    let mut c = root.walk();
    let mut out = String::new();
    let mut from = 0;
    let mut dropped = false;
    for n in root.children(&mut c) {
        let line = code[n.byte_range()].trim();
        if kinds.contains(&n.kind()) && elsewhere.lines().any(|l| l.trim_end() == line) {
            out.push_str(&code[from..n.start_byte()]);
            from = n.end_byte();
            dropped = true;
        }
    }
    if !dropped {
        return code.to_string();
    }
    out.push_str(&code[from..]);
    format!("{}\n", out.trim())
}

/// Code as compared for sameness: without comment lines, blank lines and the spacing inside
/// and around lines.
pub(crate) fn normalized(lang: Language, code: &str) -> String {
    let comment = match lang {
        Language::Python => "#",
        Language::Rust => "//",
    };
    code.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with(comment))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Python tests with every top-level test function that is only `assert`s (and comments),
/// without parameters or decorators, split into one test per `assert` (`test_f_1`,
/// `test_f_2`, ...): a wrong expectation then costs one test, not all of them.
pub(crate) fn split_assert_tests(code: &str) -> String {
    let Some(tree) = nib_syntax::parse(Language::Python, code) else {
        return code.to_string();
    };
    let root = tree.root_node();
    let mut c = root.walk();
    let mut out = String::new();
    let mut from = 0;
    for n in root.children(&mut c) {
        if n.kind() != "function_definition" {
            continue;
        }
        let (Some(name), Some(params), Some(body)) = (
            n.child_by_field_name("name"),
            n.child_by_field_name("parameters"),
            n.child_by_field_name("body"),
        ) else {
            continue;
        };
        let name = &code[name.byte_range()];
        if !name.starts_with("test") || params.named_child_count() > 0 {
            continue;
        }
        let mut bc = body.walk();
        let statements: Vec<Node> = body.named_children(&mut bc).collect();
        let asserts: Vec<&str> = statements
            .iter()
            .filter(|s| s.kind() == "assert_statement")
            .map(|s| &code[s.byte_range()])
            .collect();
        let only_asserts = statements
            .iter()
            .all(|s| matches!(s.kind(), "assert_statement" | "comment"));
        if !only_asserts || asserts.len() < 2 || asserts.iter().any(|a| a.contains('\n')) {
            continue;
        }
        out.push_str(&code[from..n.start_byte()]);
        let split: Vec<String> = asserts
            .iter()
            .enumerate()
            .map(|(i, a)| format!("def {name}_{}():\n    {a}\n", i + 1))
            .collect();
        out.push_str(split.join("\n\n").trim_end());
        from = n.end_byte();
    }
    out.push_str(&code[from..]);
    out
}

/// Python test code cut short: without the line the cut interrupted when the rest parses,
/// else without its last top-level statement; `None` when no test function is left.
pub(crate) fn complete_python_tests(code: &str) -> Option<String> {
    let lines: Vec<&str> = code.lines().collect();
    let mut n = lines.len().saturating_sub(1);
    // Not ending on a block header or a decorator, whose body the cut took.
    while n > 0 && {
        let l = lines[n - 1].trim();
        l.is_empty() || l.ends_with(':') || l.starts_with('@') || l.starts_with('#')
    } {
        n -= 1;
    }
    let whole = lines[..n].join("\n");
    if whole.contains("def test") && syntax_errors(Language::Python, &whole) == 0 {
        return Some(whole.trim_end().to_string());
    }
    let last_top = lines.iter().rposition(|l| {
        !l.is_empty() && !l.starts_with([' ', '\t']) && !l.trim_start().starts_with('#')
    })?;
    // Decorators belong to the definition they precede.
    let mut at = last_top;
    while at > 0 && lines[at - 1].starts_with('@') {
        at -= 1;
    }
    let kept = lines[..at].join("\n");
    kept.contains("def test")
        .then(|| kept.trim_end().to_string())
}

/// An explanation cut short (by the output cap or the action's time): through its last
/// complete line, without the headings, list markers and blank lines the cut left with
/// nothing under them. The whole text when no line is complete.
pub(crate) fn complete_explanation(text: &str) -> String {
    let Some(last_newline) = text.rfind('\n') else {
        return text.trim().to_string();
    };
    let mut lines: Vec<&str> = text[..last_newline].lines().collect();
    while let Some(l) = lines.last().map(|l| l.trim()) {
        let bare = l.trim_matches(['-', '*', '#', '_', ' ']);
        let heading = l.starts_with('#') || (bare.ends_with(':') && bare.len() < 60);
        if bare.is_empty() || heading {
            lines.pop();
        } else {
            break;
        }
    }
    if lines.is_empty() {
        return text.trim().to_string();
    }
    lines.join("\n").trim().to_string()
}

/// A fixed or rewritten function cut short (by the action's time) completed from the
/// original: the answer's code through its last complete line, then the lines of `original`
/// after the place the answer's last lines copy. Those last lines (two non-blank ones, more
/// when two do not place them once in `original`) must equal lines of `original` exactly:
/// the answer was copying there, past what it changed before. `None` when they do not, or
/// fit more than one place.
pub(crate) fn complete_from_original(original: &str, partial: &str) -> Option<Completed> {
    let mut kept: Vec<&str> = partial.lines().collect();
    // The last line may be one the cut interrupted.
    kept.pop();
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    let lines: Vec<&str> = original.lines().collect();
    let code: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].trim().is_empty())
        .collect();
    let tail: Vec<&str> = kept
        .iter()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim_end())
        .collect();
    for n in COMPLETION_ANCHOR_LINES..=tail.len().min(MAX_COMPLETION_ANCHOR_LINES) {
        // Places in `original` whose last n non-blank lines are the answer's last n.
        let places: Vec<usize> = (n - 1..code.len())
            .filter(|&k| (0..n).all(|d| lines[code[k - d]].trim_end() == tail[d]))
            .collect();
        match places.as_slice() {
            [] => return None,
            [k] => {
                let from = code[*k] + 1;
                let rest = &lines[from..];
                if rest.iter().all(|l| l.trim().is_empty()) {
                    // Nothing left to copy: the cut came at the end, where the model might
                    // have gone on to write more.
                    return None;
                }
                let mut out = kept.join("\n");
                for l in rest {
                    out.push('\n');
                    out.push_str(l);
                }
                return Some(Completed {
                    code: out.trim_end().to_string(),
                    copied_lines: rest.len(),
                });
            }
            _ => {}
        }
    }
    None
}

/// What [`complete_from_original`] made of an answer cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completed {
    /// The answer's code through its last complete line, then the original's.
    pub code: String,
    /// Lines taken from the original.
    pub copied_lines: usize,
}

/// Non-blank lines an answer cut short must end with, copied from the original, to be
/// completed from it; more (up to the maximum) when those fit more than one place.
const COMPLETION_ANCHOR_LINES: usize = 2;
const MAX_COMPLETION_ANCHOR_LINES: usize = 5;

/// Rust test code cut short: through the end of its last complete function, with a
/// `mod tests` the cut left open closed again; `None` when no `#[test]` is left.
pub(crate) fn complete_rust_tests(code: &str) -> Option<String> {
    let tree = nib_syntax::parse(Language::Rust, code)?;
    let mut stack = vec![tree.root_node()];
    let mut end = None;
    while let Some(n) = stack.pop() {
        if n.kind() == "function_item" && !n.has_error() {
            end = end.max(Some(n.end_byte()));
            continue;
        }
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
    }
    let kept = code[..end?].trim_end();
    if !kept.contains("#[test]") {
        return None;
    }
    let closed = format!("{kept}\n}}");
    Some(
        if syntax_errors(Language::Rust, kept) > 0 && syntax_errors(Language::Rust, &closed) == 0 {
            closed
        } else {
            kept.to_string()
        },
    )
}

/// Python `code` with the test `name` (`test_f` or `TestC.test_f`) cut before the statement
/// on `line` (1-based), where it failed: the statements before it ran and their checks held.
/// What follows the last check before that line goes too. `None` when that line does not start a statement of the test's own body, or when no
/// `assert` comes before it.
pub(crate) fn cut_python_test(code: &str, name: &str, line: usize) -> Option<String> {
    let tree = nib_syntax::parse(Language::Python, code)?;
    let (class, function) = match name.split_once('.') {
        Some((c, f)) => (Some(c), f),
        None => (None, name),
    };
    let root = tree.root_node();
    let mut c = root.walk();
    let tops: Vec<Node> = root.children(&mut c).collect();
    let def = match class {
        None => tops.iter().find_map(|&n| {
            def_named(code, n, function).filter(|d| d.kind() == "function_definition")
        }),
        Some(class) => {
            let class = tops.iter().find_map(|&n| {
                def_named(code, n, class).filter(|d| d.kind() == "class_definition")
            })?;
            let body = class.child_by_field_name("body")?;
            let mut bc = body.walk();
            let found = body.children(&mut bc).find_map(|m| {
                def_named(code, m, function).filter(|d| d.kind() == "function_definition")
            });
            found
        }
    }?;
    let body = def.child_by_field_name("body")?;
    let mut bc = body.walk();
    let statements: Vec<Node> = body.children(&mut bc).filter(|n| n.is_named()).collect();
    let at = statements
        .iter()
        .position(|s| s.start_position().row + 1 == line && s.kind() != "comment")?;
    // The statements after the last check before it go too (they check nothing).
    let last_check = statements[..at]
        .iter()
        .rposition(|s| code[s.byte_range()].contains("assert"))?;
    let cut_from = line_start(code, statements[last_check + 1].start_byte());
    let end = def.end_byte();
    let kept = code[..cut_from].trim_end_matches([' ', '\t', '\n', '\r']);
    let out = format!("{kept}{}", &code[end..]);
    (syntax_errors(Language::Python, &out) == 0).then_some(out)
}

/// The definition `n` (a decorated one's inner definition) when it is named `want`.
fn def_named<'t>(code: &str, n: Node<'t>, want: &str) -> Option<Node<'t>> {
    let def = if n.kind() == "decorated_definition" {
        n.child_by_field_name("definition")?
    } else {
        n
    };
    let name = def.child_by_field_name("name")?;
    (&code[name.byte_range()] == want).then_some(def)
}

/// Python test code without the tests named in `names` (`test_f`, or `TestC.test_m` for a
/// method), each with its decorators; blank lines left behind are tidied.
pub(crate) fn without_python_tests(code: &str, names: &[&str]) -> String {
    let Some(tree) = nib_syntax::parse(Language::Python, code) else {
        return code.to_string();
    };
    let name_of = |n: Node| -> Option<String> {
        let def = if n.kind() == "decorated_definition" {
            n.child_by_field_name("definition")?
        } else {
            n
        };
        (def.kind() == "function_definition")
            .then(|| def.child_by_field_name("name"))
            .flatten()
            .map(|name| code[name.byte_range()].to_string())
    };
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let root = tree.root_node();
    let mut c = root.walk();
    for n in root.children(&mut c) {
        let def = if n.kind() == "decorated_definition" {
            n.child_by_field_name("definition").unwrap_or(n)
        } else {
            n
        };
        if def.kind() == "class_definition" {
            let class = def
                .child_by_field_name("name")
                .map_or("", |name| &code[name.byte_range()]);
            let Some(body) = def.child_by_field_name("body") else {
                continue;
            };
            let mut bc = body.walk();
            for m in body.children(&mut bc) {
                if name_of(m).is_some_and(|m| names.contains(&format!("{class}.{m}").as_str())) {
                    cut.push((line_start(code, m.start_byte()), m.end_byte()));
                }
            }
        } else if name_of(n).is_some_and(|f| names.contains(&f.as_str())) {
            cut.push((line_start(code, n.start_byte()), n.end_byte()));
        }
    }
    removed(code, &cut)
}

/// `code` without the byte ranges `cut` (in order, not overlapping), with no more than two
/// blank lines in a row.
fn removed(code: &str, cut: &[(usize, usize)]) -> String {
    let mut out = String::new();
    let mut from = 0;
    for &(a, b) in cut {
        out.push_str(&code[from..a]);
        from = b;
    }
    out.push_str(&code[from..]);
    let mut tidy = String::new();
    let mut blank = 0;
    for l in out.trim().lines() {
        blank = if l.trim().is_empty() { blank + 1 } else { 0 };
        if blank <= 2 {
            tidy.push_str(l);
            tidy.push('\n');
        }
    }
    tidy.trim_end().to_string()
}

fn line_start(code: &str, at: usize) -> usize {
    code[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// `code` (Rust test functions) without the functions named in `names`, each with the
/// attributes and comments right above it.
pub(crate) fn without_rust_tests(code: &str, names: &[&str]) -> String {
    let cut: Vec<(usize, usize)> = rust_functions(code)
        .into_iter()
        .filter(|(name, _)| names.contains(&name.as_str()))
        .map(|(_, r)| {
            // With the blank lines after it (the item before keeps its own).
            let rest = &code[r.end..];
            let blank = rest.len() - rest.trim_start().len();
            (
                r.start,
                r.end + rest[..blank].rfind('\n').map_or(0, |i| i + 1),
            )
        })
        .collect();
    removed(code, &cut)
}

/// The functions at the top level of `code` (Rust): each name, and its bytes from the start
/// of the line of the attributes and comments right above it.
pub(crate) fn rust_functions(code: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let Some(tree) = nib_syntax::parse(Language::Rust, code) else {
        return Vec::new();
    };
    let root = tree.root_node();
    let mut c = root.walk();
    let items: Vec<Node> = root.children(&mut c).collect();
    let mut out = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let Some(name) = n
            .child_by_field_name("name")
            .filter(|_| n.kind() == "function_item")
        else {
            continue;
        };
        let mut start = n.start_byte();
        for p in items[..i].iter().rev() {
            if !matches!(
                p.kind(),
                "attribute_item" | "line_comment" | "block_comment"
            ) {
                break;
            }
            start = p.start_byte();
        }
        out.push((
            code[name.byte_range()].to_string(),
            line_start(code, start)..n.end_byte(),
        ));
    }
    out
}

/// Where `tests` (Rust test functions) go in the Rust file `existing`, and the text put
/// there: into its `mod tests` when it has one, else in a new `#[cfg(test)] mod tests` at its
/// end.
pub(crate) fn rust_tests_insertion(existing: &str, tests: &str) -> (usize, String) {
    let body = reindent(tests, "    ");
    match rust_tests_module_end(existing) {
        Some(at) => (at, format!("\n{body}\n")),
        None => {
            let sep = if existing.is_empty() || existing.ends_with("\n\n") {
                ""
            } else if existing.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            (
                existing.len(),
                format!("{sep}#[cfg(test)]\nmod tests {{\n    use super::*;\n\n{body}\n}}\n"),
            )
        }
    }
}

/// The `mod tests` item at the top level of a Rust file.
fn tests_mod<'t>(root: Node<'t>, text: &str) -> Option<Node<'t>> {
    let mut c = root.walk();
    let found = root.children(&mut c).find(|n| {
        n.kind() == "mod_item"
            && n.child_by_field_name("name")
                .is_some_and(|name| &text[name.byte_range()] == "tests")
    });
    found
}

/// The text of the Rust file's `mod tests`, if it has one.
pub(crate) fn rust_tests_module(text: &str) -> Option<&str> {
    let tree = nib_syntax::parse(Language::Rust, text)?;
    let found = tests_mod(tree.root_node(), text)?;
    Some(&text[found.byte_range()])
}

/// Where new tests go in an existing Rust file: before the closing brace of its
/// `mod tests` (byte offset), if it has one.
pub(crate) fn rust_tests_module_end(text: &str) -> Option<usize> {
    let tree = nib_syntax::parse(Language::Rust, text)?;
    let found = tests_mod(tree.root_node(), text)?;
    let body = found.child_by_field_name("body")?;
    // The closing brace's line start.
    let close = body.end_byte().checked_sub(1)?;
    Some(text[..close].rfind('\n').map_or(close, |i| i + 1))
}

#[cfg(test)]
mod tests;
