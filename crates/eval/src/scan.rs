//! `nib eval-scan`: how good the safety gate is.
//!
//! 1. The labelled benchmark under `fixtures/checks/<lang>/<rule>/` (markers
//!    `nib: expect <rule-id>`): recall and precision per rule for nib and, with `--bandit`, for
//!    bandit on the same Python files, its test ids mapped to nib rules
//!    ([`nib_scan::external::bandit_to_nib`]).
//! 2. Clean real-world code (sdists of popular pure-Python packages, downloaded into
//!    `$NIB_HOME/eval-scan/`, and any `--real DIR`): high/critical findings per 10k lines,
//!    i.e. the false-positive rate a user of the gate would see.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use nib_checks::{evaluate, markers, Case, CheckConfig, Checker, RuleScore, Severity};
use nib_syntax::Language;

use nib_scan::external;

/// Packages whose sdists are the default clean code.
pub const DEFAULT_PACKAGES: &str = "requests==2.32.3,flask==3.0.3,click==8.1.7";

#[derive(Debug, clap::Args)]
pub struct EvalScanArgs {
    /// Also run bandit on the same inputs (installed into $NIB_HOME/tools/bandit if missing).
    #[arg(long)]
    pub bandit: bool,
    /// Directories of clean real-world code, scanned for false positives.
    #[arg(long = "real", value_name = "DIR")]
    pub real: Vec<PathBuf>,
    /// Python sdists downloaded from PyPI as clean real-world code.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_PACKAGES)]
    pub packages: Vec<String>,
    /// Do not download sdists (use --real and what is already in the cache).
    #[arg(long)]
    pub no_download: bool,
    /// The labelled benchmark (default: fixtures/checks of this repository).
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// List every miss and false alarm, and every finding on real code.
    #[arg(long)]
    pub verbose: bool,
}

/// Findings of at least this severity count in the benchmark (as in the checks crate test).
const BENCH_SEVERITY: Severity = Severity::Medium;

pub fn run(args: EvalScanArgs) -> Result<()> {
    let fixtures = args.fixtures.clone().unwrap_or_else(default_fixtures);
    let cases = load_cases(&fixtures)?;
    if cases.is_empty() {
        bail!("no labelled files under {}", fixtures.display());
    }
    let checker = Checker::new(CheckConfig::standard());
    let nib = evaluate(&checker, &cases, BENCH_SEVERITY);

    let bandit_exe = if args.bandit {
        match ensure_bandit() {
            Ok(exe) => Some(exe),
            Err(e) => {
                eprintln!("nib: bandit unavailable, its columns are left empty: {e:#}");
                None
            }
        }
    } else {
        None
    };
    let bandit = match &bandit_exe {
        Some(exe) => Some(bandit_on_cases(exe, &fixtures, &cases)?),
        None => None,
    };

    println!(
        "Labelled benchmark: {} files under {} (findings >= {} count for nib; bandit at all severities)\n",
        cases.len(),
        fixtures.display(),
        BENCH_SEVERITY.as_str()
    );
    print!("{}", table(&nib.per_rule, bandit.as_ref()));
    if args.verbose {
        for m in &nib.misses {
            println!("  nib miss: {m}");
        }
        for f in &nib.false_alarms {
            println!("  nib false alarm: {f}");
        }
    }

    // Clean real-world code.
    let mut dirs = Vec::new();
    if !args.packages.is_empty() {
        match fetch_sdists(&args.packages, args.no_download) {
            Ok(d) => dirs.extend(d),
            Err(e) => eprintln!("nib: sdists unavailable: {e:#}"),
        }
    }
    dirs.extend(args.real.iter().cloned());
    if !dirs.is_empty() {
        let mut rows = Vec::new();
        let mut total = RealScore::default();
        for dir in &dirs {
            let env = nib_workspace::env::discover(&nib_workspace::project_root(dir));
            let s = real_code(dir, env, bandit_exe.as_deref(), args.verbose)?;
            rows.push(s.row(&dir_label(dir)));
            total.add(&s);
        }
        if dirs.len() > 1 {
            rows.push(total.row("**all**"));
        }
        println!("\nClean real-world code: high/critical findings per 10k lines (target < 1)\n");
        println!("{REAL_HEADER}");
        for r in rows {
            println!("{r}");
        }
    }

    println!("\nReproduce:");
    if !args.packages.is_empty() {
        println!(
            "  python3 -m pip download --no-deps --no-binary :all: -d {} {}",
            sdist_dir().display(),
            args.packages.join(" ")
        );
    }
    if let Some(exe) = &bandit_exe {
        println!(
            "  {} -f json -q FILES   # {}",
            exe.display(),
            tool_version(exe)
        );
    }
    let mut cmd = String::from("nib eval-scan");
    if args.bandit {
        cmd.push_str(" --bandit");
    }
    if args.packages.join(",") != DEFAULT_PACKAGES {
        cmd.push_str(&format!(" --packages '{}'", args.packages.join(",")));
    }
    for r in &args.real {
        cmd.push_str(&format!(" --real {}", r.display()));
    }
    println!("  {cmd}");
    Ok(())
}

fn default_fixtures() -> PathBuf {
    let local = PathBuf::from("fixtures/checks");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checks")
}

/// `<root>/{python,rust}/<rule>/*`, as the checks crate's benchmark test reads them.
pub fn load_cases(root: &Path) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for lang_dir in ["python", "rust"] {
        let dir = root.join(lang_dir);
        if !dir.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        for rule in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let rule = rule?.path();
            if !rule.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&rule)? {
                files.push(f?.path());
            }
        }
        files.sort();
        for f in files {
            let Some(lang) = Language::from_path(&f) else {
                continue;
            };
            let code = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            cases.push(Case {
                path: rel,
                lang,
                code,
            });
        }
    }
    Ok(cases)
}

/// A reported finding reduced to what scoring needs: rule id and 0-based line span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub rule: String,
    pub first_line: usize,
    pub last_line: usize,
}

/// Score `reported[i]` (findings in `cases[i]`) against the markers, only for `rules`
/// (`None`: every rule). The same rules as [`nib_checks::evaluate`]: a finding whose line
/// span covers a marker of its rule is a true positive, others are false positives; markers
/// no finding covers are false negatives.
pub fn score(
    cases: &[Case],
    reported: &[Vec<Reported>],
    rules: Option<&BTreeSet<String>>,
) -> BTreeMap<String, RuleScore> {
    let wanted = |r: &str| rules.is_none_or(|set| set.contains(r));
    let mut per_rule: BTreeMap<String, RuleScore> = BTreeMap::new();
    for (case, found) in cases.iter().zip(reported) {
        let marks: Vec<_> = markers(&case.code)
            .into_iter()
            .filter(|(_, r)| wanted(r))
            .collect();
        let covers = |f: &Reported, line: usize, rule: &str| {
            f.rule == rule && f.first_line <= line && line <= f.last_line
        };
        for (line, rule) in &marks {
            let s = per_rule.entry(rule.clone()).or_default();
            s.expected += 1;
            if found.iter().any(|f| covers(f, *line, rule)) {
                s.true_positives += 1;
            } else {
                s.false_negatives += 1;
            }
        }
        for f in found.iter().filter(|f| wanted(&f.rule)) {
            if !marks.iter().any(|(line, rule)| covers(f, *line, rule)) {
                per_rule.entry(f.rule.clone()).or_default().false_positives += 1;
            }
        }
    }
    per_rule
}

/// The nib rules bandit is compared on.
pub fn bandit_rules() -> BTreeSet<String> {
    (100..1000)
        .filter_map(|n| external::bandit_to_nib(&format!("B{n}")))
        .map(str::to_string)
        .collect()
}

fn bandit_on_cases(exe: &Path, root: &Path, cases: &[Case]) -> Result<BTreeMap<String, RuleScore>> {
    let files: Vec<String> = cases
        .iter()
        .filter(|c| c.lang == Language::Python)
        .map(|c| root.join(&c.path).display().to_string())
        .collect();
    let found = run_bandit(exe, &files)?;
    let by_path = external::by_path(found);
    let reported: Vec<Vec<Reported>> = cases
        .iter()
        .map(|c| {
            let key = external::path_key(&root.join(&c.path).display().to_string());
            by_path
                .get(&key)
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let id = e.rule_id.strip_prefix("bandit/")?;
                    Some(Reported {
                        rule: external::bandit_to_nib(id)?.to_string(),
                        first_line: e.line.saturating_sub(1),
                        last_line: e.end_line.max(e.line).saturating_sub(1),
                    })
                })
                .collect()
        })
        .collect();
    Ok(score(cases, &reported, Some(&bandit_rules())))
}

fn run_bandit(exe: &Path, files: &[String]) -> Result<Vec<external::ExternalFinding>> {
    let mut out = Vec::new();
    for chunk in files.chunks(200) {
        let output = Command::new(exe)
            .args(["-f", "json", "-q"])
            .args(chunk)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        out.extend(
            external::parse_bandit(&String::from_utf8_lossy(&output.stdout)).with_context(
                || {
                    format!(
                        "bandit failed: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    )
                },
            )?,
        );
    }
    Ok(out)
}

fn fmt_ratio(x: f64) -> String {
    format!("{x:.2}")
}

/// Sum of the scores.
fn total<'a>(scores: impl Iterator<Item = &'a RuleScore>) -> RuleScore {
    scores.fold(RuleScore::default(), |mut acc, s| {
        acc.expected += s.expected;
        acc.true_positives += s.true_positives;
        acc.false_positives += s.false_positives;
        acc.false_negatives += s.false_negatives;
        acc
    })
}

/// The side-by-side Markdown table.
pub fn table(
    nib: &BTreeMap<String, RuleScore>,
    bandit: Option<&BTreeMap<String, RuleScore>>,
) -> String {
    let shared = bandit_rules();
    let mut out = String::from(
        "| rule | marked | nib recall | nib precision | bandit recall | bandit precision |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let empty = RuleScore::default();
    for (rule, s) in nib {
        let (br, bp) = match bandit {
            Some(b) if shared.contains(rule) => {
                let bs = b.get(rule).unwrap_or(&empty);
                (fmt_ratio(bs.recall()), fmt_ratio(bs.precision()))
            }
            _ => ("-".to_string(), "-".to_string()),
        };
        out.push_str(&format!(
            "| {rule} | {} | {} | {} | {br} | {bp} |\n",
            s.expected,
            fmt_ratio(s.recall()),
            fmt_ratio(s.precision())
        ));
    }
    let all = total(nib.values());
    out.push_str(&format!(
        "| **all nib rules** | {} | {} | {} | - | - |\n",
        all.expected,
        fmt_ratio(all.recall()),
        fmt_ratio(all.precision())
    ));
    let nib_shared = total(
        nib.iter()
            .filter(|(r, _)| shared.contains(*r))
            .map(|(_, s)| s),
    );
    let (br, bp) = match bandit {
        Some(b) => {
            let t = total(
                b.iter()
                    .filter(|(r, _)| shared.contains(*r))
                    .map(|(_, s)| s),
            );
            (fmt_ratio(t.recall()), fmt_ratio(t.precision()))
        }
        None => ("-".to_string(), "-".to_string()),
    };
    out.push_str(&format!(
        "| **rules bandit also covers** | {} | {} | {} | {br} | {bp} |\n",
        nib_shared.expected,
        fmt_ratio(nib_shared.recall()),
        fmt_ratio(nib_shared.precision())
    ));
    out
}

/// bandit on PATH or in `$NIB_HOME/tools/bandit`; installed there with pip when missing.
fn ensure_bandit() -> Result<PathBuf> {
    if let Some(exe) = external::bandit_executable() {
        return Ok(exe);
    }
    let venv = external::bandit_venv();
    let python = nib_workspace::env::which("python3")
        .or_else(|| nib_workspace::env::which("python"))
        .context("no python3 on PATH to install bandit with")?;
    eprintln!("nib: installing bandit into {}", venv.display());
    let status = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot create a venv for bandit")?;
    if !status.success() {
        bail!("`{} -m venv {}` failed", python.display(), venv.display());
    }
    let status = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "bandit"])
        .status()
        .context("cannot run pip")?;
    if !status.success() {
        bail!("pip install bandit failed");
    }
    external::bandit_executable().context("bandit not found after installing it")
}

fn tool_version(exe: &Path) -> String {
    Command::new(exe)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn eval_home() -> PathBuf {
    nib_workspace::nib_home().join("eval-scan")
}

fn sdist_dir() -> PathBuf {
    eval_home().join("sdists")
}

/// Download (unless cached) and unpack the sdists of `packages` (`name==version`); returns
/// the unpacked source directories.
fn fetch_sdists(packages: &[String], no_download: bool) -> Result<Vec<PathBuf>> {
    let sdists = sdist_dir();
    let src = eval_home().join("src");
    std::fs::create_dir_all(&sdists)?;
    std::fs::create_dir_all(&src)?;
    let find = |dir: &Path, stem: &str| -> Option<PathBuf> {
        let mut hits: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.to_ascii_lowercase().starts_with(stem))
            })
            .collect();
        hits.sort();
        hits.into_iter().next()
    };
    let stems: Vec<String> = packages
        .iter()
        .map(|p| {
            let (name, version) = p.split_once("==").unwrap_or((p, ""));
            format!(
                "{}-{}",
                name.trim().to_ascii_lowercase().replace('-', "_"),
                version.trim()
            )
        })
        .collect();
    let missing: Vec<&String> = packages
        .iter()
        .zip(&stems)
        .filter(|(_, stem)| find(&sdists, stem).is_none())
        .map(|(p, _)| p)
        .collect();
    if !missing.is_empty() {
        if no_download {
            bail!("not downloaded yet: {missing:?}");
        }
        let python = nib_workspace::env::which("python3")
            .or_else(|| nib_workspace::env::which("python"))
            .context("no python3 on PATH for pip download")?;
        let status = Command::new(&python)
            .args(["-m", "pip", "download", "--quiet", "--no-deps"])
            .args(["--no-binary", ":all:", "-d"])
            .arg(&sdists)
            .args(missing.iter().map(|s| s.as_str()))
            .status()
            .context("cannot run pip download")?;
        if !status.success() {
            bail!("pip download {missing:?} failed");
        }
    }
    let mut out = Vec::new();
    for stem in &stems {
        let archive = find(&sdists, stem).with_context(|| format!("no sdist for {stem}"))?;
        if let Some(dir) = find(&src, stem).filter(|d| d.is_dir()) {
            out.push(dir);
            continue;
        }
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&src)
            .status()
            .context("cannot run tar")?;
        if !status.success() {
            bail!("cannot unpack {}", archive.display());
        }
        out.push(find(&src, stem).with_context(|| format!("{stem} not found after unpacking"))?);
    }
    Ok(out)
}

fn dir_label(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

const REAL_HEADER: &str = "| code | files | lines | nib high+ | nib /10k | nib /10k outside tests | bandit HIGH | bandit /10k |\n|---|---:|---:|---:|---:|---:|---:|---:|";

/// Whether `path` is test code: under a `tests`/`test` directory or named `test_*` / `*_test`.
pub fn is_test_path(path: &Path) -> bool {
    nib_checks::is_test_path(path)
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RealScore {
    pub files: usize,
    pub lines: usize,
    pub nib_high: usize,
    /// Lines and findings outside test code.
    pub lib_lines: usize,
    pub lib_nib_high: usize,
    /// `None` when bandit was not run.
    pub bandit_high: Option<usize>,
}

impl RealScore {
    fn add(&mut self, o: &RealScore) {
        self.files += o.files;
        self.lines += o.lines;
        self.nib_high += o.nib_high;
        self.lib_lines += o.lib_lines;
        self.lib_nib_high += o.lib_nib_high;
        self.bandit_high = match (self.bandit_high, o.bandit_high) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    pub fn per_10k(&self, n: usize) -> f64 {
        per_10k(n, self.lines)
    }

    fn row(&self, label: &str) -> String {
        let (bh, b10) = match self.bandit_high {
            Some(b) => (b.to_string(), format!("{:.2}", self.per_10k(b))),
            None => ("-".into(), "-".into()),
        };
        format!(
            "| {label} | {} | {} | {} | {:.2} | {:.2} | {bh} | {b10} |",
            self.files,
            self.lines,
            self.nib_high,
            self.per_10k(self.nib_high),
            per_10k(self.lib_nib_high, self.lib_lines)
        )
    }
}

fn per_10k(n: usize, lines: usize) -> f64 {
    if lines == 0 {
        0.0
    } else {
        n as f64 * 10_000.0 / lines as f64
    }
}

/// Scan `dir` as `nib scan` does (with the environment of its project) and count
/// high/critical findings; bandit's HIGH findings on the same Python files when `bandit`.
pub fn real_code(
    dir: &Path,
    environment: nib_checks::Environment,
    bandit: Option<&Path>,
    verbose: bool,
) -> Result<RealScore> {
    let mut notes = Vec::new();
    let sources = nib_workspace::collect_sources(&[dir.to_path_buf()], &mut notes)?;
    let checker = Checker::new(CheckConfig {
        environment: Some(environment),
        min_severity: Some(Severity::High),
        ..CheckConfig::default()
    });
    let mut score = RealScore {
        files: sources.len(),
        ..RealScore::default()
    };
    for s in &sources {
        let lines = s.code.lines().count();
        let rel = s.path.strip_prefix(dir).unwrap_or(&s.path);
        let lib = !is_test_path(rel);
        score.lines += lines;
        if lib {
            score.lib_lines += lines;
        }
        for f in checker.check_with_path(s.lang, &s.code, rel) {
            score.nib_high += 1;
            if lib {
                score.lib_nib_high += 1;
            }
            if verbose {
                println!(
                    "  nib: {}:{}: {} [{}] {}",
                    s.display,
                    f.start.0 + 1,
                    f.severity.as_str(),
                    f.rule_id,
                    f.message
                );
            }
        }
    }
    if let Some(exe) = bandit {
        let py: Vec<String> = sources
            .iter()
            .filter(|s| s.lang == Language::Python)
            .map(|s| s.display.clone())
            .collect();
        let found = run_bandit(exe, &py)?;
        let high: Vec<_> = found
            .iter()
            .filter(|f| f.severity >= Severity::High)
            .collect();
        if verbose {
            for f in &high {
                println!(
                    "  bandit: {}:{}: [{}] {}",
                    f.path, f.line, f.rule_id, f.message
                );
            }
        }
        score.bandit_high = Some(high.len());
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checks")
    }

    #[test]
    fn scorer_agrees_with_the_checks_crate() {
        let cases = load_cases(&fixtures()).unwrap();
        assert!(cases.len() > 50);
        let checker = Checker::new(CheckConfig::standard());
        let reported: Vec<Vec<Reported>> = cases
            .iter()
            .map(|c| {
                checker
                    .check(c.lang, &c.code)
                    .into_iter()
                    .filter(|f| f.severity >= BENCH_SEVERITY)
                    .map(|f| Reported {
                        rule: f.rule_id,
                        first_line: f.start.0,
                        last_line: f.end.0,
                    })
                    .collect()
            })
            .collect();
        let ours = score(&cases, &reported, None);
        let theirs = evaluate(&checker, &cases, BENCH_SEVERITY).per_rule;
        assert_eq!(ours, theirs);
    }

    #[test]
    fn scoring_counts_only_the_selected_rules() {
        let cases = vec![Case {
            path: "t.py".into(),
            lang: Language::Python,
            code: "a\nb  # nib: expect python/xxe\nc  # nib: expect python/other\n".into(),
        }];
        let rep = |rule: &str, line: usize| Reported {
            rule: rule.into(),
            first_line: line,
            last_line: line,
        };
        let reported = vec![vec![
            rep("python/xxe", 1),
            rep("python/xxe", 0),
            rep("python/unmapped", 0),
        ]];
        let only: BTreeSet<String> = ["python/xxe".to_string()].into();
        let s = score(&cases, &reported, Some(&only));
        assert_eq!(s.len(), 1);
        let x = &s["python/xxe"];
        assert_eq!(
            (
                x.expected,
                x.true_positives,
                x.false_positives,
                x.false_negatives
            ),
            (1, 1, 1, 0)
        );
        let all = score(&cases, &reported, None);
        assert_eq!(all["python/other"].false_negatives, 1);
        assert_eq!(all["python/unmapped"].false_positives, 1);
    }

    #[test]
    fn table_marks_rules_bandit_does_not_cover() {
        let mut nib = BTreeMap::new();
        nib.insert(
            "python/sql-injection".to_string(),
            RuleScore {
                expected: 4,
                true_positives: 4,
                false_positives: 0,
                false_negatives: 0,
            },
        );
        nib.insert(
            "rust/unsafe-block".to_string(),
            RuleScore {
                expected: 2,
                true_positives: 1,
                false_positives: 1,
                false_negatives: 1,
            },
        );
        let mut bandit = BTreeMap::new();
        bandit.insert(
            "python/sql-injection".to_string(),
            RuleScore {
                expected: 4,
                true_positives: 2,
                false_positives: 2,
                false_negatives: 2,
            },
        );
        let t = table(&nib, Some(&bandit));
        assert!(
            t.contains("| python/sql-injection | 4 | 1.00 | 1.00 | 0.50 | 0.50 |"),
            "{t}"
        );
        assert!(
            t.contains("| rust/unsafe-block | 2 | 0.50 | 0.50 | - | - |"),
            "{t}"
        );
        assert!(
            t.contains("| **all nib rules** | 6 | 0.83 | 0.83 | - | - |"),
            "{t}"
        );
        assert!(
            t.contains("| **rules bandit also covers** | 4 | 1.00 | 1.00 | 0.50 | 0.50 |"),
            "{t}"
        );
    }

    #[test]
    fn real_code_counts_high_findings_per_10k_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("setup.py"), "").unwrap();
        // A shell command from the command line is high; the same in a test function, or a
        // secret in a test file, is not.
        let mut code = String::from("import os, sys\n\n\ndef run():\n    os.system(sys.argv[1])\n");
        code.push_str(&"x = 1\n".repeat(95));
        std::fs::write(dir.path().join("app.py"), &code).unwrap();
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("tests/test_app.py"), &code).unwrap();
        let mut test = String::from("import requests\n\n\ndef fetch():\n    requests.get(\"https://localhost\", verify=False)\n");
        test.push_str(&"x = 1\n".repeat(95));
        std::fs::write(dir.path().join("tests/test_tls.py"), &test).unwrap();
        let s = real_code(dir.path(), nib_checks::Environment::builtin(), None, false).unwrap();
        assert_eq!((s.files, s.lines, s.nib_high), (4, 300, 2));
        assert_eq!((s.lib_lines, s.lib_nib_high), (100, 1));
        assert!((s.per_10k(s.nib_high) - 66.67).abs() < 0.01);
        assert_eq!(s.bandit_high, None);
        assert!(is_test_path(Path::new("pkg/tests/x.py")));
        assert!(is_test_path(Path::new("test_x.py")));
        assert!(!is_test_path(Path::new("src/pkg/testing_utils.py")));
    }
}
