//! Copyleft similarity by winnowing (Schleimer, Wilkerson, Aiken 2003).
//!
//! Text is lexed into normalised tokens (identifiers -> one symbol, literals -> one symbol,
//! comments and whitespace dropped, keywords and punctuation kept), hashed as k-grams, and the
//! minimum hash of every window of `w` k-grams is kept as a fingerprint. Any shared run of at
//! least `w + k - 1` tokens is guaranteed to share a fingerprint. Pure: the caller reads files.

use std::collections::{BTreeMap, HashMap};

use nib_syntax::Language;

/// Winnowing parameters and the reporting threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinnowConfig {
    /// Tokens per k-gram.
    pub k: usize,
    /// k-grams per window.
    pub w: usize,
    /// A corpus file is reported when a contiguous run of at least this many tokens is shared.
    pub min_run_tokens: usize,
}

impl Default for WinnowConfig {
    fn default() -> WinnowConfig {
        WinnowConfig {
            k: 13,
            w: 8,
            min_run_tokens: 40,
        }
    }
}

/// A normalised token with its byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: u32,
    pub start: usize,
    pub end: usize,
}

const IDENT: u32 = 1;
const LITERAL: u32 = 2;

const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "self",
];
const RS_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];
/// Keywords of other C-like languages, for corpus files in neither Python nor Rust.
const C_KEYWORDS: &[&str] = &[
    "if", "else", "for", "while", "do", "switch", "case", "default", "break", "continue", "return",
    "struct", "union", "enum", "typedef", "static", "const", "void", "int", "char", "long",
    "unsigned", "signed", "float", "double", "sizeof", "goto", "class", "public", "private", "new",
    "delete", "this", "function", "var", "let", "true", "false", "null",
];

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Lex `text` into normalised tokens. `lang == None`: a generic C-like lexer.
pub fn tokenize(lang: Option<Language>, text: &str) -> Vec<Token> {
    let keywords: &[&str] = match lang {
        Some(Language::Python) => PY_KEYWORDS,
        Some(Language::Rust) => RS_KEYWORDS,
        None => C_KEYWORDS,
    };
    let hash_comments = !matches!(lang, Some(Language::Rust));
    let slash_comments = !matches!(lang, Some(Language::Python));
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if (hash_comments
            && c == b'#'
            && !(lang.is_none() && b.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic())))
            || (slash_comments && c == b'/' && b.get(i + 1) == Some(&b'/'))
        {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if slash_comments && c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else if c == b'"' || c == b'\'' || c == b'`' {
            // Rust lifetimes `'a` are not strings.
            if c == b'\''
                && matches!(lang, Some(Language::Rust))
                && b.get(i + 2) != Some(&b'\'')
                && b.get(i + 1) != Some(&b'\\')
            {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Token {
                    kind: IDENT,
                    start,
                    end: i,
                });
                continue;
            }
            let triple = b.get(i + 1) == Some(&c)
                && b.get(i + 2) == Some(&c)
                && lang == Some(Language::Python);
            if triple {
                i += 3;
                while i < b.len()
                    && !(b[i] == c && b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c))
                {
                    i += 1;
                }
                i = (i + 3).min(b.len());
            } else {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
            }
            out.push(Token {
                kind: LITERAL,
                start,
                end: i,
            });
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push(Token {
                kind: LITERAL,
                start,
                end: i,
            });
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            let word = &text[start..i];
            // Python string prefixes: f"..", b'..', r"..".
            if lang == Some(Language::Python)
                && word.len() <= 2
                && matches!(b.get(i), Some(b'"' | b'\''))
            {
                continue;
            }
            let kind = if keywords.contains(&word) {
                0x100 | (fnv(word.as_bytes()) as u32 & 0xffff_fe00)
            } else {
                IDENT
            };
            out.push(Token {
                kind,
                start,
                end: i,
            });
        } else {
            // Punctuation: each byte is a token (multi-byte operators become several tokens).
            i += 1;
            out.push(Token {
                kind: 0x1000 + u32::from(c),
                start,
                end: i,
            });
        }
    }
    out
}

/// Winnowed fingerprints: (hash, index of the first token of the k-gram).
pub fn fingerprints(tokens: &[Token], cfg: WinnowConfig) -> Vec<(u64, usize)> {
    let k = cfg.k.max(1);
    if tokens.len() < k {
        return Vec::new();
    }
    let hashes: Vec<u64> = tokens
        .windows(k)
        .map(|win| {
            let mut bytes = Vec::with_capacity(4 * k);
            for t in win {
                bytes.extend_from_slice(&t.kind.to_le_bytes());
            }
            fnv(&bytes)
        })
        .collect();
    let w = cfg.w.max(1);
    let mut out: Vec<(u64, usize)> = Vec::new();
    if hashes.len() <= w {
        if let Some((pos, h)) = hashes
            .iter()
            .enumerate()
            .min_by_key(|(i, h)| (**h, std::cmp::Reverse(*i)))
        {
            out.push((*h, pos));
        }
        return out;
    }
    for start in 0..=hashes.len() - w {
        // Rightmost minimum, as in the paper, so equal runs select one fingerprint.
        let (pos, h) = hashes[start..start + w]
            .iter()
            .enumerate()
            .min_by_key(|(i, h)| (**h, std::cmp::Reverse(*i)))
            .map(|(i, h)| (start + i, *h))
            .expect("window is non-empty");
        if out.last().is_none_or(|&(_, p)| p != pos) {
            out.push((h, pos));
        }
    }
    out
}

/// A corpus file that shares a long run of normalised tokens with the checked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceMatch {
    pub path: String,
    pub licence: String,
    /// Tokens of the checked text covered by k-grams shared with this file.
    pub shared_tokens: usize,
    /// Length in tokens of the longest contiguous covered run.
    pub longest_run: usize,
    /// Byte range of that run in the checked text.
    pub start_byte: usize,
    pub end_byte: usize,
    /// Total tokens of the checked text.
    pub total_tokens: usize,
}

struct Doc {
    path: String,
    licence: String,
}

/// Fingerprints of copyleft-licensed files, built once; the caller reads the files.
#[derive(Default)]
pub struct Corpus {
    cfg: WinnowConfig,
    docs: Vec<Doc>,
    index: HashMap<u64, Vec<u32>>,
}

impl std::fmt::Debug for Corpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corpus")
            .field("docs", &self.docs.len())
            .field("fingerprints", &self.index.len())
            .finish()
    }
}

impl Corpus {
    pub fn new(cfg: WinnowConfig) -> Corpus {
        Corpus {
            cfg,
            docs: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn config(&self) -> WinnowConfig {
        self.cfg
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Add a file; its language is taken from the path's extension (generic lexer otherwise).
    pub fn add(&mut self, path: &str, licence: &str, text: &str) {
        let lang = Language::from_path(std::path::Path::new(path));
        let id = self.docs.len() as u32;
        self.docs.push(Doc {
            path: path.to_string(),
            licence: licence.to_string(),
        });
        for (h, _) in fingerprints(&tokenize(lang, text), self.cfg) {
            let ids = self.index.entry(h).or_default();
            if ids.last() != Some(&id) {
                ids.push(id);
            }
        }
    }

    /// Corpus files sharing a run of at least `min_run_tokens` tokens with `text`, longest first.
    pub fn matches(&self, lang: Language, text: &str) -> Vec<LicenceMatch> {
        let tokens = tokenize(Some(lang), text);
        let k = self.cfg.k.max(1);
        // Per document: which tokens of `text` are covered by a shared k-gram.
        let mut covered: BTreeMap<u32, Vec<bool>> = BTreeMap::new();
        for (h, pos) in fingerprints(&tokens, self.cfg) {
            let Some(ids) = self.index.get(&h) else {
                continue;
            };
            for id in ids {
                let cov = covered
                    .entry(*id)
                    .or_insert_with(|| vec![false; tokens.len()]);
                for c in cov.iter_mut().skip(pos).take(k) {
                    *c = true;
                }
            }
        }
        let mut out = Vec::new();
        for (id, cov) in covered {
            let shared = cov.iter().filter(|c| **c).count();
            // Fingerprints are sampled: bridge gaps shorter than a window between covered runs.
            let (mut best, mut best_start, mut run_start, mut last_true) =
                (0usize, 0usize, None::<usize>, None::<usize>);
            for (i, c) in cov.iter().enumerate() {
                if !*c {
                    continue;
                }
                match (run_start, last_true) {
                    (Some(_), Some(l)) if i - l <= self.cfg.w => {}
                    _ => run_start = Some(i),
                }
                last_true = Some(i);
                let s = run_start.unwrap_or(i);
                if i + 1 - s > best {
                    best = i + 1 - s;
                    best_start = s;
                }
            }
            if best >= self.cfg.min_run_tokens {
                let doc = &self.docs[id as usize];
                out.push(LicenceMatch {
                    path: doc.path.clone(),
                    licence: doc.licence.clone(),
                    shared_tokens: shared,
                    longest_run: best,
                    start_byte: tokens[best_start].start,
                    end_byte: tokens[best_start + best - 1].end,
                    total_tokens: tokens.len(),
                });
            }
        }
        out.sort_by(|a, b| {
            b.longest_run
                .cmp(&a.longest_run)
                .then_with(|| a.path.cmp(&b.path))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(lang: Option<Language>, text: &str) -> Vec<u32> {
        tokenize(lang, text).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn normalisation_ignores_names_literals_comments_and_layout() {
        let a = kinds(
            Some(Language::Python),
            "def f(x):\n    return x + 1  # add\n",
        );
        let b = kinds(Some(Language::Python), "def g(y):   return y + 42\n");
        assert_eq!(a, b);
        let c = kinds(Some(Language::Python), "def f(x):\n    return x - 1\n");
        assert_ne!(a, c);
        let r1 = kinds(
            Some(Language::Rust),
            "fn f<'a>(s: &'a str) -> char { /* c */ 'x' } // end",
        );
        let r2 = kinds(
            Some(Language::Rust),
            "fn g<'b>(t: &'b str) -> char { '\\n' }",
        );
        assert_eq!(r1, r2);
    }

    /// Winnowing guarantee: a shared run of at least w + k - 1 tokens shares a fingerprint.
    #[test]
    fn shared_runs_of_guaranteed_length_are_found() {
        let cfg = WinnowConfig {
            k: 5,
            w: 4,
            min_run_tokens: 8,
        };
        // Deterministic pseudo-random token streams built from punctuation (one token each).
        let mut seed = 0x2545f491u64;
        let mut gen = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [
                        "+", "-", "*", "/", "%", "<", ">", "=", "!", "&", "|", "^", "~", "?", ":",
                        ";",
                    ][(seed % 16) as usize]
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        for _ in 0..50 {
            let shared = gen(cfg.w + cfg.k - 1);
            let doc = format!("{} {} {}", gen(30), shared, gen(30));
            let query = format!("{} {} {}", gen(20), shared, gen(20));
            let fd: std::collections::HashSet<u64> = fingerprints(&tokenize(None, &doc), cfg)
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            let fq = fingerprints(&tokenize(None, &query), cfg);
            assert!(
                fq.iter().any(|(h, _)| fd.contains(h)),
                "missed shared run {shared:?}"
            );
        }
    }

    #[test]
    fn short_or_unrelated_texts_do_not_match() {
        let mut corpus = Corpus::new(WinnowConfig::default());
        corpus.add("gpl/a.rs", "GPL-2.0", "fn main() { println!(\"hello\"); }");
        assert!(corpus
            .matches(Language::Rust, "fn main() { println!(\"bye\"); }")
            .is_empty());
        assert_eq!(corpus.len(), 1);
    }
}
