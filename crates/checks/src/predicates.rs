//! Named predicates rule files can attach to a match, for what a query cannot express.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use nib_syntax::tree_sitter::Node;
use nib_syntax::Language;
use regex::Regex;

use crate::flow::{enclosing, rs_expand};
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
    /// A weak hash at `@sink` hashes a password, a signature or a token (by the names and
    /// strings of its statement, the hasher's updates and the enclosing function's name).
    WeakHashSecret,
    /// The path `@arg` (through local variables) is the shared temporary directory joined
    /// with a fixed or guessable name, and the call creates or writes the file (`@opts`:
    /// `OpenOptions` that write and do not `create_new`).
    PredictableTemp,
    /// The string `@arg` (through local variables) contains SQL.
    SqlText,
    /// `@arg` is a rustls verifier that accepts everything (named so, or defined in the file
    /// with a `verify_server_cert` that only asserts), installed unconditionally.
    AcceptAllVerifier,
    /// The function body `@body` only returns `Ok(ServerCertVerified::assertion())`.
    AcceptsAll,
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
            "weak_hash_secret" => Predicate::WeakHashSecret,
            "predictable_temp" => Predicate::PredictableTemp,
            "sql_text" => Predicate::SqlText,
            "accept_all_verifier" => Predicate::AcceptAllVerifier,
            "accepts_all" => Predicate::AcceptsAll,
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
            Predicate::WeakHashSecret => weak_hash_secret(ctx),
            Predicate::PredictableTemp => predictable_temp(ctx),
            Predicate::SqlText => ctx
                .captures
                .get("arg")
                .is_some_and(|a| re(&SQL_TEXT, SQL).is_match(&rs_expand(*a, ctx.src))),
            Predicate::AcceptAllVerifier => accept_all_verifier(ctx),
            Predicate::AcceptsAll => ctx
                .captures
                .get("body")
                .is_some_and(|b| only_asserts(ctx.text(*b))),
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
static SQL_TEXT: OnceLock<Regex> = OnceLock::new();
static TEMP_DIR: OnceLock<Regex> = OnceLock::new();
static RANDOM_NAME: OnceLock<Regex> = OnceLock::new();
static NAMED: OnceLock<Regex> = OnceLock::new();
static WRITES: OnceLock<Regex> = OnceLock::new();
static HASHER_INPUT: OnceLock<Regex> = OnceLock::new();
static INSECURE_VERIFIER: OnceLock<Regex> = OnceLock::new();
static ASSERT_ONLY: OnceLock<Regex> = OnceLock::new();

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
    // A PEM header alone (a marker to search for, a regex) holds no key.
    let bare_header = literal
        .trim()
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("PRIVATE KEY-----"))
        .is_some_and(|kind| kind.chars().all(|c| c.is_ascii_uppercase() || c == ' '));
    if secrets::known_token_format(&literal) && !bare_header {
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

/// SQL statements (in any case) as they start or continue in a query string.
const SQL: &str = r#"(?i)"[^"]*\b(?:select\s[^"]*\bfrom\b|select\s+(?:\*|count\()|insert\s+(?:or\s+\w+\s+)?into\b|update\s+\w+\s+set\b|delete\s+from\b|(?:create|drop)\s+(?:temp\w*\s+)?(?:table|index|view|database|schema|trigger)\b|alter\s+table\b|truncate\s+|pragma\s|where\s|order\s+by\b|values\s*\()"#;

/// Words (identifier parts and string words) that say a hash protects a secret or proves
/// authenticity: `password_hash`, `signRequest`, `"token"`.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pw",
    "pass",
    "passphrase",
    "secret",
    "secrets",
    "signature",
    "signatures",
    "sig",
    "sign",
    "signed",
    "signing",
    "signer",
    "token",
    "tokens",
    "auth",
    "authenticate",
    "authentication",
    "credential",
    "credentials",
    "apikey",
];

/// Lower-case words of `text`: identifiers split at `_` and at camelCase humps.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .flat_map(|token| {
            let mut parts = Vec::new();
            let mut cur = String::new();
            let mut prev_lower = false;
            for c in token.chars() {
                if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
                cur.push(c.to_ascii_lowercase());
            }
            parts.push(cur);
            parts
        })
}

fn mentions_secret(text: &str) -> bool {
    words(text).any(|w| SECRET_WORDS.contains(&w.as_str()))
}

fn weak_hash_secret(ctx: &MatchCtx<'_, '_>) -> bool {
    // The statement the call is part of: its bound name, the data hashed, chained calls.
    let mut stmt = ctx.sink;
    while let Some(p) = stmt.parent() {
        if matches!(
            p.kind(),
            "block" | "function_item" | "source_file" | "closure_expression"
        ) {
            break;
        }
        stmt = p;
        if matches!(
            p.kind(),
            "let_declaration" | "expression_statement" | "field_initializer"
        ) {
            break;
        }
    }
    let mut context = ctx.text(stmt).to_string();
    // `let mut h = Sha1::new(); h.update(secret)`: what goes into the hasher.
    let bound = stmt
        .child_by_field_name("pattern")
        .filter(|_| stmt.kind() == "let_declaration")
        .map(|p| ctx.text(p).trim_start_matches("mut ").trim());
    if let Some(name) = bound {
        let scope = ctx.text(ctx.scope());
        let input = re(
            &HASHER_INPUT,
            r"(\w+)\s*\.\s*(?:update|input|chain_update|chain|consume|write_all|write)\s*\(([^;]*)",
        );
        for cap in input.captures_iter(scope) {
            if &cap[1] == name {
                context.push('\n');
                context.push_str(&cap[2]);
            }
        }
    }
    if let Some(name) = ctx.scope_name() {
        context.push('\n');
        context.push_str(name);
    }
    mentions_secret(&context)
}

fn predictable_temp(ctx: &MatchCtx<'_, '_>) -> bool {
    let Some(arg) = ctx.captures.get("arg").copied() else {
        return false;
    };
    if let Some(opts) = ctx.captures.get("opts").copied() {
        let o = rs_expand(opts, ctx.src);
        let writes = re(
            &WRITES,
            r"\.\s*(?:write|append|create|truncate)\s*\(\s*true\s*\)",
        );
        let options = o.contains("OpenOptions") || o.contains("options()");
        if !options || !writes.is_match(&o) || o.contains("create_new(true)") {
            return false;
        }
    }
    let path = rs_expand(arg, ctx.src);
    let temp = re(
        &TEMP_DIR,
        r#"temp_dir\(\)|"(?:/var)?/tmp(?:/|")|"/dev/shm/"#,
    );
    let random = re(
        &RANDOM_NAME,
        r"(?i)tempfile|\btempdir\(|TempDir|uuid|\brand(?:om)?\b|rand::|thread_rng|OsRng|getrandom|nonce|mkstemp|mkdtemp",
    );
    // The temporary directory itself (`create_dir_all(env::temp_dir())`) is not a file name.
    let named = re(&NAMED, r#"\.\s*(?:join|push)\s*\(|format!|/tmp/[^"\s]"#);
    temp.is_match(&path) && named.is_match(&path) && !random.is_match(&path)
}

/// `{ Ok(ServerCertVerified::assertion()) }`, comments and `let _ = ..;` aside.
fn only_asserts(body: &str) -> bool {
    let code: String = body
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    re(
        &ASSERT_ONLY,
        r"^\{(?:let_\w*=[^;]*;)*Ok\((?:[\w:]+::)?ServerCertVerified::assertion\(\)\)\}$",
    )
    .is_match(&code)
}

fn accept_all_verifier(ctx: &MatchCtx<'_, '_>) -> bool {
    let Some(arg) = ctx.captures.get("arg").copied() else {
        return false;
    };
    // `if insecure { ..set_certificate_verifier(..) }`: an opt-in, like verify=flag.
    let mut cur = ctx.sink.parent();
    while let Some(n) = cur {
        match n.kind() {
            "if_expression" | "match_arm" => return false,
            "function_item" => break,
            _ => cur = n.parent(),
        }
    }
    let value = rs_expand(arg, ctx.src);
    let named = re(
        &INSECURE_VERIFIER,
        r"(?i)no_?(?:cert(?:ificate)?_?)?verif|no_?cert|insecure|accept_?(?:all|any|invalid|everything)|danger|skip_?(?:server_?)?(?:cert_?)?verif|trust_?(?:all|any)|allow_?(?:all|any)|(?:dummy|noop|null|fake|yes)_?verif|permissive",
    );
    if named.is_match(&value) {
        return true;
    }
    // A verifier type defined in this file whose `verify_server_cert` only asserts.
    accept_all_types(ctx)
        .iter()
        .any(|ty| words_contain(&value, ty))
}

/// Types of the file with an `impl ServerCertVerifier` whose `verify_server_cert` only asserts.
fn accept_all_types<'a>(ctx: &MatchCtx<'a, '_>) -> Vec<&'a str> {
    let mut root = ctx.sink;
    while let Some(p) = root.parent() {
        root = p;
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.kind() == "impl_item" {
            let verifier = n
                .child_by_field_name("trait")
                .is_some_and(|t| ctx.text(t).ends_with("ServerCertVerifier"));
            let accepts = verifier
                && n.child_by_field_name("body").is_some_and(|body| {
                    let mut c = body.walk();
                    let fns: Vec<_> = body.named_children(&mut c).collect();
                    fns.into_iter().any(|f| {
                        f.kind() == "function_item"
                            && f.child_by_field_name("name")
                                .is_some_and(|name| ctx.text(name) == "verify_server_cert")
                            && f.child_by_field_name("body")
                                .is_some_and(|b| only_asserts(ctx.text(b)))
                    })
                });
            if let (true, Some(ty)) = (accepts, n.child_by_field_name("type")) {
                out.push(ctx.text(ty));
            }
            continue;
        }
        let mut c = n.walk();
        stack.extend(n.named_children(&mut c));
    }
    out
}

fn words_contain(text: &str, ident: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|w| w == ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_words_are_whole_words() {
        assert!(mentions_secret("hash_password"));
        assert!(mentions_secret("signRequest"));
        assert!(mentions_secret("let sig = x"));
        assert!(mentions_secret("API_TOKEN"));
        assert!(!mentions_secret("design_name"));
        assert!(!mentions_secret("assign_slot"));
        assert!(!mentions_secret("authority"));
        assert!(!mentions_secret("etag(body)"));
        assert!(!mentions_secret("bypass_cache"));
    }

    #[test]
    fn accept_all_bodies() {
        assert!(only_asserts(
            "{\n    Ok(ServerCertVerified::assertion())\n}"
        ));
        assert!(only_asserts(
            "{ // trust everything\n Ok(rustls::client::danger::ServerCertVerified::assertion()) }"
        ));
        assert!(!only_asserts(
            "{ if pinned(e) { Ok(ServerCertVerified::assertion()) } else { Err(bad()) } }"
        ));
    }
}
