//! Editing-session traces for `nib bench replay`, and a generator that turns a source file
//! into a realistic typing session.
//!
//! Format: JSON Lines, one event per line; positions are LSP positions in UTF-16 units.
//! ```text
//! {"op":"open","uri":"file:///trace/a.py","language":"python","text":"..."}
//! {"op":"edit","start":[12,4],"end":[12,4],"text":"re"}   // replace start..end by text
//! {"op":"wait","ms":60}                                    // the user types on after this
//! {"op":"complete","at":[12,6],"kind":"typing"}            // the editor asks for ghost text
//! ```
//! `kind` is `typing` (while typing), `open` (first request after opening), `jump` (after
//! moving the cursor elsewhere) or `invoked` (an explicit request, LSP trigger kind Invoked;
//! the others are sent as Automatic); the benchmark reports them separately.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Event {
    Open {
        uri: String,
        language: String,
        text: String,
    },
    Edit {
        start: [u32; 2],
        end: [u32; 2],
        text: String,
    },
    Wait {
        ms: u64,
    },
    Complete {
        at: [u32; 2],
        kind: String,
    },
}

pub fn read(path: &Path) -> Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read trace {}", path.display()))?;
    let mut events = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        events.push(
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: bad event", path.display(), i + 1))?,
        );
    }
    if !matches!(events.first(), Some(Event::Open { .. })) {
        bail!("{}: a trace starts with an open event", path.display());
    }
    Ok(events)
}

pub fn write(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).expect("events serialise") + "\n")
        .collect()
}

/// A tiny deterministic PRNG (xorshift), so traces are reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// Generator settings.
pub struct GenConfig {
    pub seed: u64,
    /// The share of lines (from, to) that is typed; the rest is in the document from the start.
    pub region: (f64, f64),
    /// The typist's mean speed in characters a second; each trace varies it by up to ±15%
    /// (from the seed), and each keystroke varies around it.
    pub cps: f64,
    /// Typed lines between jumps elsewhere (0: never).
    pub jump_every_lines: usize,
    /// The first request after opening is an explicit one (`invoked`) instead of `open`.
    pub invoked_first: bool,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            seed: 7,
            region: (0.25, 0.75),
            cps: 6.0,
            jump_every_lines: 0,
            invoked_first: false,
        }
    }
}

/// A document being built, tracking the cursor as a UTF-16 LSP position.
struct Typist {
    lines: Vec<String>,
    cursor: (usize, usize), // (line, byte col)
    events: Vec<Event>,
}

fn utf16_col(line: &str, byte: usize) -> u32 {
    line[..byte].encode_utf16().count() as u32
}

impl Typist {
    fn pos(&self) -> [u32; 2] {
        let (l, c) = self.cursor;
        [l as u32, utf16_col(&self.lines[l], c)]
    }

    /// Insert `text` at the cursor as one edit.
    fn insert(&mut self, text: &str) {
        let at = self.pos();
        let (l, c) = self.cursor;
        let rest = self.lines[l].split_off(c);
        let mut parts = text.split('\n');
        self.lines[l].push_str(parts.next().unwrap_or(""));
        let mut line = l;
        for p in parts {
            line += 1;
            self.lines.insert(line, p.to_string());
        }
        let col = self.lines[line].len();
        self.lines[line].push_str(&rest);
        self.cursor = (line, col);
        self.events.push(Event::Edit {
            start: at,
            end: at,
            text: text.to_string(),
        });
    }

    fn wait(&mut self, ms: u64) {
        if let Some(Event::Wait { ms: last }) = self.events.last_mut() {
            *last += ms;
        } else if ms > 0 {
            self.events.push(Event::Wait { ms });
        }
    }

    fn complete(&mut self, kind: &str) {
        let at = self.pos();
        self.events.push(Event::Complete {
            at,
            kind: kind.into(),
        });
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The pace of one typist: milliseconds per keystroke and the pauses in between.
struct Pace {
    key_ms: f64,
}

impl Pace {
    /// The delay before the next keystroke: around the mean, faster inside a word, slower
    /// on punctuation and symbols that need a shift key.
    fn key(&self, rng: &mut Rng, c: char) -> u64 {
        let factor = if is_word(c) {
            rng.range(0.55, 1.25)
        } else if c == ' ' {
            rng.range(0.7, 1.3)
        } else {
            rng.range(1.0, 1.9)
        };
        (self.key_ms * factor).round() as u64
    }

    /// The pause at the end of a line, before pressing Enter.
    fn line_end(&self, rng: &mut Rng) -> u64 {
        rng.range(300.0, 900.0).round() as u64
    }

    /// Sometimes the typist stops to think (1-3 s) before a word.
    fn thinking(&self, rng: &mut Rng) -> u64 {
        if rng.below(25) == 0 {
            rng.range(1000.0, 3000.0).round() as u64
        } else {
            0
        }
    }
}

/// Turn a source file into a human typing session: the lines of `region` are removed (an
/// empty line left in their place), then typed back top to bottom one character per
/// keystroke at the configured speed, with a pause at each line end and occasional thinking
/// pauses. Completion requests come where an editor with automatic inline completion asks:
/// after the character that ends a word (when the line goes on) and after Enter with the
/// next line's indentation (an editor indents by itself: the indentation is one edit).
/// With `jump_every_lines`, the typist periodically opens a line at an earlier place, asks,
/// removes it and comes back. The same seed gives the same trace.
pub fn generate(uri: &str, language: &str, source: &str, cfg: &GenConfig) -> Vec<Event> {
    let mut rng = Rng::new(cfg.seed);
    let all: Vec<&str> = source.lines().collect();
    let from = ((all.len() as f64 * cfg.region.0) as usize).min(all.len());
    let to = ((all.len() as f64 * cfg.region.1) as usize).clamp(from, all.len());
    let mut initial = String::new();
    for l in &all[..from] {
        initial.push_str(l);
        initial.push('\n');
    }
    let region = &all[from..to];
    if !region.is_empty() {
        initial.push('\n');
    }
    for l in &all[to..] {
        initial.push_str(l);
        initial.push('\n');
    }
    let lines: Vec<String> = initial.split('\n').map(str::to_string).collect();
    let mut t = Typist {
        lines,
        cursor: (from, 0),
        events: Vec::new(),
    };
    t.events.push(Event::Open {
        uri: uri.into(),
        language: language.into(),
        text: initial,
    });
    let speed = cfg.cps.max(0.5) * rng.range(0.85, 1.15);
    let pace = Pace {
        key_ms: 1000.0 / speed,
    };
    t.wait(300);
    let first_indent = region.first().map_or("", |l| indent_of(l));
    if !first_indent.is_empty() {
        t.insert(first_indent);
    }
    t.complete(if cfg.invoked_first { "invoked" } else { "open" });
    t.wait(pace.line_end(&mut rng));
    for (i, line) in region.iter().enumerate() {
        if cfg.jump_every_lines > 0 && i > 0 && i % cfg.jump_every_lines == 0 {
            jump_elsewhere(&mut t, &mut rng, from);
        }
        type_line(&mut t, &mut rng, &pace, line.trim_start());
        let Some(next) = region.get(i + 1) else {
            break;
        };
        t.wait(pace.line_end(&mut rng));
        t.insert(&format!("\n{}", indent_of(next)));
        if !next.trim().is_empty() {
            t.complete("typing");
        }
        t.wait(pace.key(&mut rng, 'a') + pace.thinking(&mut rng));
    }
    t.events
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Type one line's text (without its indentation), one character per keystroke.
fn type_line(t: &mut Typist, rng: &mut Rng, pace: &Pace, text: &str) {
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if prev.is_none_or(|p| !is_word(p)) && is_word(c) {
            let think = pace.thinking(rng);
            t.wait(think);
        }
        t.insert(c.encode_utf8(&mut [0; 4]));
        let rest = &text[i + c.len_utf8()..];
        let ends_word = prev.is_some_and(is_word) && !is_word(c);
        let opens = matches!(c, '(' | '[' | '{' | '.' | ',' | '=' | ':' | ' ');
        if (ends_word || (opens && !prev.is_some_and(char::is_whitespace)))
            && !rest.trim().is_empty()
        {
            t.complete("typing");
        }
        t.wait(rest.chars().next().map_or(0, |n| pace.key(rng, n)));
        prev = Some(c);
    }
}

fn jump_elsewhere(t: &mut Typist, rng: &mut Rng, limit: usize) {
    let candidates: Vec<usize> = (0..limit.min(t.lines.len()))
        .filter(|&l| {
            let s = &t.lines[l];
            s.starts_with("    ")
                && !s.trim().is_empty()
                && !s.trim_end().ends_with(['(', '[', '{', ',', '\\'])
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let back = t.cursor;
    let line = candidates[rng.below(candidates.len() as u64) as usize];
    let indent: String = t.lines[line]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    t.cursor = (line, t.lines[line].len());
    t.wait(500);
    t.insert(&format!("\n{indent}"));
    t.complete("jump");
    t.wait(800);
    // Undo: delete the opened line.
    let start = [line as u32, utf16_col(&t.lines[line], t.lines[line].len())];
    let end = [
        line as u32 + 1,
        utf16_col(&t.lines[line + 1], t.lines[line + 1].len()),
    ];
    t.lines.remove(line + 1);
    t.events.push(Event::Edit {
        start,
        end,
        text: String::new(),
    });
    t.cursor = back;
    t.wait(500);
    t.complete("jump");
    t.wait(300);
}

/// Apply trace edits to a plain string (to check a trace is consistent).
#[cfg(test)]
pub fn replay_text(events: &[Event]) -> Option<String> {
    let Some(Event::Open { text, .. }) = events.first() else {
        return None;
    };
    let mut doc = nib_text::Document::new(text, 0);
    for e in events {
        if let Event::Edit { start, end, text } = e {
            let range = nib_text::Range {
                start: nib_text::Position::new(start[0], start[1]),
                end: nib_text::Position::new(end[0], end[1]),
            };
            doc.apply(
                &[nib_text::TextChange {
                    range: Some(range),
                    text: text.clone(),
                }],
                0,
                nib_text::OffsetEncoding::Utf16,
            )
            .ok()?;
        }
    }
    Some(doc.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "import os\n\n\ndef f(a, b):\n    x = a + b\n    return x * 2\n\n\nclass K:\n    def g(self):\n        return os.getcwd()\n\n\nprint(f(1, 2))\n";

    #[test]
    fn typing_the_region_rebuilds_the_file() {
        for seed in 0..20 {
            let cfg = GenConfig {
                seed,
                region: (0.45, 0.95),
                jump_every_lines: 2,
                ..GenConfig::default()
            };
            let events = generate("file:///t.py", "python", SRC, &cfg);
            assert_eq!(events, generate("file:///t.py", "python", SRC, &cfg));
            let text = replay_text(&events).expect("edits apply");
            assert_eq!(text, SRC, "seed {seed}");
            assert!(
                events
                    .iter()
                    .filter(|e| matches!(e, Event::Complete { .. }))
                    .count()
                    > 5
            );
            assert!(events
                .iter()
                .any(|e| matches!(e, Event::Complete { kind, .. } if kind == "jump")));
        }
    }

    /// Seconds of typing and pauses in a trace.
    fn duration_s(events: &[Event]) -> f64 {
        events
            .iter()
            .map(|e| match e {
                Event::Wait { ms } => *ms as f64 / 1000.0,
                _ => 0.0,
            })
            .sum()
    }

    fn typed_chars(events: &[Event]) -> usize {
        events
            .iter()
            .skip(1)
            .map(|e| match e {
                Event::Edit { text, .. } => text.chars().count(),
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn types_at_the_configured_speed_with_pauses() {
        for cps in [3.0, 6.0, 12.0] {
            let cfg = GenConfig {
                cps,
                region: (0.0, 1.0),
                ..GenConfig::default()
            };
            let events = generate("file:///t.py", "python", SRC, &cfg);
            let chars = typed_chars(&events) as f64;
            let secs = duration_s(&events);
            // Keystrokes alone at the speed (±15% per trace), plus line-end pauses of at
            // least 0.3 s for each of the 13 line ends.
            let keys = chars / cps;
            assert!(
                secs > keys * 0.85 * 0.55 + 13.0 * 0.3,
                "{cps}: {secs} s for {chars}"
            );
            assert!(
                secs < keys * 1.9 / 0.85 + 13.0 * 0.9 + 300.0 / 25.0 * 3.0,
                "{cps}: {secs} s"
            );
        }
        // One keystroke per edit, except Enter with the next line's indentation.
        let events = generate("file:///t.py", "python", SRC, &GenConfig::default());
        for e in &events[1..] {
            if let Event::Edit { text, .. } = e {
                assert!(
                    text.chars().count() == 1 || text.starts_with('\n'),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn the_first_request_can_be_an_explicit_one() {
        let kinds = |invoked_first| {
            let cfg = GenConfig {
                invoked_first,
                ..GenConfig::default()
            };
            generate("file:///t.py", "python", SRC, &cfg)
                .into_iter()
                .filter_map(|e| match e {
                    Event::Complete { kind, .. } => Some(kind),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let (plain, invoked) = (kinds(false), kinds(true));
        assert_eq!(plain[0], "open");
        assert_eq!(invoked[0], "invoked");
        assert_eq!(plain[1..], invoked[1..]);
        assert!(!invoked[1..].iter().any(|k| k == "invoked"));
    }

    #[test]
    fn asks_after_words_and_after_a_new_indented_line() {
        let src = "def f(a):\n    return a.b\n";
        let cfg = GenConfig {
            region: (0.0, 1.0),
            ..GenConfig::default()
        };
        let events = generate("file:///t.py", "python", src, &cfg);
        let mut doc = String::new();
        let mut asked = Vec::new();
        for e in &events[1..] {
            match e {
                Event::Edit { text, .. } => doc.push_str(text),
                Event::Complete { .. } => asked.push(doc.clone()),
                _ => {}
            }
        }
        assert_eq!(
            asked,
            [
                "",
                "def ",
                "def f(",
                "def f(a)",
                "def f(a):\n    ",
                "def f(a):\n    return ",
                "def f(a):\n    return a."
            ]
        );
    }

    #[test]
    fn round_trips_through_jsonl() {
        let events = generate("file:///t.py", "python", SRC, &GenConfig::default());
        let text = write(&events);
        let dir = std::env::temp_dir().join(format!("nib-trace-{}", std::process::id()));
        std::fs::write(&dir, &text).unwrap();
        assert_eq!(read(&dir).unwrap(), events);
        let _ = std::fs::remove_file(dir);
    }
}
