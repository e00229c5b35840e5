//! Repository context: the pieces of other files worth showing the model before the current
//! file, chosen within a token budget.
//!
//! Sources, by priority: (1) an environment header (language and imported library versions),
//! (2) definitions (signatures and docs, not bodies) of symbols imported or used near the
//! cursor, resolved through imports and else by unique name, (3) snippets of open files most
//! similar to the code above the cursor (Jaccard over identifier sets), (4) BM25 over the
//! workspace as a fallback.
//!
//! Stability: the result must not change while the user types inside one function, so that
//! the prompt prefix (and the model's KV cache of it) survives keystrokes. Hence:
//! - similarity queries use the lines above the cursor line, never the line being typed;
//! - symbols come from the enclosing function (or a fixed window of lines), without the
//!   identifier being typed at the cursor;
//! - chosen pieces are ordered by kind, then path, then position, never by score.
//!
//! Hygiene: a name defined in the current file's text around the cursor (what the prompt shows
//! of it anyway) gets no definition piece; definitions used closest to the cursor line rank
//! first (the distance only changes when the cursor changes lines); tests and examples are not
//! searched by BM25 unless the current file is one. Whatever is left out is in the report.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use nib_engine::{RepoFile, TokenCounter};
use nib_syntax::tags::{self, DefKind, Definition, Import, ImportKind};
use nib_syntax::tree_sitter::Tree;
use nib_syntax::Language;

use crate::env::Environment;
use crate::index::{identifiers, line_starts, IndexedFile, WorkspaceIndex};

/// Tokens added per piece for the separator token and the path line's newline.
pub const PIECE_OVERHEAD_TOKENS: usize = 2;
/// Names shorter than this are not looked up by name alone.
const MIN_NAME_LEN: usize = 3;
/// Most lines of a doc comment or docstring shown.
const MAX_DOC_LINES: usize = 8;

/// Path shown for the environment header piece.
pub const ENVIRONMENT_PATH: &str = "environment";

/// Knobs of the repository context.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RepoConfig {
    /// Tokens for all pieces together (paths and separators included).
    pub budget_tokens: usize,
    pub max_definitions: usize,
    pub max_snippets: usize,
    pub max_bm25: usize,
    /// Lines per snippet window of an open file (windows step by half of it).
    pub snippet_lines: usize,
    /// Lines above the cursor line used as the similarity query.
    pub query_lines: usize,
    /// Lines around the cursor searched for used symbols outside any function.
    pub symbol_lines: usize,
    /// Least Jaccard similarity for a snippet.
    pub min_jaccard: f32,
    /// Data definitions (structs, enums, constants) up to this many lines are shown whole.
    pub full_text_max_lines: usize,
    /// A name found only by name lookup is used when it has at most this many definitions.
    pub max_name_ambiguity: usize,
    /// Lines above and below the cursor line taken as shown in the prompt anyway: names
    /// defined there get no definition piece.
    pub window_lines_above: usize,
    pub window_lines_below: usize,
    /// Lines of an outline of a module the cursor line reaches into (`types.`, `crate::m::`).
    pub max_outline_lines: usize,
}

impl Default for RepoConfig {
    fn default() -> RepoConfig {
        RepoConfig {
            budget_tokens: 1024,
            max_definitions: 6,
            max_snippets: 2,
            max_bm25: 2,
            snippet_lines: 20,
            query_lines: 20,
            symbol_lines: 30,
            min_jaccard: 0.1,
            full_text_max_lines: 25,
            max_name_ambiguity: 3,
            window_lines_above: 80,
            window_lines_below: 20,
            max_outline_lines: 40,
        }
    }
}

/// An open or recently edited file.
#[derive(Debug, Clone, Copy)]
pub struct OpenFile<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

/// What to build the context for.
#[derive(Debug, Clone, Copy)]
pub struct RepoRequest<'a> {
    /// Workspace-relative path of the current file (as in the index).
    pub path: &'a str,
    pub lang: Option<Language>,
    pub text: &'a str,
    /// Byte offset of the cursor in `text`.
    pub cursor: usize,
    /// The current file's tree, when the caller has one (else it is parsed here).
    pub tree: Option<&'a Tree>,
    /// Open / recently edited files, most recent first. The current file is skipped.
    pub open_files: &'a [OpenFile<'a>],
    pub env: Option<&'a Environment>,
}

/// Where a piece comes from; also its place in the prompt (this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceKind {
    Environment,
    Definition,
    Snippet,
    Bm25,
}

/// One piece of repository context.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RepoPiece {
    pub path: String,
    pub text: String,
    pub kind: PieceKind,
    pub score: f32,
    /// 0-based lines of the source file the piece is about.
    pub lines: Range<usize>,
    /// Tokens it costs, overhead included.
    pub tokens: usize,
}

/// A piece left out, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DroppedPiece {
    pub path: String,
    pub kind: PieceKind,
    pub lines: Range<usize>,
    pub tokens: usize,
    pub score: f32,
    pub reason: &'static str,
}

/// What the repository context included and left out.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RepoReport {
    pub budget_tokens: usize,
    pub used_tokens: usize,
    /// (kind, path, lines, tokens) of each included piece, in prompt order.
    pub included: Vec<(PieceKind, String, Range<usize>, usize)>,
    pub dropped: Vec<DroppedPiece>,
    /// Identifiers near the cursor that named definitions elsewhere but were not resolved.
    pub unresolved: Vec<String>,
}

/// The chosen pieces, in prompt order, and the report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RepoContext {
    pub pieces: Vec<RepoPiece>,
    pub report: RepoReport,
}

impl RepoContext {
    /// The pieces as prompt files: consecutive pieces of one path are joined into one file.
    pub fn files(&self) -> Vec<RepoFile> {
        let mut out: Vec<RepoFile> = Vec::new();
        let mut last_kind = None;
        for p in &self.pieces {
            match out.last_mut() {
                Some(f) if f.path == p.path && last_kind == Some(p.kind) => {
                    if !f.text.ends_with('\n') {
                        f.text.push('\n');
                    }
                    f.text.push_str(&p.text);
                }
                _ => out.push(RepoFile {
                    path: p.path.clone(),
                    text: p.text.clone(),
                }),
            }
            last_kind = Some(p.kind);
        }
        out
    }
}

/// Rank and choose the pieces for a request. Pure; cannot fail.
pub fn repo_context(
    index: &WorkspaceIndex,
    req: &RepoRequest,
    counter: &dyn TokenCounter,
    config: &RepoConfig,
) -> RepoContext {
    let text = req.text;
    let cursor = floor_char(text, req.cursor);
    let starts = line_starts(text);
    let cursor_line = starts.partition_point(|&s| s <= cursor).saturating_sub(1);

    let parsed;
    let tree = match (req.tree, req.lang) {
        (Some(t), _) => Some(t),
        (None, Some(l)) => {
            parsed = nib_syntax::parse(l, text);
            parsed.as_ref()
        }
        _ => None,
    };
    let scopes = match (tree, req.lang) {
        (Some(t), Some(l)) => tags::enclosing_scopes(l, t, text, cursor),
        _ => Vec::new(),
    };
    // The region searched for used symbols: the innermost function, else lines around.
    let func = scopes
        .iter()
        .rev()
        .find(|s| matches!(s.kind, DefKind::Function | DefKind::Method));
    let region = match func {
        Some(s) => s.range.clone(),
        None => {
            let a = cursor_line.saturating_sub(config.symbol_lines);
            let b = (cursor_line + config.symbol_lines / 3 + 1).min(starts.len());
            starts[a]..starts.get(b).copied().unwrap_or(text.len())
        }
    };
    let (word_start, word_end) = word_at(text, cursor);
    let mut used: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    // Every occurrence, as slices of `text` (their addresses give their offsets).
    let mut occurrences: Vec<&str> = Vec::new();
    match tree {
        // Identifiers of the code only: not words in strings and comments.
        Some(t) => {
            occurrences = tree_identifiers(t, text, region.clone(), word_start..word_end);
        }
        None => {
            for part in [
                &text[region.start.min(word_start)..word_start],
                &text[word_end..region.end.max(word_end)],
            ] {
                occurrences.extend(identifiers(part));
            }
        }
    }
    for &id in &occurrences {
        if seen.insert(id) {
            used.push(id);
        }
    }

    // Each used name's distance in lines from the cursor line (nearest use).
    let mut distance: HashMap<&str, usize> = HashMap::new();
    let base = text.as_ptr() as usize;
    for part in occurrences {
        let at = (part.as_ptr() as usize).saturating_sub(base);
        let line = starts.partition_point(|&s| s <= at).saturating_sub(1);
        let d = line.abs_diff(cursor_line);
        distance
            .entry(part)
            .and_modify(|e| *e = (*e).min(d))
            .or_insert(d);
    }
    // Names defined in the text around the cursor: the prompt shows them already. Whether a
    // definition is nested (indented: a method) is kept, so that a local `def run` hides a
    // top-level `run` elsewhere but not a method `run`.
    let window = {
        let a = cursor_line.saturating_sub(config.window_lines_above);
        let b = (cursor_line + config.window_lines_below + 1).min(starts.len());
        starts[a]..starts.get(b).copied().unwrap_or(text.len())
    };
    // An `impl X` block does not define `X`: the type's definition elsewhere still helps.
    let window_names: HashSet<(String, bool)> = match (tree, req.lang) {
        (Some(t), Some(l)) => tags::definitions_in(l, t, text, window)
            .into_iter()
            .filter(|d| d.kind != DefKind::Impl)
            .map(|d| {
                let nested = !indentation(text, d.range.start).is_empty();
                (d.name, nested)
            })
            .collect(),
        _ => HashSet::new(),
    };

    let own = index.file(req.path);
    let own_imports_buf;
    let imports: &[Import] = match own {
        Some(f) if f.lang == req.lang => &f.imports,
        _ => {
            own_imports_buf = match (tree, req.lang) {
                (Some(t), Some(l)) => tags::imports(l, t, text),
                _ => Vec::new(),
            };
            &own_imports_buf
        }
    };
    let own_names: HashSet<&str> = own
        .map(|f| {
            f.definitions
                .iter()
                .filter(|d| d.kind != DefKind::Impl)
                .map(|d| d.name.as_str())
                .collect()
        })
        .unwrap_or_default();

    let mut report = RepoReport {
        budget_tokens: config.budget_tokens,
        ..RepoReport::default()
    };
    let mut candidates: Vec<RepoPiece> = Vec::new();

    // 1. Environment header.
    if let (Some(env), Some(lang)) = (req.env, req.lang) {
        let header = env.header(lang, imports);
        if !header.is_empty() {
            candidates.push(piece(
                counter,
                ENVIRONMENT_PATH,
                header,
                PieceKind::Environment,
                f32::INFINITY,
                0..0,
            ));
        }
    }

    // 2. Definitions (after the outlines of modules the cursor line reaches into).
    let defs = definition_candidates(
        index,
        req.path,
        req.lang,
        imports,
        &used,
        &distance,
        &own_names,
        config,
        &mut report,
    );
    // Outlines of the project modules the cursor line reaches into (`types.`,
    //    `crate::ensure::{`, `from .core import`): the names the next word is chosen from.
    if let Some(lang) = req.lang {
        let line_end = text[starts[cursor_line]..]
            .find('\n')
            .map_or(text.len(), |i| starts[cursor_line] + i);
        let line = &text[starts[cursor_line]..line_end];
        let mut shown: HashSet<String> = HashSet::new();
        for imp in modules_on_line(lang, line, imports) {
            let Some(path) = index
                .resolve_import(req.path, &imp)
                .filter(|r| r.item.is_none() && r.path != req.path)
                .map(|r| r.path.to_string())
            else {
                continue;
            };
            let Some(file) = index.file(&path) else {
                continue;
            };
            if !shown.insert(path) {
                continue;
            }
            // Without the definitions shown whole anyway.
            let whole: HashSet<usize> = defs
                .iter()
                .filter(|c| c.path == file.path)
                .map(|c| c.index)
                .collect();
            if let Some((outline, lines)) = module_outline(file, &whole, config.max_outline_lines) {
                candidates.push(piece(
                    counter,
                    &file.path,
                    outline,
                    PieceKind::Definition,
                    f32::MAX,
                    lines,
                ));
            }
            if shown.len() >= MAX_OUTLINES {
                break;
            }
        }
    }

    let mut kept = 0;
    for c in defs {
        let Some(file) = index.file(c.path) else {
            continue;
        };
        let d = &file.definitions[c.index];
        let lines = d.line..d.line + file.text[d.range.clone()].lines().count().max(1);
        let reason = if window_names.contains(&(d.name.clone(), d.parent.is_some())) {
            Some("defined near the cursor")
        } else if kept >= config.max_definitions {
            Some("max_definitions")
        } else {
            None
        };
        if let Some(reason) = reason {
            // Not rendered: no tokens spent, none counted.
            report.dropped.push(DroppedPiece {
                path: c.path.to_string(),
                kind: PieceKind::Definition,
                lines,
                tokens: 0,
                score: c.score,
                reason,
            });
            continue;
        }
        kept += 1;
        let text = render_definition(file.lang, &file.text, &file.definitions, c.index, config);
        candidates.push(piece(
            counter,
            c.path,
            text,
            PieceKind::Definition,
            c.score,
            lines,
        ));
    }

    // 3. Snippets of open files, similar to the lines above the cursor.
    let query_start_line = cursor_line
        .saturating_sub(config.query_lines)
        .max(func.map_or(0, |s| s.line));
    let query_text = &text[starts[query_start_line]..starts[cursor_line]];
    let query: HashSet<&str> = identifiers(query_text).filter(|t| t.len() >= 2).collect();
    let mut snippet_hits = Vec::new();
    if !query.is_empty() {
        let other = |f: &&OpenFile| {
            f.path != req.path && same_language(req.lang, Language::from_path(Path::new(f.path)))
        };
        for f in req.open_files.iter().filter(other) {
            snippet_hits.extend(best_windows(f, &query, config));
        }
    }
    snippet_hits.sort_by(|a, b| {
        b.2.total_cmp(&a.2)
            .then_with(|| a.0.cmp(b.0))
            .then_with(|| a.1.start.cmp(&b.1.start))
    });
    snippet_hits.truncate(config.max_snippets);
    for (path, lines, score, body) in &snippet_hits {
        candidates.push(piece(
            counter,
            path,
            body.to_string(),
            PieceKind::Snippet,
            *score,
            lines.clone(),
        ));
    }

    // 4. BM25 fallback over the workspace, skipping the current and open files.
    if config.max_bm25 > 0 && !query.is_empty() {
        let mut terms: Vec<&str> = query.iter().copied().collect();
        terms.sort_unstable();
        // Files already shown through definitions or snippets are not searched again.
        let shown: HashSet<&str> = req
            .open_files
            .iter()
            .map(|f| f.path)
            .chain(candidates.iter().map(|c| c.path.as_str()))
            .collect();
        // Tests and examples only help when writing tests or examples.
        let aux_ok = is_test_or_example(req.path);
        let skip = |p: &str| {
            p == req.path
                || shown.contains(p)
                || (!aux_ok && is_test_or_example(p))
                || !same_language(req.lang, index.file(p).and_then(|f| f.lang))
        };
        let hits = index.bm25(&terms, config.max_bm25 + EXTRA_BM25_HITS, &skip);
        let hits = hits
            .into_iter()
            .filter(|h| aux_ok || !in_test_module(index, h.path, &h.lines))
            .take(config.max_bm25);
        for h in hits {
            candidates.push(piece(
                counter,
                h.path,
                h.text.to_string(),
                PieceKind::Bm25,
                h.score,
                h.lines,
            ));
        }
    }

    // Choose greedily by priority (candidates are already in priority order per kind).
    let mut used_tokens = 0;
    let mut chosen = Vec::new();
    for c in candidates {
        if used_tokens + c.tokens <= config.budget_tokens {
            used_tokens += c.tokens;
            chosen.push(c);
        } else {
            report.dropped.push(DroppedPiece {
                path: c.path,
                kind: c.kind,
                lines: c.lines,
                tokens: c.tokens,
                score: c.score,
                reason: "budget",
            });
        }
    }
    chosen.sort_by(|a, b| {
        (a.kind, a.path.as_str(), a.lines.start).cmp(&(b.kind, b.path.as_str(), b.lines.start))
    });
    report.used_tokens = used_tokens;
    report.included = chosen
        .iter()
        .map(|p| (p.kind, p.path.clone(), p.lines.clone(), p.tokens))
        .collect();
    RepoContext {
        pieces: chosen,
        report,
    }
}

fn piece(
    counter: &dyn TokenCounter,
    path: &str,
    text: String,
    kind: PieceKind,
    score: f32,
    lines: Range<usize>,
) -> RepoPiece {
    let tokens = counter.count(path) + counter.count(&text) + PIECE_OVERHEAD_TOKENS;
    RepoPiece {
        path: path.to_string(),
        text,
        kind,
        score,
        lines,
        tokens,
    }
}

/// Module outlines per request at most.
const MAX_OUTLINES: usize = 2;

/// Imports (real ones of the file, or made from the line's text) of the modules that `line`
/// reaches into: Python `name.` where `name` is an imported module and `from m import`; Rust
/// paths `a::b::` (`use` lists included). The caller keeps those that resolve to a module.
fn modules_on_line(lang: Language, line: &str, imports: &[Import]) -> Vec<Import> {
    let code = line.split(lang.line_comment()).next().unwrap_or(line);
    let mut out = Vec::new();
    let made = |kind, module: Vec<String>, level| Import {
        kind,
        module,
        name: None,
        alias: None,
        level,
        glob: false,
        line: 0,
    };
    match lang {
        Language::Python => {
            let t = code.trim_start();
            if let Some(rest) = t.strip_prefix("from ") {
                let m = rest.split_whitespace().next().unwrap_or("");
                let level = m.len() - m.trim_start_matches('.').len();
                let module: Vec<String> = m
                    .trim_start_matches('.')
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                if rest.contains(" import") && (level > 0 || !module.is_empty()) {
                    out.push(made(ImportKind::From, module, level));
                }
            }
            // `name.` where `name` is bound by an import to a module.
            let bytes = code.as_bytes();
            for (i, _) in code.match_indices('.') {
                let start = run_start(&code[..i], |c| c.is_alphanumeric() || c == '_');
                if start == i || (start > 0 && bytes[start - 1] == b'.') {
                    continue;
                }
                let name = &code[start..i];
                out.extend(
                    imports
                        .iter()
                        .filter(|imp| imp.local_name() == Some(name))
                        .cloned(),
                );
            }
        }
        Language::Rust => {
            for (i, _) in code.match_indices("::") {
                // The whole path before this `::`.
                let start = run_start(&code[..i], |c| c.is_alphanumeric() || c == '_' || c == ':');
                let segs: Vec<String> = code[start..i]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                if segs.is_empty() || segs.iter().any(|s| s.starts_with(char::is_uppercase)) {
                    continue;
                }
                // A path that starts with an imported name goes through that import.
                let via = imports.iter().find(|imp| {
                    imp.local_name() == Some(segs[0].as_str()) && imp.kind != ImportKind::Mod
                });
                let module = match via {
                    Some(imp) => {
                        let mut m = imp.module.clone();
                        m.extend(imp.name.clone());
                        m.extend(segs[1..].iter().cloned());
                        m
                    }
                    None => segs,
                };
                out.push(made(ImportKind::Import, module, 0));
            }
        }
    }
    out
}

/// Byte where the run of characters satisfying `ok` that ends `s` starts.
fn run_start(s: &str, ok: impl Fn(char) -> bool) -> usize {
    s.char_indices()
        .rev()
        .find(|&(_, c)| !ok(c))
        .map_or(0, |(j, c)| j + c.len_utf8())
}

/// One line per top-level definition of `file` (its signature; not those at indices `skip`), at
/// most `max_lines`: what a module offers. `None` when it has none.
fn module_outline(
    file: &IndexedFile,
    skip: &HashSet<usize>,
    max_lines: usize,
) -> Option<(String, Range<usize>)> {
    let rust = file.lang == Some(Language::Rust);
    let mut out = String::new();
    let mut n = 0;
    let (mut first, mut last) = (usize::MAX, 0);
    for (i, d) in file.definitions.iter().enumerate() {
        if skip.contains(&i)
            || d.parent.is_some()
            || d.kind == DefKind::Impl
            || d.kind == DefKind::Module
        {
            continue;
        }
        if rust && !d.signature.trim_start().starts_with("pub") {
            continue;
        }
        if n == max_lines {
            break;
        }
        let sig = d.signature.lines().next().unwrap_or("").trim_end();
        out.push_str(sig);
        out.push_str(match (rust, sig.ends_with(';'), sig.ends_with(':')) {
            (true, false, _) => " { ... }\n",
            (false, _, true) => " ...\n",
            _ => "\n",
        });
        n += 1;
        first = first.min(d.line);
        last = last.max(d.line + 1);
    }
    (n > 0).then_some((out, first..last))
}

/// BM25 hits asked for beyond `max_bm25`, to make up for chunks of test modules left out.
const EXTRA_BM25_HITS: usize = 3;

/// Test files and directories (`tests/`, `test_*.py`, `*_test.py`, `conftest.py`, a Rust
/// `tests.rs` module) and examples.
pub fn is_test_or_example(path: &str) -> bool {
    let mut segs = path.split('/').rev();
    let file = segs.next().unwrap_or("");
    segs.any(|d| matches!(d, "tests" | "test" | "examples" | "example"))
        || file.starts_with("test_")
        || file.ends_with("_test.py")
        || file.ends_with("_tests.py")
        || file.ends_with("_test.rs")
        || file.ends_with("_tests.rs")
        || matches!(file, "conftest.py" | "tests.rs" | "test.rs")
}

/// Whether `lines` of `path` lie inside a Rust `#[cfg(test)]` module.
fn in_test_module(index: &WorkspaceIndex, path: &str, lines: &Range<usize>) -> bool {
    let Some(f) = index.file(path) else {
        return false;
    };
    if f.lang != Some(Language::Rust) {
        return false;
    }
    f.definitions.iter().any(|d| {
        let end = d.line + f.text[d.range.clone()].lines().count();
        d.kind == DefKind::Module
            && d.line <= lines.start
            && lines.end <= end
            && decorators_above(&f.text, d)
                .iter()
                .any(|a| a.replace(' ', "") == "#[cfg(test)]")
    })
}

struct DefCandidate<'a> {
    path: &'a str,
    index: usize,
    score: f32,
}

/// Definitions to show, best first: names used near the cursor (imported, or defined elsewhere
/// unambiguously), the nearest use to the cursor line first; then names found by name in
/// tests and examples; then imported names not used nearby, in import order.
#[allow(clippy::too_many_arguments)]
fn definition_candidates<'a>(
    index: &'a WorkspaceIndex,
    path: &str,
    lang: Option<Language>,
    imports: &[Import],
    used: &[&str],
    distance: &HashMap<&str, usize>,
    own_names: &HashSet<&str>,
    config: &RepoConfig,
    report: &mut RepoReport,
) -> Vec<DefCandidate<'a>> {
    let used_pos = |n: &str| used.iter().position(|u| *u == n);
    let mut out: Vec<DefCandidate<'a>> = Vec::new();
    let mut taken: HashSet<(&'a str, usize)> = HashSet::new();
    let mut covered: HashSet<&str> = HashSet::new();
    let mut push = |out: &mut Vec<DefCandidate<'a>>, path: &'a str, index: usize, score: f32| {
        if taken.insert((path, index)) {
            out.push(DefCandidate { path, index, score });
        }
    };
    // Tier first, then closeness to the cursor line, then order of use.
    let score = |tier: f32, pos: usize| {
        let d = used
            .get(pos)
            .and_then(|n| distance.get(n))
            .copied()
            .unwrap_or(pos);
        tier * 1e6 - d as f32 * 100.0 - pos.min(99) as f32
    };

    for (k, imp) in imports.iter().enumerate() {
        let Some(r) = index.resolve_import(path, imp) else {
            continue;
        };
        let Some(file) = index.file(r.path) else {
            continue;
        };
        let local = imp.local_name();
        let local_pos = local.and_then(used_pos);
        match r.item.as_deref() {
            Some(item) => {
                if let Some(l) = local {
                    covered.insert(l);
                }
                let tier = if local_pos.is_some() { 2.0 } else { 0.0 };
                let pos = local_pos.unwrap_or(used.len() + k);
                for (p, i) in find_item(index, r.path, item, 3) {
                    push(&mut out, p, i, score(tier, pos));
                }
            }
            None => {
                // A module (or a glob): its top-level items used near the cursor.
                if local_pos.is_none() && !imp.glob {
                    continue;
                }
                for (i, d) in file.definitions.iter().enumerate() {
                    if d.parent.is_some() {
                        continue;
                    }
                    if let Some(pos) = used_pos(&d.name) {
                        covered.insert(used[pos]);
                        push(&mut out, &file.path, i, score(2.0, pos));
                    }
                }
            }
        }
    }
    // Files the imports lead to: members found by name are only taken from these.
    let mut related: HashSet<&str> = out.iter().map(|c| c.path).collect();
    for imp in imports {
        if let Some(r) = index.resolve_import(path, imp) {
            related.insert(r.path);
        }
    }
    for (pos, name) in used.iter().enumerate() {
        if covered.contains(name) || own_names.contains(name) || name.len() < MIN_NAME_LEN {
            continue;
        }
        let found = index.definitions_named(name);
        let found: Vec<_> = found
            .into_iter()
            .filter(|d| d.file.path != path && !is_trait_impl(d.def))
            .filter(|d| same_language(lang, d.file.lang))
            .filter(|d| d.def.parent.is_none() || related.contains(d.file.path.as_str()))
            .collect();
        if found.is_empty() {
            continue;
        }
        let mut files: Vec<&str> = found.iter().map(|d| d.file.path.as_str()).collect();
        files.dedup();
        if files.len() > config.max_name_ambiguity {
            report.unresolved.push(name.to_string());
            continue;
        }
        for d in found {
            // Found by name only: tests, fixtures and examples of other files rank lower.
            let tier = if is_auxiliary(&d.file.path) && !is_auxiliary(path) {
                1.0
            } else {
                2.0
            };
            push(&mut out, &d.file.path, d.index, score(tier, pos));
        }
    }
    // A member whose container is shown too is already in the container's outline.
    let all: HashSet<(&str, usize)> = out.iter().map(|c| (c.path, c.index)).collect();
    out.retain(|c| {
        let parent = index
            .file(c.path)
            .and_then(|f| f.definitions[c.index].parent);
        parent.is_none_or(|p| !all.contains(&(c.path, p)))
    });
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| (a.path, a.index).cmp(&(b.path, b.index)))
    });
    out
}

/// Pieces come from files in the current file's language (a Rust function named like a
/// Python call is noise in a Python prompt); a file of no known language takes anything.
fn same_language(current: Option<Language>, other: Option<Language>) -> bool {
    current.is_none() || current == other
}

/// Tests, fixtures, examples and benchmarks.
fn is_auxiliary(path: &str) -> bool {
    path.split('/').any(|seg| {
        matches!(
            seg,
            "tests" | "test" | "testing" | "fixtures" | "examples" | "benches" | "benchmarks"
        )
    }) || path.rsplit('/').next().is_some_and(|f| {
        f.starts_with("test_") || f.ends_with("_test.py") || f.ends_with("_tests.rs")
    })
}

/// `impl Trait for Type`: named after the type, but noise when the type is looked up.
fn is_trait_impl(d: &Definition) -> bool {
    d.kind == DefKind::Impl && d.signature.contains(" for ")
}

/// The definition of `item` in the file `path`, following re-exports (`pub use x::Item`,
/// `from .x import Item`) up to `depth` hops.
fn find_item<'a>(
    index: &'a WorkspaceIndex,
    path: &str,
    item: &str,
    depth: usize,
) -> Vec<(&'a str, usize)> {
    let Some(file) = index.file(path) else {
        return Vec::new();
    };
    let direct: Vec<(&'a str, usize)> = file
        .definitions
        .iter()
        .enumerate()
        .filter(|(_, d)| d.name == item && d.parent.is_none() && !is_trait_impl(d))
        .map(|(i, _)| (file.path.as_str(), i))
        .collect();
    if !direct.is_empty() || depth == 0 {
        return direct;
    }
    for imp in &file.imports {
        if imp.local_name() != Some(item) {
            continue;
        }
        if let Some(r) = index.resolve_import(path, imp) {
            let next = r.item.as_deref().unwrap_or(item);
            if r.path != path {
                let found = find_item(index, r.path, next, depth - 1);
                if !found.is_empty() {
                    return found;
                }
            }
        }
    }
    Vec::new()
}

/// Signature, docs and (for containers) member signatures; short data definitions whole.
pub fn render_definition(
    lang: Option<Language>,
    text: &str,
    defs: &[Definition],
    index: usize,
    config: &RepoConfig,
) -> String {
    let d = &defs[index];
    let indent = indentation(text, d.range.start);
    let mut out = String::new();
    let parent = d.parent.map(|p| &defs[p]).filter(|p| p.kind.is_container());
    if let Some(p) = parent {
        out.push_str(&indentation(text, p.range.start));
        out.push_str(&p.signature);
        out.push_str(if lang == Some(Language::Python) {
            "\n"
        } else {
            " {\n"
        });
    }
    let whole = &text[d.range.clone()];
    if d.kind.is_data() && whole.lines().count() <= config.full_text_max_lines {
        push_doc_above(&mut out, d, &indent);
        for l in decorators_above(text, d) {
            out.push_str(&indent);
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str(&indent);
        out.push_str(whole);
        out.push('\n');
    } else {
        render_header(&mut out, lang, text, d, &indent);
        if d.kind.is_container() || d.kind == DefKind::Module {
            let python = lang == Some(Language::Python);
            let outline = container_outline(text, defs, index, python);
            if python {
                if outline.is_empty() {
                    out.push_str(&indent);
                    out.push_str("    ...\n");
                }
            } else {
                out.truncate(out.trim_end().len());
                out.push_str(" {\n");
            }
            out.push_str(&outline);
            if !python {
                out.push_str(&indent);
                out.push_str("}\n");
            }
        }
    }
    if let (Some(p), false) = (parent, lang == Some(Language::Python)) {
        out.push_str(&indentation(text, p.range.start));
        out.push_str("}\n");
    }
    out
}

/// The first paragraph of a doc, at most [`MAX_DOC_LINES`] lines; a cut docstring is closed
/// with its opening quotes.
fn short_doc(doc: &str) -> String {
    let lines: Vec<&str> = doc.lines().collect();
    let mut end = lines.len().min(MAX_DOC_LINES);
    if let Some(blank) = lines.iter().skip(1).position(|l| {
        let t = l.trim();
        t.is_empty() || t == "///" || t == "//!" || t == "#"
    }) {
        end = end.min(blank + 1);
    }
    if end == lines.len() {
        return doc.to_string();
    }
    let mut s = lines[..end].join("\n");
    let first = lines[0].trim_start();
    let unprefixed = first.trim_start_matches(['r', 'b', 'u', 'f', 'R', 'B', 'U', 'F']);
    let quote = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|q| unprefixed.starts_with(q));
    if let Some(q) = quote {
        let indent: String = lines
            .last()
            .map(|l| l.chars().take_while(|c| c.is_whitespace()).collect())
            .unwrap_or_default();
        s.push('\n');
        s.push_str(&indent);
        s.push_str(q);
    }
    s
}

fn push_doc_above(out: &mut String, d: &Definition, indent: &str) {
    if let (Some(doc), false) = (&d.doc, d.doc_inside) {
        for l in short_doc(doc).lines() {
            out.push_str(indent);
            out.push_str(l.trim_start());
            out.push('\n');
        }
    }
}

/// Most lines of a container's outline (fields and member signatures).
const MAX_OUTLINE_LINES: usize = 24;

/// A container's fields (body lines outside members, e.g. dataclass fields) and member
/// signatures, in source order, with their own indentation.
fn container_outline(text: &str, defs: &[Definition], index: usize, python: bool) -> String {
    let d = &defs[index];
    let Some(body) = d.body.clone() else {
        return String::new();
    };
    let members: Vec<&Definition> = defs
        .iter()
        .skip(index + 1)
        .take_while(|m| m.range.start < d.range.end)
        .filter(|m| m.parent == Some(index))
        .collect();
    let mut entries: Vec<(usize, String)> = Vec::new();
    for m in &members {
        let mut line = indentation(text, m.range.start);
        line.push_str(&m.signature);
        if python {
            line.push_str(" ...");
        } else if !m.signature.ends_with(';') {
            line.push(';');
        }
        entries.push((m.range.start, line));
    }
    // Field lines: body lines outside every member, docstring, comment and brace.
    let doc = d.doc.as_deref().filter(|_| d.doc_inside);
    let mut pos = body.start;
    for line in text[body.clone()].split_inclusive('\n') {
        let at = pos;
        pos += line.len();
        let t = line.trim();
        let skip = t.is_empty()
            || t == "{"
            || t == "}"
            || t.starts_with('#')
            || t.starts_with("//")
            || t.starts_with('@')
            || doc.is_some_and(|doc| doc.contains(t) || t.starts_with("\"\"\""))
            || members.iter().any(|m| {
                let lo = text[..m.range.start].rfind('\n').map_or(0, |i| i + 1);
                at + line.len() > lo && at < m.range.end
            });
        if !skip {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            entries.push((at, text[line_start..at + line.len()].trim_end().to_string()));
        }
    }
    entries.sort_by_key(|e| e.0);
    let mut out = String::new();
    for (_, l) in entries.into_iter().take(MAX_OUTLINE_LINES) {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Decorator and attribute lines directly above a definition.
fn decorators_above(text: &str, d: &Definition) -> Vec<String> {
    let mut lines = Vec::new();
    let mut end = text[..d.range.start].rfind('\n').map_or(0, |i| i + 1);
    while end > 0 && lines.len() < 3 {
        let start = text[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        let l = text[start..end].trim();
        if l.starts_with('@') || l.starts_with("#[") {
            lines.push(l.to_string());
            end = start;
        } else if l.starts_with("//") || l.starts_with('#') {
            end = start;
        } else {
            break;
        }
    }
    lines.reverse();
    lines
}

/// Doc, signature and a body placeholder.
fn render_header(
    out: &mut String,
    lang: Option<Language>,
    text: &str,
    d: &Definition,
    indent: &str,
) {
    push_doc_above(out, d, indent);
    for l in decorators_above(text, d) {
        if !l.starts_with("#[") {
            out.push_str(indent);
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str(indent);
    out.push_str(&d.signature);
    let python = lang == Some(Language::Python);
    match (&d.doc, d.doc_inside) {
        (Some(doc), true) => {
            out.push('\n');
            for (i, l) in short_doc(doc).lines().enumerate() {
                if i == 0 {
                    out.push_str(indent);
                    out.push_str("    ");
                    out.push_str(l);
                } else {
                    out.push_str(l);
                }
                out.push('\n');
            }
            if !d.kind.is_container() {
                out.push_str(indent);
                out.push_str(if python { "    ...\n" } else { "    // ...\n" });
            }
        }
        _ => {
            if d.kind.is_container() {
                out.push('\n');
            } else if python {
                out.push_str(" ...\n");
            } else if d.signature.ends_with(';') {
                out.push('\n');
            } else {
                out.push_str(";\n");
            }
        }
    }
}

/// The whitespace from the start of `byte`'s line up to `byte`, if it is only whitespace.
fn indentation(text: &str, byte: usize) -> String {
    let line_start = text[..byte].rfind('\n').map_or(0, |i| i + 1);
    let pre = &text[line_start..byte];
    if pre.chars().all(char::is_whitespace) {
        pre.to_string()
    } else {
        String::new()
    }
}

/// Identifier leaves (node kinds ending in `identifier`) inside `range`, in source order,
/// except those overlapping `skip` (the word being typed).
fn tree_identifiers<'t>(
    tree: &Tree,
    text: &'t str,
    range: Range<usize>,
    skip: Range<usize>,
) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut cursor = tree.walk();
    'walk: loop {
        let node = cursor.node();
        let r = node.byte_range();
        let overlaps = r.start < range.end && range.start < r.end;
        if overlaps && node.child_count() == 0 {
            let outside_skip = r.end <= skip.start || r.start >= skip.end;
            if node.kind().ends_with("identifier") && outside_skip {
                if let Some(t) = text.get(r) {
                    out.push(t);
                }
            }
        } else if overlaps && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    out
}

/// The identifier touching `cursor` (being typed), as a byte range.
fn word_at(text: &str, cursor: usize) -> (usize, usize) {
    let is_id = |c: char| c.is_alphanumeric() || c == '_';
    let start = text[..cursor]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_id(c))
        .last()
        .map_or(cursor, |(i, _)| i);
    let end = text[cursor..]
        .char_indices()
        .find(|&(_, c)| !is_id(c))
        .map_or(text.len(), |(i, _)| cursor + i);
    (start, end)
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The best non-overlapping windows of an open file by Jaccard similarity to `query`.
fn best_windows<'a>(
    f: &OpenFile<'a>,
    query: &HashSet<&str>,
    config: &RepoConfig,
) -> Vec<(&'a str, Range<usize>, f32, &'a str)> {
    let size = config.snippet_lines.max(1);
    let step = (size / 2).max(1);
    let starts = line_starts(f.text);
    let n = if f.text.ends_with('\n') {
        starts.len() - 1
    } else {
        starts.len()
    };
    let mut hits: Vec<(&'a str, Range<usize>, f32, &'a str)> = Vec::new();
    let mut first = 0;
    while first < n {
        let last = (first + size).min(n);
        let bytes = starts[first]..starts.get(last).copied().unwrap_or(f.text.len());
        let body = &f.text[bytes];
        let ids: HashSet<&str> = identifiers(body).filter(|t| t.len() >= 2).collect();
        let inter = ids.intersection(query).count();
        let union = ids.len() + query.len() - inter;
        let j = if union == 0 {
            0.0
        } else {
            inter as f32 / union as f32
        };
        if j >= config.min_jaccard {
            hits.push((f.path, first..last, j, body));
        }
        if last == n {
            break;
        }
        first += step;
    }
    hits.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.1.start.cmp(&b.1.start)));
    let mut out: Vec<(&'a str, Range<usize>, f32, &'a str)> = Vec::new();
    for h in hits {
        if out.len() == config.max_snippets {
            break;
        }
        if out
            .iter()
            .all(|o| o.1.end <= h.1.start || h.1.end <= o.1.start)
        {
            out.push(h);
        }
    }
    out
}

/// Where repository context comes from (the server wires in a workspace index: nib-workspace;
/// the ide and this crate do no IO). Called only when the prompt's window is set up afresh, not per keystroke.
pub trait RepoContextSource: Send + Sync {
    /// Pieces of other files for a cursor at byte `cursor` of the document `uri`.
    #[allow(clippy::too_many_arguments)]
    fn context(
        &self,
        uri: &str,
        text: &str,
        cursor: usize,
        tree: Option<&nib_syntax::tree_sitter::Tree>,
        open_files: &[OpenFile<'_>],
        counter: &dyn nib_engine::TokenCounter,
        budget_tokens: usize,
    ) -> Option<RepoContext>;
    /// A name for the repository (the `<|repo_name|>` of Qwen prompts).
    fn repo_name(&self) -> Option<String>;
    /// Whether the file at `path` (a `file://` URI, an absolute path or one relative to the
    /// repository) is excluded by the repository's ignore files: such a file is never part
    /// of what is sent to a remote model. Default: none is.
    fn is_ignored(&self, path: &str) -> bool {
        let _ = path;
        false
    }
}

#[cfg(test)]
mod tests;
