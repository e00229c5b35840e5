//! `nib eval holes`: next-line holes in real repositories (not part of nib), completed through
//! nib's real path under four context settings: prefix only, prefix + suffix, nib's full
//! repository context, and that context with the true definitions of what the hidden rest of
//! the line uses put first (an oracle: the best that better ranking could reach).
//!
//! Invariants:
//! - The document is the file with the rest of the hole's line removed, and the workspace index
//!   holds that holed text too (restored afterwards): the answer cannot leak through the index.
//! - Every setting starts from a fresh document (closed and opened again), with no typeahead
//!   or LRU cache and no background prefill, so nothing carries over between settings.
//! - Scores come from comparing suggestions with the original lines; nothing is hard-coded.

mod gen;
mod repos;
mod score;
mod source;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nib_engine::CancelToken;
use nib_ide::{CompletionRequest, IdeConfig, Trigger};
use nib_text::{OffsetEncoding, Position};
use nib_workspace::{WalkConfig, Workspace};

use crate::MakeIde;
use gen::Hole;
use source::{file_uri, oracle_definitions, HoleSource};

#[derive(clap::Args, Debug, Clone)]
pub struct HolesArgs {
    /// Where lines are cut: `any` character (mid-identifier too) or between `word`s only.
    #[arg(long, value_enum, default_value = "any")]
    pub cut: gen::Cut,
    /// Which lines may be holes: `any` eligible line; `cross-file` lines (the hidden part uses
    /// a definition from another file of the repository that appears nowhere else in the
    /// hole's file); `cross-file-use` lines (the same, except that the name may be imported:
    /// the first use in code of an imported name counts; import statements are never holes,
    /// as in CrossCodeEval, which replaces them before it looks for cross-file uses).
    #[arg(long, value_enum, default_value = "any")]
    pub select: Select,
    /// Holes per repository.
    #[arg(long, default_value_t = 25)]
    pub holes_per_repo: usize,
    /// Seed of the holes (lines and cut columns).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model name (see `nib model list`) or path to a .gguf file.
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    pub model: String,
    /// Tokens of the cursor window on each side.
    #[arg(long, default_value_t = 1024)]
    pub context_tokens: usize,
    /// Tokens of repository context (`nib` and `oracle` settings).
    #[arg(long, default_value_t = 1024)]
    pub repo_tokens: usize,
    /// Output cap (a hole at the start of a block body may be completed multi-line; only the
    /// first line is scored).
    #[arg(long, default_value_t = 32)]
    pub max_tokens: usize,
    /// Only these repositories (names, comma-separated): requests, click, semver, anyhow.
    #[arg(long, value_delimiter = ',')]
    pub repos: Vec<String>,
    /// Settings to run (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "prefix,prefix+suffix,nib,oracle"
    )]
    pub settings: Vec<Setting>,
    /// Reuse the KV cache across requests (off by default: each latency is a full prefill, so
    /// the settings compare by prompt size alone).
    #[arg(long)]
    pub kv_reuse: bool,
    /// Write the configuration, the summary and every sample here (JSON).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print each hole, each setting's suggestion and the repository context used.
    #[arg(long)]
    pub verbose: bool,
    /// Download the repositories and list the holes; no model.
    #[arg(long)]
    pub prepare_only: bool,
}

/// Which lines may be holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Select {
    #[value(name = "any")]
    #[serde(rename = "any")]
    Any,
    #[value(name = "cross-file")]
    #[serde(rename = "cross-file")]
    CrossFile,
    #[value(name = "cross-file-use")]
    #[serde(rename = "cross-file-use")]
    CrossFileUse,
}

/// What the prompt holds besides the window's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
pub enum Setting {
    /// Prefix only.
    #[value(name = "prefix")]
    #[serde(rename = "prefix")]
    Prefix,
    /// Prefix and suffix, no repository context.
    #[value(name = "prefix+suffix")]
    #[serde(rename = "prefix+suffix")]
    PrefixSuffix,
    /// nib's full context.
    #[value(name = "nib")]
    #[serde(rename = "nib")]
    Nib,
    /// nib's context with the true definitions first.
    #[value(name = "oracle")]
    #[serde(rename = "oracle")]
    Oracle,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Setting::Prefix => "prefix",
            Setting::PrefixSuffix => "prefix+suffix",
            Setting::Nib => "nib",
            Setting::Oracle => "oracle",
        }
    }

    fn config(self, base: &IdeConfig, repo_tokens: usize) -> IdeConfig {
        let mut c = base.clone();
        match self {
            Setting::Prefix => {
                c.window.suffix_tokens = 0;
                c.repo_tokens = 0;
            }
            Setting::PrefixSuffix => c.repo_tokens = 0,
            Setting::Nib | Setting::Oracle => c.repo_tokens = repo_tokens,
        }
        c
    }
}

/// One completion of one hole under one setting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    pub repo: String,
    pub path: String,
    pub line: usize,
    pub cut: usize,
    pub setting: Setting,
    pub kept: String,
    pub answer: String,
    pub suggestion: String,
    pub exact: bool,
    pub edit_similarity: f64,
    pub latency_ms: f64,
    pub prompt_tokens: usize,
    /// Tokens of repository context in the prompt.
    pub repo_tokens: usize,
    /// Oracle definitions of the hole (other files' definitions of names in the hidden rest).
    pub oracle_defs: usize,
    /// How many of them the setting's repository context included.
    pub oracle_defs_included: usize,
    pub error: Option<String>,
    /// The `oracle` setting without oracle definitions: the `nib` sample (same prompt).
    pub copied_from_nib: bool,
}

/// Mean scores of a group of samples.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cell {
    pub n: usize,
    pub exact: usize,
    pub exact_match: f64,
    pub edit_similarity: f64,
    /// Mean over the samples computed (not those copied from `nib`).
    pub latency_ms: f64,
    pub prompt_tokens: f64,
}

fn cell<'a>(samples: impl Iterator<Item = &'a Sample>) -> Cell {
    let mut c = Cell::default();
    let mut computed = 0;
    for s in samples {
        c.n += 1;
        c.exact += usize::from(s.exact);
        c.edit_similarity += s.edit_similarity;
        if !s.copied_from_nib {
            computed += 1;
            c.latency_ms += s.latency_ms;
            c.prompt_tokens += s.prompt_tokens as f64;
        }
    }
    if c.n > 0 {
        let n = c.n as f64;
        c.exact_match = c.exact as f64 / n;
        c.edit_similarity /= n;
    }
    if computed > 0 {
        c.latency_ms /= computed as f64;
        c.prompt_tokens /= computed as f64;
    }
    c
}

struct Prepared {
    spec: repos::RepoSpec,
    root: PathBuf,
    files: BTreeMap<String, String>,
    holes: Vec<Hole>,
}

fn prepare(
    spec: &repos::RepoSpec,
    n: usize,
    seed: u64,
    cut: gen::Cut,
    select: Select,
) -> Result<Prepared> {
    let root = repos::fetch(spec)?;
    let walk = WalkConfig::default();
    let found = nib_workspace::discover(&root, &walk);
    let mut files = BTreeMap::new();
    for p in &found.sources {
        if let (Some(rel), Ok(text)) = (
            nib_workspace::relative_path(&root, p),
            nib_workspace::read_source(p, &walk),
        ) {
            files.insert(rel, text);
        }
    }
    let list: Vec<(String, String)> = files.iter().map(|(p, t)| (p.clone(), t.clone())).collect();
    let holes = match select {
        Select::Any => gen::generate(&spec.label(), &list, n, seed, cut, None),
        Select::CrossFile => {
            let (ws, _) = Workspace::open(&root, WalkConfig::default(), &mut |_| {});
            // As CrossCodeEval selects its lines: a hidden name is defined in another file and
            // appears nowhere else in the hole's own file (neither defined nor used there), so
            // the file alone cannot show it.
            let keep = |h: &Hole| uses_unseen_definition(&ws, h, &files[&h.path]);
            gen::generate(&spec.label(), &list, n, seed, cut, Some(&keep))
        }
        Select::CrossFileUse => {
            let (ws, _) = Workspace::open(&root, WalkConfig::default(), &mut |_| {});
            // Per file: its import lines, and its text without them.
            let code: BTreeMap<&str, (std::collections::HashSet<usize>, String)> = files
                .iter()
                .map(|(path, text)| {
                    let lang = nib_syntax::Language::from_path(std::path::Path::new(path));
                    let imports = gen::import_lines(lang, text);
                    let rest: Vec<&str> = text
                        .split('\n')
                        .enumerate()
                        .filter(|(i, _)| !imports.contains(i))
                        .map(|(_, l)| l)
                        .collect();
                    (path.as_str(), (imports, rest.join("\n")))
                })
                .collect();
            // As CrossCodeEval finds its lines (imports of project modules replaced by empty
            // stand-ins, then every name left undefined): the hole is not an import, and a
            // hidden name is defined in another file, not in the hole's own, and appears
            // nowhere else in the file's code (its import aside).
            let keep = |h: &Hole| {
                let (imports, rest) = &code[h.path.as_str()];
                !imports.contains(&h.line) && uses_unseen_definition(&ws, h, rest)
            };
            gen::generate(&spec.label(), &list, n, seed, cut, Some(&keep))
        }
    };
    Ok(Prepared {
        spec: *spec,
        root,
        files,
        holes,
    })
}

/// Whether the hidden part of `h` uses a name defined in another file of the workspace, not
/// in the hole's own file, that occurs in `text` (the hole's file, or part of it) only as
/// often as in the hole's line.
fn uses_unseen_definition(ws: &Workspace, h: &Hole, text: &str) -> bool {
    oracle_definitions(&ws.index, &h.path, &h.line_text, h.cut)
        .iter()
        .any(|d| {
            word_count(text, &d.name) == word_count(&h.line_text, &d.name)
                && !ws
                    .index
                    .definitions_named(&d.name)
                    .iter()
                    .any(|x| x.file.path == h.path)
        })
}

/// How often `word` occurs in `text` as a whole identifier.
fn word_count(text: &str, word: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word)
        .filter(|&(i, _)| {
            !text[..i].chars().next_back().is_some_and(is_word)
                && !text[i + word.len()..].chars().next().is_some_and(is_word)
        })
        .count()
}

pub fn run(args: HolesArgs, make_ide: MakeIde) -> Result<()> {
    let specs: Vec<&repos::RepoSpec> = repos::REPOS
        .iter()
        .filter(|r| args.repos.is_empty() || args.repos.iter().any(|n| n == r.name))
        .collect();
    if specs.is_empty() {
        bail!("no repository selected (known: requests, click, semver, anyhow)");
    }
    let mut settings = args.settings.clone();
    settings.sort();
    settings.dedup();
    let mut prepared = Vec::new();
    for spec in specs {
        let p = prepare(spec, args.holes_per_repo, args.seed, args.cut, args.select)
            .with_context(|| format!("cannot prepare {}", spec.label()))?;
        eprintln!(
            "{}: {} source files, {} holes ({:?} lines, seed {}) at {}",
            spec.label(),
            p.files.len(),
            p.holes.len(),
            args.select,
            args.seed,
            p.root.display()
        );
        prepared.push(p);
    }
    if args.prepare_only {
        for h in prepared.iter().flat_map(|p| &p.holes) {
            println!(
                "{} {}:{}  {:?} | {:?}",
                h.repo,
                h.path,
                h.line + 1,
                h.kept(),
                h.answer()
            );
        }
        return Ok(());
    }
    let ide = make_ide(
        &args.model,
        Some(args.context_tokens),
        Some(args.max_tokens),
    )
    .with_context(|| format!("cannot load model {}", args.model))?;
    let base = IdeConfig {
        deadline: None,
        typeahead_cache: false,
        background_prefill: false,
        kv_reuse: args.kv_reuse,
        ..ide.config()
    };
    let total: usize = prepared.iter().map(|p| p.holes.len()).sum();
    let mut samples: Vec<Sample> = Vec::new();
    let mut done = 0;
    for p in &prepared {
        let (ws, stats) = Workspace::open(
            &p.root,
            WalkConfig {
                threads: 1,
                ..WalkConfig::default()
            },
            &mut |_| {},
        );
        eprintln!(
            "{}: indexed {} files ({} lines) in {:.1} s",
            p.spec.label(),
            stats.files,
            stats.lines,
            stats.elapsed.as_secs_f64()
        );
        let source = Arc::new(HoleSource::new(ws, &p.spec.label()));
        ide.set_repo_source(Arc::clone(&source) as Arc<dyn nib_ide::RepoContextSource>);
        for hole in &p.holes {
            done += 1;
            let original = &p.files[&hole.path];
            let abs = p.root.join(&hole.path);
            let holed = hole.holed_text(original);
            source.set_text(&abs, &holed);
            let oracle = {
                let ws = source.ws.read().unwrap_or_else(|e| e.into_inner());
                oracle_definitions(&ws.index, &hole.path, &hole.line_text, hole.cut)
            };
            let uri = file_uri(&abs);
            if args.verbose {
                eprintln!(
                    "\n== [{done}/{total}] {} {}:{}\n   kept   {:?}\n   answer {:?}\n   oracle {:?}",
                    hole.repo,
                    hole.path,
                    hole.line + 1,
                    hole.kept(),
                    hole.answer(),
                    oracle
                        .iter()
                        .map(|d| format!("{} ({}:{})", d.name, d.path, d.lines.start + 1))
                        .collect::<Vec<_>>()
                );
            }
            let mut line = String::new();
            for &setting in &settings {
                ide.set_config(setting.config(&base, args.repo_tokens));
                source.set_oracle(if setting == Setting::Oracle {
                    oracle.clone()
                } else {
                    Vec::new()
                });
                // With no oracle definitions the oracle prompt is nib's prompt: greedy decoding
                // gives nib's suggestion, so it is copied instead of computed again.
                let nib_sample = samples
                    .iter()
                    .rev()
                    .take_while(|s| s.path == hole.path && s.line == hole.line)
                    .find(|s| s.setting == Setting::Nib);
                if let (Setting::Oracle, true, Some(nib)) = (setting, oracle.is_empty(), nib_sample)
                {
                    let s = Sample {
                        setting,
                        copied_from_nib: true,
                        ..nib.clone()
                    };
                    line.push_str(&format!(" oracle {}", if s.exact { "ok" } else { "--" }));
                    samples.push(s);
                    continue;
                }
                ide.close(&uri);
                ide.open(&uri, None, 0, &holed);
                let s = complete_one(&ide, &uri, hole, setting, &oracle, args.verbose);
                line.push_str(&format!(
                    "  {} {}",
                    setting.name(),
                    if s.exact { "ok" } else { "--" }
                ));
                samples.push(s);
            }
            ide.close(&uri);
            source.set_oracle(Vec::new());
            source.set_text(&abs, original);
            eprintln!("[{done}/{total}] {}:{}{line}", hole.path, hole.line + 1);
        }
    }
    let errors = samples.iter().filter(|s| s.error.is_some()).count();
    if errors > 0 {
        eprintln!("{errors} completions failed (scored as wrong; see `error` in --out)");
    }
    let table = summary(&prepared, &settings, &samples);
    print!("{}", table.text);
    if let Some(out) = &args.out {
        let json = serde_json::json!({
            "command": "nib eval holes",
            "model": args.model,
            "seed": args.seed,
            "cut": args.cut,
            "select": args.select,
            "holes_per_repo": args.holes_per_repo,
            "context_tokens": args.context_tokens,
            "repo_tokens": args.repo_tokens,
            "max_tokens": args.max_tokens,
            "kv_reuse": args.kv_reuse,
            "repos": prepared.iter().map(|p| p.spec.label()).collect::<Vec<_>>(),
            "summary": table.json,
            "samples": samples,
        });
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(out)
                .with_context(|| format!("cannot create {}", out.display()))?,
        );
        serde_json::to_writer_pretty(&mut f, &json)?;
        f.write_all(b"\n")?;
        f.flush()?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

fn complete_one(
    ide: &nib_ide::Ide,
    uri: &str,
    hole: &Hole,
    setting: Setting,
    oracle: &[source::OracleDef],
    verbose: bool,
) -> Sample {
    let mut s = Sample {
        repo: hole.repo.clone(),
        path: hole.path.clone(),
        line: hole.line,
        cut: hole.cut,
        setting,
        kept: hole.kept().to_string(),
        answer: hole.answer().to_string(),
        suggestion: String::new(),
        exact: false,
        edit_similarity: 0.0,
        latency_ms: 0.0,
        prompt_tokens: 0,
        repo_tokens: 0,
        oracle_defs: oracle.len(),
        oracle_defs_included: 0,
        error: None,
        copied_from_nib: false,
    };
    let req = CompletionRequest::new(
        Position::new(hole.line as u32, hole.cut as u32),
        OffsetEncoding::Utf8,
        Trigger::Automatic,
    );
    let result = ide
        .snapshot(uri)
        .and_then(|snap| ide.complete(&snap, req, &CancelToken::new()));
    match result {
        Ok(c) => {
            let (exact, es) = score::score(hole.kept(), hole.answer(), &c.text);
            s.exact = exact;
            s.edit_similarity = es;
            s.latency_ms = c.latency_ms;
            s.prompt_tokens = c.prompt_tokens;
            if let Some(r) = &c.repo_context {
                s.repo_tokens = r.used_tokens;
                s.oracle_defs_included = oracle
                    .iter()
                    .filter(|d| {
                        r.included
                            .iter()
                            .any(|(_, p, l, _)| *p == d.path && l.start == d.lines.start)
                    })
                    .count();
            }
            if verbose {
                eprintln!(
                    "   {:<13} {} {:?}  ({:.0} ms, {} prompt tokens{})",
                    setting.name(),
                    if exact { "ok" } else { "--" },
                    score::first_line(&c.text),
                    c.latency_ms,
                    c.prompt_tokens,
                    c.repo_context
                        .as_ref()
                        .map(|r| format!(
                            ", repo {} tokens: {}",
                            r.used_tokens,
                            r.included
                                .iter()
                                .map(|(k, p, l, _)| format!("{k:?} {p}:{}", l.start + 1))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .unwrap_or_default()
                );
            }
            s.suggestion = c.text;
        }
        Err(e) => s.error = Some(e.to_string()),
    }
    s
}

struct Table {
    text: String,
    json: serde_json::Value,
}

fn summary(prepared: &[Prepared], settings: &[Setting], samples: &[Sample]) -> Table {
    let mut text = String::new();
    let mut json = serde_json::Map::new();
    let mut groups: Vec<(String, Vec<&Sample>)> = prepared
        .iter()
        .map(|p| {
            let label = p.spec.label();
            let v = samples.iter().filter(|s| s.repo == label).collect();
            (label, v)
        })
        .collect();
    groups.push(("all".to_string(), samples.iter().collect()));
    // The holes where repository context can matter: the hidden rest of the line uses a
    // definition from another file (as cross-file benchmarks select their holes).
    groups.push((
        "cross-file".to_string(),
        samples.iter().filter(|s| s.oracle_defs > 0).collect(),
    ));
    text.push_str(&format!(
        "\n{:<16} {:<14} {:>5} {:>7} {:>6} {:>9} {:>8}\n",
        "repo", "setting", "n", "EM", "ES", "lat ms", "prompt"
    ));
    for (label, group) in &groups {
        let mut per = serde_json::Map::new();
        for &setting in settings {
            let c = cell(group.iter().copied().filter(|s| s.setting == setting));
            text.push_str(&format!(
                "{:<16} {:<14} {:>5} {:>6.1}% {:>6.3} {:>9.0} {:>8.0}\n",
                label,
                setting.name(),
                c.n,
                100.0 * c.exact_match,
                c.edit_similarity,
                c.latency_ms,
                c.prompt_tokens
            ));
            per.insert(
                setting.name().to_string(),
                serde_json::to_value(&c).unwrap_or_default(),
            );
        }
        json.insert(label.clone(), serde_json::Value::Object(per));
    }
    let ratio = |a: &Cell, b: &Cell| {
        if b.exact == 0 {
            None
        } else {
            Some(a.exact_match / b.exact_match)
        }
    };
    let fmt = |r: Option<f64>| r.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}"));
    // (nib/prefix, nib/oracle, holes) over all holes or the cross-file ones only.
    let ratios = |cross_file: bool| {
        let get = |setting| {
            cell(
                samples
                    .iter()
                    .filter(|s| s.setting == setting && (!cross_file || s.oracle_defs > 0)),
            )
        };
        let (prefix, nib, oracle) = (
            get(Setting::Prefix),
            get(Setting::Nib),
            get(Setting::Oracle),
        );
        (ratio(&nib, &prefix), ratio(&nib, &oracle), nib.n)
    };
    let (nib_prefix, nib_oracle, _) = ratios(false);
    text.push_str(&format!(
        "\nexact match nib/prefix = {} (target >= 1.6), nib/oracle = {} (target >= 0.90)\n",
        fmt(nib_prefix),
        fmt(nib_oracle)
    ));
    // How often nib's own context already held the definitions the answer needs.
    let with_oracle: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.setting == Setting::Nib && s.oracle_defs > 0)
        .collect();
    if !with_oracle.is_empty() {
        let any = with_oracle
            .iter()
            .filter(|s| s.oracle_defs_included > 0)
            .count();
        text.push_str(&format!(
            "holes whose rest of line uses definitions of other files: {}; nib's context held at least one of them in {} ({:.0}%)\n",
            with_oracle.len(),
            any,
            100.0 * any as f64 / with_oracle.len() as f64
        ));
    }
    let (cross_nib_prefix, cross_nib_oracle, cross_n) = ratios(true);
    text.push_str(&format!(
        "cross-file holes only ({}): nib/prefix = {}, nib/oracle = {}\n",
        cross_n,
        fmt(cross_nib_prefix),
        fmt(cross_nib_oracle)
    ));
    json.insert(
        "ratios".to_string(),
        serde_json::json!({
            "nib_over_prefix": nib_prefix,
            "nib_over_oracle": nib_oracle,
            "cross_file_nib_over_prefix": cross_nib_prefix,
            "cross_file_nib_over_oracle": cross_nib_oracle,
        }),
    );
    Table {
        text,
        json: serde_json::Value::Object(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_count_counts_whole_identifiers_only() {
        let text = "from .core import Context\nctx = Context()\nmy_Context = 1\nContexts = 2\n";
        assert_eq!(word_count(text, "Context"), 2);
        assert_eq!(word_count(text, "ctx"), 1);
        assert_eq!(word_count(text, "missing"), 0);
    }
}
