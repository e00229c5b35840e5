//! Seeded next-line holes: a random code line of a non-test source file, cut at a random
//! column inside it. The text before the cut stays; the model must produce the rest.

use nib_syntax::tree_sitter::Node;
use nib_syntax::Language;

/// Longest line (in characters) used for a hole: minified or generated lines say little.
const MAX_LINE_CHARS: usize = 200;

/// One hole.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hole {
    pub repo: String,
    /// Repository-relative path with `/` separators.
    pub path: String,
    /// 0-based line.
    pub line: usize,
    /// Byte column of the cut within the line.
    pub cut: usize,
    /// The whole original line (without its line break).
    pub line_text: String,
}

impl Hole {
    /// The text before the cut on the hole's line.
    pub fn kept(&self) -> &str {
        &self.line_text[..self.cut]
    }

    /// The hidden rest of the line (what the model must produce).
    pub fn answer(&self) -> &str {
        &self.line_text[self.cut..]
    }

    /// `text` (the original file) with the rest of the hole's line removed.
    pub fn holed_text(&self, text: &str) -> String {
        let start = line_start(text, self.line);
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        // Keep a `\r` of a CRLF line break with the break.
        let end = if text[..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        format!("{}{}", &text[..start + self.cut], &text[end..])
    }
}

fn line_start(text: &str, line: usize) -> usize {
    if line == 0 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 1)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// Tests, examples, benchmarks, docs and fixtures: not the code a user completes most.
pub fn is_test_or_aux(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    let dirs = &segs[..segs.len().saturating_sub(1)];
    let file = segs.last().copied().unwrap_or("");
    dirs.iter().any(|d| {
        matches!(
            *d,
            "tests"
                | "test"
                | "testing"
                | "examples"
                | "example"
                | "benches"
                | "benchmarks"
                | "docs"
                | "doc"
                | "fixtures"
        )
    }) || file.starts_with("test_")
        || file.ends_with("_test.py")
        || file.ends_with("_tests.rs")
        || file == "tests.rs"
        || file == "conftest.py"
}

/// The lines of `text` eligible for a hole: non-blank, with a letter or digit, not longer than
/// [`MAX_LINE_CHARS`], and not comment or docstring / multi-line string text (by the syntax
/// tree when there is one).
pub fn eligible_lines(lang: Option<Language>, text: &str) -> Vec<usize> {
    let tree = lang.and_then(|l| nib_syntax::parse(l, text));
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let at = start;
        start += raw.len();
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty()
            || line.chars().count() > MAX_LINE_CHARS
            || !trimmed.chars().any(char::is_alphanumeric)
            || looks_like_comment(lang, trimmed)
        {
            continue;
        }
        let first = at + (line.len() - trimmed.len());
        if let Some(t) = &tree {
            let node = t
                .root_node()
                .descendant_for_byte_range(first, first + 1)
                .unwrap_or_else(|| t.root_node());
            if in_comment_or_continued_string(node, first) {
                continue;
            }
        }
        out.push(i);
    }
    out
}

fn looks_like_comment(lang: Option<Language>, trimmed: &str) -> bool {
    match lang {
        Some(Language::Python) => trimmed.starts_with('#'),
        Some(Language::Rust) => trimmed.starts_with("//") || trimmed.starts_with("/*"),
        None => trimmed.starts_with('#') || trimmed.starts_with("//"),
    }
}

/// Inside a comment, or inside a string that started before `at` (a docstring's or a
/// multi-line string's inner line).
fn in_comment_or_continued_string(node: Node<'_>, at: usize) -> bool {
    let mut n = Some(node);
    while let Some(cur) = n {
        let kind = cur.kind();
        if kind.contains("comment") {
            return true;
        }
        if (kind == "string" || kind.ends_with("string_literal")) && cur.start_byte() < at {
            return true;
        }
        // A docstring line that starts the string: an expression statement that is only a
        // string.
        if kind == "expression_statement"
            && cur.named_child_count() == 1
            && cur.named_child(0).is_some_and(|c| c.kind() == "string")
        {
            return true;
        }
        n = cur.parent();
    }
    false
}

/// splitmix64 step.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of a string (FNV-1a), to give each repository its own stream.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where a line may be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// Any character inside the line (mid-identifier too), as repository-level benchmarks do.
    #[default]
    Any,
    /// Never inside an identifier (the user has typed whole words).
    Word,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Lines (0-based) taken by import statements: Python `import` / `from ... import`, Rust
/// `use`, `extern crate` and `mod name;` (several lines each when an import spans them).
pub fn import_lines(lang: Option<Language>, text: &str) -> std::collections::HashSet<usize> {
    let mut out = std::collections::HashSet::new();
    let Some(tree) = lang.and_then(|l| nib_syntax::parse(l, text)) else {
        return out;
    };
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        let import = match node.kind() {
            "import_statement"
            | "import_from_statement"
            | "future_import_statement"
            | "use_declaration"
            | "extern_crate_declaration" => true,
            // `mod name;`, not an inline module with a body.
            "mod_item" => node.child_by_field_name("body").is_none(),
            _ => false,
        };
        if import {
            out.extend(node.start_position().row..=node.end_position().row);
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    out
}

/// `n` holes (fewer when there are fewer eligible lines) over `files` (path, text), which
/// are sorted here. Files for which `is_test_or_aux` holds are skipped. The same seed and
/// files give the same holes. With `keep`, the holes are the first `n` that `keep` accepts in
/// a seeded order of all eligible lines (e.g. only lines that use another file's definitions,
/// as cross-file benchmarks select them).
pub fn generate(
    repo: &str,
    files: &[(String, String)],
    n: usize,
    seed: u64,
    cut: Cut,
    keep: Option<&dyn Fn(&Hole) -> bool>,
) -> Vec<Hole> {
    let mut files: Vec<&(String, String)> =
        files.iter().filter(|(p, _)| !is_test_or_aux(p)).collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    let mut lines_of: Vec<Vec<&str>> = Vec::new();
    for (fi, (path, text)) in files.iter().enumerate() {
        let lang = Language::from_path(std::path::Path::new(path));
        candidates.extend(eligible_lines(lang, text).into_iter().map(|l| (fi, l)));
        lines_of.push(text.split('\n').collect());
    }
    let picked = match keep {
        None => crate::data::subset(candidates.len(), Some(n), seed ^ fnv(repo)),
        Some(_) => crate::data::permutation(candidates.len(), seed ^ fnv(repo)),
    };
    let mut state = seed ^ fnv(repo).rotate_left(17);
    let holes = picked.into_iter().map(|k| {
        let (fi, line) = candidates[k];
        let text = lines_of[fi][line].trim_end();
        let indent = text.len() - text.trim_start().len();
        // Cut at a character boundary in [indent, len): at least one character hidden.
        let cols: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .filter(|&i| i >= indent)
            .filter(|&i| {
                cut == Cut::Any
                    || !(text[..i].chars().next_back().is_some_and(is_word)
                        && text[i..].chars().next().is_some_and(is_word))
            })
            .collect();
        let cut = cols[(next(&mut state) % cols.len() as u64) as usize];
        Hole {
            repo: repo.to_string(),
            path: files[fi].0.clone(),
            line,
            cut,
            line_text: text.to_string(),
        }
    });
    match keep {
        None => holes.collect(),
        Some(keep) => {
            let mut kept: Vec<Hole> = holes.filter(|h| keep(h)).take(n).collect();
            kept.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
            kept
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: &str = r#"import os

# A comment line.
def area(w, h):
    """Area of a rectangle.

    More text here.
    """
    total = w * h  # trailing comment
    return total
"#;

    const RS: &str = "/// Doc comment.\nfn f(x: u32) -> u32 {\n    // note\n    let y = x + 1;\n    /* block\n       still */\n    y\n}\n";

    #[test]
    fn eligible_lines_skip_blank_comment_and_docstring() {
        assert_eq!(eligible_lines(Some(Language::Python), PY), vec![0, 3, 8, 9]);
        assert_eq!(eligible_lines(Some(Language::Rust), RS), vec![1, 3, 6]);
    }

    fn files() -> Vec<(String, String)> {
        vec![
            ("pkg/geo.py".to_string(), PY.to_string()),
            ("src/lib.rs".to_string(), RS.to_string()),
            ("tests/test_geo.py".to_string(), PY.to_string()),
        ]
    }

    #[test]
    fn import_lines_are_found_in_python_and_rust() {
        let py = "import os\nfrom .core import (\n    Context,\n    Group,\n)\n\nx = Context()\n";
        let mut got: Vec<usize> = import_lines(Some(Language::Python), py)
            .into_iter()
            .collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        let rs = "use std::fmt;\npub use crate::ensure::{\n    BothDebug,\n};\nmod parse;\nmod tests {\n    use super::*;\n    fn f() {}\n}\n";
        let mut got: Vec<usize> = import_lines(Some(Language::Rust), rs).into_iter().collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 6]);
    }

    #[test]
    fn a_selection_keeps_seeded_holes_that_pass_it() {
        let keep = |h: &Hole| h.answer().contains('w');
        let a = generate("r", &files(), 2, 3, Cut::Any, Some(&keep));
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(keep), "{a:?}");
        assert_eq!(a, generate("r", &files(), 2, 3, Cut::Any, Some(&keep)));
        // Fewer lines pass than asked for: all of them.
        let none = |_: &Hole| false;
        assert!(generate("r", &files(), 2, 3, Cut::Any, Some(&none)).is_empty());
    }

    #[test]
    fn holes_are_seeded_and_never_on_blank_or_comment_lines() {
        let a = generate("r", &files(), 5, 7, Cut::Any, None);
        assert_eq!(a, generate("r", &files(), 5, 7, Cut::Any, None));
        let mut reversed = files();
        reversed.reverse();
        assert_eq!(
            a,
            generate("r", &reversed, 5, 7, Cut::Any, None),
            "input order must not matter"
        );
        assert_eq!(a.len(), 5);
        let seeds: Vec<Vec<Hole>> = (0..8)
            .map(|s| generate("r", &files(), 3, s, Cut::Any, None))
            .collect();
        assert!(seeds.iter().any(|h| *h != seeds[0]), "seed must matter");
        for s in 0..20 {
            for h in generate("r", &files(), 7, s, Cut::Any, None) {
                assert!(!h.path.starts_with("tests/"));
                let t = h.line_text.trim();
                assert!(!t.is_empty() && !t.starts_with('#') && !t.starts_with("//"));
                assert!(!t.contains("Area of") && !t.contains("More text"));
                assert!(!h.answer().is_empty());
                assert!(h.cut >= h.line_text.len() - h.line_text.trim_start().len());
            }
        }
    }

    #[test]
    fn word_cuts_never_split_an_identifier() {
        let mut any_split = false;
        for s in 0..30 {
            for h in generate("r", &files(), 7, s, Cut::Word, None) {
                let before = h.kept().chars().next_back();
                let after = h.answer().chars().next();
                assert!(
                    !(before.is_some_and(is_word) && after.is_some_and(is_word)),
                    "{h:?}"
                );
            }
            any_split |= generate("r", &files(), 7, s, Cut::Any, None)
                .iter()
                .any(|h| {
                    h.kept().chars().next_back().is_some_and(is_word)
                        && h.answer().chars().next().is_some_and(is_word)
                });
        }
        assert!(any_split, "random cuts do split identifiers");
    }

    #[test]
    fn holed_text_drops_the_rest_of_the_line_only() {
        let h = Hole {
            repo: "r".into(),
            path: "pkg/geo.py".into(),
            line: 8,
            cut: 14,
            line_text: "    total = w * h  # trailing comment".into(),
        };
        assert_eq!(h.kept(), "    total = w ");
        assert_eq!(h.answer(), "* h  # trailing comment");
        let holed = h.holed_text(PY);
        assert!(holed.contains("\"\"\"\n    total = w \n    return total\n"));
        assert_eq!(holed.lines().count(), PY.lines().count());
    }

    #[test]
    fn test_paths() {
        assert!(is_test_or_aux("tests/test_x.py"));
        assert!(is_test_or_aux("src/pkg/test_x.py"));
        assert!(is_test_or_aux("benches/parse.rs"));
        assert!(is_test_or_aux("src/conftest.py"));
        assert!(!is_test_or_aux("src/requests/models.py"));
        assert!(!is_test_or_aux("src/lib.rs"));
        assert!(!is_test_or_aux("src/testing_utils.rs"));
    }
}
