//! HumanEval infilling (OpenAI human-eval-infilling, MIT; copies in `tests/data`): simulate a
//! model that writes the right middle and then keeps going over the suffix, and check that
//! `process` gives back exactly the middle.

use std::io::Read;

use nib_postprocess::{process, should_stop, Input, Language, Mode};

struct Task {
    id: String,
    prompt: String,
    suffix: String,
    middle: String,
}

fn load(file: &str) -> Vec<Task> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let gz = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .expect("gzip");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let field = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("field {k}"))
                    .to_string()
            };
            Task {
                id: field("task_id"),
                prompt: field("prompt"),
                suffix: field("suffix"),
                middle: field("canonical_solution"),
            }
        })
        .collect()
}

/// (passed, total, first failures).
fn run(tasks: &[Task], mode: Mode) -> (usize, usize, Vec<String>) {
    let mut passed = 0;
    let mut failures = Vec::new();
    for t in tasks {
        let raw = format!("{}{}", t.middle, t.suffix);
        let input = Input {
            lang: Some(Language::Python),
            prefix: &t.prompt,
            suffix: &t.suffix,
            raw: &raw,
            mode,
        };
        let out = process(&input);
        // Before code on the cursor's line the middle is a line of its own: it keeps its
        // final line break (else the code would join its last line).
        let line_has_code = !t.suffix.split('\n').next().unwrap_or("").trim().is_empty();
        let want = if line_has_code {
            format!("{}\n", t.middle.trim_end())
        } else {
            t.middle.trim_end().to_string()
        };
        if out.text == want {
            passed += 1;
        } else if failures.len() < 15 {
            failures.push(format!(
                "{}: want {want:?}\n    got {:?} ({:?})",
                t.id, out.text, out.dropped
            ));
        }
    }
    (passed, tasks.len(), failures)
}

fn report(name: &str, (passed, total, failures): &(usize, usize, Vec<String>)) -> f64 {
    let share = *passed as f64 / *total as f64;
    eprintln!("{name}: {passed}/{total} = {:.1}%", share * 100.0);
    for f in failures {
        eprintln!("  {f}");
    }
    share
}

#[test]
fn single_line_canonical_then_suffix() {
    let tasks = load("HumanEval-SingleLineInfilling.jsonl.gz");
    assert!(tasks.len() > 1000);
    let first = run(&tasks[..200], Mode::SingleLine);
    assert!(report("single-line, first 200", &first) >= 0.95);
    let all = run(&tasks, Mode::SingleLine);
    assert!(report("single-line, all", &all) >= 0.95);
}

#[test]
fn multi_line_canonical_then_suffix() {
    let tasks = load("HumanEval-MultiLineInfilling.jsonl.gz");
    assert!(tasks.len() > 5000);
    let first = run(&tasks[..200], Mode::MultiLine);
    let all = run(&tasks, Mode::MultiLine);
    // Measured: 187/200 (93.5%) and 5072/5815 (87.2%). What is lost are middles that dedent
    // below the line where the suffix continues (`return x` then `else:` ..), and middles
    // that go on after the body of a header the cursor follows when the suffix continues at
    // the header's level (117 of them): the block rules cut both on purpose (the body is
    // what is missing; the benchmark's holes also span the code after it).
    assert!(report("multi-line, first 200", &first) >= 0.93);
    assert!(report("multi-line, all", &all) >= 0.86);
}

/// A streaming decoder stopped by `should_stop` gets no less than the full output would give.
#[test]
fn should_stop_keeps_the_canonical_line() {
    let tasks = load("HumanEval-SingleLineInfilling.jsonl.gz");
    let mut same = 0;
    let mut stopped_early = 0;
    for t in &tasks[..200] {
        let raw = format!("{}{}", t.middle, t.suffix);
        let mut end = raw.len();
        for (i, _) in raw.char_indices().skip(1) {
            let input = Input {
                lang: Some(Language::Python),
                prefix: &t.prompt,
                suffix: &t.suffix,
                raw: &raw[..i],
                mode: Mode::SingleLine,
            };
            if should_stop(&input) {
                end = i;
                break;
            }
        }
        // Without a suffix the only line break is the output's last character.
        stopped_early += usize::from(end < raw.len() || t.suffix.is_empty());
        let full = Input {
            lang: Some(Language::Python),
            prefix: &t.prompt,
            suffix: &t.suffix,
            raw: &raw,
            mode: Mode::SingleLine,
        };
        let cut = Input {
            raw: &raw[..end],
            ..full
        };
        let ok = process(&cut) == process(&full);
        same += usize::from(ok);
    }
    assert_eq!(stopped_early, 200);
    assert_eq!(same, 200);
}
