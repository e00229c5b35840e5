//! The environment header: language version and library versions, parsed from manifest
//! contents (pure functions; the caller reads the files).
//!
//! Understood files: `pyproject.toml` (PEP 621 and Poetry), `requirements*.txt`, `setup.cfg`,
//! `Pipfile`, `.python-version`, `Cargo.toml`, `Cargo.lock`, `rust-toolchain(.toml)`.

use std::collections::BTreeMap;

use nib_syntax::tags::Import;
use nib_syntax::Language;

/// How sure a version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// A requirement such as `>=2.31,<3` or `^1.0`.
    Requirement,
    /// An exact pin (`==4.2.16`, a lock file entry, a toolchain file).
    Exact,
}

/// A version and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    pub version: String,
    pub precision: Precision,
    /// The manifest's file name.
    pub source: String,
}

/// What one manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The package's own name (`[package] name`, `[project] name`).
    pub name: Option<String>,
    pub language: Option<(Language, Version)>,
    /// Normalized package name -> version.
    pub packages: Vec<(String, Version)>,
}

/// Versions gathered from every manifest; exact pins win over requirements, then the first
/// manifest given wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Environment {
    pub python: Option<Version>,
    pub rust: Option<Version>,
    pub packages: BTreeMap<String, Version>,
}

/// Whether a file name is a manifest [`parse_manifest`] understands.
pub fn is_manifest(file_name: &str) -> bool {
    matches!(
        file_name,
        "pyproject.toml"
            | "setup.cfg"
            | "Pipfile"
            | ".python-version"
            | "Cargo.toml"
            | "Cargo.lock"
            | "rust-toolchain"
            | "rust-toolchain.toml"
    ) || (file_name.starts_with("requirements") && file_name.ends_with(".txt"))
}

/// Normalize a package name: lower case, `-`, `_` and `.` all become `_`.
pub fn normalize(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn version(v: &str, source: &str) -> Version {
    let v = v.trim();
    let exact = v.strip_prefix("==").unwrap_or(v);
    let is_exact = v.starts_with("==")
        || (!v.is_empty() && exact.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    Version {
        version: if v.starts_with("==") {
            exact.to_string()
        } else {
            v.to_string()
        },
        precision: if is_exact {
            Precision::Exact
        } else {
            Precision::Requirement
        },
        source: source.to_string(),
    }
}

/// Parse one manifest by its file name. Unknown or malformed content gives what could be read.
pub fn parse_manifest(file_name: &str, text: &str) -> Manifest {
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match name {
        "pyproject.toml" => pyproject(text, name),
        "setup.cfg" => setup_cfg(text, name),
        "Pipfile" => pipfile(text, name),
        ".python-version" => Manifest {
            name: None,
            language: text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| (Language::Python, version(l, name))),
            packages: Vec::new(),
        },
        "Cargo.toml" => cargo_toml(text, name),
        "Cargo.lock" => cargo_lock(text, name),
        "rust-toolchain" | "rust-toolchain.toml" => rust_toolchain(text, name),
        n if n.starts_with("requirements") && n.ends_with(".txt") => Manifest {
            name: None,
            language: None,
            packages: text.lines().filter_map(|l| requirement(l, name)).collect(),
        },
        _ => Manifest::default(),
    }
}

/// One PEP 508 requirement line: `name[extras] (op version)* ; markers # comment`.
fn requirement(line: &str, source: &str) -> Option<(String, Version)> {
    let line = line.split(" #").next()?.split(';').next()?.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('-') || line.contains("://") {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(line.len());
    let name = &line[..end];
    if name.is_empty() {
        return None;
    }
    let mut rest = line[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest.split_once(']').map_or("", |(_, r)| r).trim_start();
    }
    let rest = rest.trim_start_matches('(').trim_end_matches(')').trim();
    let v = if rest.is_empty() {
        Version {
            version: "*".to_string(),
            precision: Precision::Requirement,
            source: source.to_string(),
        }
    } else {
        version(&rest.replace(' ', ""), source)
    };
    Some((normalize(name), v))
}

fn toml_value(text: &str) -> Option<toml::Table> {
    text.parse::<toml::Table>().ok()
}

fn pyproject(text: &str, source: &str) -> Manifest {
    let mut m = Manifest::default();
    let Some(t) = toml_value(text) else {
        return m;
    };
    if let Some(p) = t.get("project").and_then(|v| v.as_table()) {
        m.name = p.get("name").and_then(|v| v.as_str()).map(str::to_string);
        if let Some(rp) = p.get("requires-python").and_then(|v| v.as_str()) {
            m.language = Some((Language::Python, version(rp, source)));
        }
        for d in p
            .get("dependencies")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            m.packages
                .extend(d.as_str().and_then(|s| requirement(s, source)));
        }
        for (_, group) in p
            .get("optional-dependencies")
            .and_then(|v| v.as_table())
            .into_iter()
            .flatten()
        {
            for d in group.as_array().into_iter().flatten() {
                m.packages
                    .extend(d.as_str().and_then(|s| requirement(s, source)));
            }
        }
    }
    let poetry = t
        .get("tool")
        .and_then(|v| v.get("poetry"))
        .and_then(|v| v.get("dependencies"))
        .and_then(|v| v.as_table());
    for (name, v) in poetry.into_iter().flatten() {
        let ver = match v {
            toml::Value::String(s) => s.as_str(),
            toml::Value::Table(t) => t.get("version").and_then(|v| v.as_str()).unwrap_or("*"),
            _ => "*",
        };
        if name == "python" {
            m.language
                .get_or_insert((Language::Python, version(ver, source)));
        } else {
            m.packages.push((normalize(name), version(ver, source)));
        }
    }
    m
}

fn pipfile(text: &str, source: &str) -> Manifest {
    let mut m = Manifest::default();
    let Some(t) = toml_value(text) else {
        return m;
    };
    if let Some(v) = t
        .get("requires")
        .and_then(|r| {
            r.get("python_full_version")
                .or_else(|| r.get("python_version"))
        })
        .and_then(|v| v.as_str())
    {
        m.language = Some((Language::Python, version(v, source)));
    }
    for section in ["packages", "dev-packages"] {
        for (name, v) in t
            .get(section)
            .and_then(|v| v.as_table())
            .into_iter()
            .flatten()
        {
            let ver = match v {
                toml::Value::String(s) => s.as_str(),
                toml::Value::Table(t) => t.get("version").and_then(|v| v.as_str()).unwrap_or("*"),
                _ => "*",
            };
            m.packages.push((normalize(name), version(ver, source)));
        }
    }
    m
}

/// `setup.cfg`: `[options] python_requires` and the (multi-line) `install_requires`.
fn setup_cfg(text: &str, source: &str) -> Manifest {
    let mut m = Manifest::default();
    let mut section = String::new();
    let mut key = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            section = trimmed[1..trimmed.len() - 1].trim().to_string();
            key.clear();
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let continuation = line.starts_with([' ', '\t']);
        let value = if continuation {
            trimmed
        } else if let Some((k, v)) = trimmed.split_once('=') {
            key = k.trim().to_string();
            v.trim()
        } else {
            continue;
        };
        let in_options = section == "options";
        let in_extras = section == "options.extras_require";
        if in_options && key == "python_requires" && !value.is_empty() {
            m.language = Some((Language::Python, version(value, source)));
        } else if (in_options && key == "install_requires") || in_extras {
            m.packages.extend(requirement(value, source));
        }
    }
    m
}

fn cargo_toml(text: &str, source: &str) -> Manifest {
    let mut m = Manifest::default();
    let Some(t) = toml_value(text) else {
        return m;
    };
    let pkg = t.get("package");
    m.name = pkg
        .and_then(|p| p.get("name"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    if let Some(v) = pkg
        .and_then(|p| p.get("rust-version"))
        .and_then(|v| v.as_str())
    {
        m.language = Some((
            Language::Rust,
            Version {
                version: format!(">={v}"),
                precision: Precision::Requirement,
                source: source.to_string(),
            },
        ));
    }
    let ws = t.get("workspace").and_then(|w| w.get("dependencies"));
    let tables = ["dependencies", "dev-dependencies", "build-dependencies"]
        .into_iter()
        .filter_map(|k| t.get(k))
        .chain(ws);
    for table in tables {
        for (name, v) in table.as_table().into_iter().flatten() {
            let (name, ver) = match v {
                toml::Value::String(s) => (name.as_str(), Some(s.as_str())),
                toml::Value::Table(t) => (
                    t.get("package").and_then(|p| p.as_str()).unwrap_or(name),
                    t.get("version").and_then(|v| v.as_str()),
                ),
                _ => (name.as_str(), None),
            };
            if let Some(ver) = ver {
                m.packages.push((
                    normalize(name),
                    Version {
                        version: ver.to_string(),
                        precision: Precision::Requirement,
                        source: source.to_string(),
                    },
                ));
            }
        }
    }
    m
}

fn cargo_lock(text: &str, source: &str) -> Manifest {
    let mut m = Manifest::default();
    let Some(t) = toml_value(text) else {
        return m;
    };
    for p in t
        .get("package")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        // Packages without a source are the workspace's own crates: not library versions.
        if p.get("source").is_none() {
            continue;
        }
        if let (Some(n), Some(v)) = (
            p.get("name").and_then(|v| v.as_str()),
            p.get("version").and_then(|v| v.as_str()),
        ) {
            m.packages.push((
                normalize(n),
                Version {
                    version: v.to_string(),
                    precision: Precision::Exact,
                    source: source.to_string(),
                },
            ));
        }
    }
    m
}

fn rust_toolchain(text: &str, source: &str) -> Manifest {
    let channel = match toml_value(text) {
        Some(t) => t
            .get("toolchain")
            .and_then(|t| t.get("channel"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        None => text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string),
    };
    Manifest {
        name: None,
        language: channel.map(|c| (Language::Rust, version(&c, source))),
        packages: Vec::new(),
    }
}

/// Import names whose distribution is named differently.
const PY_ALIASES: &[(&str, &str)] = &[
    ("yaml", "pyyaml"),
    ("pil", "pillow"),
    ("sklearn", "scikit_learn"),
    ("cv2", "opencv_python"),
    ("bs4", "beautifulsoup4"),
    ("dateutil", "python_dateutil"),
    ("dotenv", "python_dotenv"),
    ("jwt", "pyjwt"),
    ("attr", "attrs"),
    ("google", "protobuf"),
    ("serial", "pyserial"),
    ("magic", "python_magic"),
];

impl Environment {
    /// Merge manifests given as (file name or path, contents).
    pub fn from_manifests<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Environment {
        let mut env = Environment::default();
        for (name, text) in files {
            env.add(parse_manifest(name, text));
        }
        env
    }

    pub fn add(&mut self, m: Manifest) {
        fn better(old: &Option<Version>, new: &Version) -> bool {
            old.as_ref().is_none_or(|o| new.precision > o.precision)
        }
        if let Some((lang, v)) = m.language {
            let slot = match lang {
                Language::Python => &mut self.python,
                Language::Rust => &mut self.rust,
            };
            if better(slot, &v) {
                *slot = Some(v);
            }
        }
        for (name, v) in m.packages {
            let old = self.packages.get(&name).cloned();
            if better(&old, &v) {
                self.packages.insert(name, v);
            }
        }
    }

    /// The version of the package a top-level import name refers to.
    pub fn package_for_import(&self, lang: Language, top: &str) -> Option<(&str, &Version)> {
        let n = normalize(top);
        let mut candidates = vec![n.clone()];
        if lang == Language::Python {
            if let Some((_, d)) = PY_ALIASES.iter().find(|(i, _)| *i == n) {
                candidates.push(d.to_string());
            }
            candidates.push(format!("python_{n}"));
            candidates.push(format!("py{n}"));
        }
        candidates
            .iter()
            .find_map(|c| self.packages.get_key_value(c.as_str()))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The header lines for a file in `lang` with these imports: the language version, then
    /// the versions of imported packages in import order. Empty when nothing is known.
    pub fn header(&self, lang: Language, imports: &[Import]) -> String {
        let c = lang.line_comment();
        let mut out = String::new();
        let (lang_name, lang_version) = match lang {
            Language::Python => ("Python", &self.python),
            Language::Rust => ("Rust", &self.rust),
        };
        if let Some(v) = lang_version {
            out.push_str(&format!("{c} {lang_name} {}\n", v.version));
        }
        let mut seen: Vec<&str> = Vec::new();
        for imp in imports {
            if imp.level > 0 {
                continue;
            }
            let Some(top) = imp.module.first().or(imp.name.as_ref()) else {
                continue;
            };
            if matches!(
                top.as_str(),
                "crate" | "self" | "super" | "std" | "core" | "alloc"
            ) {
                continue;
            }
            if let Some((name, v)) = self.package_for_import(lang, top) {
                if !seen.contains(&name) {
                    seen.push(name);
                    out.push_str(&format!("{c} {top} {}\n", v.version));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
