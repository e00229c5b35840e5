//! Redaction: every planted secret goes, nothing else changes.
//!
//! The corpus under `fixtures/redact/` is written for nib: files of several kinds, each with a
//! `.secrets` list (one secret per line; a private key's body line by line). Generated
//! secrets of every kind, in every context, are planted between lines of clean code by the
//! property test.

use std::path::PathBuf;

use nib_checks::{redact, Redacted};
use proptest::prelude::*;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/redact")
}

/// Every replaced span is one listed secret (or consecutive lines of one key), and the text
/// comes back whole: nothing but the secrets changed.
fn check_only_secrets_replaced(name: &str, original: &str, secrets: &[String], r: &Redacted) {
    for s in secrets {
        assert!(
            !r.text.contains(s.as_str()),
            "{name}: a planted secret survived: {s}\n{}",
            r.text
        );
    }
    for p in &r.placeholders {
        assert!(
            p.original
                .split('\n')
                .all(|line| secrets.iter().any(|s| s == line)),
            "{name}: redacted something not planted ({:?}): {}",
            p.kind,
            p.original
        );
    }
    assert_eq!(r.restore(&r.text), original, "{name}: restore");
}

#[test]
fn the_corpus_loses_every_planted_secret_and_nothing_else() {
    let mut files = 0;
    let mut planted = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".secrets") {
            continue;
        }
        let original = std::fs::read_to_string(&path).unwrap();
        let list = std::fs::read_to_string(path.with_file_name(format!("{name}.secrets")))
            .unwrap_or_else(|_| panic!("{name} has no .secrets list"));
        let secrets: Vec<String> = list
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let r = redact(&original);
        check_only_secrets_replaced(&name, &original, &secrets, &r);
        files += 1;
        planted += secrets.len();
    }
    assert!(
        files >= 8 && planted >= 50,
        "corpus too small: {files} files, {planted} secrets"
    );
}

const CLEAN: &[&str] = &[
    "import os",
    "def handler(request, token=None):",
    "    password = request.form.get(\"password\")",
    "    if not check_password(user, password):",
    "        raise PermissionError(\"bad credentials\")",
    "SECRET_KEY = os.environ[\"SECRET_KEY\"]",
    "token_type = \"bearer\"",
    "let token = lexer.next_token()?;",
    "pub fn verify(password: &str, hash: &PasswordHash) -> bool {",
    "    argon2.verify_password(password.as_bytes(), hash).is_ok()",
    "}",
    "const MAX_PASSWORD_LENGTH: usize = 128;",
    "log.info(\"rotating api keys for %s\", tenant)",
    "digest = hashlib.sha256(data).hexdigest()",
    "    api_key: Optional[str] = None",
    "url = f\"postgres://{user}:{password}@{host}/{db}\"",
    "",
];

/// Secrets that must go wherever they are: their format says what they are.
fn format_secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "AKIA[0-9A-Z]{16}",
        "ghp_[A-Za-z0-9]{36}",
        "github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        "xox[bpa]-[0-9]{10,12}-[0-9]{10,13}-[A-Za-z0-9]{24}",
        "sk-(proj-)?[A-Za-z0-9]{32,48}",
        "sk-ant-api03-[A-Za-z0-9_-]{40,90}",
        "AIza[0-9A-Za-z_-]{35}",
        "[sr]k_live_[0-9a-zA-Z]{24,40}",
        "glpat-[0-9A-Za-z_-]{20}",
        "npm_[A-Za-z0-9]{36}",
        "hf_[A-Za-z0-9]{34}",
        "SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}",
        "eyJ[A-Za-z0-9_-]{10,30}\\.eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{20,43}",
    ]
}

/// A password or key: starts with a digit (never a placeholder word), no secret word in it.
fn password() -> impl Strategy<Value = String> {
    "[0-9][A-Za-z0-9!#%&*+?^~-]{8,18}[a-z]".prop_filter("no secret word in a value", |p| {
        let l = p.to_ascii_lowercase();
        ![
            "pass", "pwd", "pw", "token", "secret", "key", "cred", "auth",
        ]
        .iter()
        .any(|w| l.contains(w))
    })
}

/// A random-looking literal with letters of both cases and digits.
fn random_literal() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{17,44}".prop_map(|s| format!("{s}aZ7"))
}

fn pem_body() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9+/]{64}", 2..6)
        .prop_flat_map(|lines| ("[A-Za-z0-9+/]{8,60}", Just(lines)))
        .prop_map(|(last, mut lines)| {
            lines.push(format!("{last}=="));
            lines.join("\n")
        })
}

/// `(line with the secret, the secret)`.
fn planted() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (format_secret(), 0..4usize).prop_map(|(s, ctx)| {
            let line = match ctx {
                0 => format!("CLIENT = make_client(\"{s}\")"),
                1 => format!("export SERVICE_CREDENTIAL={s}"),
                2 => format!("  header: {s}"),
                _ => format!("// the old one was {s}, rotated"),
            };
            (line, s)
        }),
        (password(), 0..8usize).prop_map(|(s, ctx)| {
            let line = match ctx {
                0 => format!("db_password = \"{s}\""),
                1 => format!("DB_PASSWORD={s}"),
                2 => format!("  client_secret: {s}"),
                3 => format!("    \"api_key\": \"{s}\","),
                4 => format!("const AUTH_TOKEN: &str = \"{s}\";"),
                5 => format!("DATABASE_URL = \"postgres://app:{s}@db.internal:5432/app\""),
                6 => format!("mysql -u root --password={s} shop"),
                _ => format!("os.environ.setdefault(\"SECRET_KEY\", \"{s}\")"),
            };
            (line, s)
        }),
        random_literal().prop_map(|s| (format!("BLOB = \"{s}\""), s)),
        pem_body().prop_map(|body| (
            format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"),
            body
        )),
    ]
}

proptest! {
    // A fixed seed: a random literal with no name to go by reads like an identifier now and
    // then (see `random_literals_without_a_name_are_caught_at_a_measured_rate`), and a test
    // that fails on one run in twenty helps nobody. 512 cases, the same on every run.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(17),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_secrets_go_and_clean_code_stays(
        before in prop::collection::vec(prop::sample::select(CLEAN), 0..6),
        after in prop::collection::vec(prop::sample::select(CLEAN), 0..6),
        (line, secret) in planted(),
    ) {
        let mut text = before.join("\n");
        text.push('\n');
        text.push_str(&line);
        text.push('\n');
        text.push_str(&after.join("\n"));
        let r = redact(&text);
        let expected = text.replace(&secret, "NIB_REDACTED_1");
        prop_assert_eq!(&r.text, &expected);
        prop_assert_eq!(r.placeholders.len(), 1);
        prop_assert_eq!(r.restore(&r.text), text);
    }
}

/// Random strings in a literal with a neutral name: the share redacted, over lengths 20 to 48
/// (real keys are mostly 32 or more). Deterministic (a fixed xorshift sequence).
#[test]
fn random_literals_without_a_name_are_caught_at_a_measured_rate() {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut short, mut short_caught, mut long, mut long_caught) = (0, 0, 0, 0);
    while short + long < 20_000 {
        let len = 20 + (next() % 29) as usize;
        let s: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
            .collect();
        let mixed = s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_uppercase())
            && s.bytes().any(|b| b.is_ascii_lowercase());
        if !mixed {
            continue;
        }
        let caught = redact(&format!("blob = \"{s}\"\n")).count == 1;
        if len < 32 {
            short += 1;
            short_caught += caught as usize;
        } else {
            long += 1;
            long_caught += caught as usize;
        }
    }
    let rate = |c: usize, n: usize| c as f64 / n as f64;
    println!(
        "random literals redacted: {:.4} of {short} (20-31 chars), {:.4} of {long} (32-48 chars)",
        rate(short_caught, short),
        rate(long_caught, long)
    );
    assert!(rate(short_caught, short) >= 0.99, "{short_caught}/{short}");
    assert!(rate(long_caught, long) >= 0.999, "{long_caught}/{long}");
}
