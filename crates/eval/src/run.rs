//! One evaluation: self-checks, then for each task the raw model and nib through the real
//! completion path (same prompt, same greedy decoding), each sample run in the sandbox.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Result};
use nib_engine::CancelToken;
use nib_ide::{
    CodeActionKind, CodeActionRequest, CodeActionResult, Completion, CompletionRequest, Ide,
    Trigger,
};
use nib_text::{OffsetEncoding, Range};

use crate::data::Task;
use crate::sandbox::{parallel_map, Outcome, Sandbox};
use crate::syntax::error_nodes;

/// One evaluated sample, as written to the JSONL file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleRecord {
    pub task_id: String,
    /// 0 = nib's suggestion; 1.. = its alternatives (explicit requests).
    pub sample: usize,
    pub passed: bool,
    pub error: String,
    pub completion: String,
    pub raw_completion: String,
    pub raw_passed: bool,
    pub raw_error: String,
    pub latency_ms: f64,
    pub raw_latency_ms: f64,
    pub confidence: String,
    /// Sum, mean and lowest log-probability of the kept tokens (for calibrating the buckets).
    pub logprob_sum: Option<f32>,
    pub logprob_mean: Option<f32>,
    pub logprob_min: Option<f32>,
    pub mode: String,
    pub dropped: Option<String>,
    pub generated_tokens: usize,
    pub raw_generated_tokens: usize,
    /// The document with this completion has more tree-sitter ERROR/MISSING nodes than with
    /// the reference middle.
    pub new_syntax_errors: bool,
    pub raw_new_syntax_errors: bool,
}

/// Result of one task: samples[0] is nib's suggestion.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub samples: Vec<SampleRecord>,
}

impl TaskResult {
    pub fn first(&self) -> &SampleRecord {
        &self.samples[0]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfCheck {
    pub tasks: usize,
    pub canonical_passed: usize,
    pub empty_passed: usize,
    /// Ids of tasks whose reference middle fails.
    pub canonical_failures: Vec<String>,
    /// Indices of tasks that pass with an empty middle (they cannot tell a right answer from
    /// none).
    pub trivial: Vec<usize>,
    /// Ids of tasks whose document does not compile without a middle (CPython's
    /// SyntaxError): the hole spans lines that a short suggestion cannot mend.
    pub broken_without_middle: Vec<String>,
}

/// Run every task's reference middle and an empty middle through the sandbox.
pub fn self_check(sandbox: &Sandbox, tasks: &[Task], jobs: usize) -> SelfCheck {
    let programs: Vec<(usize, bool, String)> = tasks
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            [
                (i, true, t.program(&t.canonical)),
                (i, false, t.program("")),
            ]
        })
        .collect();
    let outcomes = parallel_map(&programs, jobs, |(_, _, p)| sandbox.run(p));
    let mut check = SelfCheck {
        tasks: tasks.len(),
        canonical_passed: 0,
        empty_passed: 0,
        canonical_failures: Vec::new(),
        trivial: Vec::new(),
        broken_without_middle: Vec::new(),
    };
    for ((i, canonical, _), o) in programs.iter().zip(&outcomes) {
        match (canonical, o.passed()) {
            (true, true) => check.canonical_passed += 1,
            (true, false) => {
                check
                    .canonical_failures
                    .push(format!("{} ({})", tasks[*i].id, o.kind()))
            }
            (false, true) => {
                check.empty_passed += 1;
                check.trivial.push(*i);
            }
            (false, false) => {
                if matches!(o, Outcome::SyntaxError) {
                    check.broken_without_middle.push(tasks[*i].id.clone());
                }
            }
        }
    }
    check
}

/// Most tasks that may pass with an empty middle (lines whose removal the tests do not
/// notice) before the data or the sandbox counts as broken.
pub const MAX_TRIVIAL_SHARE: f64 = 0.05;

/// Reference middles must all pass. Empty middles must all fail; with `allow_trivial`, the few
/// tasks (at most [`MAX_TRIVIAL_SHARE`]) that pass with an empty middle are reported in
/// [`SelfCheck::trivial`] for the caller to leave out of the scores.
pub fn require_self_check(
    sandbox: &Sandbox,
    tasks: &[Task],
    jobs: usize,
    allow_trivial: bool,
) -> Result<SelfCheck> {
    let c = self_check(sandbox, tasks, jobs);
    eprintln!(
        "self-check: reference solutions {}/{} pass, empty middles {}/{} pass",
        c.canonical_passed, c.tasks, c.empty_passed, c.tasks
    );
    if c.canonical_passed != c.tasks {
        bail!(
            "self-check failed: reference solutions fail: {}; no scores reported",
            c.canonical_failures.join(", ")
        );
    }
    let too_many = c.empty_passed as f64 > MAX_TRIVIAL_SHARE * c.tasks as f64;
    if c.empty_passed > 0 && (!allow_trivial || too_many) {
        bail!(
            "self-check failed: {} empty middles pass; no scores reported",
            c.empty_passed
        );
    }
    Ok(c)
}

pub struct RunConfig<'a> {
    pub ide: Arc<Ide>,
    pub sandbox: &'a Sandbox,
    /// Samples per task (1 = nib's suggestion; up to 3 with the alternatives of an explicit
    /// request).
    pub n: usize,
    pub jobs: usize,
    /// Print each task's suggestion and raw output on stderr.
    pub verbose: bool,
    /// Anchor the prompt this many lines above the cursor before asking (0: a plain
    /// prefix-suffix-middle prompt, the document being fresh).
    pub anchor_lines: usize,
    pub path: EvalPath,
}

/// Which product path writes the middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EvalPath {
    /// An inline completion at the cursor (fill-in-the-middle); raw: the same prompt without
    /// post-processing or constrained decoding.
    #[default]
    Infill,
    /// The code action "Generate code from comment" on the docstring (the chat prompt for
    /// instruct models); raw: the same answer (one generation) inserted as the body as-is.
    Action,
}

/// What a path produced for one task (nib's suggestion, or the raw model output).
#[derive(Debug, Clone)]
struct Sample {
    text: String,
    alternatives: Vec<String>,
    latency_ms: f64,
    generated_tokens: usize,
    confidence: String,
    logprob_sum: Option<f32>,
    logprob_mean: Option<f32>,
    logprob_min: Option<f32>,
    mode: String,
    dropped: Option<String>,
}

impl Sample {
    fn from_completion(c: &Completion) -> Sample {
        Sample {
            text: c.text.clone(),
            alternatives: c.alternatives.clone(),
            latency_ms: c.latency_ms,
            generated_tokens: c.generated_tokens,
            confidence: c.confidence.to_string(),
            logprob_sum: c.logprob_sum,
            logprob_mean: c.logprob_mean,
            logprob_min: c.logprob_min,
            mode: c.mode.to_string(),
            dropped: c.dropped.clone(),
        }
    }
}

struct Generated {
    raw: Result<Sample, String>,
    nib: Result<Sample, String>,
}

fn generate(ide: &Ide, task: &Task, n: usize, anchor_lines: usize, path: EvalPath) -> Generated {
    if path == EvalPath::Action {
        return generate_by_action(ide, task);
    }
    let uri = format!("file:///nib-eval/{}.py", task.id.replace(['/', ' '], "_"));
    ide.open(&uri, Some("python"), 0, &task.document_with(""));
    let result = (|| {
        let snap = ide.snapshot(&uri).map_err(|e| e.to_string())?;
        let position = snap.doc.position(task.prompt.len(), OffsetEncoding::Utf8);
        if anchor_lines > 0 {
            // A request further up sets the anchor there; the requests below then find the
            // lines in between after the middle token, as after typing them.
            let above =
                nib_text::Position::new(position.line.saturating_sub(anchor_lines as u32), 0);
            let _ = ide.complete(
                &snap,
                CompletionRequest::new(above, OffsetEncoding::Utf8, Trigger::Automatic),
                &CancelToken::new(),
            );
        }
        let raw = ide
            .complete(
                &snap,
                CompletionRequest {
                    raw: true,
                    ..CompletionRequest::new(position, OffsetEncoding::Utf8, Trigger::Automatic)
                },
                &CancelToken::new(),
            )
            .map(|c| Sample::from_completion(&c))
            .map_err(|e| e.to_string());
        let trigger = if n > 1 {
            Trigger::Invoked
        } else {
            Trigger::Automatic
        };
        let nib = ide
            .complete(
                &snap,
                CompletionRequest::new(position, OffsetEncoding::Utf8, trigger),
                &CancelToken::new(),
            )
            .map(|c| Sample::from_completion(&c))
            .map_err(|e| e.to_string());
        Ok::<_, String>(Generated { raw, nib })
    })();
    ide.close(&uri);
    result.unwrap_or_else(|e| Generated {
        raw: Err(e.clone()),
        nib: Err(e),
    })
}

/// The code action on the task's docstring; the middle is what its edit puts between the
/// prompt and the suffix. Raw: the model's output of the same request, as the middle as-is.
fn generate_by_action(ide: &Ide, task: &Task) -> Generated {
    let uri = format!("file:///nib-eval/{}.py", task.id.replace(['/', ' '], "_"));
    ide.open(&uri, Some("python"), 0, &task.document_with(""));
    let result = (|| {
        let snap = ide.snapshot(&uri).map_err(|e| e.to_string())?;
        // The docstring's last line (the prompt ends with it).
        let on = snap
            .doc
            .position(task.prompt.trim_end().len(), OffsetEncoding::Utf8);
        let r = ide
            .code_action(
                &snap,
                CodeActionRequest {
                    kind: CodeActionKind::GenerateFromComment,
                    range: Range { start: on, end: on },
                    encoding: OffsetEncoding::Utf8,
                },
                &CancelToken::new(),
            )
            .map_err(|e| e.to_string())?;
        let middle = action_middle(task, &snap.doc, &r)?;
        let sample = |text: String| Sample {
            text,
            alternatives: r.alternatives.clone(),
            latency_ms: r.latency_ms,
            generated_tokens: r.generated_tokens,
            confidence: r.confidence.to_string(),
            logprob_sum: None,
            logprob_mean: None,
            logprob_min: None,
            mode: r.source.to_string(),
            dropped: r.dropped.clone().or(r.empty_reason.clone()),
        };
        Ok::<_, String>(Generated {
            raw: Ok(Sample {
                alternatives: Vec::new(),
                dropped: None,
                ..sample(r.raw.clone())
            }),
            nib: Ok(sample(middle)),
        })
    })();
    ide.close(&uri);
    result.unwrap_or_else(|e| Generated {
        raw: Err(e.clone()),
        nib: Err(e),
    })
}

/// The text the action's edit puts between the task's prompt and suffix.
fn action_middle(
    task: &Task,
    doc: &nib_text::Document,
    r: &CodeActionResult,
) -> Result<String, String> {
    let start = doc
        .offset(r.range.start, OffsetEncoding::Utf8)
        .map_err(|e| e.to_string())?;
    let end = doc
        .offset(r.range.end, OffsetEncoding::Utf8)
        .map_err(|e| e.to_string())?;
    let text = doc.text();
    let edited = format!("{}{}{}", &text[..start], r.insert_text, &text[end..]);
    edited
        .strip_prefix(task.prompt.as_str())
        .and_then(|m| m.strip_suffix(task.suffix.as_str()))
        .map(str::to_string)
        .ok_or_else(|| "the edit is not between the prompt and the suffix".to_string())
}

type Job = (usize, usize, String);

/// Generate and evaluate every task; progress on stderr.
pub fn run_tasks(cfg: &RunConfig, tasks: &[Task]) -> Vec<TaskResult> {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = mpsc::channel::<(usize, usize, Outcome)>();
    let started = Instant::now();
    let mut gens: Vec<(Generated, Vec<String>)> = Vec::with_capacity(tasks.len());
    let mut outcomes: Vec<Vec<Option<Outcome>>> = Vec::with_capacity(tasks.len());
    std::thread::scope(|s| {
        for _ in 0..cfg.jobs.max(1) {
            let rx = Arc::clone(&job_rx);
            let tx = res_tx.clone();
            s.spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((t, slot, program)) = job else { break };
                let _ = tx.send((t, slot, cfg.sandbox.run(&program)));
            });
        }
        drop(res_tx);
        let record = |outcomes: &mut Vec<Vec<Option<Outcome>>>,
                      (t, slot, o): (usize, usize, Outcome)| {
            outcomes[t][slot] = Some(o);
        };
        for (i, task) in tasks.iter().enumerate() {
            let g = generate(&cfg.ide, task, cfg.n, cfg.anchor_lines, cfg.path);
            // Slot 0: raw; 1..=n: nib samples.
            let raw_text = g.raw.as_ref().map(|c| c.text.clone()).unwrap_or_default();
            let mut texts = vec![raw_text];
            match &g.nib {
                Ok(c) => {
                    texts.push(c.text.clone());
                    texts.extend(c.alternatives.iter().cloned());
                }
                Err(_) => texts.push(String::new()),
            }
            texts.resize(cfg.n + 1, String::new());
            outcomes.push(vec![None; texts.len()]);
            for (slot, text) in texts.iter().enumerate() {
                let _ = job_tx.send((i, slot, task.program(text)));
            }
            if cfg.verbose {
                let show = |t: &str| t.chars().take(100).collect::<String>();
                let nib = g.nib.as_ref().map_or_else(
                    |e| e.clone(),
                    |c| {
                        format!(
                            "{} {} {}",
                            c.mode,
                            c.confidence,
                            c.dropped.as_deref().unwrap_or("")
                        )
                    },
                );
                eprintln!(
                    "{}: [{nib}] nib {:?} | raw {:?}",
                    task.id,
                    show(&texts[1]),
                    show(&texts[0])
                );
            }
            gens.push((g, texts));
            while let Ok(r) = res_rx.try_recv() {
                record(&mut outcomes, r);
            }
            if (i + 1) % 10 == 0 || i + 1 == tasks.len() {
                let done: Vec<_> = outcomes
                    .iter()
                    .filter(|o| o.iter().all(Option::is_some))
                    .collect();
                let nib = done
                    .iter()
                    .filter(|o| o[1].as_ref().is_some_and(Outcome::passed))
                    .count();
                let raw = done
                    .iter()
                    .filter(|o| o[0].as_ref().is_some_and(Outcome::passed))
                    .count();
                eprintln!(
                    "[{}/{}] {:.1} s/task; of {} checked: nib {} pass, raw {} pass",
                    i + 1,
                    tasks.len(),
                    started.elapsed().as_secs_f64() / (i + 1) as f64,
                    done.len(),
                    nib,
                    raw
                );
            }
        }
        drop(job_tx);
        for r in res_rx.iter() {
            record(&mut outcomes, r);
        }
    });
    tasks
        .iter()
        .zip(gens)
        .zip(outcomes)
        .map(|((task, (g, texts)), outcomes)| {
            let outcome = |slot: usize| {
                outcomes[slot]
                    .clone()
                    .unwrap_or_else(|| Outcome::Crashed("not run".into()))
            };
            let reference = error_nodes(&task.document_with(&task.canonical));
            let new_errors = |text: &str| error_nodes(&task.document_with(text)) > reference;
            let raw_o = outcome(0);
            let (raw_latency, raw_tokens) = match &g.raw {
                Ok(c) => (c.latency_ms, c.generated_tokens),
                Err(_) => (0.0, 0),
            };
            let raw_error = match &g.raw {
                Err(e) => format!("engine: {e}"),
                Ok(_) => raw_o.kind(),
            };
            // New errors: tree-sitter's, or Python's own (which also refuses layout errors
            // that tree-sitter forgives); the reference solution compiles (self-checks).
            let raw_new =
                new_errors(&texts[0]) || matches!(raw_o, crate::sandbox::Outcome::SyntaxError);
            let samples = (1..texts.len())
                .map(|slot| {
                    let o = outcome(slot);
                    let (logprob_sum, logprob_mean, logprob_min) = match &g.nib {
                        Ok(c) if slot == 1 => (c.logprob_sum, c.logprob_mean, c.logprob_min),
                        _ => (None, None, None),
                    };
                    let (latency, confidence, mode, dropped, tokens, error) = match &g.nib {
                        Ok(c) => (
                            c.latency_ms,
                            c.confidence.clone(),
                            c.mode.clone(),
                            c.dropped.clone(),
                            c.generated_tokens,
                            if slot > 1 && texts[slot].is_empty() {
                                "no alternative".to_string()
                            } else {
                                o.kind()
                            },
                        ),
                        Err(e) => (
                            0.0,
                            String::new(),
                            String::new(),
                            None,
                            0,
                            format!("engine: {e}"),
                        ),
                    };
                    SampleRecord {
                        task_id: task.id.clone(),
                        sample: slot - 1,
                        passed: o.passed(),
                        error,
                        completion: texts[slot].clone(),
                        raw_completion: texts[0].clone(),
                        raw_passed: raw_o.passed(),
                        raw_error: raw_error.clone(),
                        latency_ms: latency,
                        raw_latency_ms: raw_latency,
                        confidence,
                        logprob_sum,
                        logprob_mean,
                        logprob_min,
                        mode,
                        dropped,
                        generated_tokens: tokens,
                        raw_generated_tokens: raw_tokens,
                        new_syntax_errors: !texts[slot].is_empty()
                            && (new_errors(&texts[slot])
                                || matches!(o, crate::sandbox::Outcome::SyntaxError)),
                        raw_new_syntax_errors: raw_new,
                    }
                })
                .collect();
            TaskResult { samples }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{infill_tasks, subset, InfillSet};
    use crate::sandbox::SandboxConfig;

    fn sample(set: InfillSet, n: usize) -> Vec<Task> {
        let all = infill_tasks(set).unwrap();
        subset(all.len(), Some(n), 1)
            .into_iter()
            .map(|i| all[i].clone())
            .collect()
    }

    fn jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    #[test]
    fn references_pass_and_empty_middles_fail() {
        let sb = Sandbox::new(SandboxConfig::default());
        for set in [InfillSet::SingleLine, InfillSet::MultiLine] {
            let tasks = sample(set, 16);
            let c = require_self_check(&sb, &tasks, jobs(), true).unwrap();
            assert_eq!(c.canonical_passed, 16, "{:?}", c.canonical_failures);
            assert!(
                c.empty_passed <= 1,
                "{set:?}: {} empty middles pass",
                c.empty_passed
            );
        }
    }

    #[test]
    fn wrong_middles_fail() {
        let sb = Sandbox::new(SandboxConfig::default());
        let tasks = sample(InfillSet::MultiLine, 8);
        let wrong: Vec<Task> = tasks
            .iter()
            .map(|t| {
                let first = t.canonical.lines().next().unwrap_or("");
                let indent = &first[..first.len() - first.trim_start().len()];
                Task {
                    canonical: format!("{indent}raise ValueError('wrong')\n{}", t.canonical),
                    ..t.clone()
                }
            })
            .collect();
        let c = self_check(&sb, &wrong, jobs());
        assert_eq!(c.canonical_passed, 0);
        assert!(require_self_check(&sb, &wrong, jobs(), true).is_err());
    }

    /// A sandbox that passes everything, or fails everything, is caught.
    #[test]
    fn broken_sandboxes_are_caught() {
        let tasks = sample(InfillSet::SingleLine, 4);
        for python in ["true", "false"] {
            let sb = Sandbox::new(SandboxConfig {
                python: python.into(),
                ..SandboxConfig::default()
            });
            assert!(
                require_self_check(&sb, &tasks, jobs(), true).is_err(),
                "{python}"
            );
        }
    }

    #[test]
    fn empty_middles_are_not_allowed_for_whole_bodies() {
        let sb = Sandbox::new(SandboxConfig::default());
        let t = Task {
            id: "t".into(),
            prompt: "def f(x):\n    \"\"\"Return x.\"\"\"\n".into(),
            suffix: String::new(),
            canonical: "    return x\n".into(),
            test: "def check(c):\n    assert c(None) is None\n".into(),
            entry_point: "f".into(),
        };
        // The empty body returns None too: the check refuses such a task set.
        assert!(require_self_check(&sb, std::slice::from_ref(&t), 1, false).is_err());
        let t = Task {
            test: "def check(c):\n    assert c(3) == 3\n".into(),
            ..t
        };
        let c = require_self_check(&sb, &[t], 1, false).unwrap();
        assert_eq!((c.canonical_passed, c.empty_passed), (1, 0));
    }
}
