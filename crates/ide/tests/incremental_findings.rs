//! Document diagnostics are computed incrementally after edits (only the edited top-level
//! definitions are checked again); after any sequence of edits they must equal a whole-file
//! check of the same text.

use nib_ide::{Ide, IdeConfig};
use nib_text::{OffsetEncoding, Position, Range, TextChange};

const SOURCE: &str = r#"import subprocess
import hashlib

def run(cmd):
    subprocess.call(cmd, shell=True)

def digest(password):
    return hashlib.md5(password.encode()).hexdigest()

def evaluate(expr):
    return eval(expr)

class Store:
    def load(self, path):
        import pickle
        return pickle.load(open(path, "rb"))

def safe(x):
    return x + 1
"#;

const PIECES: &[&str] = &[
    "x",
    " ",
    "\n",
    "\n    ",
    "eval(data)",
    "\n    os.system(cmd)\n",
    "exec(code)\n",
    "subprocess.run(cmd, shell=True)",
    "(",
    ")",
    ":",
    "é",
    "import os\n",
    "def more(y):\n    return eval(y)\n",
    "# note\n",
];

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Statements typed into function bodies: the syntax stays valid, so the edit is checked
/// incrementally.
const STATEMENTS: &[&str] = &[
    "    eval(data)\n",
    "    os.system(cmd)\n",
    "    y = 1\n",
    "    exec(code)\n",
    "    subprocess.run(cmd, shell=True)\n",
    "    # note\n",
];

/// One edit (byte range and new text): a statement inserted at the start of a body line, or
/// deleted; with `chars`, sometimes any piece anywhere (syntax errors, module-level code).
fn edit(rng: &mut Rng, text: &str, chars: bool) -> (usize, usize, &'static str) {
    if chars && rng.below(4) == 0 {
        let mut a = rng.below(text.len() + 1);
        while !text.is_char_boundary(a) {
            a -= 1;
        }
        let mut b = if rng.below(4) == 0 {
            (a + rng.below(12)).min(text.len())
        } else {
            a
        };
        while !text.is_char_boundary(b) {
            b -= 1;
        }
        return (a, b, PIECES[rng.below(PIECES.len())]);
    }
    let body_lines: Vec<(usize, usize)> = text
        .split_inclusive('\n')
        .scan(0, |at, l| {
            let start = *at;
            *at += l.len();
            Some((start, *at))
        })
        .filter(|&(s, _)| text[s..].starts_with("    ") && !text[s..].starts_with("    def"))
        .collect();
    if body_lines.is_empty() {
        return (0, 0, "import os\n");
    }
    let (s, e) = body_lines[rng.below(body_lines.len())];
    if rng.below(3) == 0 && body_lines.len() > 8 {
        (s, e, "    pass\n")
    } else {
        (s, s, STATEMENTS[rng.below(STATEMENTS.len())])
    }
}

fn position(text: &str, byte: usize) -> Position {
    let before = &text[..byte];
    let line = before.matches('\n').count();
    let col = before.rsplit('\n').next().unwrap().encode_utf16().count();
    Position::new(line as u32, col as u32)
}

/// A whole-file check: the text opened afresh (in one shared `Ide`, whose rules compile once).
fn full_check(reference: &Ide, text: &str) -> Vec<nib_ide::Finding> {
    reference.close("file:///w/a.py");
    reference.open("file:///w/a.py", Some("python"), 1, text);
    reference.document_findings("file:///w/a.py", 1 << 20)
}

#[test]
fn incremental_findings_equal_a_whole_file_check() {
    let uri = "file:///w/a.py";
    let reference = Ide::new(IdeConfig::default());
    let initial = full_check(&reference, SOURCE);
    assert!(
        initial.len() >= 3,
        "the sample has findings to keep: {initial:?}"
    );
    for seed in 1..=25u64 {
        let ide = Ide::new(IdeConfig::default());
        ide.open(uri, Some("python"), 1, SOURCE);
        let mut text = SOURCE.to_string();
        assert_eq!(ide.document_findings(uri, 1 << 20), initial);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for step in 0..30 {
            let mut changes = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let (a, b, piece) = edit(&mut rng, &text, seed % 2 == 0);
                let range = Range {
                    start: position(&text, a),
                    end: position(&text, b),
                };
                text.replace_range(a..b, piece);
                changes.push(TextChange {
                    range: Some(range),
                    text: piece.to_string(),
                });
            }
            ide.change(uri, 2 + step, &changes, OffsetEncoding::Utf16)
                .unwrap();
            let snap = ide.snapshot(uri).unwrap();
            assert_eq!(snap.doc.text(), text, "seed {seed}, step {step}");
            let fresh = nib_syntax::parse(nib_syntax::Language::Python, &text).unwrap();
            assert_eq!(
                snap.tree.as_ref().unwrap().root_node().to_sexp(),
                fresh.root_node().to_sexp(),
                "seed {seed}, step {step}: the incremental tree equals a fresh parse"
            );
            // Diagnostics run after some edits, not all (as when typing pauses).
            if rng.below(3) == 0 || step == 29 {
                let got = ide.document_findings(uri, 1 << 20);
                let want = full_check(&reference, &text);
                // What a finding is and where: the message's taint note can be richer in a
                // local check, whose query stays under tree-sitter's in-progress match limit
                // where a whole-file query over a large file may drop a flow match.
                let show = |v: &[nib_ide::Finding]| {
                    v.iter()
                        .map(|f| {
                            format!(
                                "{} {}..{} {:?}..{:?}",
                                f.rule_id, f.start_byte, f.end_byte, f.start, f.end
                            )
                        })
                        .collect::<Vec<_>>()
                };
                assert!(
                    show(&got) == show(&want),
                    "seed {seed}, step {step}: incremental findings differ:\n{:#?}\nwhole file:\n{:#?}\n{text}",
                    show(&got),
                    show(&want)
                );
            }
        }
    }
}
