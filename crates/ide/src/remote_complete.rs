//! Inline completion through a remote server (`completionProvider = remote`): a
//! fill-in-the-middle prompt in the remote model's format, sent within its own budget.
//!
//! The prompt is the cursor window and the repository context, with the pieces of files that
//! must stay on this machine ([`Ide::is_private`]) left out, and every text redacted by one
//! [`Redactor`]. The output gets its placeholders back, then the same post-processing and
//! safety gate as a local one. No caches, no KV planning, no token healing: those belong to
//! the local engine.

use std::time::{Duration, Instant};

use nib_checks::Redactor;
use nib_context::{cursor_window, Report};
use nib_engine::{CancelToken, CompletionEngine, FimParts, GenerateRequest, StopReason};
use nib_text::Range;

use crate::complete::{confidence_name, CompletionRequest};
use crate::heal::Heal;
use crate::output::{mode_name, Shape};
use crate::provider::{now_secs, outcome, AuditRecord};
use crate::{Completion, Ide, IdeError, Snapshot};

impl Ide {
    /// A completion from the remote `engine` within `budget`. `Err(why)`: the remote failed
    /// or may not see the document (the caller falls back).
    pub(crate) fn complete_remote(
        &self,
        snap: &Snapshot,
        req: CompletionRequest,
        cancel: &CancelToken,
        engine: &dyn CompletionEngine,
        budget: Duration,
    ) -> Result<Result<Completion, String>, IdeError> {
        let started = Instant::now();
        let offset = snap.doc.offset(req.position, req.encoding)?;
        if self.is_private(&snap.uri) {
            return Ok(Err(format!(
                "{} is excluded from remote requests (ignored or denied)",
                snap.uri
            )));
        }
        let config = self.config();
        let info = engine.info();
        let counter = engine.token_counter();
        let text = snap.doc.text();
        let window = cursor_window(
            &text[..offset],
            &text[offset..],
            counter.as_ref(),
            config.window,
        );
        let line_start = snap.doc.line_start(snap.doc.line_of(offset));
        let (files, repo_report) =
            self.repo_files(snap, &text, line_start, &config, counter.as_ref());
        let mut redactor = Redactor::new();
        let mut sent_files = vec![snap.uri.clone()];
        let files: Vec<nib_engine::RepoFile> = files
            .iter()
            .filter(|f| {
                let keep = !self.is_private(&f.path);
                if !keep {
                    tracing::debug!(path = %f.path, "kept back from the remote prompt");
                }
                keep
            })
            .map(|f| {
                sent_files.push(f.path.clone());
                nib_engine::RepoFile {
                    path: f.path.clone(),
                    text: redactor.redact(&f.text),
                }
            })
            .collect();
        sent_files.dedup();
        let parts = FimParts {
            repo_name: self.repo_source().and_then(|s| s.repo_name()),
            files,
            path: None,
            comment: snap
                .lang
                .map(|l| l.line_comment().to_string())
                .unwrap_or_default(),
            prefix: redactor.redact(&window.prefix),
            suffix: redactor.redact(&window.suffix),
            middle_start: String::new(),
        };
        let prompt = info.format.render(&parts);
        let mode = nib_postprocess::decide_mode(snap.lang, &window.prefix, &window.suffix);
        let shape = Shape::new(
            snap.lang,
            &window.prefix,
            &window.suffix,
            mode,
            false,
            None,
            &config,
        );
        let heal = Heal::default();
        let mut stop = shape.stop_rules(&heal);
        stop.stop_strings = info.format.stop_strings();
        let mut greq = GenerateRequest::new(prompt, stop, cancel.clone());
        greq.deadline = Some(started + budget);
        let bytes_sent = greq.prompt.len();
        self.stats.model_requests.inc();
        let result = engine.generate(greq);
        self.provider.report(AuditRecord {
            time: now_secs(),
            kind: "completion",
            model: info.name.clone(),
            bytes_sent,
            files: sent_files,
            redactions: redactor.count(),
            outcome: outcome(result.as_ref().map(|g| g.stop_reason)),
            latency_ms: started.elapsed().as_millis() as u64,
        });
        let generation = match result {
            Ok(g) => g,
            Err(e) => return Ok(Err(format!("remote provider failed: {e}"))),
        };
        if generation.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        let raw = redactor.restore(&generation.text);
        let mut out = shape.process(&raw, &heal);
        shape.cut_at_deadline(&mut out, generation.stop_reason);
        let (findings, gate_dropped) = self.gate_output(&config, &shape, &mut out);
        let logprobs: Vec<f32> = generation.tokens.iter().map(|t| t.logprob).collect();
        let cursor = snap.doc.position(offset, req.encoding);
        Ok(Ok(Completion {
            text: out.text,
            range: Range {
                start: cursor,
                end: cursor,
            },
            version: snap.doc.version(),
            mode: mode_name(mode),
            confidence: confidence_name(nib_postprocess::confidence_per_token(&logprobs)),
            logprob_sum: None,
            logprob_mean: None,
            logprob_min: None,
            alternatives: Vec::new(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            prompt_tokens: generation.prompt_tokens,
            reused_tokens: 0,
            prefilled_tokens: generation.prompt_tokens,
            generated_tokens: generation.tokens.len(),
            stop_reason: generation.stop_reason,
            cache: None,
            shrunk: false,
            skipped: None,
            raw,
            dropped: gate_dropped.or(out.dropped.map(|d| format!("{d:?}"))),
            findings,
            context: Report {
                prefix_tokens: counter.count(&window.prefix),
                suffix_tokens: counter.count(&window.suffix),
                ..window.report
            },
            repo_context: repo_report.map(|r| {
                let mut r = (*r).clone();
                r.included.retain(|(_, path, _, _)| !self.is_private(path));
                r
            }),
            model: info.name,
            provider: "remote",
            fallback: None,
        }))
    }
}
