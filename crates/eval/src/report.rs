//! Summary tables: raw model vs nib, syntax errors, confidence calibration.

use std::fmt::Write;

use crate::passk::mean_pass_at_k;
use crate::run::{SelfCheck, TaskResult};

pub struct Header<'a> {
    pub set: &'a str,
    pub subset: String,
    pub model: &'a str,
    pub n: usize,
    pub ks: &'a [usize],
    pub self_check: &'a SelfCheck,
    pub network: &'a str,
    /// Raw and nib come from one generation (the code action path): same latency.
    pub one_generation: bool,
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

pub fn summary(h: &Header, results: &[TaskResult]) -> String {
    let mut s = String::new();
    let total = results.len();
    let firsts: Vec<_> = results.iter().map(|r| r.first()).collect();
    let nib_pass = firsts.iter().filter(|r| r.passed).count();
    let raw_pass = firsts.iter().filter(|r| r.raw_passed).count();
    let _ = writeln!(
        s,
        "== {} | {} | model {} | greedy decoding ==",
        h.set, h.subset, h.model
    );
    let _ = writeln!(
        s,
        "self-check (same sandbox): reference solutions {}/{} pass, empty middles {}/{} pass{}; network isolation: {}",
        h.self_check.canonical_passed,
        h.self_check.tasks,
        h.self_check.empty_passed,
        h.self_check.tasks,
        if h.self_check.empty_passed > 0 {
            " (those tasks are left out of the scores)"
        } else {
            ""
        },
        h.network
    );
    let _ = writeln!(s, "scored tasks: {total}");
    let _ = writeln!(s, "{:<28} {:>10} {:>8}", "", "passed", "pass@1");
    let _ = writeln!(
        s,
        "{:<28} {:>10} {:>8}",
        "raw model (same prompt)",
        format!("{raw_pass}/{total}"),
        pct(raw_pass, total)
    );
    let _ = writeln!(
        s,
        "{:<28} {:>10} {:>8}",
        "nib",
        format!("{nib_pass}/{total}"),
        pct(nib_pass, total)
    );
    let ratio = if raw_pass == 0 {
        "inf (raw 0)".to_string()
    } else {
        format!("{:.2}x", nib_pass as f64 / raw_pass as f64)
    };
    let _ = writeln!(s, "{:<28} {:>10}", "nib / raw", ratio);
    if h.n > 1 {
        let problems: Vec<(usize, usize)> = results
            .iter()
            .map(|r| {
                (
                    r.samples.len(),
                    r.samples.iter().filter(|x| x.passed).count(),
                )
            })
            .collect();
        let missing: usize = results
            .iter()
            .flat_map(|r| &r.samples)
            .filter(|x| x.error == "no alternative")
            .count();
        let _ = writeln!(
            s,
            "n = {} samples per problem: nib's suggestion plus the alternatives of an explicit request \
             (greedy decoding gives identical repeated samples); {missing} missing alternatives count as failed",
            h.n
        );
        for &k in h.ks {
            match mean_pass_at_k(&problems, k) {
                Some(p) => {
                    let _ = writeln!(s, "  nib pass@{k} (unbiased estimator) = {:.1}%", 100.0 * p);
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  nib pass@{k}: not estimable with n = {} (needs n >= k)",
                        h.n
                    );
                }
            }
        }
    } else {
        for &k in h.ks.iter().filter(|&&k| k > 1) {
            let _ = writeln!(
                s,
                "pass@{k}: not estimable with n = 1 (needs n >= k; nib gives its suggestion plus at most 2 alternatives, --n <= 3)"
            );
        }
    }
    let nonempty: Vec<_> = firsts
        .iter()
        .filter(|r| !r.completion.trim().is_empty())
        .collect();
    let syn = nonempty.iter().filter(|r| r.new_syntax_errors).count();
    let raw_nonempty = firsts
        .iter()
        .filter(|r| !r.raw_completion.trim().is_empty())
        .count();
    let raw_syn = firsts
        .iter()
        .filter(|r| !r.raw_completion.trim().is_empty() && r.raw_new_syntax_errors)
        .count();
    let _ = writeln!(
        s,
        "new syntax errors: nib {syn}/{} non-empty = {} | raw {raw_syn}/{raw_nonempty} = {}",
        nonempty.len(),
        pct(syn, nonempty.len()),
        pct(raw_syn, raw_nonempty)
    );
    let broken = nonempty
        .iter()
        .filter(|r| r.new_syntax_errors)
        .filter(|r| h.self_check.broken_without_middle.contains(&r.task_id))
        .count();
    if syn > 0 {
        let _ = writeln!(
            s,
            "  of nib's {syn}: {broken} in documents that do not compile without a middle ({} of {} tasks are such)",
            h.self_check.broken_without_middle.len(),
            h.self_check.tasks
        );
    }
    let empty = total - nonempty.len();
    let _ = writeln!(
        s,
        "nib shows nothing for {empty}/{total} ({})",
        pct(empty, total)
    );
    let mut dropped: Vec<(String, usize)> = Vec::new();
    for r in &firsts {
        if let Some(d) = &r.dropped {
            match dropped.iter_mut().find(|(k, _)| k == d) {
                Some((_, c)) => *c += 1,
                None => dropped.push((d.clone(), 1)),
            }
        }
    }
    if !dropped.is_empty() {
        let list: Vec<String> = dropped.iter().map(|(k, c)| format!("{k} {c}")).collect();
        let _ = writeln!(s, "  dropped by post-processing: {}", list.join(", "));
    }
    let _ = writeln!(s, "by mode:");
    let mut modes: Vec<&str> = vec!["single_line", "multi_line"];
    for r in &firsts {
        if !r.mode.is_empty() && !modes.contains(&r.mode.as_str()) {
            modes.push(&r.mode);
        }
    }
    for mode in modes {
        let m: Vec<_> = firsts.iter().filter(|r| r.mode == mode).collect();
        if m.is_empty() && !["single_line", "multi_line"].contains(&mode) {
            continue;
        }
        let p = m.iter().filter(|r| r.passed).count();
        let rp = m.iter().filter(|r| r.raw_passed).count();
        let _ = writeln!(
            s,
            "  {mode:<12} {:>4} tasks  nib {:>6}  raw {:>6}",
            m.len(),
            pct(p, m.len()),
            pct(rp, m.len())
        );
    }
    let _ = writeln!(s, "failures of nib by kind:");
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for r in firsts.iter().filter(|r| !r.passed) {
        let k = if r.completion.trim().is_empty() {
            "no suggestion".to_string()
        } else {
            r.error.clone()
        };
        match kinds.iter_mut().find(|(x, _)| *x == k) {
            Some((_, c)) => *c += 1,
            None => kinds.push((k, 1)),
        }
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    let list: Vec<String> = kinds.iter().map(|(k, c)| format!("{k} {c}")).collect();
    let _ = writeln!(s, "  {}", list.join(", "));
    let _ = writeln!(s, "confidence calibration (nib's non-empty suggestions):");
    let _ = writeln!(
        s,
        "  {:<8} {:>6} {:>8} {:>9}",
        "bucket", "n", "passed", "pass rate"
    );
    for b in ["low", "medium", "high"] {
        let m: Vec<_> = nonempty.iter().filter(|r| r.confidence == b).collect();
        let p = m.iter().filter(|r| r.passed).count();
        let _ = writeln!(s, "  {b:<8} {:>6} {:>8} {:>9}", m.len(), p, pct(p, m.len()));
    }
    let mut lat: Vec<f64> = firsts.iter().map(|r| r.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let mut raw_lat: Vec<f64> = firsts.iter().map(|r| r.raw_latency_ms).collect();
    raw_lat.sort_by(f64::total_cmp);
    let _ = writeln!(
        s,
        "latency ms p50/p95 ({}): nib {:.0}/{:.0}, raw {:.0}/{:.0}",
        if h.one_generation {
            "one generation for both"
        } else {
            "prompt cached by the raw request just before"
        },
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&raw_lat, 0.5),
        percentile(&raw_lat, 0.95)
    );
    s
}
