//! `nib bench`: latency measurements printed as p50 / p95 (never timed unit tests).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use nib_engine::CancelToken;
use nib_ide::{CompletionRequest, Trigger};
use nib_text::{OffsetEncoding, Position};

use crate::cli;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Complete at N positions spread over a file with one loaded model: the cold first request,
    /// each position once (a jump: new context), and each position again (warm cache).
    Complete {
        file: PathBuf,
        #[arg(long, default_value_t = 20)]
        positions: usize,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        context_tokens: Option<usize>,
        #[arg(long)]
        threads: Option<usize>,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Complete {
            file,
            positions,
            model,
            context_tokens,
            threads,
        } => bench_complete(file, positions, model, context_tokens, threads),
    }
}

/// Positions spread evenly over the file's non-blank lines, mid-line (after the indentation
/// and half of the line's text), as when a user stops typing inside a line.
pub fn spread_positions(text: &str, n: usize) -> Vec<Position> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim().len() >= 8 && !l.trim_start().starts_with(['#', '/']))
        .collect();
    if lines.is_empty() || n == 0 {
        return Vec::new();
    }
    (0..n.min(lines.len()))
        .map(|i| {
            let (no, l) = lines[i * lines.len() / n.min(lines.len())];
            let indent = l.chars().take_while(|c| c.is_whitespace()).count();
            let len = l.chars().count();
            Position::new(no as u32, (indent + (len - indent) / 2) as u32)
        })
        .collect()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(label: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{label:<28} n={:<3} p50={:>7.0} ms  p95={:>7.0} ms  max={:>7.0} ms",
        v.len(),
        percentile(&v, 50.0),
        percentile(&v, 95.0),
        v.last().copied().unwrap_or(f64::NAN)
    );
}

fn bench_complete(
    file: PathBuf,
    n: usize,
    model: Option<String>,
    context_tokens: Option<usize>,
    threads: Option<usize>,
) -> Result<()> {
    let text = cli::read_source(&file)?;
    let settings = cli::settings_for(model.as_deref(), context_tokens, None, threads);
    let t0 = Instant::now();
    let ide = cli::load_ide(&settings)?;
    println!(
        "model loaded in {:.0} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    let uri = cli::file_uri(&file);
    ide.open(&uri, None, 0, &text);
    let snap = ide.snapshot(&uri)?;
    let positions = spread_positions(&text, n);
    if positions.is_empty() {
        bail!("{} has no line to complete in", file.display());
    }
    let run = |pos: Position| -> Result<(f64, nib_ide::Completion)> {
        let req = CompletionRequest::new(pos, OffsetEncoding::Utf32, Trigger::Automatic);
        let c = ide.complete(&snap, req, &CancelToken::new())?;
        Ok((c.latency_ms, c))
    };
    let (cold, c) = run(positions[0])?;
    println!(
        "cold (first request, {} prompt tokens): {cold:.0} ms -> {:?}",
        c.prompt_tokens, c.text
    );
    let mut jumps = Vec::new();
    let mut warm = Vec::new();
    for &p in &positions {
        let (jump, c1) = run(p)?;
        let (again, c2) = run(p)?;
        println!(
            "{:>4}:{:<3} jump {jump:>6.0} ms (reused {:>4}/{:>4})  warm {again:>5.0} ms (reused {:>4})  {:?}",
            p.line + 1,
            p.character + 1,
            c1.reused_tokens,
            c1.prompt_tokens,
            c2.reused_tokens,
            c1.text
        );
        jumps.push(jump);
        warm.push(again);
    }
    summary("jump to a new position", jumps);
    summary("warm (same position again)", warm);
    Ok(())
}
