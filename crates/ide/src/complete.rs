//! The inline-completion path: snapshot -> window -> prompt -> engine -> post-processing.

use std::sync::Arc;
use std::time::Instant;

use nib_context::{cursor_window, Report};
use nib_engine::{CancelToken, FimParts, GenerateRequest, StopReason, StopRules};
use nib_postprocess::{Input, Mode};
use nib_text::{OffsetEncoding, Position, Range};

use crate::{Ide, IdeError, Snapshot};

/// Why the completion was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// While typing: fast, single suggestion.
    #[default]
    Automatic,
    /// Explicitly asked for by the user.
    Invoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionRequest {
    pub position: Position,
    pub encoding: OffsetEncoding,
    pub trigger: Trigger,
    /// Evaluation only: return the model's output as generated (end-of-generation and
    /// max-tokens stops only, no post-processing), to measure what post-processing adds.
    pub raw: bool,
}

impl CompletionRequest {
    pub fn new(
        position: Position,
        encoding: OffsetEncoding,
        trigger: Trigger,
    ) -> CompletionRequest {
        CompletionRequest {
            position,
            encoding,
            trigger,
            raw: false,
        }
    }
}

/// Alternatives generated for an explicit request (besides the main suggestion).
const INVOKED_ALTERNATIVES: usize = 3;

/// A suggestion, and how it was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Completion {
    /// What to insert at `range` ("" when there is nothing worth showing).
    pub text: String,
    /// The range the text replaces, in the request's encoding (empty: insert at the cursor).
    pub range: Range,
    /// The document version the completion was computed against.
    pub version: i32,
    pub mode: &'static str,
    /// From the log-probabilities of the kept tokens: low, medium or high.
    pub confidence: &'static str,
    /// Other distinct suggestions (explicit requests only), best first; at most 2.
    pub alternatives: Vec<String>,
    pub latency_ms: f64,
    pub prompt_tokens: usize,
    pub reused_tokens: usize,
    pub generated_tokens: usize,
    pub stop_reason: StopReason,
    /// The model's output before post-processing.
    pub raw: String,
    /// Why post-processing dropped the output, if it did.
    pub dropped: Option<String>,
    pub context: Report,
    pub model: String,
}

/// Bytes of document text looked at on each side before token counting (bounds work on huge files).
const BYTES_PER_TOKEN_BOUND: usize = 16;

impl Ide {
    /// Compute an inline completion against `snap`. Blocking: runs the model.
    pub fn complete(
        &self,
        snap: &Snapshot,
        req: CompletionRequest,
        cancel: &CancelToken,
    ) -> Result<Completion, IdeError> {
        let started = Instant::now();
        let offset = snap.doc.offset(req.position, req.encoding)?;
        let config = self.config();
        self.supersede(&snap.uri, cancel);
        let engine = self.engine.wait_ready(config.load_wait, cancel)?;
        let info = engine.info();
        let counter = engine.token_counter();

        let doc = &snap.doc;
        let before_start = excerpt_start(
            doc,
            offset,
            config.window.prefix_tokens * BYTES_PER_TOKEN_BOUND,
        );
        let before = doc.slice(before_start, offset);
        let after = doc.slice(
            offset,
            offset.saturating_add(config.window.suffix_tokens * BYTES_PER_TOKEN_BOUND),
        );
        let window = cursor_window(&before, &after, counter.as_ref(), config.window);

        let mode = nib_postprocess::decide_mode(snap.lang, &window.prefix, &window.suffix);
        let parts = FimParts {
            path: Some(file_name(&snap.uri)),
            comment: snap.lang.map_or("#", |l| l.line_comment()).to_string(),
            prefix: window.prefix.clone(),
            suffix: if info.format.supports_fim() {
                window.suffix.clone()
            } else {
                String::new()
            },
            ..FimParts::default()
        };
        let prompt = info.format.render(&parts);
        let prefix = Arc::new(window.prefix.clone());
        let suffix = Arc::new(window.suffix.clone());
        let lang = snap.lang;
        let (pre, suf) = (Arc::clone(&prefix), Arc::clone(&suffix));
        let max_tokens = match mode {
            Mode::SingleLine if !req.raw => config.max_tokens_single_line,
            _ => config.max_tokens,
        };
        let stop = if req.raw {
            StopRules {
                max_tokens,
                ..StopRules::default()
            }
        } else {
            StopRules {
                max_tokens,
                stop_at_newline: mode == Mode::SingleLine,
                stop_strings: Vec::new(),
                should_stop: Some(Arc::new(move |text: &str| {
                    nib_postprocess::should_stop(&Input {
                        lang,
                        prefix: &pre,
                        suffix: &suf,
                        raw: text,
                        mode,
                    })
                })),
            }
        };
        let alternatives = if req.trigger == Trigger::Invoked && !req.raw {
            INVOKED_ALTERNATIVES
        } else {
            0
        };
        let generation = engine
            .generate(GenerateRequest {
                prompt,
                stop,
                cancel: cancel.clone(),
                deadline: config.deadline.map(|d| started + d),
                alternatives,
            })
            .map_err(|e| IdeError::Engine(e.to_string()))?;
        if generation.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        let process = |raw: &str| {
            if req.raw {
                nib_postprocess::Output {
                    text: raw.to_string(),
                    dropped: None,
                }
            } else {
                nib_postprocess::process(&Input {
                    lang: snap.lang,
                    prefix: &prefix,
                    suffix: &suffix,
                    raw,
                    mode,
                })
            }
        };
        let out = process(&generation.text);
        let confidence = nib_postprocess::confidence(&kept_logprobs(&generation.tokens, &out.text));
        let mut ranked: Vec<(nib_postprocess::Output, f32)> = vec![(out.clone(), f32::INFINITY)];
        for alt in &generation.alternatives {
            let o = process(&alt.text);
            let lp = kept_logprobs(&alt.tokens, &o.text);
            let score = if lp.is_empty() {
                f32::NEG_INFINITY
            } else {
                lp.iter().sum::<f32>() / lp.len() as f32
            };
            ranked.push((o, score));
        }
        let alternatives: Vec<String> =
            nib_postprocess::rank_alternatives(ranked, 1 + INVOKED_ALTERNATIVES)
                .into_iter()
                .map(|o| o.text)
                .filter(|t| t.trim() != out.text.trim())
                .take(2)
                .collect();
        let cursor = doc.position(offset, req.encoding);
        tracing::debug!(
            uri = %snap.uri, version = doc.version(), ?mode, prompt_tokens = generation.prompt_tokens,
            reused = generation.reused_tokens, generated = generation.tokens.len(), stop = ?generation.stop_reason,
            "completion"
        );
        tracing::trace!(raw = %generation.text, kept = %out.text, "completion text");
        Ok(Completion {
            text: out.text,
            range: Range {
                start: cursor,
                end: cursor,
            },
            version: doc.version(),
            mode: match mode {
                Mode::SingleLine => "single_line",
                Mode::MultiLine => "multi_line",
            },
            confidence: match confidence {
                nib_postprocess::Confidence::Low => "low",
                nib_postprocess::Confidence::Medium => "medium",
                nib_postprocess::Confidence::High => "high",
            },
            alternatives,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: generation.prompt_tokens,
            reused_tokens: generation.reused_tokens,
            generated_tokens: generation.tokens.len(),
            stop_reason: generation.stop_reason,
            raw: generation.text,
            dropped: out.dropped.map(|d| format!("{d:?}")),
            context: window.report,
            model: info.name,
        })
    }
}

/// Log-probabilities of the generated tokens that make up the kept text (its first
/// `kept.len()` bytes, as post-processing keeps a prefix of the output, modulo whitespace).
fn kept_logprobs(tokens: &[nib_engine::GeneratedToken], kept: &str) -> Vec<f32> {
    let mut covered = 0;
    let mut out = Vec::new();
    for t in tokens {
        if covered >= kept.len() {
            break;
        }
        covered += t.text.len();
        out.push(t.logprob);
    }
    out
}

/// Start of the text before the cursor worth looking at: `max_bytes` back, moved forward to a
/// line start when one exists before the cursor.
fn excerpt_start(doc: &nib_text::Document, offset: usize, max_bytes: usize) -> usize {
    let rough = offset.saturating_sub(max_bytes);
    if rough == 0 {
        return 0;
    }
    let line = doc.line_of(rough);
    let next = doc.line_start(line + 1);
    if doc.line_start(line) == rough || next > offset {
        rough
    } else {
        next
    }
}

fn file_name(uri: &str) -> String {
    uri.rsplit('/').next().unwrap_or(uri).to_string()
}
