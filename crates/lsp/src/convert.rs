//! Conversions between LSP types and nib's own.

use nib_ide::Completion;
use nib_text::{Document, OffsetEncoding};
use tower_lsp_server::lsp_types as lsp;

pub fn position(p: lsp::Position) -> nib_text::Position {
    nib_text::Position::new(p.line, p.character)
}

pub fn range_in(r: lsp::Range) -> nib_text::Range {
    nib_text::Range {
        start: position(r.start),
        end: position(r.end),
    }
}

pub fn range(r: nib_text::Range) -> lsp::Range {
    lsp::Range {
        start: lsp::Position::new(r.start.line, r.start.character),
        end: lsp::Position::new(r.end.line, r.end.character),
    }
}

/// Command attached to every suggestion: clients run it when the user accepts one.
pub const ACCEPTED_COMMAND: &str = "nib.accepted";

fn accepted_command(c: &Completion, index: usize) -> lsp::Command {
    lsp::Command {
        title: format!("nib suggestion (confidence {})", c.confidence),
        command: ACCEPTED_COMMAND.into(),
        arguments: Some(vec![serde_json::json!({
            "version": c.version,
            "confidence": c.confidence,
            "alternative": index,
            "mode": c.mode,
        })]),
    }
}

/// The suggestion and its alternatives as inline completion items, best first.
pub fn inline_items(c: &Completion) -> Vec<lsp::InlineCompletionItem> {
    std::iter::once(&c.text)
        .chain(&c.alternatives)
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| lsp::InlineCompletionItem {
            insert_text: t.clone(),
            filter_text: None,
            range: Some(range(c.range)),
            command: Some(accepted_command(c, i)),
            insert_text_format: Some(lsp::InsertTextFormat::PLAIN_TEXT),
        })
        .collect()
}

/// The suggestion and its alternatives as completion items.
pub fn completion_items(
    doc: &Document,
    c: &Completion,
    enc: OffsetEncoding,
) -> Vec<lsp::CompletionItem> {
    std::iter::once(&c.text)
        .chain(&c.alternatives)
        .enumerate()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(i, t)| completion_item(doc, c, t, i, enc))
        .collect()
}

/// The suggestion as one completion item, for clients without ghost text (Helix): the edit
/// starts at the beginning of the word being typed so that the client's fuzzy filter, which
/// compares the item with that word, keeps it.
fn completion_item(
    doc: &Document,
    c: &Completion,
    text: &str,
    index: usize,
    enc: OffsetEncoding,
) -> lsp::CompletionItem {
    let cursor = doc.offset(c.range.start, enc).unwrap_or(0);
    let line_start = doc.line_start(doc.line_of(cursor));
    let before = doc.slice(line_start, cursor);
    let word_len: usize = before
        .chars()
        .rev()
        .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
        .map(char::len_utf8)
        .sum();
    let word = &before[before.len() - word_len..];
    let start = doc.position(cursor - word_len, enc);
    let new_text = format!("{word}{text}");
    let first_line = new_text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let label: String = if first_line.chars().count() > 80 {
        first_line
            .chars()
            .take(79)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        first_line.to_string()
    };
    lsp::CompletionItem {
        label,
        kind: Some(lsp::CompletionItemKind::TEXT),
        detail: Some(format!("nib · {} · confidence {}", c.model, c.confidence)),
        documentation: Some(lsp::Documentation::MarkupContent(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: format!("```\n{new_text}\n```"),
        })),
        sort_text: Some(format!("{index}")),
        filter_text: Some(new_text.clone()),
        preselect: Some(index == 0),
        insert_text_format: Some(lsp::InsertTextFormat::PLAIN_TEXT),
        text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit {
            range: lsp::Range {
                start: lsp::Position::new(start.line, start.character),
                end: range(c.range).end,
            },
            new_text,
        })),
        command: Some(accepted_command(c, index)),
        data: Some(
            serde_json::json!({ "version": c.version, "mode": c.mode, "confidence": c.confidence, "alternative": index }),
        ),
        ..Default::default()
    }
}

/// Safety-gate findings as LSP diagnostics (source `nib`, code = rule id, fix hint appended).
pub fn diagnostics(
    doc: &Document,
    findings: &[nib_ide::Finding],
    enc: OffsetEncoding,
) -> Vec<lsp::Diagnostic> {
    use nib_ide::Severity;
    let pos = |(row, col): (usize, usize)| {
        let p = doc.position(doc.line_start(row) + col, enc);
        lsp::Position::new(p.line, p.character)
    };
    findings
        .iter()
        .map(|f| lsp::Diagnostic {
            range: lsp::Range {
                start: pos(f.start),
                end: pos(f.end),
            },
            severity: Some(match f.severity {
                Severity::Critical | Severity::High => lsp::DiagnosticSeverity::ERROR,
                Severity::Medium => lsp::DiagnosticSeverity::WARNING,
                Severity::Low => lsp::DiagnosticSeverity::INFORMATION,
                Severity::Info => lsp::DiagnosticSeverity::HINT,
            }),
            code: Some(lsp::NumberOrString::String(f.rule_id.clone())),
            source: Some("nib".into()),
            message: if f.fix_hint.is_empty() {
                f.message.clone()
            } else {
                format!("{}\nfix: {}", f.message, f.fix_hint)
            },
            ..Default::default()
        })
        .collect()
}
