//! The remote provider's wiring: `OpenAiEngine`s built from the settings and handed to the ide
//! (which only knows the engine traits), the audit log of remote requests, and the one message
//! per session that tells the user when the local model answered instead.
//!
//! Nothing is built (so nothing can be sent) unless a provider is `remote` and
//! `remoteBaseUrl` is set. The audit log is JSON Lines in nib's data directory
//! ([`AUDIT_FILE`]): one line per remote request, never its content; writing it fails soft.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nib_engine::PromptFormat;
use nib_engine_openai::{OpenAiConfig, OpenAiEngine};
use nib_ide::{AuditRecord, ProviderEvents, RemoteProvider};
use tower_lsp_server::lsp_types::MessageType;
use tower_lsp_server::Client;

use crate::settings::{Provider, Settings};

/// The audit log's file name in nib's data directory.
pub const AUDIT_FILE: &str = "remote-audit.jsonl";

/// What the remote engines are built from: a change of it rebuilds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteKey {
    chat: bool,
    completion: bool,
    fallback: bool,
    base_url: String,
    model: String,
    api_key_env: String,
    connect_ms: u64,
    total_ms: u64,
    completion_ms: u64,
}

impl RemoteKey {
    pub(crate) fn of(s: &Settings) -> RemoteKey {
        RemoteKey {
            chat: s.chat_provider == Provider::Remote,
            completion: s.completion_provider == Provider::Remote,
            fallback: s.fallback,
            base_url: s.remote_base_url.clone(),
            model: s.remote_model.clone(),
            api_key_env: s.remote_api_key_env.clone(),
            connect_ms: s.remote_connect_timeout_ms,
            total_ms: s.remote_timeout_ms,
            completion_ms: s.remote_completion_budget_ms,
        }
    }

    /// `local`, `remote`, `remote chat` or `remote completion` (for `nib/stats`).
    pub(crate) fn label(&self) -> &'static str {
        match (self.active() && self.chat, self.active() && self.completion) {
            (true, true) => "remote",
            (true, false) => "remote chat",
            (false, true) => "remote completion",
            (false, false) => "local",
        }
    }

    fn active(&self) -> bool {
        (self.chat || self.completion) && !self.base_url.is_empty()
    }

    /// Why a remote provider that was asked for cannot be used, if so.
    pub(crate) fn problem(&self) -> Option<String> {
        ((self.chat || self.completion) && self.base_url.is_empty()).then(|| {
            "a remote provider is selected but `remoteBaseUrl` is empty: the local model answers"
                .to_string()
        })
    }

    /// The host of the base URL (for the audit log).
    pub(crate) fn host(&self) -> String {
        host_of(&self.base_url)
    }
}

/// `http://user@host:8000/v1` -> `host:8000`.
pub(crate) fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_string()
}

/// The infilling format of a remote model, guessed from its name.
pub(crate) fn prompt_format(model: &str) -> PromptFormat {
    let m = model.to_ascii_lowercase();
    if m.contains("qwen") {
        PromptFormat::Qwen
    } else if m.contains("starcoder") {
        PromptFormat::StarCoder
    } else if m.contains("deepseek") {
        PromptFormat::DeepSeek
    } else if m.contains("codellama") || m.contains("code-llama") {
        PromptFormat::CodeLlama
    } else {
        PromptFormat::PrefixOnly
    }
}

/// The engines for `key` (`Err`: the configuration is not usable, e.g. a malformed URL).
pub(crate) fn build(key: &RemoteKey) -> Result<RemoteProvider, String> {
    let mut out = RemoteProvider {
        fallback: key.fallback,
        completion_budget: Duration::from_millis(key.completion_ms),
        ..RemoteProvider::default()
    };
    if !key.active() {
        return Ok(out);
    }
    let mut base = OpenAiConfig::new(&key.base_url, &key.model);
    base.api_key_env = (!key.api_key_env.is_empty()).then(|| key.api_key_env.clone());
    base.connect_timeout = Duration::from_millis(key.connect_ms);
    base.prompt_format = prompt_format(&key.model);
    if key.chat {
        let mut c = base.clone();
        c.total_timeout = Duration::from_millis(key.total_ms);
        // A busy server may take long to read a large prompt: `remoteTimeoutMs` bounds it.
        c.first_byte_timeout = c.total_timeout;
        let engine = OpenAiEngine::new(c).map_err(|e| e.to_string())?;
        out.chat = Some(Arc::new(engine));
    }
    if key.completion {
        // Inline completion: one attempt within its budget.
        let mut c = base;
        c.total_timeout = Duration::from_millis(key.completion_ms);
        c.first_byte_timeout = c.total_timeout;
        c.connect_timeout = c.connect_timeout.min(c.total_timeout);
        c.max_retries = 0;
        let engine = OpenAiEngine::new(c).map_err(|e| e.to_string())?;
        out.completion = Some(Arc::new(engine));
    }
    Ok(out)
}

/// The audit log of remote requests: a JSON line per request (its size, files, redactions and
/// outcome; never its content), in nib's data directory.
pub(crate) struct AuditLog {
    /// `None`: not written.
    path: Option<PathBuf>,
    /// The base URL's host.
    host: Mutex<String>,
    /// Writing failed once (warned once).
    failed: AtomicBool,
}

impl AuditLog {
    pub(crate) fn new(path: Option<PathBuf>) -> AuditLog {
        AuditLog {
            path,
            host: Mutex::default(),
            failed: AtomicBool::new(false),
        }
    }

    /// The log in nib's data directory.
    pub(crate) fn in_nib_home() -> AuditLog {
        AuditLog::new(Some(nib_workspace::nib_home().join(AUDIT_FILE)))
    }

    pub(crate) fn set_host(&self, host: String) {
        *lock(&self.host) = host;
    }

    /// The audit log's line for `record`.
    pub(crate) fn line(&self, record: &AuditRecord) -> String {
        let mut v = serde_json::to_value(record).unwrap_or_default();
        v["provider"] = "remote".into();
        v["host"] = lock(&self.host).clone().into();
        v.to_string()
    }

    pub(crate) fn write(&self, record: &AuditRecord) {
        let line = self.line(record);
        if let Err(e) = self.append(&line) {
            if !self.failed.swap(true, Ordering::Relaxed) {
                tracing::warn!(path = ?self.path, "cannot write the remote audit log: {e}");
            }
        }
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(format!("{line}\n").as_bytes())
    }
}

/// The server's [`ProviderEvents`]: the audit log, and the fallback message once per session.
pub(crate) struct ServerEvents {
    pub client: Client,
    pub runtime: tokio::runtime::Handle,
    pub audit: AuditLog,
    pub provider: Mutex<&'static str>,
    /// The user has been told of a fallback in this session.
    pub told: AtomicBool,
}

impl ServerEvents {
    pub(crate) fn new(client: Client, audit: AuditLog) -> ServerEvents {
        ServerEvents {
            client,
            runtime: tokio::runtime::Handle::current(),
            audit,
            provider: Mutex::new("local"),
            told: AtomicBool::new(false),
        }
    }

    pub(crate) fn configure(&self, key: &RemoteKey) {
        self.audit.set_host(key.host());
        *lock(&self.provider) = key.label();
    }

    pub(crate) fn provider(&self) -> &'static str {
        *lock(&self.provider)
    }
}

impl ProviderEvents for ServerEvents {
    fn sent(&self, record: &AuditRecord) {
        self.audit.write(record);
    }

    fn fell_back(&self, why: &str) {
        if self.told.swap(true, Ordering::Relaxed) {
            return;
        }
        let client = self.client.clone();
        let msg = format!("nib: the local model answers instead of the remote provider ({why})");
        self.runtime.spawn(async move {
            client.show_message(MessageType::WARNING, msg).await;
        });
    }
}

/// The command line's [`ProviderEvents`] (`nib ask`, `nib complete`): the audit log, and a
/// fallback said once on stderr.
pub(crate) struct CliEvents {
    pub audit: AuditLog,
    pub told: AtomicBool,
}

impl ProviderEvents for CliEvents {
    fn sent(&self, record: &AuditRecord) {
        self.audit.write(record);
    }

    fn fell_back(&self, why: &str) {
        if !self.told.swap(true, Ordering::Relaxed) {
            eprintln!("nib: the local model answers instead of the remote provider ({why})");
        }
    }
}

/// Give `ide` the remote provider `settings` select (nothing when none is), with the audit log
/// and fallback notes of the command line.
pub(crate) fn configure_cli(ide: &nib_ide::Ide, settings: &Settings) -> Result<(), String> {
    let key = RemoteKey::of(settings);
    if let Some(p) = key.problem() {
        eprintln!("nib: {p}");
    }
    let remote = build(&key).map_err(|e| format!("remote provider not usable: {e}"))?;
    let audit = AuditLog::in_nib_home();
    audit.set_host(key.host());
    ide.set_provider_events(Arc::new(CliEvents {
        audit,
        told: AtomicBool::new(false),
    }));
    ide.set_remote(remote);
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_formats() {
        assert_eq!(host_of("http://127.0.0.1:8000/v1"), "127.0.0.1:8000");
        assert_eq!(
            host_of("https://user:pw@api.example.com/v1"),
            "api.example.com"
        );
        assert_eq!(prompt_format("Qwen/Qwen2.5-Coder-7B"), PromptFormat::Qwen);
        assert_eq!(prompt_format("gpt-4o"), PromptFormat::PrefixOnly);
    }

    #[test]
    fn nothing_is_built_without_a_remote_provider_and_a_url() {
        let mut s = Settings::default();
        let r = build(&RemoteKey::of(&s)).unwrap();
        assert!(r.chat.is_none() && r.completion.is_none());
        s.chat_provider = Provider::Remote;
        let key = RemoteKey::of(&s);
        assert!(build(&key).unwrap().chat.is_none());
        assert!(key.problem().is_some());
        s.remote_base_url = "http://127.0.0.1:9/v1".into();
        s.remote_model = "m".into();
        let key = RemoteKey::of(&s);
        let r = build(&key).unwrap();
        assert!(r.chat.is_some() && r.completion.is_none());
        assert_eq!(key.label(), "remote chat");
    }
}
