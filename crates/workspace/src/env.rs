//! Environment discovery: what names exist in a project's world, for the unknown-API check.
//!
//! IO lives here (the checks crate is pure): the project's Python interpreter is asked once
//! for its installed top-level import names and standard library, the project's own modules
//! are listed, and Cargo dependencies are read from every Cargo.toml of the project
//! (workspace members included). The interpreter's answer is cached in
//! `$NIB_HOME/env-cache/<hash>.json`, keyed by project root and interpreter, and invalidated
//! when the interpreter or one of its site-packages directories changes. Never on the
//! completion hot path: the server calls [`discover`] from a background task.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use nib_checks::Environment;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long the interpreter may take to list its packages.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(20);

/// Printed as one JSON object by the project's interpreter.
const PYTHON_PROBE: &str = r#"
import json, sys, os, pkgutil, site
names = set()
try:
    import importlib.metadata as md
    names.update(md.packages_distributions().keys())
except Exception:
    pass
dirs = []
try:
    dirs += site.getsitepackages()
except Exception:
    pass
try:
    dirs.append(site.getusersitepackages())
except Exception:
    pass
dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
dirs = sorted({d for d in dirs if os.path.isdir(d)})
for m in pkgutil.iter_modules(dirs):
    names.add(m.name)
stdlib = sorted(getattr(sys, "stdlib_module_names", sys.builtin_module_names))
print(json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "installed": sorted(n for n in names if n.isidentifier()),
    "stdlib": stdlib,
    "site_dirs": dirs,
}))
"#;

/// What the interpreter said, plus what invalidates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonInfo {
    pub interpreter: PathBuf,
    pub version: String,
    pub installed: BTreeSet<String>,
    pub stdlib: BTreeSet<String>,
    /// site-packages directories and their modification times (seconds since the epoch).
    pub site_dirs: Vec<(PathBuf, u64)>,
}

#[derive(Deserialize)]
struct ProbeOutput {
    version: String,
    installed: BTreeSet<String>,
    stdlib: BTreeSet<String>,
    site_dirs: Vec<PathBuf>,
}

/// The environment of the project at `root`: installed Python packages of its interpreter,
/// its own modules, its Cargo dependencies. Falls back to [`Environment::builtin`] (plus
/// whatever could be found) when discovery fails, and says so at debug level.
pub fn discover(root: &Path) -> Environment {
    discover_with(root, &crate::nib_home().join("env-cache"))
}

/// [`discover`] with an explicit cache directory.
pub fn discover_with(root: &Path, cache_dir: &Path) -> Environment {
    let mut env = Environment::builtin();
    match python_info(root, cache_dir) {
        Ok(info) => {
            tracing::debug!(
                interpreter = %info.interpreter.display(),
                version = %info.version,
                installed = info.installed.len(),
                "python environment"
            );
            env.python_stdlib.extend(info.stdlib);
            env = env.with_installed_python(info.installed);
        }
        Err(e) => tracing::debug!(
            "python environment of {} not discovered, installed packages unknown: {e:#}",
            root.display()
        ),
    }
    let mut modules = python_project_modules(root);
    match cargo_info(root) {
        Ok(Some(cargo)) => {
            modules.extend(cargo.modules);
            env = env.with_cargo_deps(cargo.deps);
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(
            "Cargo dependencies of {} not read, crates unknown: {e:#}",
            root.display()
        ),
    }
    env.with_project_modules(modules)
}

pub use crate::root::project_root;

/// `.venv/bin/python`, `venv/bin/python`, `$VIRTUAL_ENV/bin/python`, else `python3` on PATH.
pub fn find_interpreter(root: &Path) -> Option<PathBuf> {
    let bin = |dir: &Path| {
        [
            dir.join("bin/python"),
            dir.join("bin/python3"),
            dir.join("Scripts/python.exe"),
        ]
        .into_iter()
        .find(|p| p.is_file())
    };
    for venv in [".venv", "venv"] {
        if let Some(p) = bin(&root.join(venv)) {
            return Some(p);
        }
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        if let Some(p) = bin(Path::new(&v)) {
            return Some(p);
        }
    }
    which("python3").or_else(|| which("python"))
}

/// `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn mtime_secs(p: &Path) -> u64 {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn cache_key(root: &Path, interpreter: &Path) -> String {
    let mut h = Sha256::new();
    h.update(root.to_string_lossy().as_bytes());
    h.update([0]);
    h.update(interpreter.to_string_lossy().as_bytes());
    h.update([0]);
    h.update(mtime_secs(interpreter).to_le_bytes());
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn python_info(root: &Path, cache_dir: &Path) -> Result<PythonInfo> {
    let interpreter = find_interpreter(root).context("no Python interpreter found")?;
    let cache = cache_dir.join(format!("{}.json", cache_key(root, &interpreter)));
    if let Some(info) = std::fs::read(&cache)
        .ok()
        .and_then(|b| serde_json::from_slice::<PythonInfo>(&b).ok())
        .filter(|i| i.site_dirs.iter().all(|(d, t)| mtime_secs(d) == *t))
    {
        return Ok(info);
    }
    let info = probe_python(&interpreter, root)?;
    if std::fs::create_dir_all(cache_dir).is_ok() {
        if let Ok(json) = serde_json::to_vec(&info) {
            let tmp = cache.with_extension("json.tmp");
            if std::fs::write(&tmp, json).is_ok() {
                let _ = std::fs::rename(&tmp, &cache);
            }
        }
    }
    Ok(info)
}

fn probe_python(interpreter: &Path, root: &Path) -> Result<PythonInfo> {
    let mut child = Command::new(interpreter)
        .args(["-c", PYTHON_PROBE])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", interpreter.display()))?;
    let started = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if started.elapsed() > PYTHON_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not answer in time", interpreter.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            interpreter.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let probe: ProbeOutput =
        serde_json::from_slice(&out.stdout).context("unexpected interpreter output")?;
    Ok(PythonInfo {
        interpreter: interpreter.to_path_buf(),
        version: probe.version,
        installed: probe.installed,
        stdlib: probe.stdlib,
        site_dirs: probe
            .site_dirs
            .into_iter()
            .map(|d| {
                let t = mtime_secs(&d);
                (d, t)
            })
            .collect(),
    })
}

/// Top-level Python modules and packages under `root` and `root/src`: `name.py` files and
/// directories holding Python files.
pub fn python_project_modules(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in [root.to_path_buf(), root.join("src")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_file() {
                if let Some(stem) = name.strip_suffix(".py").or(name.strip_suffix(".pyi")) {
                    if is_identifier(stem) {
                        out.insert(stem.to_string());
                    }
                }
            } else if path.is_dir()
                && is_identifier(&name)
                && !(dir == root && name == "src")
                && has_python_files(&path)
            {
                out.insert(name);
            }
        }
    }
    out
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn has_python_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with(".py") || n.ends_with(".pyi")
        })
    })
}

/// Dependencies and crate/module names of the Cargo project at a root.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CargoInfo {
    /// Every dependency name (renamed keys as written, `-` replaced by `_`), and the names of
    /// the project's own crates.
    pub deps: BTreeSet<String>,
    /// Top-level module file stems under each crate's `src/`.
    pub modules: BTreeSet<String>,
}

/// `None` when `root` has no Cargo.toml.
pub fn cargo_info(root: &Path) -> Result<Option<CargoInfo>> {
    let manifest = root.join("Cargo.toml");
    if !manifest.is_file() {
        return Ok(None);
    }
    let mut info = CargoInfo::default();
    let mut todo = vec![manifest];
    let mut seen = BTreeSet::new();
    while let Some(m) = todo.pop() {
        let m = std::path::absolute(&m).unwrap_or(m);
        if !seen.insert(m.clone()) {
            continue;
        }
        let text =
            std::fs::read_to_string(&m).with_context(|| format!("cannot read {}", m.display()))?;
        let doc: toml::Table =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", m.display()))?;
        let dir = m.parent().unwrap_or(Path::new("."));
        collect_manifest(&doc, dir, &mut info);
        if let Some(members) = doc
            .get("workspace")
            .and_then(|w| w.get("members"))
            .and_then(|m| m.as_array())
        {
            for pattern in members.iter().filter_map(|m| m.as_str()) {
                for member in expand_member(dir, pattern) {
                    let manifest = member.join("Cargo.toml");
                    if manifest.is_file() {
                        todo.push(manifest);
                    }
                }
            }
        }
    }
    Ok(Some(info))
}

fn collect_manifest(doc: &toml::Table, dir: &Path, info: &mut CargoInfo) {
    let norm = |s: &str| s.replace('-', "_");
    let tables = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut add_tables = |t: &toml::Table| {
        for name in tables {
            if let Some(deps) = t.get(name).and_then(|d| d.as_table()) {
                info.deps.extend(deps.keys().map(|k| norm(k)));
            }
        }
    };
    add_tables(doc);
    if let Some(ws) = doc.get("workspace").and_then(|w| w.as_table()) {
        add_tables(ws);
    }
    if let Some(targets) = doc.get("target").and_then(|t| t.as_table()) {
        for t in targets.values().filter_map(|t| t.as_table()) {
            add_tables(t);
        }
    }
    for section in ["package", "lib"] {
        if let Some(name) = doc
            .get(section)
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        {
            info.deps.insert(norm(name));
        }
    }
    if doc.contains_key("package") {
        if let Ok(entries) = std::fs::read_dir(dir.join("src")) {
            for e in entries.flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let module = if path.is_dir() {
                    Some(name)
                } else {
                    name.strip_suffix(".rs").map(str::to_string)
                };
                if let Some(m) = module.filter(|m| is_identifier(m)) {
                    if m != "main" && m != "lib" {
                        info.modules.insert(m);
                    }
                }
            }
        }
    }
}

/// A workspace member pattern: a path, or a path whose last component is `*` or `prefix*`.
fn expand_member(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let pattern = pattern.trim_end_matches('/');
    let (parent, last) = match pattern.rsplit_once('/') {
        Some((p, l)) => (dir.join(p), l),
        None => (dir.to_path_buf(), pattern),
    };
    match last.strip_suffix('*') {
        Some(prefix) if !prefix.contains('*') => {
            let mut out: Vec<_> = std::fs::read_dir(&parent)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default();
            out.sort();
            out
        }
        Some(_) => Vec::new(),
        None => vec![parent.join(last)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn cargo_workspace_dependencies_and_modules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*\", \"tools/gen\"]\n\
             [workspace.dependencies]\nserde-json = \"1\"\n",
        );
        write(
            root,
            "crates/app-core/Cargo.toml",
            "[package]\nname = \"app-core\"\n[dependencies]\nregex = \"1\"\n\
             tokio-util = { version = \"0.7\" }\nanyhow.workspace = true\n\
             [dev-dependencies]\nproptest = \"1\"\n\
             [target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n",
        );
        write(root, "crates/app-core/src/lib.rs", "pub mod parser;\n");
        write(root, "crates/app-core/src/parser.rs", "");
        write(root, "crates/app-core/src/lexer/mod.rs", "");
        write(
            root,
            "tools/gen/Cargo.toml",
            "[package]\nname = \"gen\"\n[build-dependencies]\ncc = \"1\"\n",
        );
        // Not a member: never read.
        write(
            root,
            "other/Cargo.toml",
            "[package]\nname = \"x\"\n[dependencies]\nrand = \"1\"\n",
        );
        let info = cargo_info(root).unwrap().unwrap();
        let deps: Vec<_> = info.deps.iter().map(String::as_str).collect();
        assert_eq!(
            deps,
            [
                "anyhow",
                "app_core",
                "cc",
                "gen",
                "libc",
                "proptest",
                "regex",
                "serde_json",
                "tokio_util"
            ]
        );
        let modules: Vec<_> = info.modules.iter().map(String::as_str).collect();
        assert_eq!(modules, ["lexer", "parser"]);
        assert_eq!(cargo_info(&root.join("other/none")).unwrap(), None);
    }

    #[test]
    fn broken_cargo_toml_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Cargo.toml", "[package\nname = ");
        assert!(cargo_info(dir.path()).is_err());
        // discover still answers, with crates unknown.
        let env = discover_with(dir.path(), &dir.path().join("cache"));
        assert_eq!(env.cargo_deps, None);
    }

    #[test]
    fn python_modules_of_root_and_src() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app.py", "");
        write(root, "helpers.pyi", "");
        write(root, "pkg/__init__.py", "");
        write(root, "src/lib_mod/core.py", "");
        write(root, "src/tool.py", "");
        write(root, "docs/index.md", "");
        write(root, "my-script.py", "");
        write(root, ".hidden/x.py", "");
        let got: Vec<_> = python_project_modules(root).into_iter().collect();
        assert_eq!(got, ["app", "helpers", "lib_mod", "pkg", "tool"]);
    }

    #[test]
    fn discover_uses_project_venv_and_caches_its_answer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "service.py", "import yaml\n");
        write(
            root,
            "Cargo.toml",
            "[package]\nname = \"svc\"\n[dependencies]\nserde = \"1\"\n",
        );
        let cache = root.join("cache");
        // A fake interpreter in `.venv` that prints a fixed answer and counts its calls.
        let calls = root.join("calls");
        let script = format!(
            "#!/bin/sh\necho x >> '{}'\n\
             echo '{{\"version\":\"3.99.0\",\"installed\":[\"yaml\",\"requests\"],\
             \"stdlib\":[\"os\",\"newstdlibmod\"],\"site_dirs\":[]}}'\n",
            calls.display()
        );
        write(root, ".venv/bin/python", &script);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = root.join(".venv/bin/python");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert_eq!(
            find_interpreter(root).unwrap(),
            root.join(".venv/bin/python")
        );
        let env = discover_with(root, &cache);
        let installed = env.installed_python.clone().unwrap();
        assert!(installed.contains("yaml") && installed.contains("requests"));
        assert!(env.python_stdlib.contains("newstdlibmod"));
        assert!(env.python_stdlib.contains("json"), "builtin data kept");
        assert!(env.project_modules.contains("service"));
        assert_eq!(
            env.cargo_deps
                .clone()
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["serde", "svc"]
        );
        // Second call: answered from the cache, the interpreter is not run again.
        let again = discover_with(root, &cache);
        assert_eq!(again, env);
        let n = std::fs::read_to_string(&calls).unwrap().lines().count();
        assert_eq!(n, 1);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
    }
}
