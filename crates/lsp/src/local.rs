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
    let mut key =
        nib_models::EngineKey::new(&settings.model, settings.threads, settings.context_length());
    key.action_threads = (settings.action_threads > 0).then_some(settings.action_threads);
    key.lora_adapter = (!settings.lora_adapter.is_empty())
        .then(|| std::path::PathBuf::from(&settings.lora_adapter));
    key
}

/// The assistant's configuration from `settings`, its action budget the model's:
/// `actionBudgetMs` is the default model's time, and a larger local model gets it in
/// proportion to its weights' size ([`model_time_scale`]).
pub(crate) fn ide_config(settings: &Settings) -> nib_ide::IdeConfig {
    let mut c = settings.ide_config();
    let scale = model_time_scale(&settings.model);
    c.action_budget = c.action_budget.map(|b| b.mul_f64(scale));
    c
}

/// How many times the default model's weights the `model` setting's weights are, at least 1:
/// the time a local model takes per token grows about with its size (on two cores the 1.5B
/// model, 2.3 times the default's size, reads a prompt about 2.1 and writes about 1.6 times
/// slower). A manifest name by the manifest, a path by its file; 1 when the file cannot be
/// read.
pub(crate) fn model_time_scale(model: &str) -> f64 {
    let size = |m: &str| match nib_models::find(m) {
        Some(spec) => Some(spec.size),
        None => std::fs::metadata(m).ok().map(|md| md.len()),
    };
    let default = size(nib_models::DEFAULT_MODEL).unwrap_or(1).max(1);
    let model = if model.is_empty() {
        nib_models::DEFAULT_MODEL
    } else {
        model
    };
    size(model).map_or(1.0, |s| (s as f64 / default as f64).max(1.0))
}

/// An `Ide` with the model loaded, as the server builds it.
pub fn load_ide(settings: &Settings) -> Result<Arc<Ide>> {
    let ide = Arc::new(Ide::new(ide_config(settings)));
    let engine = nib_models::load(&engine_key(settings)).map_err(|e| anyhow::anyhow!(e))?;
    ide.set_engine(engine);
    crate::remote::configure_cli(&ide, settings).map_err(|e| anyhow::anyhow!(e))?;
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

/// A range given as `FILE:LINE[:COL][-LINE2[:COL2]]` (1-based; columns in characters): the
/// file, and 0-based start and end positions. Without a column the start is the line's
/// beginning; without `COL2` the end is the end of `LINE2`'s text (`u32::MAX`: clamped by
/// the caller); without an end the range is empty.
pub fn parse_range(loc: &str) -> Result<(PathBuf, Position, Position)> {
    let numbers = |s: &str| -> Option<Vec<u32>> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.is_empty() || parts.len() > 2 {
            return None;
        }
        parts.iter().map(|p| p.parse::<u32>().ok()).collect()
    };
    let (head, end) = match loc.rfind('-') {
        Some(i) if numbers(&loc[i + 1..]).is_some() && !loc[..i].ends_with(':') => {
            (&loc[..i], numbers(&loc[i + 1..]))
        }
        _ => (loc, None),
    };
    // Up to two trailing `:N` parts of the head are the line and the column.
    let mut rest = head;
    let mut nums = Vec::new();
    while nums.len() < 2 {
        match rest.rfind(':') {
            Some(i)
                if !rest[i + 1..].is_empty()
                    && rest[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                nums.push(
                    rest[i + 1..]
                        .parse::<u32>()
                        .with_context(|| format!("bad number in {loc:?}"))?,
                );
                rest = &rest[..i];
            }
            _ => break,
        }
    }
    nums.reverse();
    let (line, col) = match nums.as_slice() {
        [l] => (*l, 1),
        [l, c] => (*l, *c),
        _ => bail!("expected FILE:LINE[:COL][-LINE2[:COL2]], got {loc:?}"),
    };
    if rest.is_empty() || line == 0 || col == 0 {
        bail!("expected FILE:LINE[:COL][-LINE2[:COL2]] with 1-based numbers, got {loc:?}");
    }
    let start = Position::new(line - 1, col - 1);
    let end = match end.as_deref() {
        None => start,
        Some([l, ..]) if *l < line => bail!("the range ends before it starts in {loc:?}"),
        Some([l]) if *l > 0 => Position::new(l - 1, u32::MAX),
        Some([l, c]) if *l > 0 && *c > 0 => Position::new(l - 1, c - 1),
        _ => bail!("line and column are 1-based in {loc:?}"),
    };
    Ok((PathBuf::from(rest), start, end))
}

/// What `nib ask` was asked besides the action and the place.
#[derive(Debug, Clone, Default)]
pub struct AskOptions {
    /// A description (generate), a wish (refactor) or a message (chat).
    pub prompt: Option<String>,
    /// An error text or traceback for fix.
    pub error: Option<String>,
    /// Keep the exchange in this conversation (stored under nib's data directory).
    pub conversation: Option<String>,
    /// Distinct other versions wanted (fix, refactor, generate).
    pub alternatives: usize,
}

fn conversation_path(id: &str) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    nib_workspace::nib_home()
        .join("conversations")
        .join(format!("{safe}.json"))
}

fn load_conversation(id: &str) -> Result<Vec<nib_engine::ChatMessage>> {
    let path = conversation_path(id);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    let turns: Vec<(String, String)> = serde_json::from_str(&text)
        .with_context(|| format!("bad conversation file {}", path.display()))?;
    Ok(turns
        .into_iter()
        .map(|(role, content)| {
            let role = if role == "assistant" {
                nib_engine::Role::Assistant
            } else {
                nib_engine::Role::User
            };
            nib_engine::ChatMessage::new(role, content)
        })
        .collect())
}

fn save_conversation(id: &str, messages: &[nib_engine::ChatMessage]) -> Result<()> {
    let path = conversation_path(id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let turns: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| {
            let role = if m.role == nib_engine::Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            (role, m.content.as_str())
        })
        .collect();
    std::fs::write(&path, serde_json::to_string_pretty(&turns)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The action an `nib ask` name stands for (`chat` is a conversation turn: `None`).
pub fn ask_action(name: &str, has_prompt: bool) -> Result<Option<nib_ide::CodeActionKind>> {
    use nib_ide::CodeActionKind as K;
    Ok(Some(match name {
        "explain" => K::Explain,
        "fix" => K::Fix,
        "tests" | "test" => K::Tests,
        "refactor" => K::Refactor,
        "generate" if has_prompt => K::GenerateFromPrompt,
        "generate" => K::GenerateFromComment,
        "chat" => return Ok(None),
        other => bail!(
            "unknown action {other:?}: expected explain, fix, tests, refactor, generate or chat"
        ),
    }))
}

/// Run `action` at `location` through the server's path, in process; the result as JSON
/// (the code action result's fields, or a conversation turn's for `chat`).
pub fn ask(
    action: &str,
    location: &str,
    settings: &Settings,
    opts: &AskOptions,
) -> Result<serde_json::Value> {
    let kind = ask_action(action, opts.prompt.is_some())?;
    let (path, start, end) = parse_range(location)?;
    let text = read_source(&path)?;
    let uri = file_uri(&path);
    let ide_probe = Ide::new(ide_config(settings));
    ide_probe.open(&uri, None, 0, &text);
    let snap = ide_probe.snapshot(&uri)?;
    // Positions past the end of a line are clamped to it (a range to the end of LINE2).
    let clamp = |p: Position| -> Result<Position> {
        let (s, e) = snap.doc.line_bounds(p.line as usize).with_context(|| {
            format!("line {} is past the end of {}", p.line + 1, path.display())
        })?;
        let chars = snap
            .doc
            .slice(s, e)
            .trim_end_matches(['\n', '\r'])
            .chars()
            .count() as u32;
        if p.character != u32::MAX && p.character > chars {
            bail!(
                "column {} is past the end of line {} ({} characters)",
                p.character + 1,
                p.line + 1,
                chars
            );
        }
        Ok(Position::new(p.line, p.character.min(chars)))
    };
    let range = nib_text::Range {
        start: clamp(start)?,
        end: clamp(end)?,
    };
    drop(ide_probe);
    let ide = load_ide(settings)?;
    attach_repo(&ide, settings, &path);
    ide.open(&uri, None, 0, &text);
    let snap = ide.snapshot(&uri)?;
    let cancel = CancelToken::new();
    let mut history = match &opts.conversation {
        Some(id) => load_conversation(id)?,
        None => Vec::new(),
    };
    let Some(kind) = kind else {
        let message = opts
            .prompt
            .as_deref()
            .context("chat needs a message: --prompt TEXT")?;
        let (a, b) = (
            snap.doc.offset(range.start, OffsetEncoding::Utf32)?,
            snap.doc.offset(range.end, OffsetEncoding::Utf32)?,
        );
        // A cursor quotes nothing: the conversation carries the code.
        let code = (b > a).then_some((&snap, a, b));
        let turn = ide.converse(&history, message, code, None, &cancel)?;
        if let Some(id) = &opts.conversation {
            history.push(nib_engine::ChatMessage::new(
                nib_engine::Role::User,
                turn.user.clone(),
            ));
            history.push(nib_engine::ChatMessage::new(
                nib_engine::Role::Assistant,
                turn.reply.clone(),
            ));
            save_conversation(id, &history)?;
        }
        let mut v = serde_json::to_value(&turn)?;
        v["action"] = "chat".into();
        v["turns"] = (history.len() / 2).into();
        return Ok(v);
    };
    let req = nib_ide::CodeActionRequest {
        kind,
        range,
        encoding: OffsetEncoding::Utf32,
    };
    let r = if kind == nib_ide::CodeActionKind::GenerateFromComment {
        ide.code_action(&snap, req, &cancel)
    } else {
        let tests = match (kind, snap.lang) {
            (
                nib_ide::CodeActionKind::Tests
                | nib_ide::CodeActionKind::Refactor
                | nib_ide::CodeActionKind::Fix,
                Some(lang),
            ) => {
                let root = nib_workspace::project_root(&path);
                Some(crate::assist::tests_target(&path, &root, lang))
            }
            _ => None,
        };
        let input = nib_ide::AssistInput {
            errors: opts.error.iter().cloned().collect(),
            prompt: opts.prompt.clone(),
            tests,
            alternatives: opts.alternatives,
        };
        ide.assist(&snap, req, &input, &cancel)
    }
    .with_context(|| format!("{action} at {location}"))?;
    if let Some(id) = &opts.conversation {
        let asked = match &opts.prompt {
            Some(p) => format!("{action} at {location}: {p}"),
            None => format!("{action} at {location}"),
        };
        let mut said = r.explanation.clone();
        if !r.generated_code.is_empty() {
            let lang = snap.lang.map_or("", |l| l.name());
            said.push_str(&format!("\n\n```{lang}\n{}\n```", r.generated_code));
        }
        history.push(nib_engine::ChatMessage::new(nib_engine::Role::User, asked));
        history.push(nib_engine::ChatMessage::new(
            nib_engine::Role::Assistant,
            said,
        ));
        save_conversation(id, &history)?;
    }
    let mut v = serde_json::to_value(&r)?;
    v["action"] = kind.id().into();
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_larger_model_gets_the_action_budget_in_proportion_to_its_weights() {
        use super::{ide_config, model_time_scale, Settings};
        assert_eq!(model_time_scale(""), 1.0);
        assert_eq!(model_time_scale(nib_models::DEFAULT_MODEL), 1.0);
        let larger = model_time_scale("qwen2.5-coder-1.5b");
        assert!((2.2..2.4).contains(&larger), "{larger}");
        // A smaller model keeps the budget; an unreadable path too.
        assert_eq!(model_time_scale("smollm2-135m"), 1.0);
        assert_eq!(model_time_scale("/no/such/model.gguf"), 1.0);
        // A path: by its file's size.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.gguf");
        let default = nib_models::find(nib_models::DEFAULT_MODEL).unwrap().size;
        std::fs::File::create(&file)
            .unwrap()
            .set_len(default * 3)
            .unwrap();
        assert_eq!(model_time_scale(file.to_str().unwrap()), 3.0);

        let mut s = Settings {
            model: "qwen2.5-coder-1.5b".into(),
            ..Settings::default()
        };
        let budget = ide_config(&s).action_budget.unwrap();
        assert_eq!(budget, std::time::Duration::from_secs(10).mul_f64(larger));
        s.action_budget_ms = 0;
        assert_eq!(ide_config(&s).action_budget, None);
    }

    use super::*;

    #[test]
    fn ranges() {
        let show = |s: &str| {
            parse_range(s).map(|(p, a, b)| {
                format!(
                    "{} {}:{}-{}:{}",
                    p.display(),
                    a.line,
                    a.character,
                    b.line,
                    b.character
                )
            })
        };
        assert_eq!(show("a-b.py:3").unwrap(), "a-b.py 2:0-2:0");
        assert_eq!(show("a.py:3:7").unwrap(), "a.py 2:6-2:6");
        assert_eq!(
            show("a.py:3-5").unwrap(),
            format!("a.py 2:0-4:{}", u32::MAX)
        );
        assert_eq!(show("a.py:3:2-5:4").unwrap(), "a.py 2:1-4:3");
        assert_eq!(show("C:x.py:1:1").unwrap(), "C:x.py 0:0-0:0");
        assert!(show("a.py").is_err());
        assert!(show("a.py:0").is_err());
        assert!(show("a.py:5-3").is_err(), "ends before it starts");
    }

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
