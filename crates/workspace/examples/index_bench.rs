//! Indexing and context-assembly benchmark.
//!
//! ```sh
//! cargo run --release -p nib-workspace --example index_bench -- ROOT [--threads N] [--samples N] [--no-bm25] [--no-snippets]
//! ```
//! Prints files/s, total time and peak RSS (VmHWM) for indexing ROOT, the time of one
//! per-file index update after an edit (p50/p95), and the time to assemble the repository
//! context for a cursor inside a function (p50/p95), with and without a parsed tree at hand.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nib_context::repo::{repo_context, OpenFile, RepoConfig, RepoRequest};
use nib_engine::ApproxTokenCounter;
use nib_syntax::tags::DefKind;
use nib_workspace::{WalkConfig, Workspace};

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: n={} p50={:.2} ms p95={:.2} ms max={:.2} ms",
        v.len(),
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.95)),
        ms(*v.last().unwrap_or(&Duration::ZERO))
    );
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut root = None;
    let mut threads = 0;
    let mut samples = 200;
    let mut repo_config = RepoConfig::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--no-bm25" => repo_config.max_bm25 = 0,
            "--no-snippets" => repo_config.max_snippets = 0,
            "--samples" => samples = args.next().and_then(|v| v.parse().ok()).unwrap_or(200),
            _ => root = Some(PathBuf::from(a)),
        }
    }
    let Some(root) = root else {
        eprintln!(
            "usage: index_bench ROOT [--threads N] [--samples N] [--no-bm25] [--no-snippets]"
        );
        std::process::exit(2);
    };
    let root = root.canonicalize().unwrap_or(root);

    let config = WalkConfig {
        threads,
        ..WalkConfig::default()
    };
    let mut last = (0, 0);
    let (mut ws, stats) = Workspace::open(&root, config, &mut |p| last = (p.done, p.total));
    let secs = stats.elapsed.as_secs_f64();
    println!(
        "indexed {} files, {} lines, {:.1} MB in {:.2} s: {:.0} files/s, {:.0} lines/s (progress {}/{})",
        stats.files,
        stats.lines,
        stats.bytes as f64 / 1e6,
        secs,
        stats.files as f64 / secs,
        stats.lines as f64 / secs,
        last.0,
        last.1
    );
    println!(
        "skipped: {} generated, {} binary, {} too large, {} unreadable; {} manifests",
        stats.generated, stats.binary, stats.too_large, stats.unreadable, stats.manifests
    );
    println!(
        "peak RSS after indexing: {:.1} MB",
        peak_rss_mb().unwrap_or(0.0)
    );

    let paths: Vec<String> = ws.index.paths().into_iter().map(str::to_string).collect();
    if paths.is_empty() {
        return;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // Update after an edit: insert a line in the middle of a file and re-index it.
    let mut updates = Vec::new();
    let mut updates_tree = Vec::new();
    let mut lines_per_file = Vec::new();
    for _ in 0..samples {
        let path = &paths[rng.below(paths.len())];
        let f = ws.index.file(path).unwrap();
        let (lang, text) = (f.lang, f.text.to_string());
        let mid = text.len() / 2;
        let at = text[..mid].rfind('\n').map_or(0, |i| i + 1);
        let mut edited = text.clone();
        edited.insert_str(at, "x = 1\n");
        lines_per_file.push(edited.lines().count());
        let t = Instant::now();
        ws.index.update_file(path, lang, &edited);
        updates.push(t.elapsed());
        let tree = lang.and_then(|l| nib_syntax::parse(l, &edited));
        let t = Instant::now();
        ws.index
            .update_file_with_tree(path, lang, &edited, tree.as_ref());
        updates_tree.push(t.elapsed());
        ws.index.update_file(path, lang, &text);
    }
    lines_per_file.sort_unstable();
    println!(
        "edited files: median {} lines, largest {} lines",
        lines_per_file[lines_per_file.len() / 2],
        lines_per_file.last().unwrap()
    );
    // The largest file, step by step.
    if let Some(path) = paths
        .iter()
        .max_by_key(|p| ws.index.file(p).map_or(0, |f| f.text.len()))
    {
        let f = ws.index.file(path).unwrap();
        let (lang, text) = (f.lang, f.text.to_string());
        let t = Instant::now();
        let tree = lang.and_then(|l| nib_syntax::parse(l, &text));
        let parse = t.elapsed();
        let t = Instant::now();
        let tags = lang.zip(tree.as_ref()).map(|(l, tr)| {
            nib_syntax::tags::definitions_and_imports(l, tr, &text)
                .0
                .len()
        });
        let tag_time = t.elapsed();
        let t = Instant::now();
        let a = nib_context::index::analyze_with_tree(path, lang, &text, tree.as_ref());
        let analyze = t.elapsed();
        let t = Instant::now();
        ws.index.insert(a);
        let insert = t.elapsed();
        println!(
            "largest file {path} ({} lines, {} definitions): parse {:.2} ms, tags {:.2} ms, analyze with tree {:.2} ms, insert {:.2} ms",
            text.lines().count(),
            tags.unwrap_or(0),
            parse.as_secs_f64() * 1e3,
            tag_time.as_secs_f64() * 1e3,
            analyze.as_secs_f64() * 1e3,
            insert.as_secs_f64() * 1e3
        );
    }
    summary("update one file after an edit (parses)", updates);
    summary("update one file after an edit (tree given)", updates_tree);

    // Context assembly for a cursor inside a function body.
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut pieces = 0;
    let mut n = 0;
    while n < samples {
        let path = &paths[rng.below(paths.len())];
        let f = ws.index.file(path).unwrap();
        let funcs: Vec<_> = f
            .definitions
            .iter()
            .filter(|d| matches!(d.kind, DefKind::Function | DefKind::Method) && d.body.is_some())
            .collect();
        if funcs.is_empty() {
            continue;
        }
        let d = funcs[rng.below(funcs.len())];
        let body = d.body.clone().unwrap();
        let cursor = f.text[body.clone()]
            .find('\n')
            .map_or(body.end, |i| body.start + i);
        let open_paths: Vec<&String> = (0..3).map(|_| &paths[rng.below(paths.len())]).collect();
        let open_texts: Vec<(String, std::sync::Arc<str>)> = open_paths
            .iter()
            .map(|p| ((*p).clone(), ws.index.file(p).unwrap().text.clone()))
            .collect();
        let open: Vec<OpenFile> = open_texts
            .iter()
            .map(|(p, t)| OpenFile { path: p, text: t })
            .collect();
        let env = ws.environment_for(path);
        let text = f.text.clone();
        let req = RepoRequest {
            path,
            lang: f.lang,
            text: &text,
            cursor,
            tree: None,
            open_files: &open,
            env: Some(&env),
        };
        let t = Instant::now();
        let ctx = repo_context(&ws.index, &req, &ApproxTokenCounter, &repo_config);
        cold.push(t.elapsed());
        pieces += ctx.pieces.len();
        let tree = f.lang.and_then(|l| nib_syntax::parse(l, &text));
        let req = RepoRequest {
            tree: tree.as_ref(),
            ..req
        };
        let t = Instant::now();
        let ctx2 = repo_context(&ws.index, &req, &ApproxTokenCounter, &repo_config);
        warm.push(t.elapsed());
        assert_eq!(ctx.pieces, ctx2.pieces);
        n += 1;
    }
    println!(
        "context: {:.1} pieces on average, budget {} tokens",
        pieces as f64 / samples.max(1) as f64,
        repo_config.budget_tokens
    );
    summary("context assembly (parses the current file)", cold);
    summary("context assembly (tree given)", warm);
    println!(
        "peak RSS at the end: {:.1} MB",
        peak_rss_mb().unwrap_or(0.0)
    );
}
