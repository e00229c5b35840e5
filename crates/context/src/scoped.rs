//! A cursor window that keeps the headers of the enclosing scopes (class, impl, function
//! signatures) even when the budget cuts the start of the body.

use nib_engine::TokenCounter;
use nib_syntax::tags::Scope;

use crate::{cursor_window, Window, WindowConfig};

/// The header of a scope enclosing the cursor, from its line start (indentation included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeHeader {
    /// Byte offset in `before` of the header's line start; `None` when it lies before the
    /// excerpt the caller passes as `before`.
    pub offset: Option<usize>,
    /// E.g. `    def add(self, item: Item) -> None:` or `impl Store`.
    pub text: String,
}

/// Headers for `scopes` (outermost first, from [`nib_syntax::tags::enclosing_scopes`] over the
/// whole document `text`), for a window whose `before` excerpt starts at byte `before_start`.
pub fn scope_headers(text: &str, before_start: usize, scopes: &[Scope]) -> Vec<ScopeHeader> {
    scopes
        .iter()
        .filter(|s| s.range.start <= text.len())
        .map(|s| {
            let line_start = text[..s.range.start].rfind('\n').map_or(0, |i| i + 1);
            let indent = &text[line_start..s.range.start];
            let indent = if indent.chars().all(char::is_whitespace) {
                indent
            } else {
                ""
            };
            let mut header = format!("{indent}{}", s.signature);
            // Rust-like headers open a block; Python ones end with ':'.
            if !header.ends_with(':') && !header.ends_with('{') {
                header.push_str(" {");
            }
            ScopeHeader {
                offset: line_start.checked_sub(before_start),
                text: header,
            }
        })
        .collect()
}

/// Like [`cursor_window`], but when the prefix would start after the header of an enclosing
/// scope, that header (one line per scope, outermost first) is put before the prefix, within
/// the same prefix budget. Headers cost at most half the prefix budget; the innermost are kept
/// first. The result's prefix is then no longer a plain suffix of `before`;
/// `report.scope_headers` says how many headers were added.
pub fn cursor_window_scoped(
    before: &str,
    after: &str,
    counter: &dyn TokenCounter,
    config: WindowConfig,
    scopes: &[ScopeHeader],
) -> Window {
    let plain = cursor_window(before, after, counter, config);
    // Headers not inside a window whose prefix starts at `start`.
    let missing = |start: usize| -> Vec<&ScopeHeader> {
        scopes
            .iter()
            .filter(|s| s.offset.is_none_or(|o| o < start))
            .collect()
    };
    let mut start = before.len() - plain.prefix.len();
    let mut chosen = missing(start);
    if chosen.is_empty() {
        return plain;
    }
    let half = config.prefix_tokens / 2;
    let mut window = plain;
    for _ in 0..=scopes.len() {
        // Keep the innermost headers that fit in half the budget.
        let mut headers = String::new();
        let mut cost = 0;
        let mut kept = 0;
        for h in chosen.iter().rev() {
            let line = format!("{}\n", h.text);
            let c = counter.count(&line);
            if cost + c > half {
                break;
            }
            cost += c;
            kept += 1;
            headers.insert_str(0, &line);
        }
        let cfg = WindowConfig {
            prefix_tokens: config.prefix_tokens - cost,
            ..config
        };
        let w = cursor_window(before, after, counter, cfg);
        let new_start = before.len() - w.prefix.len();
        let now_missing = missing(new_start);
        if now_missing.len() == chosen.len() || new_start == start {
            window = w;
            // Headers and prefix are counted apart; recount together to stay exact.
            let mut prefix = headers;
            prefix.push_str(&window.prefix);
            let total = counter.count(&prefix);
            if total > config.prefix_tokens {
                // A tokenizer that merges across the join: fall back to the plain window.
                return cursor_window(before, after, counter, config);
            }
            window.report.scope_header_bytes = prefix.len() - window.prefix.len();
            window.prefix = prefix;
            window.report.prefix_tokens = total;
            window.report.scope_headers = kept;
            return window;
        }
        start = new_start;
        chosen = now_missing;
    }
    window
}

#[cfg(test)]
mod tests {
    use super::*;
    use nib_engine::ApproxTokenCounter;
    use nib_syntax::{parse, tags::enclosing_scopes, Language};
    use proptest::prelude::*;

    fn long_method() -> String {
        let mut s = String::from("class Cart:\n    \"\"\"Doc.\"\"\"\n\n    def total(self, items: list) -> float:\n        acc = 0.0\n");
        for i in 0..200 {
            s.push_str(&format!("        acc += items[{i}].price * {i}\n"));
        }
        s.push_str("        return acc\n");
        s
    }

    fn window_at(text: &str, cursor: usize, budget: usize) -> Window {
        let tree = parse(Language::Python, text).unwrap();
        let scopes = enclosing_scopes(Language::Python, &tree, text, cursor);
        let headers = scope_headers(text, 0, &scopes);
        cursor_window_scoped(
            &text[..cursor],
            &text[cursor..],
            &ApproxTokenCounter,
            WindowConfig {
                prefix_tokens: budget,
                suffix_tokens: budget,
            },
            &headers,
        )
    }

    #[test]
    fn keeps_enclosing_signatures_when_the_body_is_cut() {
        let text = long_method();
        let cursor = text.find("items[150]").unwrap();
        let w = window_at(&text, cursor, 120);
        assert_eq!(w.report.scope_headers, 2);
        assert!(
            w.prefix.starts_with(
                "class Cart:\n    def total(self, items: list) -> float:\n        acc += items["
            ),
            "{}",
            w.prefix
        );
        assert!(w.prefix.ends_with("        acc += "));
        let headers = &w.prefix[..w.report.scope_header_bytes];
        assert_eq!(
            headers,
            "class Cart:\n    def total(self, items: list) -> float:\n"
        );
        assert!(text[..cursor].ends_with(&w.prefix[w.report.scope_header_bytes..]));
        assert!(ApproxTokenCounter.count(&w.prefix) <= 120);
        assert_eq!(w.report.prefix_tokens, ApproxTokenCounter.count(&w.prefix));
    }

    #[test]
    fn unchanged_when_the_headers_are_in_the_window() {
        let text = long_method();
        let cursor = text.find("items[2]").unwrap();
        let w = window_at(&text, cursor, 2000);
        let plain = cursor_window(
            &text[..cursor],
            &text[cursor..],
            &ApproxTokenCounter,
            WindowConfig {
                prefix_tokens: 2000,
                suffix_tokens: 2000,
            },
        );
        assert_eq!(w, plain);
        assert_eq!(w.report.scope_headers, 0);
    }

    #[test]
    fn headers_before_the_excerpt_are_added() {
        let text = long_method();
        let cursor = text.find("items[100]").unwrap();
        let tree = parse(Language::Python, &text).unwrap();
        let scopes = enclosing_scopes(Language::Python, &tree, &text, cursor);
        let before_start = text.find("items[50]").unwrap();
        let before_start = text[..before_start].rfind('\n').unwrap() + 1;
        let headers = scope_headers(&text, before_start, &scopes);
        assert!(headers.iter().all(|h| h.offset.is_none()));
        let w = cursor_window_scoped(
            &text[before_start..cursor],
            &text[cursor..],
            &ApproxTokenCounter,
            WindowConfig::default(),
            &headers,
        );
        assert!(w.prefix.starts_with("class Cart:\n    def total("));
    }

    proptest! {
        #[test]
        fn never_exceeds_the_budget(at in 0usize..6000, budget in 0usize..200) {
            let text = long_method();
            let mut cursor = at.min(text.len());
            while !text.is_char_boundary(cursor) { cursor -= 1; }
            let w = window_at(&text, cursor, budget);
            prop_assert!(ApproxTokenCounter.count(&w.prefix) <= budget);
            prop_assert!(ApproxTokenCounter.count(&w.suffix) <= budget);
            if w.report.scope_headers == 0 {
                prop_assert!(text[..cursor].ends_with(&w.prefix));
            } else {
                prop_assert!(w.prefix.starts_with("class Cart:\n") || w.prefix.starts_with("    def total"));
            }
        }
    }
}
