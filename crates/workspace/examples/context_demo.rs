//! Print the repository context nib would put before a file at a cursor.
//!
//! ```sh
//! cargo run --release -p nib-workspace --example context_demo -- ROOT FILE:LINE[:COL] [BUDGET]
//! ```
//! LINE and COL are 1-based (COL in bytes; default: the end of the line).

use std::path::PathBuf;
use std::time::Instant;

use nib_context::repo::RepoConfig;
use nib_engine::ApproxTokenCounter;
use nib_workspace::{WalkConfig, Workspace};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: context_demo ROOT FILE:LINE[:COL] [BUDGET]");
        std::process::exit(2);
    }
    let root = PathBuf::from(&args[0]).canonicalize().expect("root exists");
    let mut spec = args[1].split(':');
    let file = root.join(spec.next().unwrap_or_default());
    let line: usize = spec.next().and_then(|v| v.parse().ok()).unwrap_or(1);
    let col: Option<usize> = spec.next().and_then(|v| v.parse().ok());
    let budget: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1024);

    let t = Instant::now();
    let (ws, stats) = Workspace::open(&root, WalkConfig::default(), &mut |_| {});
    eprintln!("indexed {} files in {:.2?}", stats.files, t.elapsed());
    let text = std::fs::read_to_string(&file).expect("file readable");
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let cursor = line_start
        + col.map_or(line_text.len(), |c| {
            c.saturating_sub(1).min(line_text.len())
        });

    let config = RepoConfig {
        budget_tokens: budget,
        ..RepoConfig::default()
    };
    let t = Instant::now();
    let ctx = ws.context_for(
        &file,
        &text,
        cursor,
        None,
        &[],
        &ApproxTokenCounter,
        &config,
    );
    let took = t.elapsed();
    for f in ctx.files() {
        println!("<|file_sep|>{}\n{}", f.path, f.text.trim_end());
    }
    println!("<|file_sep|>{}", ws.relative(&file).unwrap_or_default());
    eprintln!(
        "--- {took:.2?}, {} of {} tokens",
        ctx.report.used_tokens, budget
    );
    for (kind, path, lines, tokens) in &ctx.report.included {
        eprintln!(
            "included {kind:?} {path} {}..{} ({tokens} tokens)",
            lines.start + 1,
            lines.end
        );
    }
    for d in &ctx.report.dropped {
        eprintln!(
            "dropped {:?} {} ({} tokens, {})",
            d.kind, d.path, d.tokens, d.reason
        );
    }
    if !ctx.report.unresolved.is_empty() {
        eprintln!("ambiguous names: {}", ctx.report.unresolved.join(", "));
    }
}
