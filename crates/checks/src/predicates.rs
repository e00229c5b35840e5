//! Named predicates rule files can attach to a match, for what a query cannot express.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use nib_syntax::tree_sitter::Node;
use nib_syntax::Language;
use regex::Regex;

use crate::flow::enclosing;
use crate::secrets;

pub(crate) struct MatchCtx<'a, 't> {
    pub lang: Language,
    pub src: &'a str,
    pub sink: Node<'t>,
    /// First node of each capture, by capture name.
    pub captures: BTreeMap<&'a str, Node<'t>>,
}

impl<'a, 't> MatchCtx<'a, 't> {
    fn text(&self, node: Node<'_>) -> &'a str {
        self.src.get(node.byte_range()).unwrap_or("")
    }
    fn capture_text(&self, name: &str) -> Option<&'a str> {
        self.captures.get(name).map(|n| self.text(*n))
    }
    /// The enclosing function (or the whole tree), to look for checks around the sink.
    fn scope(&self) -> Node<'t> {
        let kinds: &[&str] = match self.lang {
            Language::Python => &["function_definition"],
            Language::Rust => &["function_item"],
        };
        enclosing(self.sink, kinds).unwrap_or_else(|| {
            let mut r = self.sink;
            while let Some(p) = r.parent() {
                r = p;
            }
            r
        })
    }
    fn scope_name(&self) -> Option<&'a str> {
        let kinds: &[&str] = match self.lang {
            Language::Python => &["function_definition"],
            Language::Rust => &["function_item"],
        };
        let f = enclosing(self.sink, kinds)?;
        f.child_by_field_name("name").map(|n| self.text(n))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predicate {
    /// `yaml.load` without a safe `Loader`.
    YamlUnsafeLoader,
    /// `@name` / `@value` look like a hard-coded credential, or `@value` is a known token format.
    Secret,
    /// A weak hash (`@fn`, `@args`) applied to something password-like.
    PasswordHash,
    /// The `random` call at `@sink` produces a token, password, key, ...
    RandomSecret,
    /// `jinja2.Environment(@args)` without autoescaping.
    JinjaNoAutoescape,
    /// No containment check (`startswith`, `is_relative_to`, ...) in the enclosing function.
    PathUnchecked,
    /// `@base / ...` is a path (by its name, or a name bound to `Path(...)`), unchecked.
    PathOperandUnchecked,
    /// The enclosing function runs a shell with `-c`.
    RustShell,
    /// The module of `@fn` is not bound to `defusedxml` by an import.
    NotDefused,
}

impl Predicate {
    pub(crate) fn from_name(name: &str) -> Option<Predicate> {
        Some(match name {
            "yaml_unsafe_loader" => Predicate::YamlUnsafeLoader,
            "secret" => Predicate::Secret,
            "password_hash" => Predicate::PasswordHash,
            "random_secret" => Predicate::RandomSecret,
            "jinja_no_autoescape" => Predicate::JinjaNoAutoescape,
            "path_unchecked" => Predicate::PathUnchecked,
            "path_operand_unchecked" => Predicate::PathOperandUnchecked,
            "rust_shell" => Predicate::RustShell,
            "not_defused" => Predicate::NotDefused,
            _ => return None,
        })
    }

    pub(crate) fn holds(self, ctx: &MatchCtx<'_, '_>) -> bool {
        match self {
            Predicate::YamlUnsafeLoader => yaml_unsafe(ctx),
            Predicate::Secret => secret(ctx),
            Predicate::PasswordHash => password_hash(ctx),
            Predicate::RandomSecret => random_secret(ctx),
            Predicate::JinjaNoAutoescape => jinja_no_autoescape(ctx),
            Predicate::PathUnchecked => path_unchecked(ctx),
            Predicate::PathOperandUnchecked => path_operand(ctx) && path_unchecked(ctx),
            Predicate::NotDefused => {
                let func = ctx.capture_text("fn").unwrap_or("");
                let root = func.split('.').next().unwrap_or(func);
                !ctx.src.lines().any(|l| {
                    l.contains("defusedxml")
                        && l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .any(|w| w == root)
                })
            }
            Predicate::RustShell => rust_shell(ctx),
        }
    }
}

fn path_unchecked(ctx: &MatchCtx<'_, '_>) -> bool {
    !re(&PATH_CHECK, r#"startswith|is_relative_to|commonpath|commonprefix|secure_filename|safe_join|['"]\.\.['"]\s+in\b|starts_with\(|ParentDir|components\(\)|contains\("\.\."\)|sanitize_filename"#)
        .is_match(ctx.text(ctx.scope()))
}

/// The left operand of `/` is a path: named like one (`base_dir`, `Path(...)`), or a name
/// assigned a `Path(...)` / `Path.home()` somewhere in the file.
fn path_operand(ctx: &MatchCtx<'_, '_>) -> bool {
    let Some(base) = ctx.captures.get("base").copied() else {
        return false;
    };
    let text = ctx.text(base);
    let named = re(
        &PATH_NAME,
        r"(?i)(^Path\(|^PurePath\(|^PosixPath\(|dir|path|root|base|folder|home|upload)",
    );
    if named.is_match(text) {
        return true;
    }
    if base.kind() != "identifier" {
        return false;
    }
    let bound = Regex::new(&format!(
        r"(?m)^\s*{}\s*(?::[^=\n]+)?=\s*(?:pathlib\.)?(?:Pure|Posix|Windows)?Path\b",
        regex::escape(text)
    ));
    bound.is_ok_and(|b| b.is_match(ctx.src))
}

const SHELLS: &str =
    r#"Command::new\(\s*"(?:/usr)?(?:/bin/)?(?:sh|bash|zsh|dash|cmd|cmd\.exe|powershell|pwsh)""#;
const SHELL_FLAG: &str = r#""(?:-c|/C|/c|-Command)""#;

/// The `.arg(..)` / `.args(..)` call around `@sink` (its arguments) belongs to a
/// `Command::new(<shell>)` that gets a `-c` flag: directly in the chain, or through a
/// `let cmd = Command::new(<shell>)` binding in the same function.
fn rust_shell(ctx: &MatchCtx<'_, '_>) -> bool {
    let Some(call) = ctx.sink.parent() else {
        return false;
    };
    let chain = ctx.text(call);
    let shell = re(&RUST_SHELL, SHELLS);
    let flag = re(&RUST_SHELL_FLAG, SHELL_FLAG);
    let mut recv = call
        .child_by_field_name("function")
        .and_then(|f| f.child_by_field_name("value"));
    while let Some(r) = recv {
        match r.kind() {
            "call_expression" => match r.child_by_field_name("function") {
                Some(f) if f.kind() == "field_expression" => recv = f.child_by_field_name("value"),
                _ => return shell.is_match(ctx.text(r)) && flag.is_match(chain),
            },
            "reference_expression" | "parenthesized_expression" => {
                recv = r.named_child(r.named_child_count().saturating_sub(1))
            }
            "identifier" => {
                let name = regex::escape(ctx.text(r));
                let scope = ctx.text(ctx.scope());
                let bound = Regex::new(&format!(r"let\s+(?:mut\s+)?{name}\s*=\s*{SHELLS}"));
                return bound.is_ok_and(|b| b.is_match(scope)) && flag.is_match(scope);
            }
            _ => return false,
        }
    }
    false
}

static PATH_CHECK: OnceLock<Regex> = OnceLock::new();
static PATH_NAME: OnceLock<Regex> = OnceLock::new();
static RUST_SHELL: OnceLock<Regex> = OnceLock::new();
static RUST_SHELL_FLAG: OnceLock<Regex> = OnceLock::new();
static PASSWORDISH: OnceLock<Regex> = OnceLock::new();
static SECRET_USE: OnceLock<Regex> = OnceLock::new();
static SAFE_LOADER: OnceLock<Regex> = OnceLock::new();

pub(crate) fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("built-in regex compiles"))
}

fn keyword_value<'t>(ctx: &MatchCtx<'_, 't>, args: Node<'t>, name: &str) -> Option<Node<'t>> {
    let mut cursor = args.walk();
    let found = args.named_children(&mut cursor).find(|c| {
        c.kind() == "keyword_argument"
            && c.child_by_field_name("name")
                .is_some_and(|n| ctx.text(n) == name)
    });
    found.and_then(|c| c.child_by_field_name("value"))
}

fn positional<'t>(args: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = args.walk();
    args.named_children(&mut cursor)
        .filter(|c| !matches!(c.kind(), "keyword_argument" | "comment"))
        .collect()
}

fn yaml_unsafe(ctx: &MatchCtx<'_, '_>) -> bool {
    let func = ctx.capture_text("fn").unwrap_or("");
    if func != "load" && func != "load_all" {
        return true;
    }
    let Some(args) = ctx.captures.get("args").copied() else {
        return true;
    };
    let loader = keyword_value(ctx, args, "Loader").or_else(|| positional(args).get(1).copied());
    let safe = re(&SAFE_LOADER, r"(?:^|\.)(?:Safe|CSafe|Base)Loader$");
    !loader.is_some_and(|l| safe.is_match(ctx.text(l)))
}

fn secret(ctx: &MatchCtx<'_, '_>) -> bool {
    let Some(value) = ctx.captures.get("value").copied() else {
        return false;
    };
    let Some(literal) = secrets::literal_of(ctx.lang, value, ctx.src) else {
        return false;
    };
    if secrets::known_token_format(&literal) {
        return true;
    }
    match ctx.capture_text("name") {
        Some(name) => secrets::secret_name(name) && secrets::plausible_secret(name, &literal),
        None => false,
    }
}

fn passwordish() -> &'static Regex {
    re(
        &PASSWORDISH,
        r"(?i)pass(?:wd|word|phrase)?|pwd|\bpw\b|credential",
    )
}

fn password_hash(ctx: &MatchCtx<'_, '_>) -> bool {
    let func = ctx.capture_text("fn").unwrap_or("");
    let Some(args) = ctx.captures.get("args").copied() else {
        return false;
    };
    if ctx.text(args).contains("usedforsecurity=False") {
        return false;
    }
    let pos = positional(args);
    if func.ends_with("new") {
        let algo = pos.first().map(|a| {
            ctx.text(*a)
                .trim_matches(|c| c == '"' || c == '\'')
                .to_ascii_lowercase()
        });
        if !matches!(algo.as_deref(), Some("md5" | "sha1" | "md4" | "sha")) {
            return false;
        }
    }
    let data = if func.ends_with("new") {
        pos.get(1).copied()
    } else {
        pos.first().copied()
    };
    if let Some(d) = data {
        return passwordish().is_match(ctx.text(d));
    }
    // `h = hashlib.md5(); h.update(password)`: look at the function around it.
    ctx.scope_name().is_some_and(|n| passwordish().is_match(n))
        || re(&SECRET_USE, r"(?i)\.update\([^)]*(?:pass|pwd)").is_match(ctx.text(ctx.scope()))
}

fn random_secret(ctx: &MatchCtx<'_, '_>) -> bool {
    let secretish = |s: &str| secrets::secret_purpose(s);
    let mut cur = ctx.sink.parent();
    while let Some(n) = cur {
        match n.kind() {
            "assignment" | "augmented_assignment" => {
                let Some(left) = n.child_by_field_name("left") else {
                    break;
                };
                let name = ctx.text(left);
                if secretish(name) {
                    return true;
                }
                // `value = ...; return value` in `def generate_token()`.
                let returned = format!("return {name}");
                return ctx.scope_name().is_some_and(secrets::secret_function_name)
                    && ctx.text(ctx.scope()).lines().any(|l| l.trim() == returned);
            }
            "keyword_argument" | "pair" => {
                let field = if n.kind() == "pair" { "key" } else { "name" };
                let named_secret = n
                    .child_by_field_name(field)
                    .is_some_and(|l| secretish(ctx.text(l)));
                if named_secret {
                    return true;
                }
            }
            // A function called like a secret generator returning the value.
            "return_statement" => {
                return ctx.scope_name().is_some_and(secrets::secret_function_name)
            }
            "expression_statement"
            | "function_definition"
            | "if_statement"
            | "while_statement"
            | "for_statement" => break,
            _ => {}
        }
        cur = n.parent();
    }
    false
}

fn jinja_no_autoescape(ctx: &MatchCtx<'_, '_>) -> bool {
    let func = ctx.capture_text("fn").unwrap_or("");
    if !func.starts_with("jinja2.") && !ctx.src.contains("jinja2") {
        return false;
    }
    let Some(args) = ctx.captures.get("args").copied() else {
        return false;
    };
    match keyword_value(ctx, args, "autoescape") {
        None => true,
        Some(v) => matches!(ctx.text(v), "False" | "None"),
    }
}
