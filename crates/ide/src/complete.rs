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
}

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
        let stop = StopRules {
            max_tokens: match mode {
                Mode::SingleLine => config.max_tokens_single_line,
                Mode::MultiLine => config.max_tokens,
            },
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
        };
        let generation = engine
            .generate(GenerateRequest {
                prompt,
                stop,
                cancel: cancel.clone(),
                deadline: config.deadline.map(|d| started + d),
            })
            .map_err(|e| IdeError::Engine(e.to_string()))?;
        if generation.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        let out = nib_postprocess::process(&Input {
            lang: snap.lang,
            prefix: &prefix,
            suffix: &suffix,
            raw: &generation.text,
            mode,
        });
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
