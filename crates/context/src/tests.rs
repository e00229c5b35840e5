use super::*;
use nib_engine::ApproxTokenCounter;
use proptest::prelude::*;

/// One token per whitespace-separated word or per line break.
struct WordCounter;
impl TokenCounter for WordCounter {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().count() + text.matches('\n').count()
    }
}

fn split(fixture: &str) -> (&str, &str) {
    let i = fixture.find("$0").expect("fixture has a $0 cursor");
    (&fixture[..i], &fixture[i + 2..])
}

#[test]
fn whole_file_fits() {
    let (before, after) = split("def f(x):\n    return x$0 + 1\n\nprint(f(2))\n");
    let w = cursor_window(before, after, &WordCounter, WindowConfig::default());
    assert_eq!(w.prefix, before);
    assert_eq!(w.suffix, after);
    assert_eq!(w.report.dropped_prefix_lines, 0);
    assert_eq!(w.report.dropped_suffix_lines, 0);
}

#[test]
fn cuts_at_line_boundaries() {
    let (before, after) = split("a b c\nd e f\ng h$0 i\nj k l\nm n o\n");
    let w = cursor_window(
        before,
        after,
        &WordCounter,
        WindowConfig {
            prefix_tokens: 6,
            suffix_tokens: 6,
        },
    );
    // "g h" = 2 tokens, "d e f\n" = 4 -> 6; "a b c\n" would exceed.
    assert_eq!(w.prefix, "d e f\ng h");
    assert_eq!(w.suffix, " i\nj k l\n");
    assert_eq!(w.report.dropped_prefix_lines, 1);
    assert_eq!(w.report.dropped_suffix_lines, 1);
    assert!(w.report.prefix_tokens <= 6 && w.report.suffix_tokens <= 6);
}

#[test]
fn overlong_cursor_line_is_cut_without_splitting_characters() {
    let line = "é😀".repeat(5000);
    let before = format!("x = 1\n{line}");
    let w = cursor_window(
        &before,
        "",
        &ApproxTokenCounter,
        WindowConfig {
            prefix_tokens: 100,
            suffix_tokens: 100,
        },
    );
    assert!(w.report.cut_cursor_line);
    assert!(w.report.prefix_tokens <= 100);
    assert!(before.ends_with(&w.prefix));
    assert!(!w.prefix.is_empty());
}

#[test]
fn huge_input_is_bounded() {
    let before = "x = 1\n".repeat(1_000_000);
    let w = cursor_window(
        &before,
        &before,
        &ApproxTokenCounter,
        WindowConfig::default(),
    );
    assert!(w.report.prefix_tokens <= 2000 && w.report.suffix_tokens <= 2000);
    assert!(w.report.dropped_prefix_lines > 900_000);
}

proptest! {
    #[test]
    fn stays_within_budget_and_never_splits_a_character(
        before in "[a-zé😀 \n]{0,300}",
        after in "[a-zé😀 \n]{0,300}",
        pb in 0usize..60,
        sb in 0usize..60,
    ) {
        let w = cursor_window(&before, &after, &ApproxTokenCounter, WindowConfig { prefix_tokens: pb, suffix_tokens: sb });
        prop_assert!(ApproxTokenCounter.count(&w.prefix) <= pb);
        prop_assert!(ApproxTokenCounter.count(&w.suffix) <= sb);
        prop_assert!(before.ends_with(&w.prefix));
        prop_assert!(after.starts_with(&w.suffix));
        // Unless the cursor line was cut, the prefix starts at a line start.
        if !w.report.cut_cursor_line && w.prefix.len() < before.len() {
            prop_assert!(before[..before.len() - w.prefix.len()].ends_with('\n'));
        }
    }
}
