//! `nib complete` and `nib model`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nib_engine::CancelToken;
use nib_ide::{Completion, CompletionRequest, Ide, Trigger};
use nib_text::{OffsetEncoding, Position};

use crate::engine_loader::{self, EngineKey};
use crate::models::{self, Source};
use crate::settings::Settings;

#[derive(clap::Args)]
pub struct CompleteArgs {
    /// FILE:LINE:COL, 1-based.
    pub location: String,
    /// Model name (see `nib model list`) or path to a .gguf file.
    #[arg(long)]
    pub model: Option<String>,
    /// Print JSON: text, range, latency_ms, prompt_tokens, generated_tokens and more.
    #[arg(long)]
    pub json: bool,
    /// Tokens of context on each side of the cursor.
    #[arg(long)]
    pub context_tokens: Option<usize>,
    /// Most tokens generated for a multi-line suggestion.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// llama.cpp threads (default: one per physical core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// An explicit request (as when the user asks): also generates alternatives.
    #[arg(long)]
    pub invoked: bool,
}

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Download a model into the cache (verifying its SHA-256).
    Pull {
        /// Model name (see `nib model list`).
        #[arg(default_value = models::DEFAULT_MODEL)]
        name: String,
        #[arg(long, value_enum, default_value = "auto")]
        source: Source,
        /// Download again even if a verified copy exists.
        #[arg(long)]
        force: bool,
    },
    /// List known models and whether they are downloaded.
    List,
    /// Print the path a model name resolves to.
    Path {
        #[arg(default_value = models::DEFAULT_MODEL)]
        name: String,
    },
}

/// Parse `FILE:LINE:COL` (the file name may itself contain ':').
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

pub fn settings_for(
    model: Option<&str>,
    context_tokens: Option<usize>,
    max_tokens: Option<usize>,
    threads: Option<usize>,
) -> Settings {
    // One-off and evaluation runs wait for the model: no deadline.
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

/// An `Ide` with the model loaded, as the server builds it.
pub fn load_ide(settings: &Settings) -> Result<Arc<Ide>> {
    let ide = Arc::new(Ide::new(settings.ide_config()));
    let engine =
        engine_loader::load(&EngineKey::from_settings(settings)).map_err(|e| anyhow::anyhow!(e))?;
    ide.set_engine(engine);
    Ok(ide)
}

/// Index the project around `file` for repository context, as the server does for its
/// workspace (skipped when the setting is 0).
pub fn attach_repo(ide: &Ide, settings: &Settings, file: &Path) {
    if settings.repo_context_tokens == 0 {
        return;
    }
    if let Some(root) = crate::repo::project_root(file) {
        let (source, stats) = crate::repo::WorkspaceSource::index(&root, &mut |_, _| {});
        tracing::info!(root = %root.display(), ?stats, "workspace indexed");
        ide.set_repo_source(Arc::new(source));
    }
}

pub fn file_uri(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}

pub fn complete(a: CompleteArgs) -> Result<()> {
    let (path, line, col) = parse_location(&a.location)?;
    let text = read_source(&path)?;
    let settings = settings_for(
        a.model.as_deref(),
        a.context_tokens,
        a.max_tokens,
        a.threads,
    );
    let ide = load_ide(&settings)?;
    attach_repo(&ide, &settings, &path);
    let uri = file_uri(&path);
    ide.open(&uri, None, 0, &text);
    let snap = ide.snapshot(&uri)?;
    let req = CompletionRequest::new(
        Position::new(line - 1, col - 1),
        OffsetEncoding::Utf32,
        if a.invoked {
            Trigger::Invoked
        } else {
            Trigger::Automatic
        },
    );
    let c = ide
        .complete(&snap, req, &CancelToken::new())
        .with_context(|| format!("at {}", a.location))?;
    print_completion(&c, a.json)
}

pub fn print_completion(c: &Completion, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(c)?);
    } else {
        println!("{}", c.text);
        eprintln!(
            "-- {:.0} ms, {} prompt tokens ({} reused), {} generated, stop: {:?}, {} ({})",
            c.latency_ms,
            c.prompt_tokens,
            c.reused_tokens,
            c.generated_tokens,
            c.stop_reason,
            c.model,
            c.mode
        );
    }
    Ok(())
}

pub fn model(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Pull {
            name,
            source,
            force,
        } => {
            let spec = models::find(&name).with_context(|| {
                format!(
                    "unknown model {name:?}; known: {}",
                    models::manifest()
                        .iter()
                        .map(|m| m.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            let path = models::pull(&spec, source, force)?;
            println!("{}", path.display());
        }
        ModelCommand::List => {
            for m in models::manifest() {
                let path = models::models_dir().join(&m.file);
                let state = if path.is_file() {
                    "downloaded"
                } else {
                    "not downloaded"
                };
                println!(
                    "{:<22} {:>6} MB  {:<10}  {state:<15} {}",
                    m.name,
                    m.size >> 20,
                    m.licence,
                    m.description
                );
            }
        }
        ModelCommand::Path { name } => println!("{}", models::resolve(&name).path.display()),
    }
    Ok(())
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
