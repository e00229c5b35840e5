//! Heuristics for hard-coded credentials: names, placeholders, entropy, known token formats.

use std::sync::OnceLock;

use nib_syntax::tree_sitter::Node;
use nib_syntax::Language;
use regex::Regex;

use crate::predicates::re;

static SECRET_NAME: OnceLock<Regex> = OnceLock::new();
static NOT_SECRET_NAME: OnceLock<Regex> = OnceLock::new();
static TOKEN_FORMAT: OnceLock<Regex> = OnceLock::new();
static PLACEHOLDER: OnceLock<Regex> = OnceLock::new();
static PASSWORD_NAME: OnceLock<Regex> = OnceLock::new();
static WORD_TAG: OnceLock<Regex> = OnceLock::new();
static PURPOSE: OnceLock<Regex> = OnceLock::new();
static PURPOSE_FN: OnceLock<Regex> = OnceLock::new();

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// A variable / key name that says it holds a credential.
pub fn secret_name(name: &str) -> bool {
    let last = name
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|s| !s.is_empty())
        .unwrap_or(name);
    re(
        &SECRET_NAME,
        r"(?i)(?:pass(?:wd|word|phrase)?|pwd|secret|token|api_?key|apikey|access_?key|private_?key|auth_?key|signing_?key|credential|client_?secret)",
    )
    .is_match(last)
        && !re(
            &NOT_SECRET_NAME,
            r"(?i)(?:_|^)(?:type|field|label|prompt|name|env|var|id|url|uri|file|path|len|length|header|param|policy|pattern|regex|re|format|endpoint|dir|prefix|suffix|hint|placeholder|message|msg|count|timeout|expiry|expires|expires_in|lifetime|ttl|column|col|display|text|title|help|required|min|max|reset_url|validator|manager|cls|class|mode|kind|method|input|widget|hash|hashed|digest|algorithm|scheme|location|error|errors|key_name|arg|args|argument|option)$",
        )
        .is_match(last)
}

/// A credential-looking literal for a variable called `name`.
pub fn plausible_secret(name: &str, literal: &str) -> bool {
    let v = literal.trim();
    if v.chars().count() < 6 || v.chars().any(char::is_whitespace) {
        return false;
    }
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    if norm(v) == norm(name) || norm(name).ends_with(&norm(v)) {
        return false;
    }
    if re(
        &PLACEHOLDER,
        r"(?i)^(?:x+|\*+|\.+|-+|_+|<.*>|\{.*\}|\$\{?.*|%\(?.*|\[.*\]|(?:your|change|replace|example|dummy|fake|placeholder|todo|redacted|none|null|sample)[-_ ]?.*|(?-i:[A-Z][A-Z0-9_]*)|https?://[^@]*|/.*|.*\.(?:txt|pem|key|json|ya?ml|env|cfg|ini))$",
    )
    .is_match(v)
    {
        return false;
    }
    // Tokens, keys and secrets are machine-generated: a lowercase word such as `keyword` or
    // `#bygroup` is a tag (a lexer's token kind), not a credential. Passwords can be words.
    let password = re(&PASSWORD_NAME, r"(?i)pass|pwd|\bpw\b").is_match(name);
    if !password && re(&WORD_TAG, r"^[#@:]?[a-z]+(?:[_.:-][a-z]+)*$").is_match(v) {
        return false;
    }
    shannon_entropy(v) >= 2.0
}

/// Strings that are credentials whatever they are called: cloud / VCS / chat tokens (AWS key
/// ids, GCP API keys, GitHub and Slack tokens, Slack webhook URLs) and PEM keys.
pub fn known_token_format(literal: &str) -> bool {
    re(
        &TOKEN_FORMAT,
        r"(?:\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|https://hooks\.slack\.com/(?:services|workflows)/T[0-9A-Z]{8,}/[0-9A-Z]{8,}/[0-9A-Za-z]{16,}|\bgh[pousr]_[A-Za-z0-9]{36,}|\bgithub_pat_[A-Za-z0-9_]{40,}|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}|\bsk_live_[0-9a-zA-Z]{24,}|\bAIza[0-9A-Za-z_-]{35}|\bglpat-[0-9A-Za-z_-]{20,}|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----)",
    )
    .is_match(literal)
}

/// A name that says a random value is used for security (token, password, salt, ...).
pub fn secret_purpose(name: &str) -> bool {
    re(
        &PURPOSE,
        r"(?i)token|secret|passw|pwd|\bpw\b|nonce|salt|otp|api_?key|session|csrf|reset|verif|auth|cookie|(?:^|_)key(?:$|_)|(?:^|_)pin(?:$|_)|(?:^|_)iv(?:$|_)",
    )
    .is_match(name)
}

/// A function name that says it produces a secret: `generate_token`, `make_salt`, `new_api_key`
/// (the secret word ends the name, so `pick_token_color` is not one).
pub fn secret_function_name(name: &str) -> bool {
    re(
        &PURPOSE_FN,
        r"(?i)(?:token|secret|passw(?:or)?d|pwd|pw|nonce|salt|otp|api_?key|key|pin|code|session(?:_?id)?|csrf(?:_token)?|iv)s?(?:_(?:hex|str|bytes|id|value))?$",
    )
    .is_match(name)
}

/// The content of a string literal `node` (or `"x".to_string()`, `String::from("x")`,
/// `Some("x")`, ...), `None` when the value is not a plain literal.
pub fn literal_of(lang: Language, node: Node<'_>, src: &str) -> Option<String> {
    let text = src.get(node.byte_range())?;
    match (lang, node.kind()) {
        (Language::Python, "string") => {
            let mut cursor = node.walk();
            let mut out = String::new();
            for c in node.named_children(&mut cursor) {
                match c.kind() {
                    "interpolation" => return None,
                    "string_content" | "escape_sequence" => out.push_str(src.get(c.byte_range())?),
                    _ => {}
                }
            }
            Some(out)
        }
        (Language::Python, "concatenated_string") => {
            let mut cursor = node.walk();
            let parts: Option<Vec<String>> = node
                .named_children(&mut cursor)
                .map(|c| literal_of(lang, c, src))
                .collect();
            parts.map(|p| p.concat())
        }
        (Language::Rust, "string_literal") => {
            Some(text.trim_start_matches('b').trim_matches('"').to_string())
        }
        (Language::Rust, "raw_string_literal") => Some(
            text.trim_start_matches(['b', 'r'])
                .trim_matches('#')
                .trim_matches('"')
                .to_string(),
        ),
        (Language::Rust, "call_expression") => {
            let func = node.child_by_field_name("function")?;
            match func.kind() {
                "field_expression" => {
                    let method = src.get(func.child_by_field_name("field")?.byte_range())?;
                    if matches!(method, "to_string" | "to_owned" | "into") {
                        literal_of(lang, func.child_by_field_name("value")?, src)
                    } else {
                        None
                    }
                }
                _ => {
                    let f = src.get(func.byte_range())?;
                    if f.ends_with("String::from") || f.ends_with("::new") || f == "Some" {
                        let args = node.child_by_field_name("arguments")?;
                        let mut cursor = args.walk();
                        let first = args.named_children(&mut cursor).next()?;
                        literal_of(lang, first, src)
                    } else {
                        None
                    }
                }
            }
        }
        (Language::Rust, "reference_expression") => {
            literal_of(lang, node.child_by_field_name("value")?, src)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn names() {
        assert!(secret_name("DB_PASSWORD"));
        assert!(secret_name("self.api_key"));
        assert!(secret_name("GITHUB_TOKEN"));
        assert!(!secret_name("password_field"));
        assert!(!secret_name("token_type"));
        assert!(!secret_name("username"));
    }

    #[test]
    fn values() {
        assert!(plausible_secret("password", "hunter2!x"));
        assert!(!plausible_secret("password", "changeme"));
        assert!(!plausible_secret("password", "DB_PASSWORD"));
        assert!(!plausible_secret("password", ""));
        assert!(!plausible_secret("password", "Enter your password"));
        assert!(plausible_secret("password", "letmein"));
        assert!(!plausible_secret("token", "keyword"));
        assert!(!plausible_secret("token", "#bygroup"));
        assert!(plausible_secret(
            "token",
            "a8f5f167f44f4964e6c998dee827110c"
        ));
        assert!(plausible_secret("api_key", "k7Hq9xLmP2vR8sT4wYz1"));
        assert!(!secret_name("pass_arg"));
        assert!(secret_name("db_pass"));
        assert!(known_token_format("AKIAIOSFODNN7EXAMPLE"));
        assert!(known_token_format("ASIAQ7XK2M4PLR8T6WNB"));
        assert!(!known_token_format("AKIAEXAMPLE"));
        assert!(known_token_format(
            "https://hooks.slack.com/services/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"
        ));
        assert!(!known_token_format("https://hooks.slack.com/services/..."));
        assert!(known_token_format("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(!known_token_format("-----BEGIN PUBLIC KEY-----"));
    }
}
