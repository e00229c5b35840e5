//! The simulated user of `nib bench replay`, as pure functions: what the trace goes on to
//! type after a request, whether a shown suggestion is accepted (Tab) or partly matches, how
//! the trace moves on past the characters an accepted suggestion inserted, and the figures a
//! replay reports. The replay itself (a real server, the real clock) is in lib.rs.

use std::collections::VecDeque;

use serde::Serialize;

use crate::trace::Event;

/// At most this many characters of upcoming text are looked at.
const LOOKAHEAD_CHARS: usize = 4000;

/// A position after `text` is inserted at `pos` (LSP positions, UTF-16 columns).
pub fn advance(pos: [u32; 2], text: &str) -> [u32; 2] {
    match text.rfind('\n') {
        Some(i) => [
            pos[0] + text.matches('\n').count() as u32,
            text[i + 1..].encode_utf16().count() as u32,
        ],
        None => [pos[0], pos[1] + text.encode_utf16().count() as u32],
    }
}

/// What the trace types from `cursor` on: the text of the insertions that follow one another
/// at the cursor, through waits and requests, until an edit elsewhere (a jump, a deletion).
pub fn upcoming<'a>(events: impl IntoIterator<Item = &'a Event>, cursor: [u32; 2]) -> String {
    let mut out = String::new();
    let mut at = cursor;
    for e in events {
        match e {
            Event::Wait { .. } | Event::Complete { .. } => {}
            Event::Edit { start, end, text } if *start == at && *end == at => {
                out.push_str(text);
                at = advance(at, text);
                if out.len() >= LOOKAHEAD_CHARS {
                    break;
                }
            }
            _ => break,
        }
    }
    out
}

/// What the simulated user does with a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing was shown.
    Empty,
    /// The whole suggestion is what the user goes on to type: Tab. `chars` are the characters
    /// the user no longer types.
    Accept { chars: usize },
    /// Only its first words (up to a word or line boundary, at least one word character) are
    /// what the user types next: counted, not accepted.
    Partial { chars: usize },
    /// Typed over.
    Reject,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Decide on a suggestion `insert` that replaces `before` (the document text from the item's
/// start to the cursor) and `after` (from the cursor to the item's end), given the text the
/// user goes on to type. Accepting must leave the document exactly as typing would: the
/// suggestion is `before`, then a prefix of `upcoming`, then `after`.
pub fn decide(insert: &str, before: &str, after: &str, upcoming: &str) -> Decision {
    let Some(mid) = insert
        .strip_prefix(before)
        .and_then(|s| s.strip_suffix(after))
    else {
        return if insert.trim().is_empty() {
            Decision::Empty
        } else {
            Decision::Reject
        };
    };
    if mid.trim().is_empty() {
        return Decision::Empty;
    }
    if upcoming.starts_with(mid) {
        return Decision::Accept {
            chars: mid.chars().count(),
        };
    }
    // The longest common prefix, cut back to a boundary that is not inside a word.
    let common: usize = mid
        .chars()
        .zip(upcoming.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let boundary = (1..=common)
        .rev()
        .filter(|&k| mid.is_char_boundary(k))
        .find(|&k| {
            let last = mid[..k].chars().next_back();
            let next = mid[k..].chars().next();
            // Not inside a word of the suggestion, nor of what the user types on.
            let typed_next = upcoming[k..].chars().next();
            !(last.is_some_and(is_word)
                && (next.is_some_and(is_word) || typed_next.is_some_and(is_word)))
        });
    match boundary {
        Some(k) if mid[..k].chars().any(is_word) => Decision::Partial {
            chars: mid[..k].chars().count(),
        },
        _ => Decision::Reject,
    }
}

/// Move the trace past `chars` characters that an accepted suggestion inserted at `cursor`:
/// the insertions that typed them are removed with the waits and requests in between (the
/// time moves on as when Tab is pressed), and an insertion only partly covered keeps its
/// rest, starting after the accepted text.
pub fn skip_typed(events: &mut VecDeque<Event>, mut chars: usize, cursor: [u32; 2]) {
    let mut at = cursor;
    while chars > 0 {
        match events.front_mut() {
            Some(Event::Wait { .. }) | Some(Event::Complete { .. }) => {
                events.pop_front();
            }
            Some(Event::Edit { start, end, text }) if *start == at && *end == at => {
                let n = text.chars().count();
                if n <= chars {
                    at = advance(at, text);
                    chars -= n;
                    events.pop_front();
                } else {
                    let split = text
                        .char_indices()
                        .nth(chars)
                        .map_or(text.len(), |(i, _)| i);
                    let rest = text.split_off(split);
                    at = advance(at, text);
                    *text = rest;
                    *start = at;
                    *end = at;
                    chars = 0;
                }
            }
            _ => break,
        }
    }
    // A request the trace made right where the accepted text ends is the one the editor
    // makes after Tab: the replay makes that one itself.
    let mut i = 0;
    while let Some(e) = events.get(i) {
        match e {
            Event::Complete { .. } => {
                events.remove(i);
            }
            Event::Wait { .. } => i += 1,
            _ => break,
        }
    }
}

/// One replayed request.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub kind: String,
    pub ms: f64,
    pub shown: bool,
    pub decision: Decision,
}

/// The figures of one replay, or of several together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub requests: usize,
    pub shown: usize,
    pub accepted: usize,
    pub partial: usize,
    /// Characters the replay typed itself (keystrokes).
    pub typed_chars: usize,
    /// Characters that came from accepted suggestions.
    pub accepted_chars: usize,
    /// Characters the partly matching suggestions had right (not accepted).
    pub partial_chars: usize,
    pub shown_pct: f64,
    pub accepted_of_shown_pct: f64,
    pub partial_of_shown_pct: f64,
    /// Share of all the characters written (typed or accepted) that came from suggestions.
    pub chars_from_suggestions_pct: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The nearest-rank percentile of sorted values (NaN when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

pub fn summarize(samples: &[Sample], typed_chars: usize) -> Summary {
    let mut ms: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let shown = samples.iter().filter(|s| s.shown).count();
    let (mut accepted, mut partial, mut accepted_chars, mut partial_chars) = (0, 0, 0, 0);
    for s in samples {
        match s.decision {
            Decision::Accept { chars } => {
                accepted += 1;
                accepted_chars += chars;
            }
            Decision::Partial { chars } => {
                partial += 1;
                partial_chars += chars;
            }
            Decision::Empty | Decision::Reject => {}
        }
    }
    Summary {
        requests: samples.len(),
        shown,
        accepted,
        partial,
        typed_chars,
        accepted_chars,
        partial_chars,
        shown_pct: pct(shown, samples.len()),
        accepted_of_shown_pct: pct(accepted, shown),
        partial_of_shown_pct: pct(partial, shown),
        chars_from_suggestions_pct: pct(accepted_chars, accepted_chars + typed_chars),
        p50_ms: percentile(&ms, 50.0),
        p95_ms: percentile(&ms, 95.0),
        p99_ms: percentile(&ms, 99.0),
        max_ms: ms.last().copied().unwrap_or(f64::NAN),
    }
}

/// How long to sleep for a trace's wait of `ms` when the user is `owed` ms behind (a request
/// held the replay): the wait absorbs the delay first. Returns (sleep, still owed).
pub fn pay_wait(ms: f64, owed: f64) -> (f64, f64) {
    ((ms - owed).max(0.0), (owed - ms).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(at: [u32; 2], text: &str) -> Event {
        Event::Edit {
            start: at,
            end: at,
            text: text.into(),
        }
    }

    fn typed(at: [u32; 2], text: &str) -> VecDeque<Event> {
        let mut out = VecDeque::new();
        let mut pos = at;
        for c in text.chars() {
            let s = c.to_string();
            out.push_back(edit(pos, &s));
            out.push_back(Event::Wait { ms: 150 });
            if !is_word(c) {
                out.push_back(Event::Complete {
                    at: advance(pos, &s),
                    kind: "typing".into(),
                });
            }
            pos = advance(pos, &s);
        }
        out
    }

    #[test]
    fn advance_counts_utf16_and_lines() {
        assert_eq!(advance([3, 4], "ab"), [3, 6]);
        assert_eq!(advance([3, 4], "é😀"), [3, 7]);
        assert_eq!(advance([3, 4], "x\n    y"), [4, 5]);
        assert_eq!(advance([3, 4], "\n\n"), [5, 0]);
    }

    #[test]
    fn upcoming_follows_the_cursor_and_stops_at_an_edit_elsewhere() {
        let mut ev = typed([2, 4], "x = 1\n    y");
        assert_eq!(upcoming(&ev, [2, 4]), "x = 1\n    y");
        assert_eq!(upcoming(&ev, [2, 5]), "");
        ev.insert(
            6,
            Event::Edit {
                start: [0, 0],
                end: [0, 1],
                text: String::new(),
            },
        );
        assert_eq!(upcoming(&ev, [2, 4]), "x =");
    }

    #[test]
    fn decisions() {
        use Decision::*;
        let up = "total += item.price\n    return total\n";
        assert_eq!(
            decide("total += item.price", "", "", up),
            Accept { chars: 19 }
        );
        assert_eq!(
            decide("total += item.price\n    return total", "", "", up),
            Accept { chars: 36 }
        );
        // The suggestion repeats the start of the word: the item starts before the cursor.
        assert_eq!(decide("tal += 1", "ta", "", "l += 1"), Accept { chars: 6 });
        assert_eq!(decide("xtal", "ta", "", "l"), Reject);
        // It replaces the closing bracket after the cursor.
        assert_eq!(decide("a, b)", "", ")", "a, b"), Accept { chars: 4 });
        assert_eq!(decide("a, b)", "", ")", "a, c"), Partial { chars: 3 });
        // Right up to a word boundary, then wrong.
        assert_eq!(
            decide("total += item.cost", "", "", up),
            Partial { chars: 14 }
        );
        assert_eq!(decide("total -= 1", "", "", up), Partial { chars: 6 });
        // Wrong inside the first word: nothing.
        assert_eq!(decide("totals", "", "", up), Reject);
        assert_eq!(decide("tot", "", "", up), Accept { chars: 3 });
        // Right but the user's word goes on: not a boundary.
        assert_eq!(decide("total_x", "", "", "total_y"), Reject);
        assert_eq!(decide("", "", "", up), Empty);
        assert_eq!(decide("   ", "", "", up), Empty);
        assert_eq!(decide("x", "", "", ""), Reject);
        // Only punctuation right: not even partly.
        assert_eq!(decide("(&self)", "", "", "(f, x)"), Reject);
    }

    #[test]
    fn accepting_skips_the_typed_characters_and_splits_a_chunk() {
        let mut ev: VecDeque<Event> = [
            edit([1, 0], "ret"),
            Event::Wait { ms: 100 },
            edit([1, 3], "urn x"),
            Event::Wait { ms: 100 },
            Event::Complete {
                at: [1, 8],
                kind: "typing".into(),
            },
            edit([1, 8], "\n"),
        ]
        .into();
        skip_typed(&mut ev, 4, [1, 0]);
        assert_eq!(ev[0], edit([1, 4], "rn x"));
        assert_eq!(ev.len(), 4);
        // Up to the end of a chunk: the request made right there goes too.
        skip_typed(&mut ev, 4, [1, 4]);
        assert_eq!(
            ev,
            VecDeque::from([Event::Wait { ms: 100 }, edit([1, 8], "\n")])
        );
    }

    #[test]
    fn skipping_across_lines() {
        let mut ev = typed([5, 4], "a()\n    b()");
        skip_typed(&mut ev, 9, [5, 4]);
        assert_eq!(upcoming(&ev, [6, 5]), "()");
        assert!(matches!(ev.front(), Some(Event::Wait { .. })));
    }

    #[test]
    fn summary_on_fixed_samples() {
        let s = |ms: f64, decision: Decision| Sample {
            kind: "typing".into(),
            ms,
            shown: !matches!(decision, Decision::Empty),
            decision,
        };
        let samples = [
            s(100.0, Decision::Empty),
            s(200.0, Decision::Accept { chars: 30 }),
            s(300.0, Decision::Reject),
            s(400.0, Decision::Partial { chars: 5 }),
            s(1000.0, Decision::Accept { chars: 10 }),
        ];
        let sum = summarize(&samples, 160);
        assert_eq!(sum.requests, 5);
        assert_eq!(sum.shown, 4);
        assert_eq!(sum.accepted, 2);
        assert_eq!(sum.partial, 1);
        assert_eq!(sum.shown_pct, 80.0);
        assert_eq!(sum.accepted_of_shown_pct, 50.0);
        assert_eq!(sum.partial_of_shown_pct, 25.0);
        assert_eq!(sum.chars_from_suggestions_pct, 20.0);
        assert_eq!(sum.p50_ms, 300.0);
        assert_eq!(sum.p95_ms, 1000.0);
        assert_eq!(sum.max_ms, 1000.0);
        assert_eq!(summarize(&[], 0).requests, 0);
    }

    #[test]
    fn a_late_answer_is_taken_from_the_next_waits() {
        assert_eq!(pay_wait(150.0, 0.0), (150.0, 0.0));
        assert_eq!(pay_wait(150.0, 400.0), (0.0, 250.0));
        assert_eq!(pay_wait(300.0, 250.0), (50.0, 0.0));
    }
}
