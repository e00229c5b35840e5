//! The evaluated repositories: pinned releases of real projects that are not part of nib,
//! downloaded once into `$NIB_HOME/eval-holes/` with the ordinary clients (pip, cargo).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Where a repository comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A PyPI source distribution (`name==version`).
    Sdist,
    /// A crates.io crate (`cargo vendor` of a scratch manifest).
    Crate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoSpec {
    pub name: &'static str,
    pub version: &'static str,
    pub origin: Origin,
}

pub const REPOS: &[RepoSpec] = &[
    RepoSpec {
        name: "requests",
        version: "2.32.3",
        origin: Origin::Sdist,
    },
    RepoSpec {
        name: "click",
        version: "8.1.7",
        origin: Origin::Sdist,
    },
    RepoSpec {
        name: "semver",
        version: "1.0.23",
        origin: Origin::Crate,
    },
    RepoSpec {
        name: "anyhow",
        version: "1.0.86",
        origin: Origin::Crate,
    },
];

impl RepoSpec {
    pub fn label(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
}

pub fn cache_dir() -> PathBuf {
    crate::data::nib_home().join("eval-holes")
}

/// The repository's root directory, downloading it first if needed.
pub fn fetch(spec: &RepoSpec) -> Result<PathBuf> {
    let cache = cache_dir();
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    match spec.origin {
        Origin::Sdist => fetch_sdist(spec, &cache),
        Origin::Crate => fetch_crate(spec, &cache),
    }
}

fn fetch_sdist(spec: &RepoSpec, cache: &Path) -> Result<PathBuf> {
    let src = cache.join("src");
    let root = src.join(spec.label());
    if root.is_dir() {
        return Ok(root);
    }
    let dl = cache.join("pip");
    std::fs::create_dir_all(&dl)?;
    let tarball = dl.join(format!("{}.tar.gz", spec.label()));
    if !tarball.exists() {
        let pin = format!("{}=={}", spec.name, spec.version);
        eprintln!("downloading {pin} (sdist) from PyPI into {}", dl.display());
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-q",
                "-d",
            ])
            .arg(&dl)
            .arg(&pin)
            .output()
            .context("cannot run python3 -m pip")?;
        if !out.status.success() || !tarball.exists() {
            bail!(
                "pip download {pin} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    std::fs::create_dir_all(&src)?;
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .status()
        .context("cannot run tar")?;
    if !status.success() || !root.is_dir() {
        bail!("cannot unpack {} into {}", tarball.display(), src.display());
    }
    Ok(root)
}

fn fetch_crate(spec: &RepoSpec, cache: &Path) -> Result<PathBuf> {
    let vendor = cache.join("vendor");
    let root = vendor.join(spec.label());
    if root.is_dir() {
        return Ok(root);
    }
    // One scratch manifest depending on every pinned crate: one `cargo vendor` fetches all.
    let scratch = cache.join("cargo-scratch");
    std::fs::create_dir_all(scratch.join("src"))?;
    let mut manifest = String::from(
        "[package]\nname = \"nib-eval-holes-scratch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n",
    );
    for r in REPOS.iter().filter(|r| r.origin == Origin::Crate) {
        manifest.push_str(&format!("{} = \"={}\"\n", r.name, r.version));
    }
    std::fs::write(scratch.join("Cargo.toml"), manifest)?;
    std::fs::write(scratch.join("src/lib.rs"), "")?;
    eprintln!("vendoring the pinned crates into {}", vendor.display());
    let out = Command::new("cargo")
        .arg("vendor")
        .arg("--versioned-dirs")
        .arg("--manifest-path")
        .arg(scratch.join("Cargo.toml"))
        .arg(&vendor)
        .output()
        .context("cannot run cargo vendor")?;
    if !out.status.success() || !root.is_dir() {
        bail!(
            "cargo vendor failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(root)
}
