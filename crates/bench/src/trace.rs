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
//! `kind` is `typing` (while typing), `open` (first request after opening) or `jump` (after
//! moving the cursor elsewhere); the benchmark reports them separately.

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
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Generator settings.
pub struct GenConfig {
    pub seed: u64,
    /// The share of lines (from, to) that is typed; the rest is in the document from the start.
    pub region: (f64, f64),
    /// Milliseconds between typed chunks.
    pub keystroke_ms: u64,
    /// Typed lines between jumps elsewhere.
    pub jump_every_lines: usize,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            seed: 7,
            region: (0.25, 0.75),
            keystroke_ms: 60,
            jump_every_lines: 40,
        }
    }
}

/// A document being built, tracking the cursor as a UTF-16 LSP position.
struct Typist {
    lines: Vec<String>,
    cursor: (usize, usize), // (line, byte col)
    events: Vec<Event>,
    keystroke_ms: u64,
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

    /// Delete the character before the cursor (same line only).
    fn backspace(&mut self) {
        let (l, c) = self.cursor;
        if c == 0 {
            return;
        }
        let prev = self.lines[l][..c].chars().last().map_or(0, char::len_utf8);
        let end = self.pos();
        self.cursor = (l, c - prev);
        let start = self.pos();
        self.lines[l].replace_range(c - prev..c, "");
        self.events.push(Event::Edit {
            start,
            end,
            text: String::new(),
        });
    }

    fn wait(&mut self, ms: u64) {
        self.events.push(Event::Wait { ms });
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

/// Turn a source file into a typing session: the lines of `region` are removed, then typed
/// back at their place a few characters at a time, with completion requests where an editor
/// asks (after a word and the character that ends it, at the start of each new line), an
/// occasional typo fixed with backspace, an occasional paste, and periodic jumps to another
/// place in the file (a new line opened there, a request, then back).
pub fn generate(uri: &str, language: &str, source: &str, cfg: &GenConfig) -> Vec<Event> {
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let all: Vec<&str> = source.lines().collect();
    let from = ((all.len() as f64 * cfg.region.0) as usize).min(all.len());
    let to = ((all.len() as f64 * cfg.region.1) as usize).clamp(from, all.len());
    let mut initial = String::new();
    for l in all[..from].iter().chain(&all[to..]) {
        initial.push_str(l);
        initial.push('\n');
    }
    let lines: Vec<String> = initial.split('\n').map(str::to_string).collect();
    let mut t = Typist {
        lines,
        cursor: (from, 0),
        events: Vec::new(),
        keystroke_ms: cfg.keystroke_ms,
    };
    t.events.push(Event::Open {
        uri: uri.into(),
        language: language.into(),
        text: initial,
    });
    t.wait(300);
    t.complete("open");
    let region = &all[from..to];
    let mut i = 0;
    while i < region.len() {
        let line = region[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        // Sometimes paste a few lines at once.
        if i > 0 && rng.below(50) == 0 && i + 4 < region.len() {
            let n = 2 + rng.below(4) as usize;
            let chunk = region[i..(i + n).min(region.len())].join("\n") + "\n";
            t.insert(&chunk);
            t.wait(400);
            i += n.min(region.len() - i);
            if let Some(next) = region.get(i) {
                t.insert(&next[..next.len() - next.trim_start().len()]);
            }
            t.complete("typing");
            continue;
        }
        // Periodically look elsewhere: open a line under an earlier line, ask, undo, come back.
        if i > 0 && i % cfg.jump_every_lines == 0 && t.cursor.1 == 0 {
            jump_elsewhere(&mut t, &mut rng, from);
        }
        if t.cursor.1 == 0 && !indent.is_empty() {
            t.insert(indent);
        }
        if !line.trim().is_empty() && rng.below(50) != 0 {
            t.wait(t.keystroke_ms);
            t.complete("typing");
        }
        type_words(&mut t, &mut rng, line.trim_start());
        t.insert("\n");
        t.wait(t.keystroke_ms);
        i += 1;
    }
    t.events
}

fn type_words(t: &mut Typist, rng: &mut Rng, mut rest: &str) {
    while !rest.is_empty() {
        let first = rest.chars().next().unwrap_or(' ');
        let len = if is_word(first) {
            rest.find(|c: char| !is_word(c)).unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        let token = &rest[..len];
        rest = &rest[len..];
        if is_word(first) {
            // A word, a few characters at a time; sometimes a typo fixed at once.
            let mut k = 0;
            while k < token.len() {
                let want = (k + 1 + rng.below(3) as usize).min(token.len());
                let e = (want..=token.len())
                    .find(|&e| token.is_char_boundary(e))
                    .unwrap_or(token.len());
                t.insert(&token[k..e]);
                t.wait(t.keystroke_ms);
                k = e;
            }
            if rng.below(30) == 0 {
                t.insert("x");
                t.wait(t.keystroke_ms * 2);
                t.backspace();
                t.wait(t.keystroke_ms);
            }
        } else {
            t.insert(token);
            t.wait(t.keystroke_ms);
            // An editor asks after a word ends with one of these.
            if matches!(first, ' ' | '.' | '(' | '[' | ',' | '=' | ':') && !rest.trim().is_empty() {
                t.complete("typing");
                t.wait(120);
            }
        }
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
    t.wait(t.keystroke_ms);
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
