//! Scores of a completed line: exact match and edit similarity (as in CrossCodeEval).

/// Levenshtein distance over characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `1 - levenshtein / max(len)` over characters; 1 for two empty strings.
pub fn edit_similarity(a: &str, b: &str) -> f64 {
    let max = a.chars().count().max(b.chars().count());
    if max == 0 {
        return 1.0;
    }
    1.0 - levenshtein(a, b) as f64 / max as f64
}

/// The first line of a suggestion (a multi-line suggestion continues past the hole's line).
pub fn first_line(suggestion: &str) -> &str {
    let line = suggestion.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

/// Exact match and edit similarity of a suggestion for a hole: the completed line (kept text
/// plus the suggestion's first line) against the original line, both trimmed; the edit
/// similarity compares the predicted rest of the line with the hidden one (both trimmed).
pub fn score(kept: &str, answer: &str, suggestion: &str) -> (bool, f64) {
    let predicted = first_line(suggestion);
    let completed = format!("{kept}{predicted}");
    let original = format!("{kept}{answer}");
    let exact = completed.trim() == original.trim();
    let es = edit_similarity(predicted.trim(), answer.trim());
    (exact, es)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_and_similarity() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("abc", "abc"), 0);
        assert_eq!(levenshtein("héllo", "hello"), 1);
        assert!((edit_similarity("kitten", "sitting") - (1.0 - 3.0 / 7.0)).abs() < 1e-9);
        assert_eq!(edit_similarity("", ""), 1.0);
        assert_eq!(edit_similarity("abc", ""), 0.0);
        assert_eq!(edit_similarity("same", "same"), 1.0);
    }

    #[test]
    fn scores_the_completed_line() {
        assert_eq!(score("    x = f", "oo(a)", "oo(a)"), (true, 1.0));
        // Trailing blanks and a further line do not matter for the exact match.
        assert_eq!(
            score("    x = f", "oo(a)", "oo(a)  \n    y = 2"),
            (true, 1.0)
        );
        let (em, es) = score("    x = f", "oo(a)", "oo(b)");
        assert!(!em);
        assert!((es - 0.8).abs() < 1e-9);
        let (em, es) = score("    x = ", "foo(a)", "");
        assert!(!em);
        assert_eq!(es, 0.0);
        // A space at the cut: the suggestion may carry it or not.
        assert!(score("return a +", " b", " b").0);
    }
}
