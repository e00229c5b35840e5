//! Code actions: model-written edits the user asks for explicitly. The first one writes the code
//! a comment (or docstring) describes, below it.
//!
//! Finding an action is cheap (a look at the syntax tree around the cursor, no model), because
//! editors ask on every cursor move. Running one writes the code on a new line after the comment
//! block, indented like the comment, through one of two paths, then the same post-processing
//! and safety gate:
//! - chat: when the model is an instruct model (it ships a chat template) and the comment is
//!   inside a function, the model is asked in its chat format for the function, and the new
//!   lines of its body are kept ([`crate::chat`]);
//! - infilling, otherwise and when the chat answer has no usable body: the document is split
//!   on that new line and an invoked multi-line completion is asked for there (FIM prompt). The
//!   prompt holds back the indentation's last blank: ending in the whole indentation is an
//!   unnatural token boundary (the model then adds a space of its own).

use std::sync::Arc;
use std::time::Instant;

use nib_engine::{CancelToken, ChatFormat, GenerateRequest, Slot, StopReason, StopRules};
use nib_postprocess::Mode;
use nib_syntax::tree_sitter::{Node, Tree};
use nib_syntax::{Language, ParsedDocument};
use nib_text::{Document, OffsetEncoding, Range};

use crate::complete::{Outcome, PathOptions, Purpose};
use crate::{CompletionRequest, Finding, Ide, IdeError, Snapshot, Trigger};

/// What a code action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum CodeActionKind {
    /// The cursor is on comment or docstring lines that describe code: write that code below
    /// them.
    GenerateFromComment,
    /// Explain the selection or the enclosing function or class.
    Explain,
    /// Explain an error (a diagnostic, a traceback) and fix it.
    Fix,
    /// Write unit tests for the function at the cursor.
    Tests,
    /// Rewrite the selection or function with the same behaviour.
    Refactor,
    /// Write code from a free description at the cursor's line.
    GenerateFromPrompt,
}

impl CodeActionKind {
    pub const ALL: &'static [CodeActionKind] = &[
        CodeActionKind::GenerateFromComment,
        CodeActionKind::Explain,
        CodeActionKind::Fix,
        CodeActionKind::Tests,
        CodeActionKind::Refactor,
        CodeActionKind::GenerateFromPrompt,
    ];

    /// A stable name (for the server's resolve data).
    pub fn id(self) -> &'static str {
        match self {
            CodeActionKind::GenerateFromComment => "generate_from_comment",
            CodeActionKind::Explain => "explain",
            CodeActionKind::Fix => "fix",
            CodeActionKind::Tests => "tests",
            CodeActionKind::Refactor => "refactor",
            CodeActionKind::GenerateFromPrompt => "generate_from_prompt",
        }
    }

    pub fn from_id(id: &str) -> Option<CodeActionKind> {
        CodeActionKind::ALL.iter().copied().find(|k| k.id() == id)
    }

    /// What the user sees in the editor's menu.
    pub fn title(self) -> &'static str {
        match self {
            CodeActionKind::GenerateFromComment => "Generate code from comment",
            CodeActionKind::Explain => "Explain this code",
            CodeActionKind::Fix => "Explain and fix this error",
            CodeActionKind::Tests => "Generate tests",
            CodeActionKind::Refactor => "Refactor (same behaviour)",
            CodeActionKind::GenerateFromPrompt => "Generate code from a description",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeActionRequest {
    pub kind: CodeActionKind,
    /// The cursor or selection the action was offered for.
    pub range: Range,
    pub encoding: OffsetEncoding,
}

/// The outcome of a code action, checked by the safety gate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CodeActionResult {
    pub kind: CodeActionKind,
    /// The document version the result was computed against.
    pub version: i32,
    /// The range the edit replaces, in the request's encoding: empty at the end of the comment
    /// block's last line, or the blank line right after the block.
    pub range: Range,
    /// What to put at `range`: a line break and the comment's indentation as needed, then
    /// `generated_code`. Empty when there is nothing to insert.
    pub insert_text: String,
    /// The code, starting after the comment's indentation like a completion at that point
    /// ("" when dropped or nothing was made).
    pub generated_code: String,
    /// A short note on what the code implements.
    pub explanation: String,
    /// Tests for the code (none from the local model yet).
    pub test_stubs: Vec<String>,
    /// From the log-probabilities of the kept tokens: low, medium or high.
    pub confidence: &'static str,
    /// Other distinct versions of the code, best first, without gate-blocked ones; at most 2.
    pub alternatives: Vec<String>,
    /// What the safety gate found in `generated_code` (or in the dropped code); positions are
    /// relative to the code.
    pub findings: Vec<Finding>,
    /// Why the safety gate dropped the code, naming the rule.
    pub dropped: Option<String>,
    /// Why there is no code although the gate dropped none (post-processing kept nothing).
    pub empty_reason: Option<String>,
    pub model: String,
    pub latency_ms: f64,
    /// Tokens the model generated for the code (the chat answer, or the infilled middle).
    pub generated_tokens: usize,
    /// Which path wrote the code: `chat` (an instruct model asked in its chat format, the
    /// function's body taken from the answer), `infill` (fill-in-the-middle at the new line) or
    /// `repair` (a fix found by trying one-change variants against the failing tests).
    pub source: &'static str,
    /// The model's output before extraction and post-processing (the chat path: the answer
    /// after the function's beginning, which the prompt wrote for it).
    pub raw: String,
    /// The edits that apply the result, possibly in another file (the tests' file); empty
    /// for generate-from-comment (its edit is `range` and `insert_text`) and explain.
    pub edits: Vec<crate::FileEdit>,
    /// The URI of the file the tests go into (tests only).
    pub test_file: Option<String>,
    /// What running the result in the sandbox showed (tests: the generated tests on the
    /// current code and the mutation score; refactor: the project's tests on the rewrite);
    /// `None` for actions that run nothing.
    pub verification: Option<crate::Verification>,
    /// Who wrote the code (`remote` only through the chat path), and why the configured
    /// remote did not when the local model answered instead.
    pub provider: crate::ProviderInfo,
}

/// Alternatives asked of the engine for a code action (each is a full extra decode).
const CODE_ACTION_ALTERNATIVES: usize = 2;
/// Lines looked at around the cursor when finding a comment block.
const MAX_BLOCK_LINES: usize = 200;
/// Characters of the comment quoted in the explanation.
const EXPLANATION_CHARS: usize = 80;

/// Comment or docstring lines (inclusive, 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CommentBlock {
    first: usize,
    last: usize,
}

impl Ide {
    /// The comment actions (generate from comment) available for `range` of `snap`. Cheap
    /// (no model): called on every cursor move. Only languages the safety gate knows get
    /// actions. [`Ide::code_actions_with`] gives the assistant's actions too.
    pub fn code_actions(
        &self,
        snap: &Snapshot,
        range: Range,
        encoding: OffsetEncoding,
    ) -> Result<Vec<CodeActionKind>, IdeError> {
        snap.doc.offset(range.start, encoding)?;
        Ok(find_block(snap, range)
            .map(|_| vec![CodeActionKind::GenerateFromComment])
            .unwrap_or_default())
    }

    /// All of nib's code actions for `range`: the comment actions, then explain, tests and
    /// refactor (on a selection or in a function), and fix when the request carries
    /// diagnostics. Cheap (no model).
    pub fn code_actions_with(
        &self,
        snap: &Snapshot,
        range: Range,
        encoding: OffsetEncoding,
        has_diagnostics: bool,
    ) -> Result<Vec<CodeActionKind>, IdeError> {
        let start = snap.doc.offset(range.start, encoding)?;
        let end = snap.doc.offset(range.end, encoding)?.max(start);
        let mut out: Vec<CodeActionKind> = find_block(snap, range)
            .map(|_| vec![CodeActionKind::GenerateFromComment])
            .unwrap_or_default();
        out.extend(self.assist_offers(snap, start, end, has_diagnostics));
        Ok(out)
    }

    /// Run a code action against `snap`. Blocking: runs the model. A newer code action for the
    /// same document, or an edit of it, cancels this one.
    pub fn code_action(
        &self,
        snap: &Snapshot,
        req: CodeActionRequest,
        cancel: &CancelToken,
    ) -> Result<CodeActionResult, IdeError> {
        let started = Instant::now();
        snap.doc.offset(req.range.start, req.encoding)?;
        if req.kind != CodeActionKind::GenerateFromComment {
            return self.assist(snap, req, &crate::AssistInput::default(), cancel);
        }
        let block = find_block(snap, req.range).ok_or_else(|| {
            IdeError::NotApplicable("the cursor is not on a comment or docstring".into())
        })?;
        let doc = &snap.doc;
        let at = insertion(doc, block);
        let config = self.config();
        // A newer code action for the document cancels this one, also while the model loads.
        self.supersede(&snap.uri, Purpose::CodeAction, cancel);
        let engine = self.engine.wait_ready(config.load_wait, cancel)?;
        let engine = engine.for_actions().unwrap_or(engine);
        // The function the comment's code goes into.
        let function = |lang| {
            let (s, e) = doc.line_bounds(block.first).unwrap_or_default();
            let line = doc.slice(s, e);
            let comment_at = s + (line.len() - line.trim_start().len());
            crate::chat::function_at_insertion(
                lang,
                &doc.text(),
                (at.start, at.end),
                &at.lead,
                at.tail,
                comment_at,
            )
        };
        let chat_target = match (engine.info().chat, snap.lang) {
            (Some(chat), Some(lang)) => function(lang).map(|f| (chat, lang, f)),
            _ => None,
        };
        // A remote chat provider first (it needs no chat template of the local model).
        let remote_target = match snap.lang {
            Some(lang) if self.provider.remote().chat.is_some() => {
                function(lang).map(|f| (lang, f))
            }
            _ => None,
        };
        let mut fallback = None;
        let mut remote_made = None;
        if let Some((lang, func)) = &remote_target {
            match self.remote_chat_code(snap, *lang, func, &at, &config, cancel)? {
                Ok(made) => remote_made = made,
                Err(why) => fallback = Some(why),
            }
        }
        let chat_made = match (remote_made, chat_target) {
            (Some(made), _) => Some(made),
            (None, Some((chat, lang, func))) => self.chat_code(
                snap,
                engine.as_ref(),
                chat,
                lang,
                &func,
                &at,
                &config,
                cancel,
            )?,
            (None, None) => None,
        };
        let made = match chat_made {
            Some(m) => m,
            None => self.infill_code(snap, &at, &config, req.encoding, cancel)?,
        };
        let code = made.code.trim_end().to_string();
        let empty_reason = match (&made.gate_dropped, code.is_empty()) {
            (None, true) => Some(made.post_dropped.clone().unwrap_or_else(|| "Empty".into())),
            _ => None,
        };
        let insert_text = if code.is_empty() {
            String::new()
        } else {
            format!("{}{}{}", at.lead, code, at.tail)
        };
        tracing::debug!(
            uri = %snap.uri, version = doc.version(), lines = ?(block.first, block.last),
            source = made.source, kept = code.len(), dropped = ?made.gate_dropped, "code action"
        );
        Ok(CodeActionResult {
            kind: req.kind,
            version: doc.version(),
            range: Range {
                start: doc.position(at.start, req.encoding),
                end: doc.position(at.end, req.encoding),
            },
            insert_text,
            explanation: explanation(doc, block),
            generated_code: code,
            test_stubs: Vec::new(),
            confidence: made.confidence,
            alternatives: made.alternatives,
            findings: made.findings,
            dropped: made.gate_dropped,
            empty_reason,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            generated_tokens: made.generated_tokens,
            source: made.source,
            model: made.model.clone(),
            raw: made.raw,
            edits: Vec::new(),
            test_file: None,
            verification: None,
            provider: crate::ProviderInfo {
                name: made.provider,
                fallback: if made.provider == "local" {
                    fallback
                } else {
                    None
                },
                model: made.model,
                threads: (made.provider == "local").then(|| engine.info().threads),
            },
        })
    }

    /// The infilling path: the document split on a new line after the comment, and an invoked
    /// multi-line completion there.
    fn infill_code(
        &self,
        snap: &Snapshot,
        at: &Insertion,
        config: &crate::IdeConfig,
        encoding: OffsetEncoding,
        cancel: &CancelToken,
    ) -> Result<Made, IdeError> {
        let text = snap.doc.text();
        let split = format!("{}{}{}", &text[..at.start], at.lead, &text[at.end..]);
        let cursor = at.start + at.lead.len();
        let split_doc = Document::new(&split, snap.doc.version());
        let tree = snap
            .lang
            .and_then(|l| ParsedDocument::new(l, &split))
            .and_then(|p| p.tree().cloned());
        let split_snap = Snapshot {
            uri: snap.uri.clone(),
            doc: split_doc,
            lang: snap.lang,
            tree,
        };
        let position = split_snap.doc.position(cursor, encoding);
        let opts = PathOptions {
            purpose: Purpose::CodeAction,
            mode: Some(Mode::MultiLine),
            max_tokens: Some(config.code_action_max_tokens),
            alternatives: Some(CODE_ACTION_ALTERNATIVES),
            remember: false,
            background: false,
        };
        let generated = self.generate(
            &split_snap,
            CompletionRequest::new(position, encoding, Trigger::Invoked),
            &opts,
            cancel,
        )?;
        // An invoked request has no deadline, so it is not skipped; were it, nothing is made.
        let (c, post_dropped, gate_dropped) = match generated {
            Outcome::Answered {
                completion,
                gate_dropped,
            } => {
                let post_dropped = completion.dropped.clone();
                (completion, post_dropped, gate_dropped)
            }
            Outcome::Skipped { completion, reason } => (
                completion,
                Some(format!("skipped: {}", reason.as_str())),
                None,
            ),
        };
        Ok(Made {
            code: c.text,
            post_dropped,
            gate_dropped,
            findings: c.findings,
            confidence: c.confidence,
            alternatives: c
                .alternatives
                .iter()
                .map(|a| a.trim_end().to_string())
                .collect(),
            model: c.model,
            raw: c.raw,
            generated_tokens: c.generated_tokens,
            source: "infill",
            provider: "local",
        })
    }

    /// The chat path (see [`crate::chat`]): `None` when the answer has no body for the
    /// function or post-processing keeps nothing of it (the caller then uses the infilling
    /// path). A body the safety gate drops stays dropped.
    #[allow(clippy::too_many_arguments)]
    fn chat_code(
        &self,
        snap: &Snapshot,
        engine: &dyn nib_engine::CompletionEngine,
        chat: ChatFormat,
        lang: Language,
        func: &crate::chat::Function,
        at: &Insertion,
        config: &crate::IdeConfig,
        cancel: &CancelToken,
    ) -> Result<Option<Made>, IdeError> {
        self.cancel_background();
        let text = snap.doc.text();
        let counter = engine.token_counter();
        let info = engine.info();
        let prompt = crate::chat::chat_prompt(
            chat,
            info.default_system.as_deref(),
            lang,
            &text,
            func,
            at.start,
            counter.as_ref(),
            config.window.prefix_tokens,
        );
        let mut stop_strings = chat.stop_strings();
        // The end of the code block.
        stop_strings.push("\n```".into());
        let answer_start = prompt.answer_start.clone();
        let stop = StopRules {
            max_tokens: config.code_action_max_tokens,
            stop_at_newline: false,
            stop_strings,
            should_stop: Some(Arc::new(move |t: &str| {
                nib_postprocess::code_block_closed(&format!("{answer_start}{t}"))
            })),
            doubt: None,
        };
        let mut greq = GenerateRequest::new(prompt.prompt.clone(), stop, cancel.clone());
        // A one-off prompt: the inline-completion context in the main slot stays.
        greq.slot = Slot::Scratch;
        greq.reuse_cache = config.kv_reuse;
        let body = |answer: &str| {
            crate::chat::code_from_answer(
                lang,
                &prompt,
                answer,
                func,
                &text,
                at.lead.trim_start_matches(['\r', '\n']),
            )
        };
        // Plain calls in a body that nothing in the file defines (the model made up a helper).
        let undefined = |code: &str| -> Vec<String> {
            let before = format!("{}{}", &text[..at.start], at.lead);
            let after = format!("{}{}", at.tail, &text[at.end..]);
            nib_checks::undefined_calls(lang, &before, code, &after)
                .into_iter()
                .map(|f| code[f.start_byte..f.end_byte].to_string())
                .collect()
        };
        let mut generation: Option<nib_engine::Generation> = None;
        let mut code = None;
        // A first answer whose body calls undefined names, kept in case the second is worse.
        let mut first: Option<(nib_engine::Generation, String)> = None;
        let mut req = greq.clone();
        // At most two answers. An answer without a body (a placeholder such as `pass`, or no
        // such function) gets a second one that starts differently; a body that calls names
        // nothing defines gets a second one that is told so.
        for attempt in 0..2 {
            self.stats.model_requests.inc();
            let g = engine
                .generate(req.clone())
                .map_err(|e| IdeError::Engine(e.to_string()))?;
            if g.stop_reason == StopReason::Cancelled {
                return Err(IdeError::Cancelled);
            }
            tracing::trace!(prompt = %req.prompt, answer = %g.text, attempt, "chat code action");
            let stop = g.stop_reason;
            match body(&g.text) {
                Some(c) => {
                    let names = undefined(&c);
                    if names.is_empty() {
                        first = None;
                        (generation, code) = (Some(g), Some(c));
                        break;
                    }
                    if let Some((g0, c0)) = first.take() {
                        tracing::debug!(function = %func.name, ?names, "the second answer still calls undefined names: the first stays");
                        (generation, code) = (Some(g0), Some(c0));
                        break;
                    }
                    tracing::debug!(function = %func.name, ?names, "the chat answer calls undefined names");
                    let feedback = crate::chat::undefined_feedback(lang, &func.name, &names);
                    req = greq.clone();
                    req.prompt =
                        crate::chat::repair_prompt(chat, &prompt, &g.text, &feedback).prompt;
                    (generation, code) = (None, Some(c.clone()));
                    first = Some((g, c));
                    if stop == StopReason::Deadline {
                        break;
                    }
                }
                None => {
                    if let Some((g0, c0)) = first.take() {
                        (generation, code) = (Some(g0), Some(c0));
                        break;
                    }
                    tracing::debug!(function = %func.name, ?stop, "no body in the chat answer");
                    req = greq.clone();
                    req.avoid = vec![g.text.clone()];
                    (generation, code) = (Some(g), None);
                    if stop == StopReason::Deadline {
                        break;
                    }
                }
            }
        }
        if let Some((g0, c0)) = first.take() {
            // The loop ended right after the first answer (a deadline).
            (generation, code) = (Some(g0), Some(c0));
        }
        let Some(generation) = generation else {
            return Ok(None);
        };
        let Some(code) = code else {
            tracing::debug!(function = %func.name, "no body in the chat answers: infilling instead");
            return Ok(None);
        };
        let logprobs: Vec<f32> = generation.tokens.iter().map(|t| t.logprob).collect();
        Ok(self.finish_chat_code(
            lang,
            func,
            at,
            &text,
            &code,
            config,
            Answer {
                logprobs,
                model: info.name,
                raw: generation.text,
                generated_tokens: generation.tokens.len(),
                provider: "local",
            },
        ))
    }

    /// The body a chat answer gave for `func`, post-processed and checked like a completion:
    /// `None` when post-processing keeps nothing of it. A body the safety gate drops stays
    /// dropped.
    #[allow(clippy::too_many_arguments)]
    fn finish_chat_code(
        &self,
        lang: Language,
        func: &crate::chat::Function,
        at: &Insertion,
        text: &str,
        code: &str,
        config: &crate::IdeConfig,
        answer: Answer,
    ) -> Option<Made> {
        let prefix = format!("{}{}", &text[..at.start], at.lead);
        let suffix = format!("{}{}", at.tail, &text[at.end..]);
        let out = nib_postprocess::process(&nib_postprocess::Input {
            lang: Some(lang),
            prefix: &prefix,
            suffix: &suffix,
            raw: code,
            mode: Mode::MultiLine,
        });
        if out.text.trim().is_empty() {
            tracing::debug!(function = %func.name, dropped = ?out.dropped, "post-processing kept nothing of the chat answer: infilling instead");
            return None;
        }
        let (mut findings, gate_dropped) =
            self.gate_check(config, Some(lang), &prefix, &out.text, &suffix);
        if config.gate != crate::GatePolicy::Off {
            // The whole document is the context here, so undefined names can be told.
            findings.extend(nib_checks::undefined_calls(
                lang, &prefix, &out.text, &suffix,
            ));
        }
        if let Some(why) = &gate_dropped {
            tracing::info!(%why, "code dropped by the safety gate");
            self.stats.gated.inc();
        }
        Some(Made {
            code: if gate_dropped.is_some() {
                String::new()
            } else {
                out.text
            },
            post_dropped: None,
            gate_dropped,
            findings,
            confidence: crate::complete::confidence_name(nib_postprocess::confidence_per_token(
                &answer.logprobs,
            )),
            alternatives: Vec::new(),
            model: answer.model,
            generated_tokens: answer.generated_tokens,
            raw: answer.raw,
            source: "chat",
            provider: answer.provider,
        })
    }

    /// The chat path through the remote provider: the model is asked for the whole function
    /// (no answer can be started for a remote model), and the body's lines after the ones the
    /// document has are kept. `Err(why)`: the remote failed or may not see the document, the
    /// local paths answer. `Ok(None)`: no usable body (the infilling path answers).
    fn remote_chat_code(
        &self,
        snap: &Snapshot,
        lang: Language,
        func: &crate::chat::Function,
        at: &Insertion,
        config: &crate::IdeConfig,
        cancel: &CancelToken,
    ) -> Result<Result<Option<Made>, String>, IdeError> {
        let text = snap.doc.text();
        let prompt = crate::chat::chat_prompt(
            ChatFormat::ChatMl,
            None,
            lang,
            &text,
            func,
            at.start,
            &nib_engine::ApproxTokenCounter,
            config.window.prefix_tokens,
        );
        let mut req = nib_engine::ChatRequest::new(prompt.messages.clone(), cancel.clone());
        // The whole function: its signature and docstring come again before the body.
        req.max_tokens = config.code_action_max_tokens * 2;
        let ctx = crate::ChatContext {
            files: vec![snap.uri.clone()],
        };
        let answer = match self.try_remote_chat(req, &ctx)? {
            crate::provider::Remote::Answered(a) => a,
            crate::provider::Remote::FellBack(why) => return Ok(Err(why)),
            crate::provider::Remote::NotConfigured => return Ok(Ok(None)),
        };
        if answer.response.stop_reason == StopReason::Cancelled {
            return Err(IdeError::Cancelled);
        }
        self.stats.model_requests.inc();
        let full = nib_postprocess::answer_code(&answer.response.text);
        let keep_from =
            crate::chat::after_known_lines(full, &func.name, &text[func.start..at.start]);
        let Some(e) = nib_postprocess::function_body(lang, full, &func.name, &text, keep_from)
        else {
            tracing::debug!(function = %func.name, "no body in the remote answer: infilling instead");
            return Ok(Ok(None));
        };
        let body = e.indented(&func.indent);
        let lead_indent = at.lead.trim_start_matches(['\r', '\n']);
        let code = match body.strip_prefix(lead_indent) {
            Some(rest) => rest.to_string(),
            None => body.trim_start().to_string(),
        };
        Ok(Ok(self.finish_chat_code(
            lang,
            func,
            at,
            &text,
            &code,
            config,
            Answer {
                logprobs: answer.response.tokens.iter().map(|t| t.logprob).collect(),
                model: answer.provider.model,
                raw: answer.response.text,
                generated_tokens: answer
                    .response
                    .completion_tokens
                    .unwrap_or(answer.response.tokens.len()),
                provider: "remote",
            },
        )))
    }
}

/// A chat answer's facts, for [`Ide::finish_chat_code`].
struct Answer {
    logprobs: Vec<f32>,
    model: String,
    raw: String,
    generated_tokens: usize,
    provider: &'static str,
}

/// What a path made for a code action.
struct Made {
    /// The code after post-processing and the gate ("" when dropped).
    code: String,
    /// Why post-processing kept nothing.
    post_dropped: Option<String>,
    gate_dropped: Option<String>,
    findings: Vec<Finding>,
    confidence: &'static str,
    alternatives: Vec<String>,
    model: String,
    raw: String,
    generated_tokens: usize,
    source: &'static str,
    /// `local` or `remote`.
    provider: &'static str,
}

/// Where the code goes: bytes `start..end` of the document are replaced by `lead`, the code and
/// `tail`.
#[derive(Debug, PartialEq, Eq)]
struct Insertion {
    start: usize,
    end: usize,
    lead: String,
    tail: &'static str,
}

/// A blank line right after the block is used for the code (its blanks replaced); otherwise a
/// new line is opened at the end of the block. The code starts at the indentation of the
/// block's first line.
fn insertion(doc: &Document, block: CommentBlock) -> Insertion {
    let (first_start, first_end) = doc.line_bounds(block.first).unwrap_or_default();
    let first = doc.slice(first_start, first_end);
    let indent = &first[..first.len() - first.trim_start().len()];
    let last_end = doc.line_bounds(block.last).map_or(first_end, |b| b.1);
    let newline = if doc.slice(last_end, last_end + 2) == "\r\n" {
        "\r\n"
    } else {
        "\n"
    };
    match doc.line_bounds(block.last + 1) {
        Some((s, e)) if doc.slice(s, e).trim().is_empty() => Insertion {
            start: s,
            end: e,
            lead: indent.to_string(),
            // At the end of the document: end the inserted code with a line break.
            tail: if e == doc.len_bytes() { newline } else { "" },
        },
        _ => Insertion {
            start: last_end,
            end: last_end,
            lead: format!("{newline}{indent}"),
            tail: "",
        },
    }
}

/// The comment block on the first comment line of `range` (bounded), if any.
fn find_block(snap: &Snapshot, range: Range) -> Option<CommentBlock> {
    let lang = snap.lang?;
    let first = range.start.line as usize;
    let mut last = range.end.line.max(range.start.line) as usize;
    if last > first && range.end.character == 0 {
        // A selection of whole lines ends at the start of the next one.
        last -= 1;
    }
    let last = last.min(first + MAX_BLOCK_LINES);
    (first..=last).find_map(|line| comment_block(&snap.doc, lang, snap.tree.as_ref(), line))
}

/// The contiguous comment and docstring lines around `line`, if `line` is one of them.
fn comment_block(
    doc: &Document,
    lang: Language,
    tree: Option<&Tree>,
    line: usize,
) -> Option<CommentBlock> {
    let (mut first, mut last) = comment_span(doc, lang, tree, line)?;
    for _ in 0..MAX_BLOCK_LINES {
        match first
            .checked_sub(1)
            .and_then(|l| comment_span(doc, lang, tree, l))
        {
            Some((f, _)) if f < first => first = f,
            _ => break,
        }
    }
    for _ in 0..MAX_BLOCK_LINES {
        match comment_span(doc, lang, tree, last + 1) {
            Some((_, l)) if l > last => last = l,
            _ => break,
        }
    }
    Some(CommentBlock { first, last })
}

/// The lines of the comment or docstring that `line` starts with (a line of code with a
/// trailing comment is not a comment line).
fn comment_span(
    doc: &Document,
    lang: Language,
    tree: Option<&Tree>,
    line: usize,
) -> Option<(usize, usize)> {
    let (start, end) = doc.line_bounds(line)?;
    let text = doc.slice(start, end);
    let trimmed = text.trim_start();
    if trimmed.trim_end().is_empty() {
        return None;
    }
    let Some(tree) = tree else {
        // No syntax tree: a plain line check.
        return trimmed
            .starts_with(lang.line_comment())
            .then_some((line, line));
    };
    let at = start + (text.len() - trimmed.len());
    let mut node = tree.root_node().descendant_for_byte_range(at, at + 1)?;
    loop {
        if is_comment_node(lang, node) {
            let s = node.start_position();
            let e = node.end_position();
            // A line comment may end at the start of the next line (its line break).
            let last = if e.column == 0 && e.row > s.row {
                e.row - 1
            } else {
                e.row
            };
            return Some((s.row, last.max(line)));
        }
        node = node.parent()?;
    }
}

fn is_comment_node(lang: Language, node: Node<'_>) -> bool {
    match lang {
        Language::Python => {
            node.kind() == "comment"
                || (node.kind() == "string"
                    && node.parent().is_some_and(|p| {
                        p.kind() == "expression_statement" && p.named_child_count() == 1
                    }))
        }
        Language::Rust => matches!(node.kind(), "line_comment" | "block_comment"),
    }
}

/// A comment or docstring line without its markers (`#`, `//`, `///`, `/*`, quotes).
fn comment_words(line: &str) -> &str {
    let l = line.trim().trim_start_matches(['#', '/', '!', '*']);
    // A string prefix (`r"""`, `b'`) goes only when a quote follows it.
    let unprefixed = l.trim_start_matches(['r', 'b', 'u', 'f', 'R', 'B', 'U', 'F']);
    let l = if unprefixed.starts_with(['"', '\'']) && l.len() - unprefixed.len() <= 2 {
        unprefixed
    } else {
        l
    };
    l.trim_matches(['"', '\'', '*', '/']).trim()
}

/// "Implements the comment on line N: <its first words>".
fn explanation(doc: &Document, block: CommentBlock) -> String {
    let words: String = (block.first..=block.last)
        .filter_map(|l| doc.line_bounds(l).map(|(s, e)| doc.slice(s, e)))
        .map(|l| comment_words(&l).to_string())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let quoted: String = if words.chars().count() > EXPLANATION_CHARS {
        words
            .chars()
            .take(EXPLANATION_CHARS - 1)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        words
    };
    let what = if block.first == block.last {
        format!("line {}", block.first + 1)
    } else {
        format!("lines {}-{}", block.first + 1, block.last + 1)
    };
    format!("Implements the comment on {what}: {quoted}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nib_text::Position;

    fn snap(lang: Language, text: &str) -> Snapshot {
        Snapshot {
            uri: "file:///t".into(),
            doc: Document::new(text, 1),
            lang: Some(lang),
            tree: ParsedDocument::new(lang, text).and_then(|p| p.tree().cloned()),
        }
    }

    fn block_at(s: &Snapshot, line: u32) -> Option<(usize, usize)> {
        let p = Position::new(line, 0);
        find_block(s, Range { start: p, end: p }).map(|b| (b.first, b.last))
    }

    #[test]
    fn python_comments_and_docstrings_are_blocks_code_is_not() {
        let s = snap(
            Language::Python,
            "import os\n\ndef f(xs):\n    \"\"\"Sum of\n    squares.\"\"\"\n    # first\n    # second\n    x = 1  # trailing\n    s = \"\"\"not a docstring\"\"\"\n",
        );
        assert_eq!(block_at(&s, 0), None);
        assert_eq!(block_at(&s, 1), None, "blank line");
        assert_eq!(block_at(&s, 2), None);
        assert_eq!(block_at(&s, 3), Some((3, 6)), "docstring and comments");
        assert_eq!(block_at(&s, 4), Some((3, 6)), "inside the docstring");
        assert_eq!(block_at(&s, 6), Some((3, 6)));
        assert_eq!(block_at(&s, 7), None, "code with a trailing comment");
        assert_eq!(block_at(&s, 8), None, "an assigned string");
    }

    #[test]
    fn rust_line_doc_and_block_comments_are_blocks() {
        let s = snap(
            Language::Rust,
            "/// Adds.\n/// Twice.\nfn f() {\n    // body\n    let x = 1; // trailing\n    /* a\n       b */\n}\n",
        );
        assert_eq!(block_at(&s, 0), Some((0, 1)));
        assert_eq!(block_at(&s, 1), Some((0, 1)));
        assert_eq!(block_at(&s, 2), None);
        assert_eq!(block_at(&s, 3), Some((3, 3)));
        assert_eq!(block_at(&s, 4), None);
        assert_eq!(block_at(&s, 6), Some((5, 6)));
    }

    #[test]
    fn a_selection_finds_the_first_comment_in_it() {
        let s = snap(Language::Python, "x = 1\n# do it\ny = 2\n");
        let r = Range {
            start: Position::new(0, 0),
            end: Position::new(2, 0),
        };
        assert_eq!(find_block(&s, r), Some(CommentBlock { first: 1, last: 1 }));
    }

    #[test]
    fn insertion_opens_a_line_or_uses_the_blank_one() {
        let doc = Document::new("def f(xs):\n    # sum\n    return 0\n", 1);
        let at = insertion(&doc, CommentBlock { first: 1, last: 1 });
        assert_eq!(
            (at.start, at.end, at.lead.as_str(), at.tail),
            (20, 20, "\n    ", "")
        );
        let doc = Document::new("def f(xs):\n    # sum\n  \nx = 1\n", 1);
        let at = insertion(&doc, CommentBlock { first: 1, last: 1 });
        assert_eq!(
            (at.start, at.end, at.lead.as_str(), at.tail),
            (21, 23, "    ", "")
        );
        let doc = Document::new("# sum\r\n", 1);
        let at = insertion(&doc, CommentBlock { first: 0, last: 0 });
        assert_eq!(
            (at.start, at.end, at.lead.as_str(), at.tail),
            (7, 7, "", "\r\n")
        );
    }

    #[test]
    fn explanation_quotes_the_comment() {
        let doc = Document::new("    # return the sum\n    # of squares\n", 1);
        assert_eq!(
            explanation(&doc, CommentBlock { first: 0, last: 1 }),
            "Implements the comment on lines 1-2: return the sum of squares"
        );
        let doc = Document::new("    r\"\"\"Sum\n    returns.\"\"\"\n", 1);
        assert_eq!(
            explanation(&doc, CommentBlock { first: 0, last: 1 }),
            "Implements the comment on lines 1-2: Sum returns."
        );
    }
}
