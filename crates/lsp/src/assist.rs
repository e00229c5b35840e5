//! What the assistant's actions need from the disk, for the server and the command line:
//! where the project keeps its tests (a bounded look at its files and configuration), and a
//! markdown file for an explanation too long for a message.

use std::path::{Path, PathBuf};

use nib_ide::{plan_tests, Language, TestTarget};

/// Files listed when looking for the project's tests.
const MAX_LISTED: usize = 3000;
/// Directory depth of that listing.
const MAX_DEPTH: usize = 5;
/// Existing test files read to tell the framework.
const MAX_SAMPLES: usize = 5;
/// Bytes read of each.
const SAMPLE_BYTES: usize = 8 * 1024;
/// Explanations up to this many characters and lines are shown as a message.
pub const SHORT_EXPLANATION_CHARS: usize = 400;
pub const SHORT_EXPLANATION_LINES: usize = 6;

fn skipped_dir(name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "node_modules" | "target" | "venv" | "env" | "__pycache__" | "build" | "dist"
        )
}

/// Project files relative to `root`, bounded.
fn list(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if out.len() >= MAX_LISTED {
                return out;
            }
            let name = e.file_name().to_string_lossy().to_string();
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                if depth < MAX_DEPTH && !skipped_dir(&name) {
                    stack.push((path, depth + 1));
                }
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

fn read_head(path: &Path, bytes: usize) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    let n = data.len().min(bytes);
    Some(String::from_utf8_lossy(&data[..n]).into_owned())
}

/// Where tests for the file at `path` go, from the project at `root` (its files, pytest /
/// tox / setup configuration and existing tests).
pub fn tests_target(path: &Path, root: &Path, lang: Language) -> TestTarget {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (root, rel) = match path.strip_prefix(&root) {
        Ok(rel) => (root.clone(), rel.to_string_lossy().replace('\\', "/")),
        // Outside the root: the file's own directory is the project.
        Err(_) => {
            let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (dir, name)
        }
    };
    let (paths, configs, samples) = match lang {
        Language::Rust => (Vec::new(), Vec::new(), Vec::new()),
        Language::Python => {
            let paths = list(&root);
            let configs: Vec<(String, String)> =
                ["pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini"]
                    .into_iter()
                    .filter_map(|c| read_head(&root.join(c), 64 * 1024).map(|t| (c.into(), t)))
                    .collect();
            let samples: Vec<String> = paths
                .iter()
                .filter(|p| {
                    let name = p.rsplit('/').next().unwrap_or(p);
                    name.ends_with(".py")
                        && (name.starts_with("test_") || name.ends_with("_test.py"))
                })
                .take(MAX_SAMPLES)
                .filter_map(|p| read_head(&root.join(p), SAMPLE_BYTES))
                .collect();
            (paths, configs, samples)
        }
    };
    let plan = plan_tests(lang, &rel, &paths, &configs, &samples);
    let file = root.join(&plan.path);
    TestTarget {
        uri: format!("file://{}", file.display()),
        existing: std::fs::read_to_string(&file).ok(),
        plan,
    }
}

/// Whether an explanation fits a `window/showMessage`.
pub fn is_short(explanation: &str) -> bool {
    explanation.chars().count() <= SHORT_EXPLANATION_CHARS
        && explanation.lines().count() <= SHORT_EXPLANATION_LINES
}

/// Write `markdown` for the document `uri` at `line` (0-based) to a file under nib's data
/// directory, to be shown read-only; returns its path.
pub fn write_explanation(uri: &str, line: u32, markdown: &str) -> std::io::Result<PathBuf> {
    let dir = nib_workspace::nib_home().join("explanations");
    std::fs::create_dir_all(&dir)?;
    let name = uri.rsplit('/').next().unwrap_or("code");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{safe}-L{}.md", line + 1));
    std::fs::write(
        &path,
        format!("# nib: {name}, line {}\n\n{markdown}\n", line + 1),
    )?;
    Ok(path)
}
