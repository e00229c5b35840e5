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

/// Tokens whose format alone says they are credentials: cloud, VCS, chat, payment and
/// package-registry keys, JWTs.
const TOKEN_FORMATS: &str = r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}|\bgithub_pat_[A-Za-z0-9_]{40,}|\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-[0-9]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/(?:services|workflows)/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]{16,}|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|\b[sr]k_(?:live|test)_[0-9a-zA-Z]{24,}|\bAIza[0-9A-Za-z_-]{35}|\bglpat-[0-9A-Za-z_-]{20,}|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|\bnpm_[A-Za-z0-9]{36}\b|\bpypi-AgE[A-Za-z0-9_-]{50,}|\bhf_[A-Za-z0-9]{30,}\b|\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}";
/// The first line of a PEM private key (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP).
pub(crate) const PRIVATE_KEY_HEADER: &str =
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----";
static TOKEN_ONLY: OnceLock<Regex> = OnceLock::new();

/// Strings that are credentials whatever they are called: cloud / VCS / chat tokens and PEM keys.
pub fn known_token_format(literal: &str) -> bool {
    re(
        &TOKEN_FORMAT,
        &format!("{TOKEN_FORMATS}|{PRIVATE_KEY_HEADER}"),
    )
    .is_match(literal)
}

/// Where tokens of a known format are in `text` (PEM keys not included: see
/// [`PRIVATE_KEY_HEADER`]).
pub(crate) fn known_tokens(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    re(&TOKEN_ONLY, TOKEN_FORMATS)
        .find_iter(text)
        .map(|m| m.range())
}

/// A string that looks machine-generated whatever it is called: 20 to 1024 characters of a
/// key alphabet, letters and digits, no sequence (`abcdef...`, an alphabet constant), not
/// made of words or of dash-separated parts (flags, target triples), not base64-encoded
/// text; mixed case with high entropy, or 32+ hex digits.
pub fn random_token(s: &str) -> bool {
    let n = s.len();
    if !(20..=1024).contains(&n)
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-.".contains(&b))
    {
        return false;
    }
    let count = |f: fn(&u8) -> bool| s.bytes().filter(f).count();
    let (digits, upper, lower) = (
        count(u8::is_ascii_digit),
        count(u8::is_ascii_uppercase),
        count(u8::is_ascii_lowercase),
    );
    if digits == 0 || upper + lower == 0 {
        return false;
    }
    let b = s.as_bytes();
    let sequential = b
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    if sequential * 4 > n {
        return false;
    }
    let hex = s.bytes().all(|b| b.is_ascii_hexdigit()) && (upper == 0 || lower == 0);
    if hex {
        return n >= 32 && shannon_entropy(s) >= 3.0;
    }
    // A path (`dir/file.ext`): base64 has no dots, JWTs no slashes.
    if s.contains('/') && s.contains('.') {
        return false;
    }
    let body = s.trim_end_matches('=');
    let separators = body.bytes().filter(|b| b"-_.=".contains(b)).count();
    upper > 0
        && lower > 0
        && !body.contains('=')
        && separators * 8 <= n
        && shannon_entropy(s) >= 3.5
        && !wordy(s)
        && !base64_text(s)
}

/// `s` reads like an identifier: half of it or more is words (runs of 4+ letters of one
/// case, capitalised or not, with a vowel and no more than 3 consonants in a row) and its
/// digits come in at most two groups. A random string of 20 to 31 characters reads so about
/// 0.4% of the time, of 32 to 48 characters 0.03%.
fn wordy(s: &str) -> bool {
    let b = s.as_bytes();
    let is_word = |w: &[u8]| {
        let vowel = |c: &u8| b"aeiouyAEIOUY".contains(c);
        let mut streak = 0;
        w.len() >= 4
            && w.iter().any(vowel)
            && w.iter().all(|c| {
                streak = if vowel(c) { 0 } else { streak + 1 };
                streak <= 3
            })
    };
    let mut in_words = 0;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_uppercase() && b.get(i + 1).is_some_and(u8::is_ascii_lowercase) {
            i += 1;
        }
        let lower = b[i].is_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_alphabetic() && b[i].is_ascii_lowercase() == lower {
            i += 1;
        }
        if is_word(&b[start..i]) {
            in_words += i - start;
        }
        if i == start {
            i += 1;
        }
    }
    let digit_groups = b
        .windows(2)
        .filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit())
        .count();
    in_words * 2 >= b.len() && digit_groups <= 3
}

/// `s` is base64 (standard or URL-safe) of printable text: test data, not a key.
fn base64_text(s: &str) -> bool {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut bytes = Vec::with_capacity(s.len());
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let Some(v) = value(c) else { return false };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
        }
    }
    let printable = bytes
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b == b' ' || b == b'\n')
        .count();
    !bytes.is_empty() && printable * 10 >= bytes.len() * 9
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
        assert!(known_token_format(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        ));
        assert!(known_token_format("xoxb-123456789012-abcdefghijklmn"));
    }

    #[test]
    fn random_tokens() {
        assert!(random_token("k7Hq9xLmP2vR8sT4wYz1aB3c"));
        assert!(random_token("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"));
        // Words, alphabets, short or spaced strings, hex too short to be a key.
        assert!(!random_token("ThisIsAnIdentifierName2024"));
        assert!(!random_token(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        ));
        assert!(!random_token("k7Hq9xLmP2"));
        assert!(!random_token("k7Hq9xLmP2 vR8sT4wYz1aB3c"));
        assert!(!random_token("deadbeef0123"));
        assert!(!random_token("test_connection_timeout_after_30_seconds"));
        assert!(!random_token("CXXSTDLIB_STATIC_x86_64_unknown_linux_gnu"));
        assert!(!random_token("-Ctarget-cpu=x86-64-v3"));
        assert!(!random_token("data/distrusted/EMDVTLSCAG3B.spki.der"));
        // base64 of "foobarbazquxquuxcorgegraultgarplyz".
        assert!(!random_token(
            "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5eg=="
        ));
    }
}
