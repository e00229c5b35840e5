//! The completion path with a scripted engine: what the ide does around the model (prompt
//! layout while typing, caches, the safety gate, code actions). The real model is exercised end to end by
//! tests/harness.

use std::sync::{Arc, Mutex};

use nib_engine::{
    ApproxTokenCounter, CancelToken, CompletionEngine, EngineError, GenerateRequest, Generation,
    ModelInfo, PromptFormat, PromptPlan, Slot, StopReason, Throughput, TokenCounter,
};
use nib_ide::{
    CodeActionKind, CodeActionRequest, CodeActionResult, CompletionRequest, GatePolicy, Ide,
    IdeConfig, IdeError, Trigger,
};
use nib_text::{OffsetEncoding, Position, Range, TextChange};

/// Answers every request with the next scripted output (and its alternatives) and records the
/// prompts and output caps.
struct Scripted {
    outputs: Mutex<Vec<Vec<String>>>,
    prompts: Mutex<Vec<String>>,
    forced: Mutex<Vec<Option<nib_engine::Forced>>>,
    max_tokens: Mutex<Vec<usize>>,
    /// The chat format the scripted model reports (none: a base model).
    chat: Mutex<Option<nib_engine::ChatFormat>>,
    stops: Mutex<Vec<Vec<String>>>,
    slots: Mutex<Vec<nib_engine::Slot>>,
    /// The rejected texts each request asked to avoid.
    avoids: Mutex<Vec<Vec<String>>>,
    /// Report every output as cut short by the request's deadline.
    deadline_hit: Mutex<bool>,
    /// The speed the engine reports (deadline planning reads it).
    throughput: Mutex<Throughput>,
    /// Slots that hold every prompt `plan` is asked about (the others hold nothing).
    warm: Mutex<Vec<Slot>>,
    /// The slots of the background prefills run, in order.
    prefilled: Mutex<Vec<Slot>>,
    /// How long each generation takes.
    delay: Mutex<std::time::Duration>,
}

impl Scripted {
    fn new(outputs: &[&str]) -> Arc<Scripted> {
        let with_alternatives: Vec<&[&str]> = outputs.iter().map(std::slice::from_ref).collect();
        Scripted::with_alternatives(&with_alternatives)
    }

    /// Each request gets the next list: the main output, then the alternatives.
    fn with_alternatives(outputs: &[&[&str]]) -> Arc<Scripted> {
        Arc::new(Scripted {
            outputs: Mutex::new(
                outputs
                    .iter()
                    .rev()
                    .map(|o| o.iter().map(|s| s.to_string()).collect())
                    .collect(),
            ),
            prompts: Mutex::default(),
            forced: Mutex::default(),
            max_tokens: Mutex::default(),
            chat: Mutex::default(),
            stops: Mutex::default(),
            slots: Mutex::default(),
            avoids: Mutex::default(),
            deadline_hit: Mutex::default(),
            throughput: Mutex::new(Throughput {
                prefill_tokens_per_s: 300.0,
                decode_tokens_per_s: 60.0,
            }),
            warm: Mutex::default(),
            prefilled: Mutex::default(),
            delay: Mutex::default(),
        })
    }

    /// An instruct model (ChatML template) answering with `outputs`.
    fn chat(outputs: &[&str]) -> Arc<Scripted> {
        let s = Scripted::new(outputs);
        *s.chat.lock().unwrap() = Some(nib_engine::ChatFormat::ChatMl);
        s
    }
}

fn candidate(text: &str) -> nib_engine::GeneratedToken {
    nib_engine::GeneratedToken {
        text: text.to_string(),
        logprob: -0.1,
    }
}

/// Like a model given the start of its answer (the prompt's end after the assistant's turn
/// opens, `ChatRequest::answer_start`): a scripted answer that repeats it goes on after it.
fn after_given_start(prompt: &str, text: String) -> String {
    match prompt.rsplit_once("<|im_start|>assistant\n") {
        Some((_, given)) if !given.is_empty() => {
            text.strip_prefix(given).map(str::to_string).unwrap_or(text)
        }
        _ => text,
    }
}

impl CompletionEngine for Scripted {
    fn info(&self) -> ModelInfo {
        ModelInfo {
            name: "scripted".into(),
            format: PromptFormat::Qwen,
            chat: *self.chat.lock().unwrap(),
            default_system: None,
            context_length: 8192,
            threads: 1,
        }
    }
    fn token_counter(&self) -> Arc<dyn TokenCounter> {
        Arc::new(ApproxTokenCounter)
    }
    fn throughput(&self) -> Throughput {
        *self.throughput.lock().unwrap()
    }
    fn plan(&self, slot: Slot, prompt: &str) -> PromptPlan {
        let tokens = ApproxTokenCounter.count(prompt);
        let held = if self.warm.lock().unwrap().contains(&slot) {
            tokens
        } else {
            0
        };
        PromptPlan {
            prompt_tokens: tokens,
            cached_tokens: held,
            slot_tokens: held,
        }
    }
    fn prefill(
        &self,
        slot: Slot,
        prompt: &str,
        _cancel: CancelToken,
    ) -> Result<usize, EngineError> {
        self.prefilled.lock().unwrap().push(slot);
        Ok(ApproxTokenCounter.count(prompt))
    }
    fn generate(&self, req: GenerateRequest) -> Result<Generation, EngineError> {
        self.prompts.lock().unwrap().push(req.prompt.clone());
        let delay = *self.delay.lock().unwrap();
        std::thread::sleep(delay);
        self.forced.lock().unwrap().push(req.forced.clone());
        self.max_tokens.lock().unwrap().push(req.stop.max_tokens);
        self.stops
            .lock()
            .unwrap()
            .push(req.stop.stop_strings.clone());
        self.slots.lock().unwrap().push(req.slot);
        self.avoids.lock().unwrap().push(req.avoid.clone());
        let mut outputs = self.outputs.lock().unwrap().pop().unwrap_or_default();
        if outputs.is_empty() {
            outputs.push(String::new());
        }
        for o in outputs.iter_mut() {
            *o = after_given_start(&req.prompt, std::mem::take(o));
        }
        // Like a real engine: every candidate starts with the forced text.
        if let Some(f) = &req.forced {
            for o in outputs.iter_mut().filter(|o| !o.starts_with(&f.text)) {
                *o = format!("{}{o}", f.text);
            }
        }
        // Like a real engine: cut at the first stop string.
        for o in outputs.iter_mut() {
            if let Some(i) = req
                .stop
                .stop_strings
                .iter()
                .filter_map(|stop| o.find(stop.as_str()))
                .min()
            {
                o.truncate(i);
            }
        }
        // `⟂` starts a token the model doubts (log-probability -3); the rest is one sure token.
        let mut tokens: Vec<_> = outputs
            .remove(0)
            .split('⟂')
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(i, t)| nib_engine::GeneratedToken {
                text: t.to_string(),
                logprob: if i == 0 { -0.1 } else { -3.0 },
            })
            .collect();
        // Like a real engine: stop at the first doubted token when asked to.
        let doubt = (1..=tokens.len()).find(|&n| req.stop.stops_at_doubt(&tokens[..n]));
        if let Some(n) = doubt {
            tokens.truncate(n);
        }
        let text: String = tokens.iter().map(|t| t.text.as_str()).collect();
        let stop_reason = if doubt.is_some() {
            StopReason::Doubt
        } else if *self.deadline_hit.lock().unwrap() {
            StopReason::Deadline
        } else {
            StopReason::EndOfGeneration
        };
        Ok(Generation {
            tokens,
            text,
            stop_reason,
            alternatives: outputs
                .iter()
                .take(req.alternatives)
                .map(|t| nib_engine::Candidate {
                    text: t.clone(),
                    tokens: vec![candidate(t)],
                    stop_reason: StopReason::EndOfGeneration,
                })
                .collect(),
            prompt_tokens: 10,
            reused_tokens: 0,
            prefill_time: Default::default(),
            decode_time: Default::default(),
            drafted_tokens: 0,
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

/// A Python function of 600 statements (about 2,400 tokens on each side of its middle), and
/// the position of the blank line in its middle.
fn long_function() -> (String, u32, u32) {
    let mut text = String::from("def f(xs):\n");
    for i in 0..300 {
        text.push_str(&format!("    total_{i} = compute(xs, {i})\n"));
    }
    text.push_str("    \n");
    for i in 300..600 {
        text.push_str(&format!("    total_{i} = compute(xs, {i})\n"));
    }
    (text, 301, 4)
}

/// An ide with a deadline of 5 s (20 s cold) over `engine` reporting `prefill` tokens/s (and
/// a fast decode), with [`long_function`] open. The budgets are far from what the plans need
/// on either side, so that the time this machine spends on the request does not matter.
fn typing_ide(engine: &Arc<Scripted>, prefill: f64) -> Ide {
    *engine.throughput.lock().unwrap() = Throughput {
        prefill_tokens_per_s: prefill,
        decode_tokens_per_s: 1000.0,
    };
    let ide = Ide::new(IdeConfig {
        deadline: Some(std::time::Duration::from_secs(5)),
        cold_deadline: std::time::Duration::from_secs(20),
        ..IdeConfig::default()
    });
    ide.set_engine(engine.clone());
    ide.open("file:///long.py", Some("python"), 1, &long_function().0);
    ide
}

fn at_long_function_middle(ide: &Ide) -> nib_ide::Completion {
    let (_, line, col) = long_function();
    at(ide, "file:///long.py", line, col)
}

#[test]
fn a_fast_engine_runs_the_full_window() {
    // 3,600 prompt tokens at a million tokens/s: well within the budget.
    let engine = Scripted::new(&["return total_0"]);
    let ide = typing_ide(&engine, 1e6);
    let c = at_long_function_middle(&ide);
    assert_eq!((c.shrunk, c.skipped), (false, None));
    assert_eq!(engine.slots.lock().unwrap().clone(), [Slot::Main]);
    let prompt = engine.prompts.lock().unwrap()[0].clone();
    assert!(
        prompt.contains("total_150 ="),
        "the full window reaches far up"
    );
    assert_eq!(c.text, "return total_0");
}

#[test]
fn a_slow_engine_shrinks_a_cold_request_to_the_small_window() {
    // At 100 tokens/s the full window (about 3,600 tokens) needs 36 s, more than the 20 s cold
    // budget; the small window (512 tokens, the most) needs about 5 s.
    let engine = Scripted::new(&["return total_0"]);
    let ide = typing_ide(&engine, 100.0);
    let c = at_long_function_middle(&ide);
    assert_eq!((c.shrunk, c.skipped), (true, None));
    assert_eq!(engine.slots.lock().unwrap().clone(), [Slot::Scratch]);
    let prompt = engine.prompts.lock().unwrap()[0].clone();
    assert!(prompt.contains("total_299 ="), "{prompt:?}");
    assert!(!prompt.contains("total_150 ="), "the small window is small");
    assert!(ApproxTokenCounter.count(&prompt) <= 600, "{prompt:?}");
    assert_eq!(c.text, "return total_0");
    let stats = ide.stats();
    assert_eq!((stats.shrunk, stats.skipped), (1, 0));
}

#[test]
fn a_slow_engine_with_the_full_window_cached_runs_it() {
    // At 1 token/s nothing uncached fits, but the main slot already holds the whole prompt.
    let engine = Scripted::new(&["return total_0"]);
    engine.warm.lock().unwrap().push(Slot::Main);
    let ide = typing_ide(&engine, 1.0);
    let c = at_long_function_middle(&ide);
    assert_eq!((c.shrunk, c.skipped), (false, None));
    assert_eq!(engine.slots.lock().unwrap().clone(), [Slot::Main]);
}

#[test]
fn an_engine_too_slow_even_for_the_small_window_skips_the_request() {
    // At 1 token/s even the smallest window (48 tokens and more) takes longer than the budget:
    // the request is answered at once with nothing, without the model, and both windows are
    // evaluated in the background (the small one first, for the next keystroke).
    let engine = Scripted::new(&["return total_0"]);
    let ide = typing_ide(&engine, 1.0);
    let c = at_long_function_middle(&ide);
    assert_eq!(c.text, "");
    assert_eq!(c.skipped, Some("small_window_over_budget"));
    assert!(c.shrunk);
    assert_eq!(c.generated_tokens, 0);
    assert!(engine.prompts.lock().unwrap().is_empty(), "no model call");
    let stats = ide.stats();
    assert_eq!(
        (stats.shrunk, stats.skipped, stats.model_requests),
        (1, 1, 0)
    );
    let waited = std::time::Instant::now();
    while engine.prefilled.lock().unwrap().len() < 2
        && waited.elapsed() < std::time::Duration::from_secs(30)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        engine.prefilled.lock().unwrap().clone(),
        [Slot::Scratch, Slot::Main]
    );
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
fn a_statement_above_a_deeper_line_is_retried_as_its_header() {
    // The greedy line dedents to a statement: the next line (deeper) would be orphaned, which
    // Python refuses. The second candidate starts at the indentation of that line's header.
    let engine = Scripted::new(&["    return d", " else:"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///h.py";
    let text = "def f(s):\n    d = 0\n    for c in s:\n        if c == '(':\n            d += 1\n\n            d -= 1\n    return d\n";
    ide.open(uri, Some("python"), 1, text);
    let c = at(&ide, uri, 5, 0);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2, "one retry");
    assert!(
        prompts[1].ends_with("<|fim_middle|>       "),
        "the retry's prompt ends in the header's indentation less its last blank: {:?}",
        prompts[1]
    );
    let forced = engine.forced.lock().unwrap()[1].clone().unwrap();
    assert_eq!((forced.text.as_str(), forced.then_non_blank), (" ", true));
    // ... and its first word is a block keyword.
    assert!(forced.then_one_of.iter().any(|w| w == "else"));
    assert!(!forced.then_one_of.iter().any(|w| w == "return"));
    assert_eq!(c.text, "        else:");
}

#[test]
fn a_suggestion_cut_by_the_deadline_keeps_whole_lines_or_words() {
    let engine = Scripted::new(&[
        "acc = 0\n    for x in xs:\n        acc += x.pri",
        "return acc.tot",
    ]);
    *engine.deadline_hit.lock().unwrap() = true;
    let ide = ide_with(engine.clone());
    let uri = "file:///d.py";
    ide.open(uri, Some("python"), 1, "def f(xs):\n    \n");
    // A blank line of its own: multi-line, whole lines only.
    let c = at(&ide, uri, 1, 4);
    assert_eq!(c.text, "acc = 0\n    for x in xs:");
    // One line: whole words only.
    let c = at(&ide, uri, 1, 4);
    assert_eq!(c.text, "return acc.");
}

#[test]
fn an_exit_above_code_at_its_level_gets_a_second_candidate() {
    // `return None` above the function's real return would leave it unreachable.
    let engine = Scripted::new(&["return None", "import hashlib"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///u.py";
    let text = "def f(text):\n    \"\"\"Hash.\"\"\"\n    return hashlib.md5(text).hexdigest()\n";
    ide.open(uri, Some("python"), 1, text);
    // At the start of the line with the return (a line of its own goes above it).
    let c = at(&ide, uri, 2, 0);
    assert_eq!(engine.prompts.lock().unwrap().len(), 2, "one retry");
    assert_eq!(c.text, "    import hashlib\n");
    // The first retry takes the second most likely start; it has nothing to avoid.
    assert_eq!(
        engine.avoids.lock().unwrap().clone(),
        vec![Vec::<String>::new(); 2]
    );
}

#[test]
fn rejected_candidates_get_at_most_two_more() {
    // Repeats of the next line, three times over: two retries, then nothing.
    let engine = Scripted::new(&["return total", "return total", "return total", "total += 1"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///r.py";
    let text = "def f(xs):\n    total = 0\n    \n    return total\n";
    ide.open(uri, Some("python"), 1, text);
    let c = at(&ide, uri, 2, 4);
    assert_eq!(c.text, "");
    let avoids = engine.avoids.lock().unwrap().clone();
    assert_eq!(avoids.len(), 3, "{avoids:?}");
    assert!(
        avoids[1].is_empty(),
        "the second most likely start: {avoids:?}"
    );
    assert_eq!(
        avoids[2].len(),
        2,
        "each rejected text is avoided: {avoids:?}"
    );
    // While typing (a request with a deadline) one retry only.
    let engine = Scripted::new(&["return total", "return total", "total += 1"]);
    let ide = Ide::new(IdeConfig {
        deadline: Some(std::time::Duration::from_secs(30)),
        cold_deadline: std::time::Duration::from_secs(30),
        ..IdeConfig::default()
    });
    ide.set_engine(engine.clone());
    ide.open(uri, Some("python"), 1, text);
    let c = at(&ide, uri, 2, 4);
    assert_eq!(c.text, "");
    assert_eq!(engine.prompts.lock().unwrap().len(), 2);
    // The second retry's answer is taken when the first retry's is rejected too.
    let engine = Scripted::new(&["return total", "return total", "total += 1"]);
    let ide = ide_with(engine.clone());
    ide.open(uri, Some("python"), 1, text);
    let c = at(&ide, uri, 2, 4);
    assert_eq!(c.text, "total += 1", "{:?}", engine.avoids.lock().unwrap());
}

#[test]
fn the_enclosing_signatures_stay_in_a_window_that_starts_inside_the_body() {
    let engine = Scripted::new(&["0"]);
    let ide = Ide::new(IdeConfig {
        deadline: None,
        window: nib_context::WindowConfig {
            prefix_tokens: 200,
            suffix_tokens: 100,
        },
        ..IdeConfig::default()
    });
    ide.set_engine(engine.clone());
    let uri = "file:///s.py";
    let mut text = String::from("class Cart:\n    def total(self, items):\n        acc = 0\n");
    for i in 0..300 {
        text.push_str(&format!("        acc += items[{i}] * {i}\n"));
    }
    text.push_str("        acc += \n        return acc\n");
    ide.open(uri, Some("python"), 1, &text);
    at(&ide, uri, 303, 15);
    let prompt = engine.prompts.lock().unwrap()[0].clone();
    let headers = "class Cart:\n    def total(self, items):\n        acc += items[";
    assert!(prompt.contains(headers), "{prompt:?}");
    assert!(
        !prompt.contains("items[100]"),
        "the window is short: {prompt:?}"
    );
}

#[test]
fn a_header_retry_at_the_line_start_is_constrained_to_a_keyword() {
    // The cursor is at column 0 of a blank line, so the first attempt was already held to the
    // header's indentation: the retry differs by its first word, a block keyword.
    let engine = Scripted::new(&["    x = 1", " def g(i):"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///k.py";
    let text = "def f(a, b):\n    y = 2\n\n        if a:\n            return y\n";
    ide.open(uri, Some("python"), 1, text);
    let c = at(&ide, uri, 2, 0);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2, "one retry: {c:?}");
    let forced = engine.forced.lock().unwrap()[1].clone().unwrap();
    assert_eq!((forced.text.as_str(), forced.then_non_blank), (" ", true));
    assert!(forced.then_one_of.iter().any(|w| w == "def"), "{forced:?}");
    assert_eq!(c.text, "    def g(i):");
}

#[test]
fn a_block_header_on_a_new_line_comes_with_its_body() {
    // Single-line mode, but `for ...:` alone would take `return total` as its body.
    let engine = Scripted::new(&["    for x in xs:\n        total += x\n    return total\n"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///g.py";
    ide.open(
        uri,
        Some("python"),
        1,
        "def f(xs):\n    total = 0\n    return total\n",
    );
    // At the start of the line with the return: single-line mode.
    let c = at(&ide, uri, 2, 0);
    assert_eq!(c.mode, "single_line");
    assert_eq!(c.text, "    for x in xs:\n        total += x\n");
    // The engine was not told to stop at the first line break, and may write a few lines.
    assert!(engine.max_tokens.lock().unwrap()[0] > IdeConfig::default().max_tokens_single_line);
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
fn the_suggestion_after_an_accepted_one_is_ready_when_asked() {
    let engine = Scripted::new(&["path.strip", "().lower()"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///n.py";
    ide.open(uri, Some("python"), 1, "def f(path):\n    return \n");
    let c = at(&ide, uri, 1, 11);
    assert_eq!(c.text, "path.strip");
    ide.lookahead(&ide.snapshot(uri).unwrap(), &c, OffsetEncoding::Utf8);
    assert!(
        engine.prompts.lock().unwrap()[1].contains("return path."),
        "the lookahead sees the suggestion accepted"
    );
    assert_eq!(ide.stats().lookaheads, 1);
    // Tab inserts the suggestion; the editor asks again at its end.
    type_at(&ide, uri, 2, 1, 11, "path.strip");
    let c = at(&ide, uri, 1, 21);
    assert_eq!(
        (c.text.as_str(), c.cache),
        ("().lower()", Some("lookahead"))
    );
    // Typing into it goes on from it.
    type_at(&ide, uri, 3, 1, 21, "()");
    let c = at(&ide, uri, 1, 23);
    assert_eq!((c.text.as_str(), c.cache), (".lower()", Some("typeahead")));
    assert_eq!(engine.prompts.lock().unwrap().len(), 2, "no model call");
    let stats = ide.stats();
    assert_eq!(
        (stats.requests, stats.model_requests, stats.lookahead_hits),
        (3, 1, 1)
    );
}

/// The lookahead runs the path of a request, plan included, but it is no request: the request
/// counters (`shrunk`, `skipped`, `model_requests`, `prefilled_tokens`) are the editor's
/// requests only, and what the lookahead evaluates counts as background work.
#[test]
fn a_lookahead_is_not_counted_as_a_request() {
    // At 100 tokens/s the full window misses the budget: the request and the lookahead both
    // run on the small window.
    let engine = Scripted::new(&["return total_0", "\n    total = 0"]);
    let ide = typing_ide(&engine, 100.0);
    let uri = "file:///long.py";
    let c = at_long_function_middle(&ide);
    assert!(c.shrunk);
    // The scratch slot holds the small window; the lookahead's only appends the suggestion.
    engine.warm.lock().unwrap().push(Slot::Scratch);
    // The request's background prefill of the full window (the main slot held nothing) ends
    // before the lookahead starts, so that only the lookahead's work counts below.
    let waited = std::time::Instant::now();
    while ide.stats().background_prefilled_tokens == 0
        && waited.elapsed() < std::time::Duration::from_secs(30)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(engine.prefilled.lock().unwrap().clone(), [Slot::Main]);
    let before = ide.stats();
    ide.lookahead(&ide.snapshot(uri).unwrap(), &c, OffsetEncoding::Utf8);
    assert_eq!(engine.prompts.lock().unwrap().len(), 2, "the lookahead ran");
    assert_eq!(
        engine.slots.lock().unwrap().clone(),
        [Slot::Scratch, Slot::Scratch],
        "on the small window, as a request would"
    );
    let after = ide.stats();
    assert_eq!(after.lookaheads, 1);
    assert_eq!(
        (
            after.requests,
            after.model_requests,
            after.shrunk,
            after.skipped,
            after.prefilled_tokens
        ),
        (
            before.requests,
            before.model_requests,
            before.shrunk,
            before.skipped,
            before.prefilled_tokens
        ),
        "{after:?}"
    );
    // The lookahead's prompt (10 tokens for this engine) is background work, and so is the
    // full window it may prefill afterwards.
    assert!(
        after.background_prefilled_tokens - before.background_prefilled_tokens >= 10,
        "the lookahead's prompt is background work: {after:?}"
    );
}

#[test]
fn a_lookahead_that_found_nothing_answers_nothing_and_a_cut_one_is_not_typed_into() {
    let engine = Scripted::new(&["path.strip", "", "()", "().lower()", "().upper()"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///n.py";
    ide.open(uri, Some("python"), 1, "def f(path):\n    return \n");
    let c = at(&ide, uri, 1, 11);
    ide.lookahead(&ide.snapshot(uri).unwrap(), &c, OffsetEncoding::Utf8);
    type_at(&ide, uri, 2, 1, 11, "path.strip");
    let c = at(&ide, uri, 1, 21);
    assert_eq!((c.text.as_str(), c.cache), ("", Some("lookahead")));
    assert_eq!(engine.prompts.lock().unwrap().len(), 2);
    // A lookahead cut by the deadline answers the request after Tab, as that request would
    // have been answered, but typing into it asks the model again.
    ide.open(
        uri,
        Some("python"),
        1,
        "def f(path):\n    return path.strip\n",
    );
    let c = at(&ide, uri, 1, 21);
    assert_eq!(c.text, "()");
    *engine.deadline_hit.lock().unwrap() = true;
    ide.lookahead(&ide.snapshot(uri).unwrap(), &c, OffsetEncoding::Utf8);
    *engine.deadline_hit.lock().unwrap() = false;
    type_at(&ide, uri, 2, 1, 21, "()");
    let c = at(&ide, uri, 1, 23);
    assert_eq!(
        (c.text.as_str(), c.cache),
        ("().lower()", Some("lookahead"))
    );
    type_at(&ide, uri, 3, 1, 23, "(");
    let c = at(&ide, uri, 1, 24);
    assert_eq!(c.cache, None);
    assert_eq!(engine.prompts.lock().unwrap().len(), 5);
}

#[test]
fn a_suggestion_typed_over_is_not_followed_by_its_lookahead() {
    let engine = Scripted::new(&["path.strip", "().lower()", "tuple(path)"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///n.py";
    ide.open(uri, Some("python"), 1, "def f(path):\n    return \n");
    let c = at(&ide, uri, 1, 11);
    ide.lookahead(&ide.snapshot(uri).unwrap(), &c, OffsetEncoding::Utf8);
    // The user types something else where the suggestion was.
    type_at(&ide, uri, 2, 1, 11, "len(path.strip");
    let c = at(&ide, uri, 1, 25);
    assert_eq!((c.text.as_str(), c.cache), ("tuple(path)", None));
    assert_eq!(ide.stats().lookahead_hits, 0);
}

#[test]
fn the_request_after_tab_waits_for_the_lookahead_running() {
    let engine = Scripted::new(&["path.strip", "().lower()"]);
    let ide = Arc::new(ide_with(engine.clone()));
    let uri = "file:///n.py";
    ide.open(uri, Some("python"), 1, "def f(path):\n    return \n");
    let c = at(&ide, uri, 1, 11);
    *engine.delay.lock().unwrap() = std::time::Duration::from_millis(300);
    let background = {
        let (ide, snap) = (Arc::clone(&ide), ide.snapshot(uri).unwrap());
        std::thread::spawn(move || ide.lookahead(&snap, &c, OffsetEncoding::Utf8))
    };
    // Tab while the lookahead is generating.
    while engine.prompts.lock().unwrap().len() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    type_at(&ide, uri, 2, 1, 11, "path.strip");
    let c = at(&ide, uri, 1, 21);
    background.join().unwrap();
    assert_eq!(
        (c.text.as_str(), c.cache),
        ("().lower()", Some("lookahead"))
    );
    assert_eq!(
        engine.prompts.lock().unwrap().len(),
        2,
        "one model call each"
    );
}

/// A suggestion ends where the model doubts: before its first unlikely token, and before the
/// word that token would finish, and generation stops there; an explicit request, or the cut
/// off, shows it whole.
#[test]
fn a_suggestion_ends_where_the_model_doubts() {
    let engine = Scripted::new(&[
        "path.strip⟂()⟂.lower()",
        "path.strip(), na⟂me",
        "path.strip⟂()⟂.lower()",
        "path.strip⟂()⟂.lower()",
    ]);
    let config = IdeConfig {
        deadline: None,
        doubt_cut: Some(0.1f32.ln()),
        ..IdeConfig::default()
    };
    let ide = Ide::new(config.clone());
    ide.set_engine(engine.clone());
    let uri = "file:///n.py";
    let text = "def f(path):\n    return \n";
    ide.open(uri, Some("python"), 1, text);
    let c = at(&ide, uri, 1, 11);
    assert_eq!(
        (c.text.as_str(), c.raw.as_str(), c.stop_reason),
        ("path.strip", " path.strip()", StopReason::Doubt),
        "generation stops at the doubted token"
    );
    ide.open(uri, Some("python"), 2, "def g(path):\n    return \n");
    assert_eq!(
        at(&ide, uri, 1, 11).text,
        "path.strip(),",
        "a word is not cut in two"
    );
    assert_eq!(ide.stats().doubt_cuts, 2);
    ide.open(uri, Some("python"), 3, "def h(path):\n    return \n");
    let snap = ide.snapshot(uri).unwrap();
    let invoked = ide
        .complete(
            &snap,
            CompletionRequest::new(Position::new(1, 11), OffsetEncoding::Utf8, Trigger::Invoked),
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(
        (invoked.text.as_str(), invoked.stop_reason),
        ("path.strip().lower()", StopReason::EndOfGeneration),
        "the user asked: all of it"
    );
    ide.set_config(IdeConfig {
        doubt_cut: None,
        ..config
    });
    ide.open(uri, Some("python"), 4, "def k(path):\n    return \n");
    assert_eq!(at(&ide, uri, 1, 11).text, "path.strip().lower()");
    assert_eq!(ide.stats().doubt_cuts, 2);
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

fn action_at(ide: &Ide, uri: &str, line: u32, col: u32) -> Result<CodeActionResult, IdeError> {
    let snap = ide.snapshot(uri).unwrap();
    let p = Position::new(line, col);
    ide.code_action(
        &snap,
        CodeActionRequest {
            kind: CodeActionKind::GenerateFromComment,
            range: Range { start: p, end: p },
            encoding: OffsetEncoding::Utf8,
        },
        &CancelToken::new(),
    )
}

fn actions_at(ide: &Ide, uri: &str, line: u32) -> Vec<CodeActionKind> {
    let p = Position::new(line, 2);
    ide.code_actions(
        &ide.snapshot(uri).unwrap(),
        Range { start: p, end: p },
        OffsetEncoding::Utf8,
    )
    .unwrap()
}

/// A shell command from the command line is high (from a parameter it would be medium: the
/// caller decides).
const CLEAN_DIR: &str =
    "import os\nimport sys\n\n\ndef main():\n    # delete the directory tree named on the command line\n";
const RM_RF: &str = " os.system(\"rm -rf \" + sys.argv[1])\n";

#[test]
fn code_action_with_a_high_finding_is_dropped_under_drop() {
    let engine = Scripted::new(&[RM_RF]);
    let ide = ide_with(engine.clone());
    let uri = "file:///clean.py";
    ide.open(uri, Some("python"), 1, CLEAN_DIR);
    assert_eq!(
        actions_at(&ide, uri, 5),
        [CodeActionKind::GenerateFromComment]
    );
    let r = action_at(&ide, uri, 5, 6).unwrap();
    assert_eq!(r.generated_code, "");
    assert_eq!(r.insert_text, "", "nothing to insert");
    assert!(
        r.dropped
            .as_deref()
            .is_some_and(|d| d.contains("python/command-injection")),
        "{:?}",
        r.dropped
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule_id == "python/command-injection"
                && f.severity >= nib_ide::Severity::High),
        "{:?}",
        r.findings
    );
    // The model was asked, on a new line under the comment, for a multi-line body; the
    // indentation's last space is held back from the prompt (and the output's copy dropped).
    let prompt = engine.prompts.lock().unwrap()[0].clone();
    assert!(
        prompt.contains("    # delete the directory tree named on the command line\n")
            && prompt.ends_with("<|fim_middle|>   "),
        "{prompt:?}"
    );
    assert_eq!(engine.max_tokens.lock().unwrap()[0], 512);
}

#[test]
fn code_action_with_a_high_finding_keeps_it_and_its_findings_under_warn() {
    let engine = Scripted::new(&[RM_RF]);
    let ide = ide_with(engine);
    ide.set_config(IdeConfig {
        gate: GatePolicy::Warn,
        ..ide.config()
    });
    let uri = "file:///clean.py";
    ide.open(uri, Some("python"), 1, CLEAN_DIR);
    let r = action_at(&ide, uri, 5, 0).unwrap();
    assert_eq!(r.generated_code, "os.system(\"rm -rf \" + sys.argv[1])");
    assert_eq!(r.dropped, None);
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule_id == "python/command-injection"
                && f.severity >= nib_ide::Severity::High),
        "{:?}",
        r.findings
    );
    // The document ends with the comment: the code goes on the (empty) last line and ends
    // with a line break.
    assert_eq!(r.range.start, Position::new(6, 0));
    assert_eq!(r.range.end, Position::new(6, 0));
    assert_eq!(r.insert_text, "    os.system(\"rm -rf \" + sys.argv[1])\n");
}

#[test]
fn clean_code_action_has_confidence_alternatives_and_no_gate_blocked_ones() {
    let engine = Scripted::with_alternatives(&[&[
        " return sum(x * x for x in xs)\n",
        " subprocess.call(input(), shell=True)\n",
        " total = 0\n    for x in xs:\n        total += x * x\n    return total\n",
    ]]);
    let ide = ide_with(engine.clone());
    let uri = "file:///squares.py";
    let text = "import subprocess\n\ndef sum_squares(xs):\n    # return the sum of the squares of the numbers in xs\n  \n\nprint(sum_squares([1, 2]))\n";
    ide.open(uri, Some("python"), 1, text);
    assert_eq!(actions_at(&ide, uri, 2), [], "not on the def line");
    assert_eq!(actions_at(&ide, uri, 6), [], "not on code");
    assert!(matches!(
        action_at(&ide, uri, 6, 0),
        Err(IdeError::NotApplicable(_))
    ));
    assert!(engine.prompts.lock().unwrap().is_empty(), "no model call");

    let r = action_at(&ide, uri, 3, 10).unwrap();
    assert_eq!(r.generated_code, "return sum(x * x for x in xs)");
    assert_eq!(r.dropped, None);
    assert_eq!(r.empty_reason, None);
    assert_eq!(r.confidence, "high");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // The blank line after the comment is replaced by the code at the comment's indentation.
    assert_eq!(r.range.start, Position::new(4, 0));
    assert_eq!(r.range.end, Position::new(4, 2));
    assert_eq!(r.insert_text, "    return sum(x * x for x in xs)");
    assert!(
        r.explanation
            .contains("line 4: return the sum of the squares of the numbers in xs"),
        "{}",
        r.explanation
    );
    assert!(r.test_stubs.is_empty());
    // The shell=True alternative is blocked; the loop is kept whole.
    assert_eq!(
        r.alternatives,
        ["total = 0\n    for x in xs:\n        total += x * x\n    return total"],
        "{:?}",
        r.alternatives
    );
    assert_eq!(r.version, 1);
}

const SQUARES: &str = "import math\n\ndef sum_squares(xs):\n    \"\"\"Return the sum of the squares of xs.\"\"\"\n\n\nprint(sum_squares([1, 2]))\n";

#[test]
fn chat_model_writes_the_function_body_from_its_answer() {
    let engine = Scripted::chat(&[
        "    if not xs:\n        return 0\n    return sum(x * x for x in xs)\n```\n\nThis sums the squares.",
    ]);
    let ide = ide_with(engine.clone());
    let uri = "file:///squares.py";
    ide.open(uri, Some("python"), 1, SQUARES);
    let r = action_at(&ide, uri, 3, 8).unwrap();
    assert_eq!(r.source, "chat");
    assert_eq!(
        r.generated_code,
        "if not xs:\n        return 0\n    return sum(x * x for x in xs)"
    );
    // Into the blank line after the docstring, at its indentation.
    assert_eq!(
        (r.range.start, r.range.end),
        (Position::new(4, 0), Position::new(4, 0))
    );
    assert_eq!(r.insert_text, format!("    {}", r.generated_code));
    // The answer as the engine returned it: cut at the end of the code block.
    assert_eq!(
        r.raw,
        "    if not xs:\n        return 0\n    return sum(x * x for x in xs)"
    );
    assert_eq!(r.dropped, None);
    // One chat request: the file in the user turn, the answer started with the function.
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    assert!(
        prompts[0].starts_with("<|im_start|>system\n"),
        "{:?}",
        prompts[0]
    );
    assert!(
        prompts[0].contains("```python\nimport math\n"),
        "{:?}",
        prompts[0]
    );
    assert!(
        prompts[0].ends_with("<|im_start|>assistant\n```python\ndef sum_squares(xs):\n    \"\"\"Return the sum of the squares of xs.\"\"\"\n"),
        "{:?}",
        prompts[0]
    );
    let stops = engine.stops.lock().unwrap()[0].clone();
    assert!(stops.iter().any(|s| s == "<|im_end|>") && stops.iter().any(|s| s == "\n```"));
    assert_eq!(engine.slots.lock().unwrap()[0], nib_engine::Slot::Scratch);
    assert_eq!(engine.max_tokens.lock().unwrap()[0], 512);
}

#[test]
fn chat_answer_without_the_function_body_falls_back_to_infilling() {
    let engine = Scripted::chat(&[
        "I need more context.",
        "    # Your code here\n    pass\n```",
        " return sum(x * x for x in xs)\n",
    ]);
    let ide = ide_with(engine.clone());
    let uri = "file:///squares.py";
    ide.open(uri, Some("python"), 1, SQUARES);
    let r = action_at(&ide, uri, 3, 8).unwrap();
    assert_eq!(r.source, "infill");
    assert_eq!(r.generated_code, "return sum(x * x for x in xs)");
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 3, "two chat answers, then infilling");
    assert_eq!(prompts[0], prompts[1]);
    assert!(prompts[2].contains("<|fim_middle|>"), "{:?}", prompts[2]);
    assert_eq!(
        engine.avoids.lock().unwrap()[1],
        vec!["I need more context.".to_string()]
    );
}

#[test]
fn a_placeholder_chat_answer_gets_a_second_answer() {
    let engine = Scripted::chat(&[
        "    # Your implementation goes here\n    pass\n```",
        "    return sum(x * x for x in xs)\n```",
    ]);
    let ide = ide_with(engine.clone());
    let uri = "file:///squares.py";
    ide.open(uri, Some("python"), 1, SQUARES);
    let r = action_at(&ide, uri, 3, 8).unwrap();
    assert_eq!(r.source, "chat");
    assert_eq!(r.generated_code, "return sum(x * x for x in xs)");
    let avoids = engine.avoids.lock().unwrap().clone();
    assert_eq!(avoids.len(), 2);
    assert!(
        avoids[1][0].starts_with("    # Your implementation"),
        "{avoids:?}"
    );
}

#[test]
fn a_chat_answer_calling_an_undefined_helper_is_told_so_and_answered_again() {
    let engine = Scripted::chat(&[
        "    return sum(square(x) for x in xs)\n```",
        "    def square(x):\n        return x * x\n\n    return sum(square(x) for x in xs)\n```",
    ]);
    let ide = ide_with(engine.clone());
    let uri = "file:///squares.py";
    ide.open(uri, Some("python"), 1, SQUARES);
    let r = action_at(&ide, uri, 3, 8).unwrap();
    assert_eq!(r.source, "chat");
    assert!(
        r.generated_code.starts_with("def square(x):"),
        "{:?}",
        r.generated_code
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 2);
    // The second chat holds the first answer and what is wrong with it, and opens the answer
    // the same way.
    let (first, second) = (&prompts[0], &prompts[1]);
    let opened = "<|im_start|>assistant\n```python\ndef sum_squares(xs):\n";
    let at = first.rfind(opened).unwrap();
    assert!(second.starts_with(&first[..at]));
    assert!(
        second.contains("    return sum(square(x) for x in xs)\n```<|im_end|>\n<|im_start|>user\n`square` is not defined"),
        "{second:?}"
    );
    assert_eq!(&second[second.len() - (first.len() - at)..], &first[at..]);
}

#[test]
fn a_second_answer_no_better_than_the_first_leaves_the_first_with_its_finding() {
    let engine = Scripted::chat(&[
        "    return sum(square(x) for x in xs)\n```",
        "    return total(xs)\n```",
    ]);
    let ide = ide_with(engine.clone());
    let uri = "file:///squares.py";
    ide.open(uri, Some("python"), 1, SQUARES);
    let r = action_at(&ide, uri, 3, 8).unwrap();
    assert_eq!(r.generated_code, "return sum(square(x) for x in xs)");
    assert_eq!(engine.prompts.lock().unwrap().len(), 2);
    let undefined: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule_id == "python/undefined-name")
        .collect();
    assert_eq!(undefined.len(), 1, "{:?}", r.findings);
    assert!(undefined[0].message.starts_with("`square`"));
}

#[test]
fn chat_code_with_a_high_finding_is_dropped_and_not_retried() {
    let engine = Scripted::chat(&["    os.system(\"rm -rf \" + sys.argv[1])\n```", RM_RF]);
    let ide = ide_with(engine.clone());
    let uri = "file:///clean.py";
    ide.open(uri, Some("python"), 1, CLEAN_DIR);
    let r = action_at(&ide, uri, 5, 6).unwrap();
    assert_eq!(r.source, "chat");
    assert_eq!(
        (r.generated_code.as_str(), r.insert_text.as_str()),
        ("", "")
    );
    assert!(
        r.dropped
            .as_deref()
            .is_some_and(|d| d.contains("python/command-injection")),
        "{:?}",
        r.dropped
    );
    assert_eq!(engine.prompts.lock().unwrap().len(), 1, "no second path");
}

#[test]
fn a_comment_outside_a_function_uses_infilling_with_a_chat_model() {
    let engine = Scripted::chat(&[" print(\"hello\")\n"]);
    let ide = ide_with(engine.clone());
    let uri = "file:///hello.py";
    ide.open(uri, Some("python"), 1, "# say hello\n");
    let r = action_at(&ide, uri, 0, 2).unwrap();
    assert_eq!(r.source, "infill");
    let prompts = engine.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    assert!(!prompts[0].contains("<|im_start|>"), "{:?}", prompts[0]);
}

/// What the harness test of the same name checked on a real model, with the speed injected:
/// a slow engine shrinks a cold request to the small window, and typing on across a line
/// break keeps that window's anchor, so the next prompt only appends what was typed.
#[test]
fn a_shrunk_context_stays_anchored_across_lines() {
    let engine = Scripted::new(&["", ""]);
    let ide = typing_ide(&engine, 100.0);
    let uri = "file:///long.py";
    let (_, line, col) = long_function();
    type_at(&ide, uri, 2, line, col, "zq_count = 0\n    zq");
    let first = at(&ide, uri, line + 1, 6);
    assert_eq!((first.shrunk, first.skipped), (true, None));
    // The scratch slot now holds the small window: the next request only appends to it.
    engine.warm.lock().unwrap().push(Slot::Scratch);
    type_at(&ide, uri, 3, line + 1, 6, "_x = zq_count + 1\n    zq");
    let second = at(&ide, uri, line + 2, 6);
    assert_eq!((second.shrunk, second.skipped), (true, None));
    assert_eq!(
        engine.slots.lock().unwrap().clone(),
        [Slot::Scratch, Slot::Scratch]
    );
    let prompts = engine.prompts.lock().unwrap().clone();
    assert!(
        prompts[1].starts_with(&prompts[0]),
        "the window stays anchored:\n{:?}\n{:?}",
        prompts[0],
        prompts[1]
    );
    // The window ends at the anchor (the start of the line the first request was on); what
    // was typed since comes after the middle token, a partial word held back.
    assert!(
        prompts[1].ends_with("<|fim_middle|>    zq_x = zq_count + 1\n   "),
        "{:?}",
        prompts[1]
    );
    let stats = ide.stats();
    assert_eq!((stats.shrunk, stats.skipped), (2, 0));
}

/// An explicit request has a budget of its own: on an engine too slow for the full window
/// it answers from the small window instead of waiting for the whole context, and it is
/// never skipped, however slow the engine.
#[test]
fn an_explicit_request_answers_within_its_own_budget() {
    for (prefill, slot) in [
        (100.0, Slot::Scratch),
        (1e6, Slot::Main),
        (1.0, Slot::Scratch),
    ] {
        let engine = Scripted::new(&["return total_0"]);
        *engine.throughput.lock().unwrap() = Throughput {
            prefill_tokens_per_s: prefill,
            decode_tokens_per_s: 1000.0,
        };
        let ide = Ide::new(IdeConfig {
            deadline: Some(std::time::Duration::from_secs(5)),
            invoked_deadline: Some(std::time::Duration::from_secs(20)),
            ..IdeConfig::default()
        });
        ide.set_engine(engine.clone());
        ide.open("file:///long.py", Some("python"), 1, &long_function().0);
        let (_, line, col) = long_function();
        let snap = ide.snapshot("file:///long.py").unwrap();
        let c = ide
            .complete(
                &snap,
                CompletionRequest::new(
                    Position::new(line, col),
                    OffsetEncoding::Utf8,
                    Trigger::Invoked,
                ),
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(c.skipped, None, "{prefill} tokens/s");
        assert_eq!(c.text, "return total_0", "{prefill} tokens/s");
        assert_eq!(
            engine.slots.lock().unwrap().clone(),
            [slot],
            "{prefill} tokens/s"
        );
    }
}
