//! nib's settings: one table ([`KEYS`]) is the single source of every key's name, type, default
//! and documentation. The parser validates against it, the README's settings table and
//! `nib settings --json` (which the editor packages are generated from) are printed from it, and
//! tests keep the typed [`Settings`] struct, the table and the README in step.
//!
//! Settings arrive as `initializationOptions` and `workspace/didChangeConfiguration` (flat, or
//! under a `nib` key). Parsing is lenient: an invalid value or an unknown key is reported and
//! skipped, the rest applies.

use std::time::Duration;

use nib_events::Telemetry;
use nib_ide::GatePolicy;
use serde_json::Value;

/// The type of a setting's value, with its constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A non-empty string.
    String,
    /// A path; the empty string means none.
    Path,
    /// A string; the empty string means none.
    Text,
    Integer {
        min: u64,
        max: u64,
    },
    Bool,
    /// One of these strings (case-insensitive on input).
    Enum(&'static [&'static str]),
}

/// One setting: its camelCase key, type, default (as JSON) and meaning.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub doc: &'static str,
}

pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
pub const GATE_POLICIES: &[&str] = &["drop", "warn", "off"];
pub const PROVIDERS: &[&str] = &["local", "remote"];

/// Every setting nib understands.
pub const KEYS: &[Key] = &[
    Key {
        name: "model",
        kind: Kind::String,
        default: "\"qwen2.5-coder-0.5b\"",
        doc: "model name from `nib model list`, or a path to a `.gguf` file",
    },
    Key {
        name: "contextTokens",
        kind: Kind::Integer { min: 64, max: 16000 },
        default: "2000",
        doc: "tokens of context on each side of the cursor",
    },
    Key {
        name: "maxTokens",
        kind: Kind::Integer { min: 1, max: 1024 },
        default: "64",
        doc: "most tokens generated for a multi-line suggestion",
    },
    Key {
        name: "repoContextTokens",
        kind: Kind::Integer { min: 0, max: 8000 },
        default: "1024",
        doc: "tokens of repository context: definitions of the symbols used near the cursor, similar code, library versions",
    },
    Key {
        name: "threads",
        kind: Kind::Integer { min: 0, max: 256 },
        default: "0",
        doc: "llama.cpp threads; 0 = one fewer than the physical cores (at least 1), leaving a core to the editor and builds",
    },
    Key {
        name: "logLevel",
        kind: Kind::Enum(LOG_LEVELS),
        default: "\"info\"",
        doc: "log level (prompts are logged only at `trace`)",
    },
    Key {
        name: "deadlineMs",
        kind: Kind::Integer {
            min: 0,
            max: 600_000,
        },
        default: "190",
        doc: "time budget of an automatic inline completion in ms (the context shrinks to fit); 0 = none",
    },
    Key {
        name: "coldDeadlineMs",
        kind: Kind::Integer {
            min: 0,
            max: 600_000,
        },
        default: "1000",
        doc: "budget in ms when the context is cold (the first request after opening a file or a jump)",
    },
    Key {
        name: "invokedDeadlineMs",
        kind: Kind::Integer {
            min: 0,
            max: 600_000,
        },
        default: "2000",
        doc: "time budget of an explicitly requested completion in ms (the context shrinks to fit, model loading excluded); 0 = none",
    },
    Key {
        name: "kvReuse",
        kind: Kind::Bool,
        default: "true",
        doc: "reuse the model's KV cache across requests (off only to measure a baseline)",
    },
    Key {
        name: "backgroundPrefill",
        kind: Kind::Bool,
        default: "true",
        doc: "evaluate the context ahead of requests: after edits and after a shrunk request",
    },
    Key {
        name: "typeaheadCache",
        kind: Kind::Bool,
        default: "true",
        doc: "answer from the suggestion shown when the user types its start, from the one after it (computed in the background while a suggestion is shown; needs backgroundPrefill), and from recent contexts",
    },
    Key {
        name: "doubtCutPercent",
        kind: Kind::Integer { min: 0, max: 100 },
        default: "70",
        doc: "an automatic suggestion ends before the first token the model gave less than this probability, in percent (what follows is likely wrong; the next suggestion continues from there); 0 = never cut",
    },
    Key {
        name: "safetyGate",
        kind: Kind::Enum(GATE_POLICIES),
        default: "\"drop\"",
        doc: "what a high or critical safety finding does to a suggestion: drop it, warn (show it with its findings), or off",
    },
    Key {
        name: "copyleftCorpus",
        kind: Kind::Path,
        default: "\"\"",
        doc: "a directory of copyleft code: suggestions sharing a long run of tokens with it are flagged (empty = none)",
    },
    Key {
        name: "loraAdapter",
        kind: Kind::Path,
        default: "\"\"",
        doc: "a GGUF LoRA adapter applied to the local model when it loads (docs/fine-tuning.md); one that is missing or does not fit the model is reported and the model runs without it (empty = none)",
    },
    Key {
        name: "telemetry",
        kind: Kind::Enum(Telemetry::NAMES),
        default: "\"metrics\"",
        doc: "what nib records about its suggestions in `events.sqlite3` in its data directory, never sent anywhere: off, metrics (events and numbers, no code) or full (also the code around each suggestion, for `nib export`)",
    },
    Key {
        name: "actionMaxTokens",
        kind: Kind::Integer { min: 16, max: 2048 },
        default: "512",
        doc: "most tokens of a code action's answer (explain, fix, tests, refactor, generate)",
    },
    Key {
        name: "actionThreads",
        kind: Kind::Integer { min: 0, max: 256 },
        default: "0",
        doc: "llama.cpp threads of the code actions and chat, which the user waits for (a second context on the same model, its own cache); 0 = every physical core",
    },
    Key {
        name: "actionBudgetMs",
        kind: Kind::Integer { min: 0, max: 600_000 },
        default: "10000",
        doc: "how long a code action should take with the default model (a larger local model gets it in proportion to its weights' size: 2.3 times with qwen2.5-coder-1.5b): answers are cut in time (whole tests and lines kept; tests end their answer at three quarters of it to run in the sandbox, mutants in what is left; a fix or a rewrite at 85%, completed from the original where it was copying it, checked in the rest), a second try (after a rewrite that changed nothing or broke a test, or a fix the tests still fail) is made only when the first answer took at most half of this, and a local model reads a long docstring its answer repeats once (0 = no budget: nothing cut, always try again, read it whole)",
    },
    Key {
        name: "chatProvider",
        kind: Kind::Enum(PROVIDERS),
        default: "\"local\"",
        doc: "who answers chat-style requests (code actions): the local model, or the remote OpenAI-compatible server of `remoteBaseUrl` (secrets redacted, ignored and denied files never sent)",
    },
    Key {
        name: "completionProvider",
        kind: Kind::Enum(PROVIDERS),
        default: "\"local\"",
        doc: "who writes inline completions: the local model, or the remote server (fill-in-the-middle through `/v1/completions`, within `remoteCompletionBudgetMs`)",
    },
    Key {
        name: "fallback",
        kind: Kind::Bool,
        default: "true",
        doc: "when the remote server fails (unreachable, timeout, error status, bad answer, refused key), answer from the local model instead of failing",
    },
    Key {
        name: "remoteBaseUrl",
        kind: Kind::Text,
        default: "\"\"",
        doc: "the remote server's API root, `/v1` included (e.g. `http://gpu-box:8000/v1`); nothing is sent anywhere while it is empty",
    },
    Key {
        name: "remoteModel",
        kind: Kind::Text,
        default: "\"\"",
        doc: "the model name the remote server knows the model by",
    },
    Key {
        name: "remoteApiKeyEnv",
        kind: Kind::Text,
        default: "\"\"",
        doc: "the NAME of the environment variable holding the remote API key (sent as a bearer token; never the key itself); empty = no key",
    },
    Key {
        name: "remoteConnectTimeoutMs",
        kind: Kind::Integer {
            min: 50,
            max: 60_000,
        },
        default: "2000",
        doc: "longest wait in ms for a connection to the remote server",
    },
    Key {
        name: "remoteTimeoutMs",
        kind: Kind::Integer {
            min: 100,
            max: 600_000,
        },
        default: "60000",
        doc: "longest a remote chat request may take in ms, retries included (then the local model answers)",
    },
    Key {
        name: "remoteCompletionBudgetMs",
        kind: Kind::Integer {
            min: 50,
            max: 60_000,
        },
        default: "1000",
        doc: "time budget in ms of a remote inline completion (one attempt); when the remote fails, the local model answers within `deadlineMs`",
    },
];

/// `chatProvider`, `completionProvider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    #[default]
    Local,
    Remote,
}

impl Provider {
    fn parse(s: &str) -> Provider {
        if s == "remote" {
            Provider::Remote
        } else {
            Provider::Local
        }
    }
}

/// `logLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        LOG_LEVELS[self as usize]
    }

    fn parse(s: &str) -> Option<LogLevel> {
        use LogLevel::*;
        [Error, Warn, Info, Debug, Trace]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// Every setting, typed. Field docs: see [`KEYS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub model: String,
    pub context_tokens: usize,
    pub max_tokens: usize,
    pub action_max_tokens: usize,
    pub action_threads: usize,
    pub action_budget_ms: u64,
    pub repo_context_tokens: usize,
    pub threads: usize,
    pub log_level: LogLevel,
    pub deadline_ms: u64,
    pub cold_deadline_ms: u64,
    pub invoked_deadline_ms: u64,
    pub kv_reuse: bool,
    pub background_prefill: bool,
    pub typeahead_cache: bool,
    pub doubt_cut_percent: u64,
    pub safety_gate: GatePolicy,
    /// Empty: none.
    pub copyleft_corpus: String,
    /// Empty: none.
    pub lora_adapter: String,
    pub telemetry: Telemetry,
    pub chat_provider: Provider,
    pub completion_provider: Provider,
    pub fallback: bool,
    /// Empty: no remote.
    pub remote_base_url: String,
    pub remote_model: String,
    /// Empty: no key.
    pub remote_api_key_env: String,
    pub remote_connect_timeout_ms: u64,
    pub remote_timeout_ms: u64,
    pub remote_completion_budget_ms: u64,
}

impl Default for Settings {
    /// The table's defaults.
    fn default() -> Settings {
        let mut s = Settings {
            model: String::new(),
            context_tokens: 0,
            max_tokens: 0,
            action_max_tokens: 0,
            action_threads: 0,
            action_budget_ms: 10_000,
            repo_context_tokens: 0,
            threads: 0,
            log_level: LogLevel::default(),
            deadline_ms: 0,
            cold_deadline_ms: 0,
            invoked_deadline_ms: 0,
            kv_reuse: false,
            background_prefill: false,
            typeahead_cache: false,
            doubt_cut_percent: 0,
            safety_gate: GatePolicy::default(),
            copyleft_corpus: String::new(),
            lora_adapter: String::new(),
            telemetry: Telemetry::default(),
            chat_provider: Provider::default(),
            completion_provider: Provider::default(),
            fallback: false,
            remote_base_url: String::new(),
            remote_model: String::new(),
            remote_api_key_env: String::new(),
            remote_connect_timeout_ms: 0,
            remote_timeout_ms: 0,
            remote_completion_budget_ms: 0,
        };
        for key in KEYS {
            let v: Value = serde_json::from_str(key.default).expect("defaults are JSON (tested)");
            let checked = check(key.kind, &v).expect("defaults are valid (tested)");
            s.set(key.name, checked);
        }
        s
    }
}

/// A value that passed its key's [`Kind`].
enum Checked {
    Str(String),
    Int(u64),
    Bool(bool),
}

fn check(kind: Kind, v: &Value) -> Result<Checked, String> {
    match kind {
        Kind::String => match v {
            Value::String(s) if !s.trim().is_empty() => Ok(Checked::Str(s.trim().to_string())),
            other => Err(format!("expected a non-empty string, got {other}")),
        },
        Kind::Path => match v {
            Value::String(s) => Ok(Checked::Str(s.trim().to_string())),
            other => Err(format!("expected a path, got {other}")),
        },
        Kind::Text => match v {
            Value::String(s) => Ok(Checked::Str(s.trim().to_string())),
            other => Err(format!("expected a string, got {other}")),
        },
        Kind::Integer { min, max } => match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Checked::Int(n)),
            _ => Err(format!("expected an integer in {min}..={max}, got {v}")),
        },
        Kind::Bool => v
            .as_bool()
            .map(Checked::Bool)
            .ok_or_else(|| format!("expected true or false, got {v}")),
        Kind::Enum(values) => match v {
            Value::String(s) if values.contains(&s.trim().to_ascii_lowercase().as_str()) => {
                Ok(Checked::Str(s.trim().to_ascii_lowercase()))
            }
            other => Err(format!(
                "expected one of {}, got {other}",
                values.join(", ")
            )),
        },
    }
}

impl Settings {
    /// Apply the keys present in `value` (an object, or `{ "nib": {...} }`). Returns the
    /// problems found; each bad key is skipped, the good ones are applied.
    pub fn merge(&mut self, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let obj = match value {
            Value::Null => return problems,
            Value::Object(o) => match o.get("nib") {
                Some(Value::Object(inner)) => inner,
                _ => o,
            },
            other => {
                problems.push(format!("settings must be an object, got {other}"));
                return problems;
            }
        };
        for (name, v) in obj {
            let Some(key) = KEYS.iter().find(|k| k.name == name) else {
                problems.push(format!("setting `{name}` ignored: unknown setting"));
                continue;
            };
            match check(key.kind, v) {
                Ok(checked) => self.set(key.name, checked),
                Err(e) => problems.push(format!("setting `{name}` ignored: {e}")),
            }
        }
        problems
    }

    /// Store a checked value. Every key of [`KEYS`] has an arm (tested).
    fn set(&mut self, name: &str, v: Checked) {
        match (name, v) {
            ("model", Checked::Str(s)) => self.model = s,
            ("copyleftCorpus", Checked::Str(s)) => self.copyleft_corpus = s,
            ("loraAdapter", Checked::Str(s)) => self.lora_adapter = s,
            ("logLevel", Checked::Str(s)) => {
                self.log_level = LogLevel::parse(&s).unwrap_or_default()
            }
            ("safetyGate", Checked::Str(s)) => {
                self.safety_gate = GatePolicy::parse(&s).unwrap_or_default()
            }
            ("telemetry", Checked::Str(s)) => {
                self.telemetry = Telemetry::parse(&s).unwrap_or_default()
            }
            ("chatProvider", Checked::Str(s)) => self.chat_provider = Provider::parse(&s),
            ("completionProvider", Checked::Str(s)) => {
                self.completion_provider = Provider::parse(&s)
            }
            ("remoteBaseUrl", Checked::Str(s)) => self.remote_base_url = s,
            ("remoteModel", Checked::Str(s)) => self.remote_model = s,
            ("remoteApiKeyEnv", Checked::Str(s)) => self.remote_api_key_env = s,
            ("remoteConnectTimeoutMs", Checked::Int(n)) => self.remote_connect_timeout_ms = n,
            ("remoteTimeoutMs", Checked::Int(n)) => self.remote_timeout_ms = n,
            ("remoteCompletionBudgetMs", Checked::Int(n)) => self.remote_completion_budget_ms = n,
            ("fallback", Checked::Bool(b)) => self.fallback = b,
            ("contextTokens", Checked::Int(n)) => self.context_tokens = n as usize,
            ("maxTokens", Checked::Int(n)) => self.max_tokens = n as usize,
            ("actionMaxTokens", Checked::Int(n)) => self.action_max_tokens = n as usize,
            ("actionThreads", Checked::Int(n)) => self.action_threads = n as usize,
            ("actionBudgetMs", Checked::Int(n)) => self.action_budget_ms = n,
            ("repoContextTokens", Checked::Int(n)) => self.repo_context_tokens = n as usize,
            ("threads", Checked::Int(n)) => self.threads = n as usize,
            ("deadlineMs", Checked::Int(n)) => self.deadline_ms = n,
            ("coldDeadlineMs", Checked::Int(n)) => self.cold_deadline_ms = n,
            ("invokedDeadlineMs", Checked::Int(n)) => self.invoked_deadline_ms = n,
            ("kvReuse", Checked::Bool(b)) => self.kv_reuse = b,
            ("backgroundPrefill", Checked::Bool(b)) => self.background_prefill = b,
            ("typeaheadCache", Checked::Bool(b)) => self.typeahead_cache = b,
            ("doubtCutPercent", Checked::Int(n)) => self.doubt_cut_percent = n,
            (other, _) => tracing::error!("setting `{other}` has no field"),
        }
    }

    pub fn ide_config(&self) -> nib_ide::IdeConfig {
        let mut c = nib_ide::IdeConfig::default();
        c.window.prefix_tokens = self.context_tokens;
        c.window.suffix_tokens = self.context_tokens;
        c.max_tokens = self.max_tokens;
        c.code_action_max_tokens = self.action_max_tokens;
        c.action_budget =
            (self.action_budget_ms > 0).then(|| Duration::from_millis(self.action_budget_ms));
        c.repo_tokens = self.repo_context_tokens;
        c.max_tokens_single_line = self.max_tokens.min(c.max_tokens_single_line);
        c.deadline = (self.deadline_ms > 0).then(|| Duration::from_millis(self.deadline_ms));
        c.cold_deadline = Duration::from_millis(self.cold_deadline_ms);
        c.invoked_deadline =
            (self.invoked_deadline_ms > 0).then(|| Duration::from_millis(self.invoked_deadline_ms));
        c.kv_reuse = self.kv_reuse;
        c.background_prefill = self.background_prefill;
        c.typeahead_cache = self.typeahead_cache;
        c.doubt_cut =
            (self.doubt_cut_percent > 0).then(|| (self.doubt_cut_percent as f32 / 100.0).ln());
        c.gate = self.safety_gate;
        c
    }

    /// Context length the engine needs for these settings.
    pub fn context_length(&self) -> u32 {
        // Both windows, the repository context, the output, typed text since the anchor, and
        // room for the scratch slot's small prompts.
        let need = 2 * self.context_tokens + self.repo_context_tokens + self.max_tokens + 2048;
        need.clamp(4096, 40_000) as u32
    }
}

fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::String => "string".into(),
        Kind::Path => "path".into(),
        Kind::Text => "string".into(),
        Kind::Integer { min, max } => format!("integer, {min}..={max}"),
        Kind::Bool => "boolean".into(),
        Kind::Enum(values) => format!("enum: {}", values.join(", ")),
    }
}

/// The README's settings table.
pub fn markdown_table() -> String {
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        let default = match k.default {
            "\"\"" => "(none)".to_string(),
            d => format!("`{}`", d.trim_matches('"')),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            kind_name(k.kind),
            default,
            k.doc
        ));
    }
    out
}

/// The table as JSON, for editor packages:
/// `[{"key","type","default","enum","minimum","maximum","description"}]`.
pub fn json_schema() -> Value {
    let keys: Vec<Value> = KEYS
        .iter()
        .map(|k| {
            let (ty, values, min, max) = match k.kind {
                Kind::String | Kind::Path | Kind::Text => ("string", None, None, None),
                Kind::Integer { min, max } => ("integer", None, Some(min), Some(max)),
                Kind::Bool => ("boolean", None, None, None),
                Kind::Enum(v) => ("string", Some(v), None, None),
            };
            serde_json::json!({
                "key": k.name,
                "type": ty,
                "default": serde_json::from_str::<Value>(k.default).unwrap_or(Value::Null),
                "enum": values,
                "minimum": min,
                "maximum": max,
                "description": k.doc,
            })
        })
        .collect();
    Value::Array(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn good_keys_apply_and_bad_ones_are_reported() {
        let mut s = Settings::default();
        let problems = s.merge(
            &json!({"contextTokens": 512, "maxTokens": "many", "bogus": 1, "logLevel": "DEBUG"}),
        );
        assert_eq!(s.context_tokens, 512);
        assert_eq!(s.max_tokens, 64);
        assert_eq!(s.log_level, LogLevel::Debug);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("maxTokens")));
        assert!(problems.iter().any(|p| p.contains("bogus")));
    }

    #[test]
    fn nested_under_nib_and_non_objects() {
        let mut s = Settings::default();
        assert!(s.merge(&json!({"nib": {"threads": 2}})).is_empty());
        assert_eq!(s.threads, 2);
        assert_eq!(s.merge(&json!([1, 2])).len(), 1);
        assert!(s.merge(&Value::Null).is_empty());
    }

    #[test]
    fn enums_are_typed() {
        let mut s = Settings::default();
        assert_eq!(s.safety_gate, GatePolicy::Drop);
        assert!(s.merge(&json!({"safetyGate": "Warn"})).is_empty());
        assert_eq!(s.safety_gate, GatePolicy::Warn);
        assert_eq!(s.merge(&json!({"safetyGate": "maybe"})).len(), 1);
        assert_eq!(s.safety_gate, GatePolicy::Warn);
        assert_eq!(s.merge(&json!({"logLevel": "loud"})).len(), 1);
    }

    /// Every key of the table is stored in its own field: setting a value other than the
    /// default changes the struct, and setting the default back restores it.
    #[test]
    fn every_key_has_a_field() {
        let base = Settings::default();
        for k in KEYS {
            let other = match k.kind {
                Kind::String | Kind::Path | Kind::Text => json!("/some/other.gguf"),
                Kind::Integer { min, max } => {
                    let d: u64 = k.default.parse().unwrap();
                    json!(if d == max { min } else { d + 1 })
                }
                Kind::Bool => json!(k.default != "true"),
                Kind::Enum(values) => json!(values
                    .iter()
                    .find(|v| k.default != format!("\"{v}\""))
                    .unwrap()),
            };
            let mut s = base.clone();
            assert!(s.merge(&json!({ k.name: other })).is_empty(), "{}", k.name);
            assert_ne!(s, base, "{} has no field", k.name);
            let default: Value = serde_json::from_str(k.default).unwrap();
            assert!(
                s.merge(&json!({ k.name: default })).is_empty(),
                "{}",
                k.name
            );
            assert_eq!(
                s, base,
                "{}: the table's default is not the struct's",
                k.name
            );
        }
    }

    #[test]
    fn defaults_match_the_product() {
        let s = Settings::default();
        assert_eq!(s.model, nib_models::DEFAULT_MODEL);
        assert_eq!(
            (s.context_tokens, s.max_tokens, s.deadline_ms),
            (2000, 64, 190)
        );
        assert!(s.kv_reuse && s.background_prefill && s.typeahead_cache);
        assert_eq!(s.copyleft_corpus, "");
    }

    /// The README's settings table is the one printed from [`KEYS`]
    /// (`nib settings --markdown` prints it).
    #[test]
    fn readme_table_is_generated_from_the_keys() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("<!-- settings:start -->\n")
            .expect("README has a settings:start marker");
        let end = readme
            .find("<!-- settings:end -->")
            .expect("README has a settings:end marker");
        let table = &readme[start + "<!-- settings:start -->\n".len()..end];
        assert_eq!(
            table,
            markdown_table(),
            "README's settings table is stale: paste `nib settings --markdown`"
        );
    }

    /// The VS Code extension's settings are generated from this table (its
    /// `settings.json.in` is `nib settings --json`; `npm run package` checks package.json).
    #[test]
    fn vscode_settings_come_from_the_keys() {
        let file: Value =
            serde_json::from_str(include_str!("../../../editors/vscode/settings.json.in"))
                .expect("settings.json.in is JSON");
        assert_eq!(
            file,
            json_schema(),
            "editors/vscode/settings.json.in is stale: `nib settings --json > editors/vscode/settings.json.in`, then `node scripts/gen-settings.mjs`"
        );
    }

    #[test]
    fn json_lists_every_key() {
        let v = json_schema();
        let keys: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, KEYS.iter().map(|k| k.name).collect::<Vec<_>>());
        assert_eq!(v[5]["enum"], json!(LOG_LEVELS));
    }
}
