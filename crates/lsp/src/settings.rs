//! nib's settings: one documented struct, read leniently from `initializationOptions` and
//! `workspace/didChangeConfiguration`. Invalid or unknown keys are reported and ignored.

use std::time::Duration;

use serde_json::Value;

/// Every setting nib understands (camelCase in JSON). The README's settings table is checked
/// against [`Settings::KEYS`] by a test.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `model`: a model name from `nib model list`, or a path to a `.gguf` file.
    pub model: String,
    /// `contextTokens`: tokens of context on each side of the cursor.
    pub context_tokens: usize,
    /// `maxTokens`: most tokens generated for a multi-line suggestion.
    pub max_tokens: usize,
    /// `repoContextTokens`: tokens of repository context (definitions, similar code, versions).
    pub repo_context_tokens: usize,
    /// `threads`: llama.cpp threads; 0 = one per physical core.
    pub threads: usize,
    /// `logLevel`: error, warn, info, debug or trace (prompts are logged only at trace).
    pub log_level: String,
    /// `deadlineMs`: time budget of an automatic inline completion in ms; 0 = none.
    pub deadline_ms: u64,
    /// `coldDeadlineMs`: budget when the context is cold (after opening a file or a jump).
    pub cold_deadline_ms: u64,
    /// `kvReuse`: reuse the model's KV cache across requests (off only to measure baselines).
    pub kv_reuse: bool,
    /// `backgroundPrefill`: evaluate the context ahead of requests.
    pub background_prefill: bool,
    /// `typeaheadCache`: answer from the shown suggestion when the user types its start.
    pub typeahead_cache: bool,
    /// `safetyGate`: drop (default), warn or off: what a high/critical finding does to a suggestion.
    pub safety_gate: String,
    /// `copyleftCorpus`: a directory of copyleft code; suggestions sharing long runs with it are flagged.
    pub copyleft_corpus: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            model: crate::models::DEFAULT_MODEL.to_string(),
            context_tokens: 2000,
            max_tokens: 64,
            repo_context_tokens: 1024,
            threads: 0,
            log_level: "info".into(),
            deadline_ms: 300,
            cold_deadline_ms: 1000,
            kv_reuse: true,
            background_prefill: true,
            typeahead_cache: true,
            safety_gate: "drop".into(),
            copyleft_corpus: String::new(),
        }
    }
}

const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

impl Settings {
    /// (key, description, default) for documentation.
    #[cfg_attr(not(test), allow(dead_code))]
    pub const KEYS: &'static [(&'static str, &'static str)] = &[
        (
            "model",
            "model name from `nib model list`, or a path to a .gguf file",
        ),
        (
            "contextTokens",
            "tokens of context on each side of the cursor (64..=16000)",
        ),
        (
            "maxTokens",
            "most tokens generated for a multi-line suggestion (1..=1024)",
        ),
        ("threads", "llama.cpp threads; 0 = one per physical core"),
        (
            "logLevel",
            "error | warn | info | debug | trace (prompts only at trace)",
        ),
        (
            "deadlineMs",
            "time budget of an inline completion in ms; 0 = none",
        ),
        (
            "safetyGate",
            "drop | warn | off: what a high or critical finding does to a suggestion",
        ),
        (
            "coldDeadlineMs",
            "budget in ms when the context is cold (after opening a file or a jump)",
        ),
        (
            "repoContextTokens",
            "tokens of repository context: definitions, similar code, versions (0..=8000)",
        ),
        (
            "copyleftCorpus",
            "directory of copyleft code to flag copies of (empty = none)",
        ),
    ];

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
        for (key, v) in obj {
            let r = match key.as_str() {
                "model" => string(v).map(|s| self.model = s),
                "contextTokens" => int(v, 64, 16000).map(|n| self.context_tokens = n as usize),
                "maxTokens" => int(v, 1, 1024).map(|n| self.max_tokens = n as usize),
                "repoContextTokens" => {
                    int(v, 0, 8000).map(|n| self.repo_context_tokens = n as usize)
                }
                "threads" => int(v, 0, 256).map(|n| self.threads = n as usize),
                "logLevel" => string(v).and_then(|s| {
                    let s = s.to_ascii_lowercase();
                    if LOG_LEVELS.contains(&s.as_str()) {
                        self.log_level = s;
                        Ok(())
                    } else {
                        Err(format!("expected one of {}", LOG_LEVELS.join(", ")))
                    }
                }),
                "deadlineMs" => int(v, 0, 600_000).map(|n| self.deadline_ms = n),
                "coldDeadlineMs" => int(v, 0, 600_000).map(|n| self.cold_deadline_ms = n),
                "kvReuse" => boolean(v).map(|b| self.kv_reuse = b),
                "backgroundPrefill" => boolean(v).map(|b| self.background_prefill = b),
                "typeaheadCache" => boolean(v).map(|b| self.typeahead_cache = b),
                "copyleftCorpus" => match v {
                    Value::String(p) => {
                        self.copyleft_corpus = p.trim().to_string();
                        Ok(())
                    }
                    other => Err(format!("expected a directory path, got {other}")),
                },
                "safetyGate" => string(v).and_then(|s| match nib_ide::GatePolicy::parse(&s) {
                    Some(_) => {
                        self.safety_gate = s;
                        Ok(())
                    }
                    None => Err("expected drop, warn or off".into()),
                }),
                _ => Err("unknown setting".into()),
            };
            if let Err(e) = r {
                problems.push(format!("setting `{key}` ignored: {e}"));
            }
        }
        problems
    }

    pub fn ide_config(&self) -> nib_ide::IdeConfig {
        let mut c = nib_ide::IdeConfig::default();
        c.window.prefix_tokens = self.context_tokens;
        c.window.suffix_tokens = self.context_tokens;
        c.max_tokens = self.max_tokens;
        c.repo_tokens = self.repo_context_tokens;
        c.max_tokens_single_line = self.max_tokens.min(c.max_tokens_single_line);
        c.deadline = (self.deadline_ms > 0).then(|| Duration::from_millis(self.deadline_ms));
        c.cold_deadline = Duration::from_millis(self.cold_deadline_ms);
        c.kv_reuse = self.kv_reuse;
        c.background_prefill = self.background_prefill;
        c.typeahead_cache = self.typeahead_cache;
        c.gate = nib_ide::GatePolicy::parse(&self.safety_gate).unwrap_or_default();
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

fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        other => Err(format!("expected a non-empty string, got {other}")),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, got {v}"))
}

fn int(v: &Value, min: u64, max: u64) -> Result<u64, String> {
    match v.as_u64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected an integer in {min}..={max}, got {v}")),
    }
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
        assert_eq!(s.log_level, "debug");
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
    fn readme_documents_every_setting() {
        let readme = include_str!("../../../README.md");
        for (key, _) in Settings::KEYS {
            assert!(
                readme.contains(&format!("`{key}`")),
                "README lacks setting {key}"
            );
        }
    }
}
