//! Offline re-scoring for post-processing work: re-apply `nib_postprocess` (the mode decision
//! and `process`) to the raw outputs saved in a results file and run the result in the
//! sandbox, without the model. An approximation of the real path (which also stops decoding
//! early and caps single-line output at fewer tokens): use it to compare post-processing
//! versions, and confirm with a real `nib eval` run.

use std::path::Path;

use anyhow::{Context, Result};
use nib_postprocess::{decide_mode, process, Input, Language};

use crate::data::Task;
use crate::sandbox::{parallel_map, Sandbox};

pub struct Rescored {
    pub total: usize,
    pub before: usize,
    pub after: usize,
    /// (task id, passed before, passed after, new text).
    pub changed: Vec<(String, bool, bool, String)>,
}

pub fn rescore(path: &Path, tasks: &[Task], sandbox: &Sandbox, jobs: usize) -> Result<Rescored> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if v["sample"].as_u64() != Some(0) {
            continue;
        }
        let id = v["task_id"].as_str().unwrap_or_default();
        let task = tasks
            .iter()
            .find(|t| t.id == id)
            .with_context(|| format!("unknown task {id}"))?;
        let raw = v["raw_completion"].as_str().unwrap_or_default().to_string();
        let old = v["completion"].as_str().unwrap_or_default().to_string();
        rows.push((task, raw, old, v["passed"].as_bool().unwrap_or(false)));
    }
    let new_texts: Vec<String> = rows
        .iter()
        .map(|(t, raw, _, _)| {
            let lang = Some(Language::Python);
            let mode = decide_mode(lang, &t.prompt, &t.suffix);
            process(&Input {
                lang,
                prefix: &t.prompt,
                suffix: &t.suffix,
                raw,
                mode,
            })
            .text
        })
        .collect();
    let programs: Vec<String> = rows
        .iter()
        .zip(&new_texts)
        .map(|((t, ..), n)| t.program(n))
        .collect();
    let outcomes = parallel_map(&programs, jobs, |p| sandbox.run(p));
    let mut r = Rescored {
        total: rows.len(),
        before: 0,
        after: 0,
        changed: Vec::new(),
    };
    for (((t, _, old, passed), new), o) in rows.iter().zip(new_texts).zip(outcomes) {
        r.before += usize::from(*passed);
        r.after += usize::from(o.passed());
        if *passed != o.passed() || *old != new {
            r.changed.push((t.id.clone(), *passed, o.passed(), new));
        }
    }
    Ok(r)
}
