//! The anchored prompts: the full window (main slot) and the small window (scratch slot).
//!
//! Prompt layout and KV-cache reuse: the prompt is `PRE prefix SUF suffix MID typed`, where
//! `prefix` ends at an *anchor* (the start of the line where the user started typing) and
//! `typed` is what was typed since. While the user types, the anchor stays put, so each request
//! only appends the newly typed tokens to what the engine's cache already holds. The anchor
//! moves (and the context is read again) when the user jumps elsewhere, edits before it, or has
//! typed a lot since; the window start then moves only in large steps.
//!
//! Invariants:
//! - A valid anchor's window text is still the document's text (`start..end` is compared
//!   before reuse); a document holds at most [`MAX_ANCHORS`] anchors, newest first.
//! - The small window is anchored the same way: its prefix ends at the full window's anchor
//!   and its suffix is a fixed number of tokens, so typing only appends to the scratch slot.
//! - The prompt's end is healed ([`crate::heal`]): [`Prepared::heal`] says what the output
//!   must start with.
//! - Repository context is looked up only when a window is set up afresh, not per keystroke.

use std::sync::Arc;

use nib_context::{cursor_window, cursor_window_scoped, Report, WindowConfig};
use nib_engine::{CompletionEngine, FimParts};
use nib_postprocess::Mode;
use nib_text::Document;

use crate::heal::{heal, Heal};
use crate::session::{Anchor, SmallWindow};
use crate::{lock, Ide, IdeConfig, Snapshot};

/// Typed text after the anchor beyond which the anchor moves.
const MAX_TYPED_BYTES: usize = 1500;
const MAX_TYPED_LINES: usize = 40;
/// Anchors remembered per document.
const MAX_ANCHORS: usize = 3;
/// The pinned window start is kept while the prefix stays under budget times this.
const WINDOW_SLACK: f64 = 1.25;
/// A fresh window fills this share of the prefix budget, leaving room to grow.
const FRESH_WINDOW_SHARE: f64 = 0.8;
/// Bytes of document text looked at on each side before token counting (bounds work on huge files).
const BYTES_PER_TOKEN_BOUND: usize = 16;
/// Tokens of a new small window's budget kept for the prompt's own tokens (special tokens,
/// file name).
const SMALL_PROMPT_OVERHEAD_TOKENS: usize = 8;
/// Least token budget of a new small window's text, however much was typed.
const MIN_SMALL_TEXT_TOKENS: usize = 16;
/// Share of a new small window's text budget before the anchor (numerator, denominator); the
/// rest goes after the cursor.
const SMALL_PREFIX_SHARE: (usize, usize) = (3, 4);
/// Other open documents offered to the repository context (similar snippets).
const OTHER_OPEN_DOCUMENTS: usize = 4;

/// Everything a request sends to the model, computed from a snapshot and a cursor.
pub(crate) struct Prepared {
    pub prompt: String,
    /// Real document text before the cursor in the window (for post-processing).
    pub prefix: String,
    pub suffix: String,
    pub mode: Mode,
    /// How the prompt's end was healed: what the output must start with, and the
    /// indentation the suggestion starts with.
    pub heal: Heal,
    pub report: Report,
    pub repo_report: Option<nib_context::repo::RepoReport>,
    /// Requests served by this prompt's anchor, this one included (1 = a fresh context).
    pub anchor_uses: u32,
    /// Byte offset of the anchor: the line start the prompt's prefix ends at.
    pub anchor_end: usize,
    /// What the prompt was rendered from (a retry re-renders it with another healing).
    pub parts: FimParts,
    /// Text typed after the anchor (the start of the middle, before healing).
    pub typed: String,
}

impl Ide {
    /// The anchored prompt for a cursor at `offset`; updates the document's anchor.
    pub(crate) fn prepare(
        &self,
        snap: &Snapshot,
        offset: usize,
        config: &IdeConfig,
        engine: &dyn CompletionEngine,
        count_use: bool,
    ) -> Prepared {
        let doc = &snap.doc;
        let counter = engine.token_counter();
        let budget = config.window;
        let line_start = doc.line_start(doc.line_of(offset));
        // Recent anchors of this document, newest first: returning from a short excursion
        // finds its anchor (and the engine its cached context) again.
        let anchors = lock(&self.sessions)
            .get(&snap.uri)
            .map(|s| s.anchors.clone())
            .unwrap_or_default();
        let old = anchors.first().cloned();
        // Of the valid anchors, the closest to the cursor (least typed text after it).
        let valid = anchors
            .iter()
            .filter(|a| {
                a.end <= offset
                    && offset - a.end <= MAX_TYPED_BYTES
                    && doc.slice(a.start, a.end) == *a.prefix
                    && doc.slice(a.end, offset).matches('\n').count() <= MAX_TYPED_LINES
            })
            .max_by_key(|a| a.end);
        let (anchor, mut report) = match valid {
            Some(a) => (a.clone(), a.report.clone()),
            None => {
                // Re-anchor at the cursor line's start; keep the old window start while the
                // prefix still fits (window moves in large steps, not per keystroke).
                let pinned = old
                    .as_ref()
                    .filter(|a| a.start <= line_start && doc.slice(a.start, a.end) == *a.prefix);
                let kept = pinned.and_then(|a| {
                    let prefix = doc.slice(a.start, line_start);
                    let tokens = counter.count(&prefix);
                    (tokens as f64 <= budget.prefix_tokens as f64 * WINDOW_SLACK).then(|| {
                        let report = Report {
                            prefix_tokens: tokens,
                            dropped_prefix_lines: doc.line_of(a.start),
                            ..Report::default()
                        };
                        Anchor {
                            start: a.start,
                            end: line_start,
                            prefix: Arc::new(prefix),
                            // The window starts where it did: so do its enclosing scopes.
                            headers: Arc::clone(&a.headers),
                            report,
                            files: Arc::clone(&a.files),
                            repo_report: a.repo_report.clone(),
                            uses: 0,
                        }
                    })
                });
                let a = kept.unwrap_or_else(|| {
                    let share = WindowConfig {
                        prefix_tokens: (budget.prefix_tokens as f64 * FRESH_WINDOW_SHARE) as usize,
                        suffix_tokens: 0,
                    };
                    let excerpt_start = excerpt_start(
                        doc,
                        line_start,
                        budget.prefix_tokens * BYTES_PER_TOKEN_BOUND,
                    );
                    let before = doc.slice(excerpt_start, line_start);
                    // The signatures of the scopes around the cursor stay in the prompt
                    // when the window starts inside their bodies.
                    // The whole text once, for the scope headers and the repository context.
                    let text = doc.text();
                    let scopes = self.scope_headers(snap, &text, line_start, excerpt_start);
                    let mut w = cursor_window_scoped(&before, "", counter.as_ref(), share, &scopes);
                    let headers = w.prefix[..w.report.scope_header_bytes].to_string();
                    w.prefix.drain(..headers.len());
                    let start = line_start - w.prefix.len();
                    let mut report = w.report;
                    report.dropped_prefix_lines = doc.line_of(start);
                    let (files, repo_report) =
                        self.repo_files(snap, &text, line_start, config, counter.as_ref());
                    Anchor {
                        start,
                        end: line_start,
                        prefix: Arc::new(w.prefix),
                        headers: Arc::new(headers),
                        report,
                        files,
                        repo_report,
                        uses: 0,
                    }
                });
                let report = a.report.clone();
                (a, report)
            }
        };
        let typed = doc.slice(anchor.end, offset);
        let sw = suffix_window(doc, offset, budget.suffix_tokens, counter.as_ref());
        report.suffix_tokens = sw.report.suffix_tokens;
        report.dropped_suffix_lines = sw.report.dropped_suffix_lines;
        report.cut_cursor_line |= sw.report.cut_cursor_line;
        let mut anchor = anchor;
        if count_use {
            anchor.uses += 1;
        }
        {
            let mut sessions = lock(&self.sessions);
            let list = &mut sessions.entry(snap.uri.clone()).or_default().anchors;
            list.retain(|a| {
                !(a.start == anchor.start && a.end == anchor.end && a.prefix == anchor.prefix)
            });
            list.insert(0, anchor.clone());
            list.truncate(MAX_ANCHORS);
        }
        self.assemble(
            snap,
            engine,
            Pieces {
                headers: &anchor.headers,
                window: &anchor.prefix,
                typed,
                suffix: sw.suffix,
                files: anchor.files.to_vec(),
                report,
                repo_report: anchor.repo_report.as_deref().cloned(),
                anchor_uses: anchor.uses,
                anchor_end: anchor.end,
            },
        )
    }

    /// The prompt made of a window (`headers` then `window`, ending at the anchor), the text
    /// typed since the anchor, and the suffix after the cursor.
    fn assemble(&self, snap: &Snapshot, engine: &dyn CompletionEngine, p: Pieces<'_>) -> Prepared {
        let prefix = format!("{}{}", p.window, p.typed);
        let mode = nib_postprocess::decide_mode(snap.lang, &prefix, &p.suffix);
        let heal = heal(snap.lang, &prefix, &p.suffix, mode, &p.typed, None);
        let info = engine.info();
        let repo_name = if p.files.is_empty() {
            None
        } else {
            self.repo_source().and_then(|r| r.repo_name())
        };
        let parts = FimParts {
            path: Some(file_name(&snap.uri)),
            comment: snap.lang.map_or("#", |l| l.line_comment()).to_string(),
            prefix: format!("{}{}", p.headers, p.window),
            suffix: if info.format.supports_fim() {
                p.suffix.clone()
            } else {
                String::new()
            },
            middle_start: heal.middle.clone(),
            files: p.files,
            repo_name,
        };
        Prepared {
            prompt: info.format.render(&parts),
            prefix,
            suffix: p.suffix,
            mode,
            heal,
            report: p.report,
            repo_report: p.repo_report,
            anchor_uses: p.anchor_uses,
            anchor_end: p.anchor_end,
            parts,
            typed: p.typed,
        }
    }

    /// Headers of the scopes enclosing byte `at` of the document, for a window excerpt that
    /// starts at byte `excerpt_start` (see [`nib_context::cursor_window_scoped`]).
    fn scope_headers(
        &self,
        snap: &Snapshot,
        text: &str,
        at: usize,
        excerpt_start: usize,
    ) -> Vec<nib_context::ScopeHeader> {
        let (Some(lang), Some(tree)) = (snap.lang, snap.tree.as_ref()) else {
            return Vec::new();
        };
        let scopes = nib_syntax::tags::enclosing_scopes(lang, tree, text, at);
        nib_context::scope_headers(text, excerpt_start, &scopes)
    }

    /// Repository context for a window anchored at `at`, if a source is set.
    pub(crate) fn repo_files(
        &self,
        snap: &Snapshot,
        text: &str,
        at: usize,
        config: &IdeConfig,
        counter: &dyn nib_engine::TokenCounter,
    ) -> (
        Arc<Vec<nib_engine::RepoFile>>,
        Option<Arc<nib_context::repo::RepoReport>>,
    ) {
        let source = self.repo_source().filter(|_| config.repo_tokens > 0);
        let Some(source) = source else {
            return (Arc::default(), None);
        };
        let others = self.other_documents(&snap.uri, OTHER_OPEN_DOCUMENTS);
        let open: Vec<crate::OpenFile<'_>> = others
            .iter()
            .map(|(u, t)| crate::OpenFile {
                path: u.as_str(),
                text: t.as_str(),
            })
            .collect();
        match source.context(
            &snap.uri,
            text,
            at,
            snap.tree.as_ref(),
            &open,
            counter,
            config.repo_tokens,
        ) {
            Some(ctx) => (Arc::new(ctx.files()), Some(Arc::new(ctx.report))),
            None => (Arc::default(), None),
        }
    }

    /// The small anchored prompt for the scratch slot: the document's small window for the
    /// anchor at `anchor_end` (the one last used, while still valid, so that the scratch
    /// slot's cache is reused; otherwise a new one of about `tokens` tokens), the text typed
    /// since the anchor after the middle token, like the full prompt.
    pub(crate) fn prepare_small(
        &self,
        snap: &Snapshot,
        offset: usize,
        anchor_end: usize,
        tokens: usize,
        engine: &dyn CompletionEngine,
    ) -> Prepared {
        let doc = &snap.doc;
        let counter = engine.token_counter();
        let anchor_end = anchor_end.min(offset);
        let existing = lock(&self.sessions)
            .get(&snap.uri)
            .and_then(|s| s.small.clone())
            .filter(|w| w.end == anchor_end && doc.slice(w.start, w.end) == *w.prefix);
        let win = existing.unwrap_or_else(|| {
            let typed = doc.slice(anchor_end, offset);
            let left = tokens
                .saturating_sub(counter.count(&typed) + SMALL_PROMPT_OVERHEAD_TOKENS)
                .max(MIN_SMALL_TEXT_TOKENS);
            let (num, den) = SMALL_PREFIX_SHARE;
            let cfg = WindowConfig {
                prefix_tokens: left * num / den,
                suffix_tokens: 0,
            };
            let excerpt_start =
                excerpt_start(doc, anchor_end, cfg.prefix_tokens * BYTES_PER_TOKEN_BOUND);
            let before = doc.slice(excerpt_start, anchor_end);
            let text = doc.text();
            let scopes = self.scope_headers(snap, &text, anchor_end, excerpt_start);
            let mut w = cursor_window_scoped(&before, "", counter.as_ref(), cfg, &scopes);
            let headers = w.prefix[..w.report.scope_header_bytes].to_string();
            w.prefix.drain(..headers.len());
            SmallWindow {
                end: anchor_end,
                start: anchor_end - w.prefix.len(),
                prefix_tokens: counter.count(&w.prefix),
                prefix: Arc::new(w.prefix),
                headers: Arc::new(headers),
                suffix_tokens: left * (den - num) / den,
            }
        });
        lock(&self.sessions)
            .entry(snap.uri.clone())
            .or_default()
            .small = Some(win.clone());
        let typed = doc.slice(win.end, offset);
        let sw = suffix_window(doc, offset, win.suffix_tokens, counter.as_ref());
        let report = Report {
            prefix_tokens: win.prefix_tokens,
            suffix_tokens: sw.report.suffix_tokens,
            dropped_prefix_lines: doc.line_of(win.start),
            dropped_suffix_lines: sw.report.dropped_suffix_lines,
            cut_cursor_line: sw.report.cut_cursor_line,
            ..Report::default()
        };
        self.assemble(
            snap,
            engine,
            Pieces {
                headers: &win.headers,
                window: &win.prefix,
                typed,
                suffix: sw.suffix,
                files: Vec::new(),
                report,
                repo_report: None,
                anchor_uses: 0,
                anchor_end: win.end,
            },
        )
    }
}

/// What a prompt is assembled from (see [`Ide::assemble`]).
struct Pieces<'a> {
    headers: &'a str,
    window: &'a str,
    typed: String,
    suffix: String,
    files: Vec<nib_engine::RepoFile>,
    report: Report,
    repo_report: Option<nib_context::repo::RepoReport>,
    anchor_uses: u32,
    anchor_end: usize,
}

/// Up to `tokens` tokens of the document after `offset`, cut at a line end.
fn suffix_window(
    doc: &Document,
    offset: usize,
    tokens: usize,
    counter: &dyn nib_engine::TokenCounter,
) -> nib_context::Window {
    let after = doc.slice(
        offset,
        offset.saturating_add(tokens * BYTES_PER_TOKEN_BOUND),
    );
    cursor_window(
        "",
        &after,
        counter,
        WindowConfig {
            prefix_tokens: 0,
            suffix_tokens: tokens,
        },
    )
}

/// Start of the text before `offset` worth looking at: `max_bytes` back, moved forward to a
/// line start when one exists before `offset`.
fn excerpt_start(doc: &Document, offset: usize, max_bytes: usize) -> usize {
    let rough = offset.saturating_sub(max_bytes);
    if rough == 0 {
        return 0;
    }
    let line = doc.line_of(rough);
    let next = doc.line_start(line + 1);
    if doc.line_start(line) == rough || next > offset {
        rough
    } else {
        next
    }
}

fn file_name(uri: &str) -> String {
    uri.rsplit('/').next().unwrap_or(uri).to_string()
}
