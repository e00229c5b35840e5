//! Wires the concrete engine (llama.cpp) behind the `CompletionEngine` trait.

use std::sync::Arc;

use nib_engine::CompletionEngine;
use nib_engine_llama::{LlamaConfig, LlamaEngine};

use crate::Resolved;

/// What an engine is built from: a change means a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineKey {
    pub resolved: Resolved,
    pub threads: Option<usize>,
    /// Threads of the actions' engine; `None`: every physical core.
    pub action_threads: Option<usize>,
    pub context_length: u32,
    /// A GGUF LoRA adapter to apply (the `loraAdapter` setting).
    pub lora_adapter: Option<std::path::PathBuf>,
}

impl EngineKey {
    /// `threads` 0 means one fewer than the physical cores (at least 1).
    pub fn new(model: &str, threads: usize, context_length: u32) -> EngineKey {
        EngineKey {
            resolved: crate::resolve(model),
            threads: (threads > 0).then_some(threads),
            action_threads: None,
            context_length,
            lora_adapter: None,
        }
    }
}

/// Load the model (blocking). The error is one line for the user. A LoRA adapter that cannot
/// be applied is logged, and the model runs without it ([`load_reporting`] returns why).
pub fn load(key: &EngineKey) -> Result<Arc<dyn CompletionEngine>, String> {
    load_reporting(key).map(|(engine, _)| engine)
}

/// [`load`], with the reason a LoRA adapter was not applied (the model then runs without it).
pub fn load_reporting(
    key: &EngineKey,
) -> Result<(Arc<dyn CompletionEngine>, Option<String>), String> {
    if let Some(msg) = crate::check_present(&key.resolved) {
        return Err(msg);
    }
    let mut config = LlamaConfig::new(&key.resolved.path);
    config.threads = key.threads;
    config.action_threads = key.action_threads;
    config.context_length = key.context_length;
    // An experiment knob (benchmarks compare with and without): see `LlamaConfig::draft_tokens`.
    if let Some(n) = std::env::var("NIB_DRAFT_TOKENS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        config.draft_tokens = n;
    }
    // Likewise for `LlamaConfig::flash_attention` (NIB_FLASH_ATTN=1 turns it on).
    if let Ok(v) = std::env::var("NIB_FLASH_ATTN") {
        config.flash_attention = v.trim() == "1";
    }
    config.lora_adapter = key.lora_adapter.clone();
    let engine = |config: &LlamaConfig| {
        LlamaEngine::load(config)
            .map(|e| Arc::new(e) as Arc<dyn CompletionEngine>)
            .map_err(|e| e.to_string())
    };
    match engine(&config) {
        Err(e) if config.lora_adapter.is_some() => {
            let why = format!("{e}; the model runs without it");
            config.lora_adapter = None;
            engine(&config).map(|engine| (engine, Some(why)))
        }
        result => result.map(|engine| (engine, None)),
    }
}

#[cfg(test)]
mod tests {
    use nib_engine::{CancelToken, CompletionEngine, GenerateRequest, StopRules};
    use nib_engine_llama::{LlamaConfig, LlamaEngine};

    fn generate(engine: &LlamaEngine, prompt: &str, max_tokens: usize) -> nib_engine::Generation {
        generate_drafting(engine, prompt, max_tokens, None)
    }

    fn generate_drafting(
        engine: &LlamaEngine,
        prompt: &str,
        max_tokens: usize,
        draft_tokens: Option<usize>,
    ) -> nib_engine::Generation {
        let stop = StopRules {
            max_tokens,
            stop_at_newline: false,
            stop_strings: Vec::new(),
            should_stop: None,
            doubt: None,
        };
        let mut req = GenerateRequest::new(prompt.to_string(), stop, CancelToken::new());
        req.draft_tokens = draft_tokens;
        engine.generate(req).unwrap()
    }

    /// Prompt-lookup drafting changes how many decoding steps greedy output takes, not the
    /// output: the real default model with and without it. (Only up to near-ties: a batch
    /// sums in another order than single steps, so two almost equally likely tokens may swap
    /// further on; these outputs are short enough to have none.)
    #[test]
    fn drafting_keeps_greedy_output_and_confirms_repeated_text() {
        let resolved = crate::resolve(crate::DEFAULT_MODEL);
        assert!(
            resolved.path.is_file(),
            "the default model is missing at {}: run `nib model pull` first",
            resolved.path.display()
        );
        let load = |draft_tokens| {
            let mut config = LlamaConfig::new(&resolved.path);
            config.context_length = 2048;
            config.draft_tokens = draft_tokens;
            LlamaEngine::load(&config).unwrap()
        };
        let plain = load(0);
        let drafting = load(4);
        let repeated = "def area(shape):\n    if shape.kind == \"circle\":\n        return math.pi * shape.radius ** 2\n    if shape.kind == \"square\":\n        return shape.side ** 2\n\n\ndef perimeter(shape):\n    if shape.kind == \"circle\":\n        return 2 * math.pi * shape.radius\n    if shape.kind == \"square\":\n        return 4 * shape.side\n\n\ndef describe(shape):\n    if shape.kind == \"circle\":\n";
        let novel = "<|fim_prefix|>import json\n\ndef load_config(path):\n    <|fim_suffix|>\n    return config\n<|fim_middle|>";
        for (prompt, max) in [(repeated, 24), (novel, 24)] {
            let a = generate(&plain, prompt, max);
            let b = generate(&drafting, prompt, max);
            assert_eq!(a.text, b.text, "{prompt}");
            assert_eq!(a.drafted_tokens, 0);
            assert_eq!(a.tokens.len(), b.tokens.len());
            for (x, y) in a.tokens.iter().zip(&b.tokens) {
                assert!((x.logprob - y.logprob).abs() < 0.05, "{x:?} vs {y:?}");
            }
        }
        let b = generate(&drafting, repeated, 24);
        assert!(
            b.drafted_tokens >= 5,
            "{} of {} drafted",
            b.drafted_tokens,
            b.tokens.len()
        );
        // A request's own draft length wins over the engine's, both ways. (The texts are not
        // compared: each engine's cache now holds other prompts, so the batches differ and a
        // near-tie may go the other way.)
        let asked = generate_drafting(&plain, repeated, 24, Some(4));
        assert!(
            asked.drafted_tokens >= 5,
            "{} of {} drafted",
            asked.drafted_tokens,
            asked.tokens.len()
        );
        let refused = generate_drafting(&drafting, repeated, 24, Some(0));
        assert_eq!(refused.drafted_tokens, 0);
        assert!(!refused.text.is_empty());
    }
}
