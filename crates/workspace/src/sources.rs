//! Source files and the checker built from them: the files `nib scan` checks, the corpus of the
//! licence-similarity check, and the safety gate's checker for a project.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nib_checks::{CheckConfig, Checker, Corpus};
use nib_syntax::Language;

/// Larger files are skipped (generated code, vendored bundles).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// One file to check.
#[derive(Debug, Clone)]
pub struct Source {
    /// As shown in reports (as walked from the given path).
    pub display: String,
    pub path: PathBuf,
    pub lang: Language,
    pub code: String,
}

/// Python and Rust files under `paths`, in a stable order. A path that does not exist is an
/// error; skipped files get a note.
pub fn collect_sources(paths: &[PathBuf], notes: &mut Vec<String>) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        let mut files = Vec::new();
        if meta.is_file() {
            files.push(p.clone());
        } else {
            let walk = ignore::WalkBuilder::new(p)
                .require_git(false)
                .follow_links(false)
                .build();
            for entry in walk {
                match entry {
                    Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => {
                        let path = e.into_path();
                        if Language::from_path(&path).is_some() {
                            files.push(path);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => notes.push(format!("skipped: {e}")),
                }
            }
            files.sort();
        }
        for path in files {
            let display = path.display().to_string();
            let Some(lang) = Language::from_path(&path) else {
                notes.push(format!("{display}: skipped, not a Python or Rust file"));
                continue;
            };
            let size = std::fs::metadata(&path)
                .with_context(|| format!("cannot read {display}"))?
                .len();
            if size > MAX_SOURCE_BYTES {
                notes.push(format!("{display}: skipped, larger than 1 MB"));
                continue;
            }
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {display}"))?;
            let Ok(code) = String::from_utf8(bytes) else {
                notes.push(format!("{display}: skipped, not UTF-8"));
                continue;
            };
            out.push(Source {
                display,
                path,
                lang,
                code,
            });
        }
    }
    Ok(out)
}

/// A licence-similarity corpus made of every Python and Rust file under `dir`.
pub fn load_corpus(dir: &Path, licence: &str) -> Result<Corpus> {
    let mut notes = Vec::new();
    let files = collect_sources(&[dir.to_path_buf()], &mut notes)
        .with_context(|| format!("cannot read the corpus {}", dir.display()))?;
    if files.is_empty() {
        bail!("no Python or Rust files in the corpus {}", dir.display());
    }
    let mut corpus = Corpus::new(nib_checks::WinnowConfig::default());
    for f in &files {
        corpus.add(&f.display, licence, &f.code);
    }
    Ok(corpus)
}

/// The checker the server gates suggestions with: the standard checks, the project's discovered
/// environment (installed packages, project modules, Cargo dependencies) when a root is known,
/// and a copyleft corpus when one is configured. Blocking (runs the interpreter once, cached).
pub fn gate_checker(root: Option<&Path>, corpus_dir: Option<&Path>) -> Result<Checker> {
    let mut config = CheckConfig::standard();
    if let Some(root) = root {
        config.environment = Some(crate::env::discover(root));
    }
    if let Some(dir) = corpus_dir {
        config.corpus = Some(load_corpus(dir, "copyleft")?);
    }
    Ok(Checker::new(config))
}
