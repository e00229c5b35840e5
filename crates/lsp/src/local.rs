//! The server's completion path in process, for the command line, benchmarks and evaluation:
//! the same settings, the same `Ide`, the same model loading and repository context.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nib_engine::CancelToken;
use nib_ide::{Completion, CompletionRequest, Ide, Trigger};
use nib_text::{OffsetEncoding, Position};

use crate::settings::Settings;

/// Parse `FILE:LINE:COL` (the file name may itself contain ':'), 1-based.
pub fn parse_location(loc: &str) -> Result<(PathBuf, u32, u32)> {
    let mut parts = loc.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    let (Some(col), Some(line), Some(file)) = (col, line, file) else {
        bail!("expected FILE:LINE:COL, got {loc:?}");
    };
    let line: u32 = line
        .parse()
        .with_context(|| format!("bad line number {line:?} in {loc:?}"))?;
    let col: u32 = col
        .parse()
        .with_context(|| format!("bad column {col:?} in {loc:?}"))?;
    if line == 0 || col == 0 {
        bail!("line and column are 1-based, got {line}:{col}");
    }
    Ok((PathBuf::from(file), line, col))
}

pub fn read_source(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid UTF-8 (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Settings of a one-off or evaluation run: the server's, without a deadline (they wait for the
/// model), with the given overrides.
pub fn settings_for(
    model: Option<&str>,
    context_tokens: Option<usize>,
    max_tokens: Option<usize>,
    threads: Option<usize>,
) -> Settings {
    let mut s = Settings {
        deadline_ms: 0,
        ..Settings::default()
    };
    if let Some(m) = model {
        s.model = m.to_string();
    }
    if let Some(c) = context_tokens {
        s.context_tokens = c;
    }
    if let Some(m) = max_tokens {
        s.max_tokens = m;
    }
    if let Some(t) = threads {
        s.threads = t;
    }
    s
}

/// What the engine is loaded from: a change of it means a reload. (Kept out of `settings`, which
/// the fuzz targets compile without the model crates.)
pub(crate) fn engine_key(settings: &Settings) -> nib_models::EngineKey {
    nib_models::EngineKey::new(&settings.model, settings.threads, settings.context_length())
}

/// An `Ide` with the model loaded, as the server builds it.
pub fn load_ide(settings: &Settings) -> Result<Arc<Ide>> {
    let ide = Arc::new(Ide::new(settings.ide_config()));
    let engine = nib_models::load(&engine_key(settings)).map_err(|e| anyhow::anyhow!(e))?;
    ide.set_engine(engine);
    Ok(ide)
}

/// Index the project around `file` for repository context, as the server does for its
/// workspace (skipped when the setting is 0).
pub fn attach_repo(ide: &Ide, settings: &Settings, file: &Path) {
    if settings.repo_context_tokens == 0 {
        return;
    }
    let root = nib_workspace::project_root(file);
    let (source, stats) = nib_workspace::WorkspaceSource::index(&root, &mut |_, _| {});
    tracing::info!(root = %root.display(), ?stats, "workspace indexed");
    ide.set_repo_source(Arc::new(source));
}

pub fn file_uri(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}

/// The completion at `FILE:LINE:COL` (column in characters), through the server's path.
pub fn complete_at(location: &str, settings: &Settings, trigger: Trigger) -> Result<Completion> {
    let (path, line, col) = parse_location(location)?;
    let text = read_source(&path)?;
    let ide = load_ide(settings)?;
    attach_repo(&ide, settings, &path);
    let uri = file_uri(&path);
    ide.open(&uri, None, 0, &text);
    let snap = ide.snapshot(&uri)?;
    let req = CompletionRequest::new(
        Position::new(line - 1, col - 1),
        OffsetEncoding::Utf32,
        trigger,
    );
    ide.complete(&snap, req, &CancelToken::new())
        .with_context(|| format!("at {location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("a/b.py:3:7").unwrap(),
            (PathBuf::from("a/b.py"), 3, 7)
        );
        assert_eq!(
            parse_location("C:x.py:1:1").unwrap().0,
            PathBuf::from("C:x.py")
        );
        assert!(parse_location("a.py:3").is_err());
        assert!(parse_location("a.py:0:1").is_err());
        assert!(parse_location("a.py:x:1").is_err());
    }
}
