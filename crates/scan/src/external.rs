//! Other scanners (`--with bandit,semgrep`): run when installed, map their JSON reports to
//! nib [`Finding`]s (`bandit/B602`, `semgrep/<check-id>`), drop what nib already reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use nib_checks::{Category, Finding, Severity};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Tool {
    Bandit,
    Semgrep,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Bandit => "bandit",
            Tool::Semgrep => "semgrep",
        }
    }
}

/// Files per invocation, to stay far below the command-line length limit.
const CHUNK: usize = 200;

/// bandit test id -> nib rule id, on the categories both cover.
pub fn bandit_to_nib(test_id: &str) -> Option<&'static str> {
    let rule = match test_id {
        "B608" => "python/sql-injection",
        "B602" | "B604" | "B605" | "B607" => "python/command-injection",
        "B102" | "B307" => "python/code-injection",
        "B301" | "B403" => "python/unsafe-deserialization",
        "B506" => "python/yaml-load",
        "B105" | "B106" | "B107" => "python/hardcoded-secret",
        "B303" | "B324" => "python/weak-password-hash",
        "B311" => "python/insecure-random",
        "B501" | "B323" => "python/tls-verify-disabled",
        "B306" => "python/insecure-tempfile",
        "B201" => "python/flask-debug",
        "B701" => "python/jinja-autoescape",
        "B202" => "python/path-traversal",
        "B313" | "B314" | "B315" | "B316" | "B317" | "B318" | "B319" | "B320" | "B405" | "B406"
        | "B407" | "B408" | "B409" | "B410" => "python/xxe",
        _ => return None,
    };
    Some(rule)
}

/// One finding as another tool reported it, before mapping to a nib [`Finding`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalFinding {
    pub path: String,
    pub rule_id: String,
    pub cwe: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub help: String,
    /// 1-based lines, inclusive.
    pub line: usize,
    pub end_line: usize,
    /// 0-based byte columns on `line` / `end_line`.
    pub col: usize,
    pub end_col: Option<usize>,
}

impl ExternalFinding {
    /// As a nib [`Finding`] in `code` (the text of the file it is about).
    pub fn to_finding(&self, code: &str) -> Finding {
        let starts = line_starts(code);
        let offset = |line: usize, col: usize| {
            let row = line.saturating_sub(1).min(starts.len() - 1);
            let line_end = starts
                .get(row + 1)
                .map_or(code.len(), |&s| s.saturating_sub(1));
            let b = (starts[row] + col).min(line_end);
            (b, (row, b - starts[row]))
        };
        let (start_byte, start) = offset(self.line, self.col);
        let (end_byte, end) = match self.end_col {
            Some(c) => offset(self.end_line.max(self.line), c),
            None => {
                // The whole (last) line.
                let row = self
                    .end_line
                    .max(self.line)
                    .saturating_sub(1)
                    .min(starts.len() - 1);
                let end = starts
                    .get(row + 1)
                    .map_or(code.len(), |&s| s.saturating_sub(1));
                (end, (row, end - starts[row]))
            }
        };
        let (end_byte, end) = if end_byte < start_byte {
            (start_byte, start)
        } else {
            (end_byte, end)
        };
        Finding {
            rule_id: self.rule_id.clone(),
            cwe: self.cwe.clone(),
            severity: self.severity,
            message: self.message.clone(),
            fix_hint: self.help.clone(),
            start_byte,
            end_byte,
            start,
            end,
            category: Category::Security,
        }
    }
}

fn line_starts(code: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(code.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

#[derive(Deserialize)]
struct BanditReport {
    #[serde(default)]
    results: Vec<BanditResult>,
}

#[derive(Deserialize)]
struct BanditResult {
    filename: String,
    test_id: String,
    #[serde(default)]
    test_name: String,
    issue_severity: String,
    #[serde(default)]
    issue_confidence: String,
    issue_text: String,
    line_number: usize,
    #[serde(default)]
    line_range: Vec<usize>,
    #[serde(default)]
    col_offset: usize,
    #[serde(default)]
    end_col_offset: Option<usize>,
    #[serde(default)]
    issue_cwe: Option<BanditCwe>,
    #[serde(default)]
    more_info: String,
}

#[derive(Deserialize)]
struct BanditCwe {
    id: u32,
}

fn bandit_severity(s: &str) -> Severity {
    match s.to_ascii_uppercase().as_str() {
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        _ => Severity::Info,
    }
}

/// Parse `bandit -f json` output.
pub fn parse_bandit(json: &str) -> Result<Vec<ExternalFinding>> {
    let report: BanditReport = serde_json::from_str(json).context("bandit output is not JSON")?;
    Ok(report
        .results
        .into_iter()
        .map(|r| {
            let end_line = r.line_range.iter().copied().max().unwrap_or(r.line_number);
            ExternalFinding {
                path: r.filename,
                rule_id: format!("bandit/{}", r.test_id),
                cwe: r
                    .issue_cwe
                    .filter(|c| c.id != 0)
                    .map(|c| format!("CWE-{}", c.id)),
                severity: bandit_severity(&r.issue_severity),
                message: format!(
                    "{} ({}, confidence {})",
                    r.issue_text.trim_end_matches('.'),
                    r.test_name,
                    r.issue_confidence.to_ascii_lowercase()
                ),
                help: if r.more_info.is_empty() {
                    "See the bandit documentation for this test".to_string()
                } else {
                    format!("See {}", r.more_info)
                },
                line: r.line_number,
                // bandit's end column belongs to the last line of the node.
                end_line: if r.end_col_offset.is_some() {
                    end_line
                } else {
                    r.line_number
                },
                col: r.col_offset,
                end_col: r.end_col_offset,
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct SemgrepReport {
    #[serde(default)]
    results: Vec<SemgrepResult>,
}

#[derive(Deserialize)]
struct SemgrepResult {
    check_id: String,
    path: String,
    start: SemgrepPos,
    end: SemgrepPos,
    extra: SemgrepExtra,
}

#[derive(Deserialize)]
struct SemgrepPos {
    line: usize,
    col: usize,
}

#[derive(Deserialize)]
struct SemgrepExtra {
    #[serde(default)]
    message: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

/// Parse `semgrep --json` output. Columns in semgrep are 1-based.
pub fn parse_semgrep(json: &str) -> Result<Vec<ExternalFinding>> {
    let report: SemgrepReport = serde_json::from_str(json).context("semgrep output is not JSON")?;
    Ok(report
        .results
        .into_iter()
        .map(|r| {
            let cwe = match &r.extra.metadata["cwe"] {
                serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()),
                serde_json::Value::String(s) => Some(s.as_str()),
                _ => None,
            }
            .and_then(|s| s.split(':').next())
            .map(|s| s.trim().to_string());
            let severity = match r.extra.severity.to_ascii_uppercase().as_str() {
                "ERROR" => Severity::High,
                "WARNING" => Severity::Medium,
                _ => Severity::Low,
            };
            let id = r.check_id.rsplit('.').next().unwrap_or(&r.check_id);
            ExternalFinding {
                path: r.path,
                rule_id: format!("semgrep/{id}"),
                cwe,
                severity,
                message: r.extra.message.lines().next().unwrap_or("").to_string(),
                help: format!("See the semgrep rule {}", r.check_id),
                line: r.start.line,
                end_line: r.end.line,
                col: r.start.col.saturating_sub(1),
                end_col: Some(r.end.col.saturating_sub(1)),
            }
        })
        .collect())
}

/// The bandit executable: on PATH, else the one `nib eval-scan` installs under `$NIB_HOME`.
pub fn bandit_executable() -> Option<PathBuf> {
    nib_workspace::env::which("bandit").or_else(|| {
        let p = bandit_venv().join("bin/bandit");
        p.is_file().then_some(p)
    })
}

pub fn bandit_venv() -> PathBuf {
    nib_workspace::nib_home().join("tools/bandit")
}

/// Run `tool` over `files` (Python files only) and return its findings. `Ok(None)` when the
/// tool is not installed.
pub fn run(tool: Tool, files: &[String]) -> Result<Option<Vec<ExternalFinding>>> {
    let exe = match tool {
        Tool::Bandit => bandit_executable(),
        Tool::Semgrep => nib_workspace::env::which("semgrep"),
    };
    let Some(exe) = exe else { return Ok(None) };
    let py: Vec<&String> = files.iter().filter(|f| f.ends_with(".py")).collect();
    let mut out = Vec::new();
    for chunk in py.chunks(CHUNK) {
        let mut cmd = Command::new(&exe);
        match tool {
            Tool::Bandit => cmd.args(["-f", "json", "-q"]),
            Tool::Semgrep => cmd.args(["--json", "--quiet", "--config", "p/python"]),
        };
        cmd.args(chunk.iter().map(|s| s.as_str()))
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped());
        let output = cmd
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // Both exit with 1 when they found something; only unparsable output is an error.
        let parsed = match tool {
            Tool::Bandit => parse_bandit(&stdout),
            Tool::Semgrep => parse_semgrep(&stdout),
        };
        match parsed {
            Ok(found) => out.extend(found),
            Err(e) => bail!(
                "{} failed ({}): {e:#}; {}",
                tool.name(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        }
    }
    Ok(Some(out))
}

/// Drop external findings that repeat a nib finding: same line and the same CWE, or a bandit
/// test that maps to the nib rule reported on that line.
pub fn dedup(nib: &[Finding], external: Vec<Finding>) -> Vec<Finding> {
    external
        .into_iter()
        .filter(|e| {
            let mapped = e.rule_id.strip_prefix("bandit/").and_then(bandit_to_nib);
            !nib.iter().any(|n| {
                let same_line = n.start.0 <= e.start.0 && e.start.0 <= n.end.0;
                let same_cwe = n.cwe.is_some() && n.cwe == e.cwe;
                same_line && (same_cwe || mapped == Some(n.rule_id.as_str()))
            })
        })
        .collect()
}

/// Group external findings by [`path_key`].
pub fn by_path(found: Vec<ExternalFinding>) -> BTreeMap<String, Vec<ExternalFinding>> {
    let mut map: BTreeMap<String, Vec<ExternalFinding>> = BTreeMap::new();
    for f in found {
        map.entry(path_key(&f.path)).or_default().push(f);
    }
    map
}

/// `path` without `.` components: bandit reports `a/b.py` as `./a/b.py`.
pub fn path_key(path: &str) -> String {
    Path::new(path)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect::<PathBuf>()
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANDIT_JSON: &str = r#"{
      "errors": [],
      "results": [
        {"code": "...", "col_offset": 4, "end_col_offset": 34, "filename": "app/run.py",
         "issue_confidence": "HIGH", "issue_cwe": {"id": 78, "link": "x"},
         "issue_severity": "HIGH", "issue_text": "subprocess call with shell=True identified, security issue.",
         "line_number": 3, "line_range": [3], "more_info": "https://bandit.example/b602",
         "test_id": "B602", "test_name": "subprocess_popen_with_shell_equals_true"},
        {"col_offset": 0, "filename": "app/run.py", "issue_confidence": "HIGH",
         "issue_cwe": {"id": 78, "link": "x"}, "issue_severity": "LOW",
         "issue_text": "Consider possible security implications associated with the subprocess module.",
         "line_number": 1, "line_range": [1], "more_info": "", "test_id": "B404",
         "test_name": "blacklist"}
      ]
    }"#;

    #[test]
    fn bandit_ids_map_to_nib_rules() {
        assert_eq!(bandit_to_nib("B608"), Some("python/sql-injection"));
        assert_eq!(bandit_to_nib("B602"), Some("python/command-injection"));
        assert_eq!(bandit_to_nib("B307"), Some("python/code-injection"));
        assert_eq!(bandit_to_nib("B506"), Some("python/yaml-load"));
        assert_eq!(bandit_to_nib("B106"), Some("python/hardcoded-secret"));
        assert_eq!(bandit_to_nib("B318"), Some("python/xxe"));
        assert_eq!(bandit_to_nib("B410"), Some("python/xxe"));
        assert_eq!(bandit_to_nib("B404"), None);
        assert_eq!(bandit_to_nib("B101"), None);
        // Every mapped rule is a real nib rule.
        let checker = nib_checks::Checker::new(nib_checks::CheckConfig::standard());
        let ids: Vec<String> = checker.rules().map(|r| r.id.clone()).collect();
        for n in 100..800 {
            if let Some(rule) = bandit_to_nib(&format!("B{n}")) {
                assert!(ids.iter().any(|i| i == rule), "B{n} -> {rule}");
            }
        }
    }

    #[test]
    fn bandit_json_becomes_findings() {
        let found = parse_bandit(BANDIT_JSON).unwrap();
        assert_eq!(found.len(), 2);
        let f = &found[0];
        assert_eq!(f.rule_id, "bandit/B602");
        assert_eq!(f.cwe.as_deref(), Some("CWE-78"));
        assert_eq!(f.severity, Severity::High);
        assert_eq!(found[1].severity, Severity::Low);
        assert_eq!(f.path, "app/run.py");
        let code2 = "import subprocess\ndef f(x):\n    subprocess.call(x, shell=True)\n";
        let nf = f.to_finding(code2);
        assert_eq!(nf.start, (2, 4));
        assert_eq!(
            &code2[nf.start_byte..nf.end_byte],
            "subprocess.call(x, shell=True)"
        );
        // Out-of-range positions are clamped, never a panic.
        let short = f.to_finding("x");
        assert!(short.start_byte <= short.end_byte && short.end_byte <= 1);
    }

    #[test]
    fn paths_match_with_or_without_dot_prefix() {
        assert_eq!(path_key("./fixtures/a.py"), "fixtures/a.py");
        assert_eq!(path_key("fixtures/./a.py"), "fixtures/a.py");
        assert_eq!(path_key("/abs/a.py"), "/abs/a.py");
        let json = BANDIT_JSON.replace("\"app/run.py\"", "\"./app/run.py\"");
        let grouped = by_path(parse_bandit(&json).unwrap());
        assert_eq!(grouped.keys().collect::<Vec<_>>(), ["app/run.py"]);
        assert_eq!(grouped["app/run.py"].len(), 2);
    }

    #[test]
    fn semgrep_json_becomes_findings() {
        let json = r#"{"results": [{"check_id": "python.lang.security.audit.eval-detected",
            "path": "a.py", "start": {"line": 2, "col": 5, "offset": 14},
            "end": {"line": 2, "col": 12, "offset": 21},
            "extra": {"message": "Detected eval\nmore", "severity": "WARNING",
                      "metadata": {"cwe": ["CWE-95: Improper Neutralization"]}}}], "errors": []}"#;
        let found = parse_semgrep(json).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule_id, "semgrep/eval-detected");
        assert_eq!(found[0].cwe.as_deref(), Some("CWE-95"));
        assert_eq!(found[0].severity, Severity::Medium);
        let nf = found[0].to_finding("x = 1\nr = eval(s)\n");
        assert_eq!(nf.start, (1, 4));
        assert_eq!(nf.end, (1, 11));
        assert!(parse_semgrep("not json").is_err());
    }

    #[test]
    fn external_duplicates_of_nib_findings_are_dropped() {
        let code = "import subprocess\ndef f(x):\n    subprocess.call(x, shell=True)\n";
        let checker = nib_checks::Checker::new(nib_checks::CheckConfig::standard());
        let nib = checker.check(nib_syntax::Language::Python, code);
        assert!(nib.iter().any(|f| f.rule_id == "python/command-injection"));
        let ext: Vec<Finding> = parse_bandit(BANDIT_JSON)
            .unwrap()
            .iter()
            .map(|e| e.to_finding(code))
            .collect();
        let kept = dedup(&nib, ext);
        let ids: Vec<_> = kept.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(ids, ["bandit/B404"]);
    }
}
