//! Redaction: secrets in text bound for a remote model are replaced by placeholders, and the
//! placeholders an answer quotes are mapped back.
//!
//! The detection is the safety gate's (`secrets.rs`: token formats, secret names, plausible
//! values, random-looking strings) applied to raw text of any kind (code, `.env`, YAML, JSON,
//! shell), so it needs no parse. What is redacted:
//! - tokens of known formats (AWS, GitHub, GitLab, Slack, OpenAI, Anthropic, Google, Stripe,
//!   npm, PyPI, Hugging Face, SendGrid, JWTs), anywhere;
//! - the body of PEM private keys (the BEGIN / END lines stay);
//! - values assigned to secret names (`password = "..."`, `"api_key": "..."`,
//!   `DB_PASSWORD=...`, `token: ...`, `("API_KEY", "...")`, `--password=...`);
//! - passwords in connection strings (`scheme://user:PASSWORD@host`);
//! - `Authorization` credentials (`Bearer ...`, `Basic ...`);
//! - random-looking string literals, whatever they are called.
//!
//! Placeholders are identifiers (`NIB_REDACTED_1`, ...), valid in code, in strings and in
//! URLs; one secret gets one placeholder however often it occurs, across all the texts one
//! [`Redactor`] sees.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use regex::Regex;

use crate::predicates::re;
use crate::secrets::{
    known_tokens, plausible_secret, random_token, secret_name, shannon_entropy, PRIVATE_KEY_HEADER,
};

/// What a redacted secret was found as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A token of a known format.
    Token,
    /// The body of a PEM private key.
    PrivateKey,
    /// A value assigned to a secret name, quoted or not (`.env`, YAML, code).
    Assignment,
    /// The password of a `scheme://user:password@host` URL.
    ConnectionString,
    /// A `Bearer` / `Basic` credential.
    AuthHeader,
    /// A random-looking string literal.
    HighEntropy,
}

/// One placeholder and the secret it stands for.
#[derive(Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub placeholder: String,
    pub original: String,
    pub kind: SecretKind,
}

impl std::fmt::Debug for Placeholder {
    // Never the secret: these end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placeholder")
            .field("placeholder", &self.placeholder)
            .field("kind", &self.kind)
            .field("original_len", &self.original.len())
            .finish()
    }
}

/// One text with its secrets replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    /// One per distinct secret, in order of first occurrence.
    pub placeholders: Vec<Placeholder>,
    /// Occurrences replaced (a secret found twice counts twice).
    pub count: usize,
}

impl Redacted {
    /// `answer` with the placeholders it quotes replaced by their secrets.
    pub fn restore(&self, answer: &str) -> String {
        restore(&self.placeholders, answer)
    }
}

/// Redact one text (see [`Redactor`] for several texts sharing placeholders).
pub fn redact(text: &str) -> Redacted {
    let mut r = Redactor::new();
    let text = r.redact(text);
    Redacted {
        text,
        count: r.count,
        placeholders: r.placeholders,
    }
}

/// Redacts several texts (the messages of one request) with one set of placeholders.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    placeholders: Vec<Placeholder>,
    index: HashMap<String, usize>,
    count: usize,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// `text` with its secrets replaced by placeholders.
    pub fn redact(&mut self, text: &str) -> String {
        let spans = find_secrets(text);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (range, kind) in spans {
            out.push_str(&text[at..range.start]);
            let original = &text[range.clone()];
            let i = match self.index.get(original) {
                Some(&i) => i,
                None => {
                    let i = self.placeholders.len();
                    self.placeholders.push(Placeholder {
                        placeholder: format!("{PREFIX}{}", i + 1),
                        original: original.to_string(),
                        kind,
                    });
                    self.index.insert(original.to_string(), i);
                    i
                }
            };
            out.push_str(&self.placeholders[i].placeholder);
            self.count += 1;
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Occurrences replaced so far.
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn placeholders(&self) -> &[Placeholder] {
        &self.placeholders
    }

    /// `answer` with the placeholders it quotes replaced by their secrets.
    pub fn restore(&self, answer: &str) -> String {
        restore(&self.placeholders, answer)
    }
}

const PREFIX: &str = "NIB_REDACTED_";

static PLACEHOLDER_REF: OnceLock<Regex> = OnceLock::new();
static PEM_END: OnceLock<Regex> = OnceLock::new();
static PEM_BEGIN: OnceLock<Regex> = OnceLock::new();
static PEM_RUN: OnceLock<Regex> = OnceLock::new();
static QUOTED_ASSIGN: OnceLock<Regex> = OnceLock::new();
static QUOTED_PAIR: OnceLock<Regex> = OnceLock::new();
static ENV_LINE: OnceLock<Regex> = OnceLock::new();
static YAML_LINE: OnceLock<Regex> = OnceLock::new();
static FLAG: OnceLock<Regex> = OnceLock::new();
static URL_PASSWORD: OnceLock<Regex> = OnceLock::new();
static AUTH: OnceLock<Regex> = OnceLock::new();
static STRING: OnceLock<Regex> = OnceLock::new();
static DOTTED: OnceLock<Regex> = OnceLock::new();

fn restore(placeholders: &[Placeholder], answer: &str) -> String {
    re(&PLACEHOLDER_REF, r"NIB_REDACTED_([0-9]+)\b")
        .replace_all(answer, |c: &regex::Captures<'_>| {
            c[1].parse::<usize>()
                .ok()
                .and_then(|n| placeholders.get(n.checked_sub(1)?))
                .map_or_else(|| c[0].to_string(), |p| p.original.clone())
        })
        .into_owned()
}

/// A quoted literal: `"..."`, `'...'` or `` `...` `` on one line, escapes allowed. The
/// content is group `d`, `s` or `b`.
const QUOTED: &str =
    r#"(?:"(?P<d>(?:[^"\\\n]|\\.)*)"|'(?P<s>(?:[^'\\\n]|\\.)*)'|`(?P<b>[^`\n]*)`)"#;

fn quoted_value<'t>(c: &regex::Captures<'t>) -> Option<regex::Match<'t>> {
    c.name("d").or_else(|| c.name("s")).or_else(|| c.name("b"))
}

/// The secrets of `text`: sorted, not overlapping.
fn find_secrets(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    let mut found: Vec<(Range<usize>, SecretKind)> = Vec::new();
    private_keys(text, &mut found);
    found.extend(known_tokens(text).map(|r| (r, SecretKind::Token)));
    assignments(text, &mut found);
    for c in re(
        &URL_PASSWORD,
        r#"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'"`]*:(?P<p>[^\s@/'"`]+)@[^\s/'"`@]+"#,
    )
    .captures_iter(text)
    {
        let p = c.name("p").expect("group p");
        if plausible_secret("password", p.as_str()) {
            found.push((p.range(), SecretKind::ConnectionString));
        }
    }
    for c in re(
        &AUTH,
        r"\b(?:[Bb]earer|BEARER|[Bb]asic|BASIC)[ \t]+(?P<v>[A-Za-z0-9._~+/\-]{16,}=*)",
    )
    .captures_iter(text)
    {
        let v = c.name("v").expect("group v");
        let s = v.as_str();
        if s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_alphabetic())
            && shannon_entropy(s) >= 3.0
        {
            found.push((v.range(), SecretKind::AuthHeader));
        }
    }
    for c in re(&STRING, QUOTED).captures_iter(text) {
        if let Some(v) = quoted_value(&c) {
            if random_token(v.as_str()) {
                found.push((v.range(), SecretKind::HighEntropy));
            }
        }
    }
    // Earlier first; of two starting together, the longer; then drop what overlaps.
    found.sort_by(|a, b| a.0.start.cmp(&b.0.start).then(b.0.end.cmp(&a.0.end)));
    let mut out: Vec<(Range<usize>, SecretKind)> = Vec::with_capacity(found.len());
    for (range, kind) in found {
        if range.is_empty() || out.last().is_some_and(|(last, _)| range.start < last.end) {
            continue;
        }
        out.push((range, kind));
    }
    out
}

/// The bodies of PEM private keys: up to the END line, or, when the text stops before it, as
/// far as the key's characters go. Inside string literals spread over several lines of code
/// (quotes, `\n` escapes), each run of key characters is redacted on its own so that the
/// code around stays intact.
fn private_keys(text: &str, found: &mut Vec<(Range<usize>, SecretKind)>) {
    let begin = re(&PEM_BEGIN, PRIVATE_KEY_HEADER);
    let end = re(
        &PEM_END,
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    );
    let run = re(&PEM_RUN, r"(?:\\[nrt])?(?P<k>[A-Za-z0-9+/=]{8,})");
    for m in begin.find_iter(text) {
        let rest = &text[m.end()..];
        let body_len = match end.find(&rest[..floor_char_boundary(rest, MAX_KEY_BYTES)]) {
            Some(e) => e.start(),
            None => rest
                .find(|c: char| {
                    !(c.is_ascii_alphanumeric() || "+/=\\\"',: \t\r\n".contains(c) || c == '-')
                })
                .unwrap_or(rest.len()),
        };
        let body = &rest[..body_len];
        let lead = body.len() - body.trim_start_matches(['\r', '\n', ' ', '\t']).len();
        let trimmed = body.trim_matches(['\r', '\n', ' ', '\t']);
        // Key material, not a header quoted in code (`r"-----BEGIN PRIVATE KEY-----"`).
        let key_chars = trimmed
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
            .count();
        let other = trimmed.bytes().filter(|b| !b.is_ascii_whitespace()).count() - key_chars;
        if key_chars < 16 || other * 4 > key_chars {
            continue;
        }
        let start = m.end() + lead;
        let quoted = trimmed.contains(['"', '\'', '\\']);
        if !quoted {
            // Headers such as `Proc-Type:` stay with the body: they are part of the key.
            found.push((start..start + trimmed.len(), SecretKind::PrivateKey));
            continue;
        }
        for c in run.captures_iter(trimmed) {
            let k = c.name("k").expect("group k");
            found.push((start + k.start()..start + k.end(), SecretKind::PrivateKey));
        }
    }
}

/// The longest a PEM private key's body is looked for (an RSA 8192 key is under 7 KB).
const MAX_KEY_BYTES: usize = 16 << 10;

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Values assigned to secret names, quoted and not.
fn assignments(text: &str, found: &mut Vec<(Range<usize>, SecretKind)>) {
    let push = |name: &str, value: regex::Match<'_>, found: &mut Vec<_>| {
        if secret_name(name) && plausible_secret(name, value.as_str()) {
            found.push((value.range(), SecretKind::Assignment));
        }
    };
    // `name = "v"`, `"name": "v"`, `name: &str = "v"`, `name == "v"`, `name => "v"`,
    // `name := "v"`, `name = Some("v")`, `os.environ["NAME"] = "v"` (not `name = f("v")`:
    // a call's argument is more often a lookup key than the value).
    let quoted_assign = re(
        &QUOTED_ASSIGN,
        &format!(
            r#"(?P<n>[A-Za-z_][\w.\-]*)["'\]]{{0,2}}[ \t]*(?::[ \t]*&?(?:'static[ \t]+)?[\w:<>]+[ \t]*)?(?::=|=>|==|=|:)[ \t]*(?:(?:Some|String::from|String|SecretString|SecretStr|Secret|str|bytes)\([ \t]*)?(?:[rRbBuU]{{1,2}})?{QUOTED}"#
        ),
    );
    for c in quoted_assign.captures_iter(text) {
        if let Some(v) = quoted_value(&c) {
            push(&c["n"], v, found);
        }
    }
    // `("NAME", "v")`, a call's only two arguments: setdefault, getenv with a default, a
    // (name, value) pair (not two neighbours in a list of names).
    let pair = re(
        &QUOTED_PAIR,
        &format!(r#"\([ \t]*["'](?P<n>[A-Za-z_][\w.\-]*)["'][ \t]*,[ \t]*{QUOTED}[ \t]*\)"#),
    );
    for c in pair.captures_iter(text) {
        if let Some(v) = quoted_value(&c) {
            push(&c["n"], v, found);
        }
    }
    // `NAME=v` (.env, shell, ini): the value runs to the end of the line or a comment.
    let env = re(
        &ENV_LINE,
        r#"(?m)^[ \t]*(?:export[ \t]+)?(?P<n>[A-Za-z_][\w.\-]*)(?P<sp>[ \t]*)=[ \t]*(?P<v>[^\s"'`][^\s]*?)[ \t]*(?:[ \t]#.*)?\r?$"#,
    );
    for c in env.captures_iter(text) {
        let (name, v) = (&c["n"], c.name("v").expect("group v"));
        // `NAME=v` with no blanks is an environment file's line: any character goes.
        let env_style = c["sp"].is_empty() && !name.chars().any(|ch| ch.is_ascii_lowercase());
        if env_style || !code_reference(v.as_str()) {
            push(name, v, found);
        }
    }
    // `name: v` (YAML): a value with a digit or a symbol (not a type annotation).
    let yaml = re(
        &YAML_LINE,
        r#"(?m)^[ \t]*(?:-[ \t]+)?(?P<n>[A-Za-z_][\w.\-]*)[ \t]*:[ \t]+(?P<v>[^\s"'`#|>&*!{\[][^\s]*?)[ \t]*(?:[ \t]#.*)?\r?$"#,
    );
    for c in yaml.captures_iter(text) {
        let v = c.name("v").expect("group v");
        let s = v.as_str();
        if s.bytes().any(|b| !b.is_ascii_alphabetic()) && !code_reference(s) {
            push(&c["n"], v, found);
        }
    }
    // `--password=v`, `--api-key v`.
    let flag = re(
        &FLAG,
        r#"(?:^|[\s"'])--?(?P<n>[A-Za-z][\w\-]*)(?:=|[ \t]+)(?P<v>[^\s"'`\-$][^\s"'`]*)"#,
    );
    for c in flag.captures_iter(text) {
        let name = c["n"].replace('-', "_");
        let v = c.name("v").expect("group v");
        if !code_reference(v.as_str()) {
            push(&name, v, found);
        }
    }
}

/// An unquoted value that is code (a variable, a call, a keyword), not a literal.
fn code_reference(v: &str) -> bool {
    v.ends_with([',', ';'])
        || v.contains(['(', ')', '[', ']', '{', '}', '<', '>'])
        || matches!(
            v,
            "None" | "null" | "nil" | "true" | "false" | "True" | "False" | "undefined" | "NULL"
        )
        || re(
            &DOTTED,
            r"^[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+$",
        )
        .is_match(v)
        || (v.contains('_') && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        || secret_name(v)
}

/// Paths never sent to a remote model, whatever the ignore files say: environment files
/// (`.env`, `.env.local`, `prod.env`: `env` as a whole dot-separated part of the name), keys
/// and certificates with keys (`*.pem`, `*.key`, `*.p12`, `*.pfx`, `*.jks`, `*.keystore`),
/// SSH keys (`id_rsa*`, `id_dsa*`, `id_ecdsa*`, `id_ed25519*`, anything under `.ssh/`),
/// `secrets.*`, and credential files (`.netrc`, `.pgpass`, `.pypirc`, `.npmrc`,
/// `.aws/credentials`). Pure string matching on `/` or `\` separated paths, case-insensitive.
pub fn is_denied_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let Some(name) = parts.last() else {
        return false;
    };
    let dirs = &parts[..parts.len() - 1];
    if dirs.contains(&".ssh") || (dirs.last() == Some(&".aws") && *name == "credentials") {
        return true;
    }
    let dotted: Vec<&str> = name.split('.').collect();
    if dotted.contains(&"env") {
        return true;
    }
    let ext = dotted.last().copied().unwrap_or_default();
    matches!(ext, "pem" | "key" | "p12" | "pfx" | "jks" | "keystore") && dotted.len() > 1
        || ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]
            .iter()
            .any(|k| name.starts_with(k))
        || name.starts_with("secrets.")
        || matches!(*name, ".netrc" | ".pgpass" | ".pypirc" | ".npmrc")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str) -> String {
        redact(text).text
    }

    #[test]
    fn assignments_in_several_languages() {
        assert_eq!(
            redacted("db_password = \"hunter2!x\"\n"),
            "db_password = \"NIB_REDACTED_1\"\n"
        );
        assert_eq!(
            redacted("{\"api_key\": \"k7Hq9xLmP2vR\"}"),
            "{\"api_key\": \"NIB_REDACTED_1\"}"
        );
        assert_eq!(
            redacted("const API_TOKEN: &str = \"t0k3n-value\";"),
            "const API_TOKEN: &str = \"NIB_REDACTED_1\";"
        );
        assert_eq!(
            redacted("DB_PASSWORD=p@ss(w0rd)\n"),
            "DB_PASSWORD=NIB_REDACTED_1\n"
        );
        assert_eq!(
            redacted("  password: s3cr3t-pw\n"),
            "  password: NIB_REDACTED_1\n"
        );
        assert_eq!(
            redacted("os.environ.setdefault(\"SECRET_KEY\", \"x9!kq2-lm\")"),
            "os.environ.setdefault(\"SECRET_KEY\", \"NIB_REDACTED_1\")"
        );
        assert_eq!(
            redacted("mysql -u root --password=Zq7-x9w2 db"),
            "mysql -u root --password=NIB_REDACTED_1 db"
        );
    }

    #[test]
    fn code_that_only_names_secrets_is_left_alone() {
        for clean in [
            "password = get_password()\n",
            "password = db_password\n",
            "token = self.token\n",
            "SECRET_KEY = os.environ[\"SECRET_KEY\"]\n",
            "password_field = \"password\"\n",
            "token_type = \"bearer\"\n",
            "api_key: Optional[str] = None\n",
            "    password: SecretStr\n",
            "let token = Token::new(kind, span);\n",
            "if token == \"(\":\n",
            "PASSWORD = \"changeme\"\n",
            "password = \"${DB_PASSWORD}\"\n",
            "url = \"postgres://user:{password}@localhost/db\"\n",
            "auth = \"Bearer \" + token\n",
            "digest = \"e3b0c44298fc1c14\"\n",
            "__all__ = [\"getpass\", \"getuser\", \"GetPassWarning\"]\n",
            "for name in (\"tokens\", \"symbol2label\", \"start\"):\n",
        ] {
            assert_eq!(redacted(clean), clean, "{clean}");
        }
    }

    #[test]
    fn connection_strings_and_headers() {
        assert_eq!(
            redacted("DATABASE_URL = \"postgres://app:Xk2-9qLw@db:5432/app\""),
            "DATABASE_URL = \"postgres://app:NIB_REDACTED_1@db:5432/app\""
        );
        assert_eq!(
            redacted("headers = {\"Authorization\": \"Bearer abc123DEF456ghi789JKL\"}"),
            "headers = {\"Authorization\": \"Bearer NIB_REDACTED_1\"}"
        );
    }

    #[test]
    fn private_keys_keep_their_frame() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM\nq5rX3fL0w==\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            redacted(pem),
            "-----BEGIN RSA PRIVATE KEY-----\nNIB_REDACTED_1\n-----END RSA PRIVATE KEY-----\n"
        );
        // In a string literal spread over lines of code.
        let code = "KEY = (\n    \"-----BEGIN PRIVATE KEY-----\\n\"\n    \"MIIEvQIBADANBgkqhkiG9w0BAQEF\\n\"\n    \"-----END PRIVATE KEY-----\\n\"\n)\n";
        assert_eq!(
            redacted(code),
            "KEY = (\n    \"-----BEGIN PRIVATE KEY-----\\n\"\n    \"NIB_REDACTED_1\\n\"\n    \"-----END PRIVATE KEY-----\\n\"\n)\n"
        );
        // Cut off before its end.
        let cut = "key = '''-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
        assert!(!redacted(cut).contains("b3BlbnNzaC1"));
        // Headers quoted in code, with code (not a key) up to a later END line.
        let code = "check(r\"-----BEGIN PRIVATE KEY-----\");\nconsistent!(click_2, other_thing);\ncheck(r\"-----END PRIVATE KEY-----\");\n";
        assert_eq!(redacted(code), code);
    }

    #[test]
    fn placeholders_are_stable_and_restored() {
        let text = "a = \"ghp_0123456789abcdefghijABCDEFGHIJ012345\"\nb = \"ghp_0123456789abcdefghijABCDEFGHIJ012345\"\nc = \"AKIAIOSFODNN7EXAMPLE\"\n";
        let r = redact(text);
        assert_eq!(r.count, 3);
        assert_eq!(r.placeholders.len(), 2);
        assert_eq!(
            r.text,
            "a = \"NIB_REDACTED_1\"\nb = \"NIB_REDACTED_1\"\nc = \"NIB_REDACTED_2\"\n"
        );
        assert_eq!(r.restore(&r.text), text);
        // An answer quoting placeholders, and one that is not ours.
        assert_eq!(
            r.restore("use NIB_REDACTED_2 and NIB_REDACTED_9, not NIB_REDACTED_1x"),
            "use AKIAIOSFODNN7EXAMPLE and NIB_REDACTED_9, not NIB_REDACTED_1x"
        );
        // Debug output never shows a secret.
        assert!(!format!("{r:?}").contains("AKIA"));
    }

    #[test]
    fn one_redactor_shares_placeholders_across_texts() {
        let mut r = Redactor::new();
        let a = r.redact("token = \"sk-abcdefghij0123456789XYZ\"");
        let b = r.redact("echo sk-abcdefghij0123456789XYZ");
        assert_eq!(a, "token = \"NIB_REDACTED_1\"");
        assert_eq!(b, "echo NIB_REDACTED_1");
        assert_eq!(r.count(), 2);
    }

    #[test]
    fn denied_paths() {
        for p in [
            ".env",
            "app/.env.local",
            "deploy/prod.env",
            "certs/server.pem",
            "C:\\keys\\tls.key",
            "home/u/.ssh/id_rsa",
            "id_ed25519.pub",
            "config/secrets.yaml",
            "Secrets.json",
            "home/u/.aws/credentials",
            ".netrc",
        ] {
            assert!(is_denied_path(p), "{p}");
        }
        for p in [
            "src/environment.ts",
            "src/envelope.rs",
            "keyboard.py",
            "src/key.rs",
            "docs/secrets_management.md",
            "my_secrets.py",
            "pem",
            "",
        ] {
            assert!(!is_denied_path(p), "{p}");
        }
    }
}
