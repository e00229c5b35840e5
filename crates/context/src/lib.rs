//! Context: decides what text around the cursor goes into the prompt.
//!
//! Invariants and boundary:
//! - PURE: no IO, and it cannot fail. Given less budget than it would like, it degrades and
//!   reports what it dropped ([`Report`]).
//! - Budgets are in tokens of the model's own tokenizer ([`TokenCounter`]).
//! - Windows are cut at line boundaries: the prefix starts at a line start and the suffix ends
//!   at a line end (or the end of the text). Only the cursor's own line may be cut, and only
//!   when that single line is larger than the whole budget.
//! - Output strings are always valid UTF-8 slices of the input: no character is ever split.
//!
//! Modules: [`index`] (the workspace index: definitions, imports, module resolution, BM25),
//! [`repo`] (repository context pieces within a budget, stable while typing), [`env`]
//! (language and library versions from manifest contents), and [`cursor_window_scoped`]
//! (the cursor window keeping the enclosing scopes' headers).

use nib_engine::TokenCounter;

pub mod env;
pub mod index;
pub mod repo;
mod scoped;

pub use scoped::{cursor_window_scoped, scope_headers, ScopeHeader};
#[cfg(test)]
mod test_support;

/// Budgets for the cursor window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WindowConfig {
    pub prefix_tokens: usize,
    pub suffix_tokens: usize,
}

impl Default for WindowConfig {
    fn default() -> WindowConfig {
        WindowConfig {
            prefix_tokens: 2000,
            suffix_tokens: 2000,
        }
    }
}

/// The text around the cursor chosen for the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    /// Whole lines before the cursor's line, then the cursor line up to the cursor.
    pub prefix: String,
    /// The rest of the cursor line, then whole lines after it.
    pub suffix: String,
    pub report: Report,
}

/// What the window kept and left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Report {
    pub prefix_tokens: usize,
    pub suffix_tokens: usize,
    /// Lines of the given text left out before the window.
    pub dropped_prefix_lines: usize,
    /// Lines of the given text left out after the window.
    pub dropped_suffix_lines: usize,
    /// The cursor line itself had to be cut (a single line over the budget).
    pub cut_cursor_line: bool,
    /// Enclosing scope headers put before the prefix ([`cursor_window_scoped`]).
    pub scope_headers: usize,
    /// Bytes at the start of the prefix taken by those headers.
    pub scope_header_bytes: usize,
}

/// Largest byte count per token we assume when pre-cutting huge inputs before counting.
const MAX_BYTES_PER_TOKEN: usize = 16;

/// Choose the window. `before` / `after` are the document text before / after the cursor
/// (the caller may pass a bounded excerpt of a huge document; the excerpt of `before` should
/// start at a line start and `after` end at a line end).
pub fn cursor_window(
    before: &str,
    after: &str,
    counter: &dyn TokenCounter,
    config: WindowConfig,
) -> Window {
    let mut report = Report::default();
    let prefix = take_prefix(before, counter, config.prefix_tokens, &mut report);
    let suffix = take_suffix(after, counter, config.suffix_tokens, &mut report);
    Window {
        prefix: prefix.to_string(),
        suffix: suffix.to_string(),
        report,
    }
}

/// The longest tail of `text` made of whole lines (plus the cursor line's start) within budget.
fn take_prefix<'a>(
    text: &'a str,
    counter: &dyn TokenCounter,
    budget: usize,
    report: &mut Report,
) -> &'a str {
    // Bound the work on huge inputs: no more bytes than the budget could ever hold.
    let hard_start = floor_char(
        text,
        text.len()
            .saturating_sub(budget.saturating_mul(MAX_BYTES_PER_TOKEN)),
    );
    let line_start = text.rfind('\n').map_or(0, |i| i + 1);
    let mut start = line_start.max(hard_start);
    report.cut_cursor_line = start > line_start;
    let mut used = counter.count(&text[start..]);
    if used > budget {
        // The cursor line alone is over budget: keep its end, cut at a character boundary.
        report.cut_cursor_line = true;
        let mut lo = start;
        let mut hi = text.len();
        while lo < hi {
            let mid = ceil_char(text, lo + (hi - lo) / 2);
            if mid >= hi {
                break;
            }
            if counter.count(&text[mid..]) <= budget {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        start = ceil_char(text, hi.min(text.len()));
        used = counter.count(&text[start..]);
    } else {
        // Add whole lines backwards while they fit.
        while start > hard_start {
            let prev = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
            if prev < hard_start {
                break;
            }
            let cost = counter.count(&text[prev..start]);
            if used + cost > budget {
                break;
            }
            used += cost;
            start = prev;
        }
    }
    report.prefix_tokens = used;
    report.dropped_prefix_lines = text[..start].matches('\n').count();
    &text[start..]
}

/// The longest head of `text` made of whole lines (after the cursor line's rest) within budget.
fn take_suffix<'a>(
    text: &'a str,
    counter: &dyn TokenCounter,
    budget: usize,
    report: &mut Report,
) -> &'a str {
    let hard_end = floor_char(
        text,
        budget.saturating_mul(MAX_BYTES_PER_TOKEN).min(text.len()),
    );
    let first_end = text.find('\n').map_or(text.len(), |i| i + 1);
    let mut end = first_end.min(hard_end);
    report.cut_cursor_line |= end < first_end;
    let mut used = counter.count(&text[..end]);
    if used > budget {
        report.cut_cursor_line = true;
        let mut lo = 0;
        let mut hi = end;
        while lo < hi {
            let mid = floor_char(text, lo + (hi - lo).div_ceil(2));
            if mid <= lo {
                break;
            }
            if counter.count(&text[..mid]) <= budget {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        end = floor_char(text, lo);
        used = counter.count(&text[..end]);
    } else {
        while end < hard_end {
            let next = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
            if next > hard_end {
                break;
            }
            let cost = counter.count(&text[end..next]);
            if used + cost > budget {
                break;
            }
            used += cost;
            end = next;
        }
    }
    report.suffix_tokens = used;
    report.dropped_suffix_lines = text[end..].matches('\n').count()
        + usize::from(!text[end..].is_empty() && !text.ends_with('\n'));
    &text[..end]
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests;
