//! `nib scan`: the safety gate over files and directories, for CI and pre-commit.
//!
//! Walks the given paths (honouring .gitignore), checks every Python and Rust file with
//! [`nib_checks::Checker`] against the environment discovered for its project ([`discover`]),
//! optionally merges bandit / semgrep findings, and prints text or SARIF 2.1.0 on stdout.
//! Exit status: 1 when a high or critical finding is reported, 2 on usage or IO errors,
//! 0 otherwise. Notes about skipped files go to stderr.

pub mod external;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use nib_checks::{CheckConfig, Checker, Finding, Severity};

use external::Tool;
pub use nib_workspace::env::discover;
pub use nib_workspace::{collect_sources, project_root, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MinSeverity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<MinSeverity> for Severity {
    fn from(m: MinSeverity) -> Severity {
        match m {
            MinSeverity::Info => Severity::Info,
            MinSeverity::Low => Severity::Low,
            MinSeverity::Medium => Severity::Medium,
            MinSeverity::High => Severity::High,
            MinSeverity::Critical => Severity::Critical,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories (walked recursively; .gitignore is honoured).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also run these scanners when installed and merge their findings.
    #[arg(long = "with", value_enum, value_delimiter = ',')]
    pub with: Vec<Tool>,
    /// Drop findings below this severity.
    #[arg(long, value_enum, default_value = "low")]
    pub min_severity: MinSeverity,
    /// Directory of copyleft code: report suggestions that copy it.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Licence of the files under --corpus.
    #[arg(long, default_value = "GPL-3.0", requires = "corpus")]
    pub corpus_licence: String,
    /// Do not ask the project's Python interpreter or read Cargo.toml: standard library only.
    #[arg(long)]
    pub no_discover: bool,
}

/// The outcome of a scan: findings per file, and notes about skipped files.
#[derive(Debug, Default)]
pub struct Report {
    pub results: Vec<(String, Vec<Finding>)>,
    pub notes: Vec<String>,
    pub files: usize,
    pub lines: usize,
}

impl Report {
    pub fn count_at_least(&self, severity: Severity) -> usize {
        self.results
            .iter()
            .flat_map(|(_, f)| f)
            .filter(|f| f.severity >= severity)
            .count()
    }
}

/// `nib scan`: prints the report, returns the exit status.
pub fn run(args: ScanArgs) -> ExitCode {
    match scan(&args) {
        Ok(report) => {
            for n in &report.notes {
                eprintln!("nib: {n}");
            }
            let out = match args.format {
                Format::Text => nib_checks::to_text(&report.results),
                Format::Sarif => {
                    let mut s =
                        serde_json::to_string_pretty(&nib_checks::to_sarif(&report.results))
                            .unwrap_or_default();
                    s.push('\n');
                    s
                }
            };
            if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes()) {
                eprintln!("nib: error: cannot write the report: {e}");
                return ExitCode::from(2);
            }
            let total: usize = report.results.iter().map(|(_, f)| f.len()).sum();
            let high = report.count_at_least(Severity::High);
            eprintln!(
                "nib: {total} finding(s), {high} high or critical, in {} file(s)",
                report.files
            );
            ExitCode::from(u8::from(high > 0))
        }
        Err(e) => {
            eprintln!("nib: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Walk, read, check. IO errors on the given paths are errors; files that cannot be checked
/// (too large, not UTF-8) are skipped with a note.
pub fn scan(args: &ScanArgs) -> Result<Report> {
    let mut report = Report::default();
    let sources = collect_sources(&args.paths, &mut report.notes)?;
    let min: Severity = args.min_severity.into();
    let licence_checker = match &args.corpus {
        Some(dir) => Some(corpus_checker(dir, &args.corpus_licence)?),
        None => None,
    };
    // One checker per project root: each has its own environment.
    let mut checkers: BTreeMap<PathBuf, Checker> = BTreeMap::new();
    for src in &sources {
        let root = project_root(&src.path);
        let checker = checkers.entry(root.clone()).or_insert_with(|| {
            let environment = if args.no_discover {
                nib_checks::Environment::builtin()
            } else {
                discover(&root)
            };
            Checker::new(CheckConfig {
                environment: Some(environment),
                min_severity: Some(min),
                ..CheckConfig::default()
            })
        });
        let mut found = checker.check(src.lang, &src.code);
        if let Some(lc) = &licence_checker {
            found.extend(lc.check(src.lang, &src.code));
        }
        report.lines += src.code.lines().count();
        report.results.push((src.display.clone(), found));
    }
    report.files = sources.len();
    for tool in dedup_tools(&args.with) {
        let files: Vec<String> = sources.iter().map(|s| s.display.clone()).collect();
        match external::run(tool, &files) {
            Ok(None) => report
                .notes
                .push(format!("{} is not installed, skipped", tool.name())),
            Ok(Some(found)) => merge_external(&mut report, &sources, found, min),
            Err(e) => report.notes.push(format!("{} skipped: {e:#}", tool.name())),
        }
    }
    for (_, findings) in &mut report.results {
        findings.sort_by(|a, b| {
            (a.start_byte, a.end_byte, &a.rule_id).cmp(&(b.start_byte, b.end_byte, &b.rule_id))
        });
    }
    report.results.retain(|(_, f)| !f.is_empty());
    Ok(report)
}

fn dedup_tools(tools: &[Tool]) -> Vec<Tool> {
    let mut t = tools.to_vec();
    t.sort();
    t.dedup();
    t
}

fn merge_external(
    report: &mut Report,
    sources: &[Source],
    found: Vec<external::ExternalFinding>,
    min: Severity,
) {
    for (path, ext) in external::by_path(found) {
        let Some(i) = sources
            .iter()
            .position(|s| external::path_key(&s.display) == path)
        else {
            continue;
        };
        let code = &sources[i].code;
        let ext: Vec<Finding> = ext
            .iter()
            .map(|e| e.to_finding(code))
            .filter(|f| f.severity >= min)
            .collect();
        let entry = &mut report.results[i].1;
        let kept = external::dedup(entry, ext);
        entry.extend(kept);
    }
}

fn corpus_checker(dir: &Path, licence: &str) -> Result<Checker> {
    let corpus = nib_workspace::load_corpus(dir, licence)?;
    Ok(Checker::new(CheckConfig {
        no_security: true,
        corpus: Some(corpus),
        ..CheckConfig::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ScanArgs,
    }

    fn args(argv: &[&str]) -> ScanArgs {
        Cli::try_parse_from(std::iter::once("scan").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    // Command-line input into a shell is high (a parameter alone would be medium).
    const VULN: &str =
        "import subprocess, sys\n\n\ndef run():\n    subprocess.call(sys.argv[1], shell=True)\n";
    const CLEAN: &str =
        "import subprocess\n\n\ndef run():\n    subprocess.run([\"ls\", \"-l\"], check=True)\n";

    fn project(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn exit_of(a: ScanArgs) -> ExitCode {
        run(a)
    }

    #[test]
    fn exit_status_follows_severity_and_errors() {
        let dir = project(&[
            ("vuln/app.py", VULN.as_bytes()),
            ("clean/app.py", CLEAN.as_bytes()),
        ]);
        let p = |rel: &str| dir.path().join(rel).display().to_string();
        let vuln = exit_of(args(&["--no-discover", &p("vuln")]));
        let clean = exit_of(args(&["--no-discover", &p("clean")]));
        let missing = exit_of(args(&["--no-discover", &p("nope")]));
        assert_eq!(vuln, ExitCode::from(1));
        assert_eq!(clean, ExitCode::from(0));
        assert_eq!(missing, ExitCode::from(2));
        // Above the finding's severity, the vulnerable file passes.
        let critical_only = exit_of(args(&[
            "--no-discover",
            "--min-severity",
            "critical",
            &p("vuln"),
        ]));
        assert_eq!(critical_only, ExitCode::from(0));
    }

    #[test]
    fn walk_honours_gitignore_and_skips_large_and_binary_files() {
        let big = format!("x = 1\n{}", "# padding\n".repeat(120_000));
        let dir = project(&[
            (".gitignore", b"build/\n"),
            ("build/gen.py", VULN.as_bytes()),
            ("pkg/a.py", VULN.as_bytes()),
            (
                "pkg/lib.rs",
                b"fn main() { unsafe { std::hint::unreachable_unchecked() } }\n",
            ),
            ("pkg/notes.txt", b"eval(x)"),
            ("pkg/big.py", big.as_bytes()),
            ("pkg/latin1.py", b"s = '\xe9'\n"),
        ]);
        let mut notes = Vec::new();
        let sources = collect_sources(&[dir.path().to_path_buf()], &mut notes).unwrap();
        let names: Vec<_> = sources
            .iter()
            .map(|s| {
                s.path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["pkg/a.py", "pkg/lib.rs"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes
            .iter()
            .any(|n| n.contains("big.py") && n.contains("1 MB")));
        assert!(notes
            .iter()
            .any(|n| n.contains("latin1.py") && n.contains("UTF-8")));
        // A file given explicitly is scanned even if ignored.
        let explicit = collect_sources(&[dir.path().join("build/gen.py")], &mut notes).unwrap();
        assert_eq!(explicit.len(), 1);
    }

    #[test]
    fn sarif_report_shape() {
        let dir = project(&[("app.py", VULN.as_bytes()), ("ok.py", CLEAN.as_bytes())]);
        let a = args(&[
            "--no-discover",
            "--format",
            "sarif",
            &dir.path().display().to_string(),
        ]);
        let report = scan(&a).unwrap();
        let sarif = nib_checks::to_sarif(&report.results);
        assert_eq!(sarif["version"], "2.1.0");
        let run = &sarif["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "nib");
        let results = run["results"].as_array().unwrap();
        assert!(!results.is_empty());
        let cmd = results
            .iter()
            .find(|r| r["ruleId"] == "python/command-injection")
            .expect("command injection reported");
        assert_eq!(cmd["level"], "error");
        let loc = &cmd["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("app.py"));
        assert_eq!(loc["region"]["startLine"], 5);
        // Only the vulnerable file has results.
        assert!(results.iter().all(
            |r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("app.py")
        ));
    }

    #[test]
    fn external_findings_merge_into_their_file() {
        let src = |display: &str, code: &str| Source {
            display: display.into(),
            path: display.into(),
            lang: nib_syntax::Language::Python,
            code: code.into(),
        };
        let sources = [src("a/x.py", VULN), src("a/y.py", CLEAN)];
        let checker = Checker::new(CheckConfig::standard());
        let mut report = Report {
            results: sources
                .iter()
                .map(|s| (s.display.clone(), checker.check(s.lang, &s.code)))
                .collect(),
            ..Report::default()
        };
        let ext = |path: &str, id: &str, line: usize, severity| external::ExternalFinding {
            path: path.into(),
            rule_id: format!("bandit/{id}"),
            cwe: Some("CWE-78".into()),
            severity,
            message: "m".into(),
            help: "h".into(),
            line,
            end_line: line,
            col: 4,
            end_col: None,
        };
        merge_external(
            &mut report,
            &sources,
            vec![
                // Same line and CWE as nib's finding: dropped.
                ext("./a/x.py", "B602", 5, Severity::High),
                ext("./a/y.py", "B603", 5, Severity::Low),
                ext("./a/y.py", "B999", 1, Severity::Info),
                ext("elsewhere.py", "B602", 1, Severity::High),
            ],
            Severity::Low,
        );
        let ids = |i: usize| -> Vec<String> {
            report.results[i]
                .1
                .iter()
                .map(|f| f.rule_id.clone())
                .collect()
        };
        assert_eq!(ids(0), ["python/command-injection"]);
        assert_eq!(ids(1), ["bandit/B603"]);
        assert_eq!(report.results[1].1[0].start, (4, 4));
    }

    #[test]
    fn fragments_are_scanned() {
        // An unfinished function, as a suggestion or a half-written file leaves it.
        let dir = project(&[(
            "frag.py",
            b"def handler(request):\n    os.system(\"ping \" + request.args[\"host\"]\n",
        )]);
        let report = scan(&args(&["--no-discover", &dir.path().display().to_string()])).unwrap();
        let ids: Vec<_> = report
            .results
            .iter()
            .flat_map(|(_, f)| f)
            .map(|f| f.rule_id.as_str())
            .collect();
        assert!(ids.contains(&"python/command-injection"), "{ids:?}");
    }

    #[test]
    fn corpus_reports_copied_code() {
        let body = "def merge_sorted(left, right):\n    out = []\n    i = j = 0\n    while i < len(left) and j < len(right):\n        if left[i] <= right[j]:\n            out.append(left[i])\n            i += 1\n        else:\n            out.append(right[j])\n            j += 1\n    out.extend(left[i:])\n    out.extend(right[j:])\n    return out\n";
        let dir = project(&[
            ("corpus/gpl.py", body.as_bytes()),
            ("src/copy.py", body.as_bytes()),
        ]);
        let p = |rel: &str| dir.path().join(rel).display().to_string();
        let report = scan(&args(&[
            "--no-discover",
            "--corpus",
            &p("corpus"),
            "--corpus-licence",
            "GPL-2.0",
            &p("src"),
        ]))
        .unwrap();
        let f = &report.results[0].1;
        assert!(
            f.iter().any(
                |f| f.rule_id == "licence/copyleft-similarity" && f.message.contains("GPL-2.0")
            ),
            "{f:?}"
        );
    }
}
