//! The completion path with a scripted engine: what the ide does around the model (prompt
//! layout while typing, caches, the safety gate). The real model is exercised end to end by
//! tests/harness.

use std::sync::{Arc, Mutex};

use nib_engine::{
    ApproxTokenCounter, CancelToken, CompletionEngine, EngineError, GenerateRequest, Generation,
    ModelInfo, PromptFormat, StopReason, TokenCounter,
};
use nib_ide::{CompletionRequest, Ide, IdeConfig, Trigger};
use nib_text::{OffsetEncoding, Position, Range, TextChange};

/// Answers every request with the next scripted output and records the prompts.
struct Scripted {
    outputs: Mutex<Vec<String>>,
    prompts: Mutex<Vec<String>>,
    forced: Mutex<Vec<Option<nib_engine::Forced>>>,
}

impl Scripted {
    fn new(outputs: &[&str]) -> Arc<Scripted> {
        Arc::new(Scripted {
            outputs: Mutex::new(outputs.iter().rev().map(|s| s.to_string()).collect()),
            prompts: Mutex::default(),
            forced: Mutex::default(),
        })
    }
}

impl CompletionEngine for Scripted {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "scripted".into(),
            format: PromptFormat::Qwen,
            context_length: 8192,
            threads: 1,
        }
    }
    fn token_counter(&self) -> Arc<dyn TokenCounter> {
        Arc::new(ApproxTokenCounter)
    }
    fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError> {
        self.prompts.lock().unwrap().push(req.prompt.clone());
        self.forced.lock().unwrap().push(req.forced.clone());
        let mut text = self.outputs.lock().unwrap().pop().unwrap_or_default();
        // Like a real engine: the output starts with the forced text.
        if let Some(f) = req.forced.as_ref().filter(|f| !text.starts_with(&f.text)) {
            text = format!("{}{text}", f.text);
        }
        Ok(Generation {
            tokens: vec![nib_engine::GeneratedToken {
                text: text.clone(),
                logprob: -0.1,
            }],
            text,
            stop_reason: StopReason::EndOfGeneration,
            alternatives: Vec::new(),
            prompt_tokens: 10,
            reused_tokens: 0,
            prefill_time: Default::default(),
            decode_time: Default::default(),
        })
    }
}

fn ide_with(engine: Arc<Scripted>) -> Ide {
    let ide = Ide::new(IdeConfig {
        deadline: None,
        ..IdeConfig::default()
    });
    ide.set_engine(engine);
    ide
}

fn at(ide: &Ide, uri: &str, line: u32, col: u32) -> nib_ide::Completion {
    let snap = ide.snapshot(uri).unwrap();
    ide.complete(
        &snap,
        CompletionRequest::new(
            Position::new(line, col),
            OffsetEncoding::Utf8,
            Trigger::Automatic,
        ),
        &CancelToken::new(),
    )
    .unwrap()
}

fn type_at(ide: &Ide, uri: &str, version: i32, line: u32, col: u32, text: &str) {
    let p = Position::new(line, col);
    ide.change(
        uri,
        version,
        &[TextChange {
            range: Some(Range { start: p, end: p }),
            text: text.into(),
        }],
        OffsetEncoding::Utf8,
    )
    .unwrap();
}

#[test]
fn typing_only_appends_to_the_prompt() {
    let engine = Scripted::new(&["", "", "", ""]);
    let ide = ide_with(engine.clone());
    let uri = "file:///a.py";
    ide.open(
        uri,
        Some("python"),
        1,
        "import os\n\ndef f(path):\n    \n\nprint(f('.'))\n",
    );
    at(&ide, uri, 3, 4);
    type_at(&ide, uri, 2, 3, 4, "return os");
    at(&ide, uri, 3, 13);
    type_at(&ide, uri, 3, 3, 13, ".path.");
    at(&ide, uri, 3, 19);
    type_at(&ide, uri, 4, 3, 19, "join(path, 'x')\n    ");
    at(&ide, uri, 4, 4);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 4);
    for w in prompts.windows(2) {
        assert!(
            w[1].starts_with(&w[0]),
            "typing must only append:\n{:?}\n{:?}",
            w[0],
            w[1]
        );
    }
    // The last blank of the new line's indentation and a partial word are held back from the
    // prompt (it would end inside a token) and the engine starts its output with them.
    assert!(
        prompts[3].ends_with("<|fim_middle|>    return os.path.join(path, 'x')\n   "),
        "{:?}",
        prompts[3]
    );
    assert!(
        prompts[1].ends_with("<|fim_middle|>    return"),
        "{:?}",
        prompts[1]
    );
    let forced = engine.forced.lock().unwrap().clone();
    let texts: Vec<_> = forced.iter().map(|f| f.clone().unwrap().text).collect();
    assert_eq!(texts, [" ", " os", "", " "]);
}

#[test]
fn a_new_line_after_a_block_header_is_forced_to_its_indentation() {
    let engine = Scripted::new(&["return 1"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///e.py";
    ide.open(uri, Some("python"), 1, "def f(x):\n    if x:\n\n");
    let c = at(&ide, uri, 2, 0);
    let forced = engine.forced.lock().unwrap()[0].clone().unwrap();
    // The indentation goes into the prompt as BPE would split it (the last blank belongs to
    // the next word); the output must start with that blank and then a non-blank.
    assert_eq!((forced.text.as_str(), forced.then_non_blank), (" ", true));
    assert!(engine.prompts.lock().unwrap()[0].ends_with("<|fim_middle|>       "));
    assert_eq!(c.text, "        return 1");
}

#[test]
fn trailing_space_is_held_back_and_stripped_from_the_output() {
    let engine = Scripted::new(&[" 42"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///b.py";
    ide.open(uri, Some("python"), 1, "answer = \n");
    let c = at(&ide, uri, 0, 9);
    assert_eq!(c.text, "42");
    assert!(engine.prompts.lock().unwrap()[0].ends_with("<|fim_middle|>answer ="));
}

#[test]
fn typeahead_answers_from_the_shown_suggestion() {
    let engine = Scripted::new(&["(path).strip()"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///c.py";
    ide.open(uri, Some("python"), 1, "def f(path):\n    return str\n");
    let c = at(&ide, uri, 1, 14);
    assert_eq!(c.text, "(path).strip()");
    type_at(&ide, uri, 2, 1, 14, "(pa");
    let c = at(&ide, uri, 1, 17);
    assert_eq!(
        (c.text.as_str(), c.cache),
        ("th).strip()", Some("typeahead"))
    );
    assert_eq!(engine.prompts.lock().unwrap().len(), 1, "no model call");
    // Typing something else is a miss.
    type_at(&ide, uri, 3, 1, 17, "x");
    let c = at(&ide, uri, 1, 18);
    assert_eq!(c.cache, None);
}

#[test]
fn the_safety_gate_drops_dangerous_suggestions_and_keeps_findings_of_others() {
    let engine = Scripted::new(&[
        "os.system(\"ls \" + request.args[\"name\"])",
        "hashlib.md5(password.encode()).hexdigest()",
    ]);
    let ide = ide_with(engine);
    let uri = "file:///d.py";
    ide.open(
        uri,
        Some("python"),
        1,
        "import os\nimport hashlib\nfrom flask import request\n\ndef run():\n    \n",
    );
    let c = at(&ide, uri, 5, 4);
    assert_eq!(c.text, "", "command injection from request data is dropped");
    assert!(
        c.dropped
            .as_deref()
            .unwrap_or("")
            .contains("command-injection"),
        "{:?}",
        c.dropped
    );
    assert!(!c.findings.is_empty());

    ide.open(
        "file:///e.py",
        Some("python"),
        1,
        "import hashlib\n\ndef digest(password):\n    return \n",
    );
    let c = at(&ide, "file:///e.py", 3, 11);
    assert!(
        c.findings
            .iter()
            .all(|f| f.severity < nib_ide::Severity::High),
        "{:?}",
        c.findings
    );
}
