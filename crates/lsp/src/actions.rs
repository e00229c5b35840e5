//! `textDocument/codeAction` and `codeAction/resolve`: the offer is cheap (no model, called on
//! every cursor move); resolving runs the model and the safety gate.

use nib_ide::{CodeActionKind, CodeActionResult, Severity};
use serde::{Deserialize, Serialize};
use tower_lsp_server::lsp_types as lsp;

/// The LSP kind of nib's code actions (a sub-kind of `refactor`).
pub const GENERATE_KIND: &str = "refactor.nib.generate";

/// The LSP kind editors filter an action by: fix is a quick fix, the others refactorings.
pub fn lsp_kind(kind: CodeActionKind) -> &'static str {
    match kind {
        CodeActionKind::GenerateFromComment | CodeActionKind::GenerateFromPrompt => GENERATE_KIND,
        CodeActionKind::Explain => "refactor.nib.explain",
        CodeActionKind::Fix => "quickfix.nib.fix",
        CodeActionKind::Tests => "refactor.nib.tests",
        CodeActionKind::Refactor => "refactor.nib.refactor",
    }
}

/// The kinds the server advertises, each once.
pub fn advertised_kinds() -> Vec<lsp::CodeActionKind> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for k in CodeActionKind::ALL {
        if !kinds.contains(&lsp_kind(*k)) {
            kinds.push(lsp_kind(*k));
        }
    }
    kinds
        .into_iter()
        .map(|k| lsp::CodeActionKind::from(k.to_string()))
        .collect()
}

/// Whether the client asks for nib's fix by name (`only` holds `quickfix.nib` or a sub-kind):
/// fix is then offered without a diagnostic (the model looks for the bug).
pub fn fix_asked(only: Option<&[lsp::CodeActionKind]>) -> bool {
    only.is_some_and(|only| {
        only.iter().any(|k| {
            lsp_kind(CodeActionKind::Fix).starts_with(k.as_str())
                && k.as_str().starts_with("quickfix.nib")
        })
    })
}

/// What an offered action carries to its resolve: where it was offered and for which version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionData {
    pub uri: String,
    pub version: i32,
    pub position: lsp::Position,
    pub range: lsp::Range,
    /// [`CodeActionKind::id`].
    pub action: String,
    /// For fix: the messages of the diagnostics the request carried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// For fix and refactor: distinct other versions wanted (at most 3), set by the client
    /// before resolving; they come back in `data.result.alternatives`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub alternatives: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Whether the client's `only` filter lets `lsp_kind` through.
pub fn lsp_kind_wanted(only: Option<&[lsp::CodeActionKind]>, lsp_kind: &str) -> bool {
    only.is_none_or(|only| {
        only.iter().any(|k| {
            let k = k.as_str();
            lsp_kind == k || lsp_kind.starts_with(&format!("{k}."))
        })
    })
}

/// The offered (unresolved) action.
pub fn offer(kind: CodeActionKind, data: &ActionData) -> lsp::CodeAction {
    lsp::CodeAction {
        title: format!("nib: {}", kind.title()),
        kind: Some(lsp::CodeActionKind::from(lsp_kind(kind).to_string())),
        data: serde_json::to_value(data).ok(),
        ..Default::default()
    }
}

/// The first finding that made the gate drop the code.
pub fn blocking_rule(r: &CodeActionResult) -> Option<&nib_ide::Finding> {
    r.findings.iter().find(|f| f.severity >= Severity::High)
}

/// Fill in a resolved action: the edit inserting the code, or no edit and a title saying why.
/// The result's fields travel in `data.result` (explanation, confidence, alternatives,
/// findings, test stubs, which path wrote the code).
pub fn resolve(
    mut action: lsp::CodeAction,
    uri: lsp::Uri,
    r: &CodeActionResult,
    versioned_edits: bool,
) -> lsp::CodeAction {
    if let Some(data) = action.data.as_mut() {
        data["result"] = serde_json::json!({
            "explanation": r.explanation,
            "confidence": r.confidence,
            "alternatives": r.alternatives,
            "testStubs": r.test_stubs,
            "findings": r.findings,
            "dropped": r.dropped,
            "model": r.model,
            "latencyMs": r.latency_ms,
            "source": r.source,
            "kind": r.kind.id(),
            "generatedCode": r.generated_code,
            "emptyReason": r.empty_reason,
            "provider": r.provider,
            "testFile": r.test_file,
            "verification": r.verification,
        });
    }
    if r.kind == CodeActionKind::Explain {
        // Nothing to edit: the explanation is the result (shown by the server).
        action.edit = None;
        return action;
    }
    let base = format!("nib: {}", r.kind.title());
    if r.dropped.is_some() {
        let rule = blocking_rule(r).map_or("a high-severity finding", |f| f.rule_id.as_str());
        action.title = format!("{base} (blocked by the safety gate: {rule})");
        action.edit = None;
        return action;
    }
    if !r.edits.is_empty() {
        action.edit = Some(workspace_edit(
            &r.edits,
            uri.as_str(),
            r.version,
            versioned_edits,
        ));
        return action;
    }
    if r.insert_text.is_empty() {
        action.title = format!("{base} (no code generated)");
        action.edit = None;
        return action;
    }
    let edit = lsp::TextEdit {
        range: crate::convert::range(r.range),
        new_text: r.insert_text.clone(),
    };
    action.edit = Some(if versioned_edits {
        lsp::WorkspaceEdit {
            document_changes: Some(lsp::DocumentChanges::Edits(vec![lsp::TextDocumentEdit {
                text_document: lsp::OptionalVersionedTextDocumentIdentifier {
                    uri,
                    version: Some(r.version),
                },
                edits: vec![lsp::OneOf::Left(edit)],
            }])),
            ..Default::default()
        }
    } else {
        lsp::WorkspaceEdit {
            changes: Some([(uri, vec![edit])].into_iter().collect()),
            ..Default::default()
        }
    });
    action
}

/// The edits of an assistant action. Edits of the document carry its version when the
/// client takes versioned edits; a file that does not exist yet is created first (which needs
/// document changes).
fn workspace_edit(
    edits: &[nib_ide::FileEdit],
    document: &str,
    version: i32,
    versioned_edits: bool,
) -> lsp::WorkspaceEdit {
    let creates = edits.iter().any(|e| e.create);
    let text_edit = |e: &nib_ide::FileEdit| lsp::TextEdit {
        range: crate::convert::range(e.range),
        new_text: e.new_text.clone(),
    };
    let parse = |u: &str| u.parse::<lsp::Uri>().ok();
    if !versioned_edits && !creates {
        // By URI, in the order the edits come.
        let mut by_uri: Vec<(String, Vec<lsp::TextEdit>)> = Vec::new();
        for e in edits {
            match by_uri.iter_mut().find(|(u, _)| *u == e.uri) {
                Some((_, v)) => v.push(text_edit(e)),
                None => by_uri.push((e.uri.clone(), vec![text_edit(e)])),
            }
        }
        return lsp::WorkspaceEdit {
            changes: Some(
                by_uri
                    .into_iter()
                    .filter_map(|(u, v)| parse(&u).map(|u| (u, v)))
                    .collect(),
            ),
            ..Default::default()
        };
    }
    let mut ops = Vec::new();
    for e in edits {
        let Some(uri) = parse(&e.uri) else { continue };
        if e.create {
            ops.push(lsp::DocumentChangeOperation::Op(lsp::ResourceOp::Create(
                lsp::CreateFile {
                    uri: uri.clone(),
                    options: Some(lsp::CreateFileOptions {
                        overwrite: Some(false),
                        ignore_if_exists: Some(true),
                    }),
                    annotation_id: None,
                },
            )));
        }
        // Only the document the action was offered for has a version nib knows.
        let version = (e.uri == document && versioned_edits).then_some(version);
        ops.push(lsp::DocumentChangeOperation::Edit(lsp::TextDocumentEdit {
            text_document: lsp::OptionalVersionedTextDocumentIdentifier { uri, version },
            edits: vec![lsp::OneOf::Left(text_edit(e))],
        }));
    }
    lsp::WorkspaceEdit {
        document_changes: Some(lsp::DocumentChanges::Operations(ops)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nib_text::{Position, Range};

    fn result(
        code: &str,
        dropped: Option<&str>,
        findings: Vec<nib_ide::Finding>,
    ) -> CodeActionResult {
        let at = Position::new(2, 0);
        CodeActionResult {
            kind: CodeActionKind::GenerateFromComment,
            version: 7,
            range: Range { start: at, end: at },
            insert_text: if code.is_empty() {
                String::new()
            } else {
                format!("    {code}")
            },
            generated_code: code.to_string(),
            explanation: "Implements the comment on line 2: run it".into(),
            test_stubs: Vec::new(),
            confidence: "medium",
            alternatives: Vec::new(),
            findings,
            dropped: dropped.map(str::to_string),
            empty_reason: None,
            model: "m".into(),
            latency_ms: 1.0,
            generated_tokens: 3,
            source: "infill",
            raw: code.to_string(),
            edits: Vec::new(),
            test_file: None,
            verification: None,
            provider: nib_ide::ProviderInfo {
                name: "local",
                model: "m".into(),
                fallback: None,
                threads: None,
            },
        }
    }

    fn finding(severity: Severity) -> nib_ide::Finding {
        nib_ide::Finding {
            rule_id: "python/command-injection".into(),
            cwe: None,
            severity,
            message: "Shell command built from non-constant data".into(),
            fix_hint: "Pass an argument list".into(),
            start_byte: 0,
            end_byte: 4,
            start: (0, 0),
            end: (0, 4),
            category: nib_checks::Category::Security,
        }
    }

    fn offered() -> lsp::CodeAction {
        let p = lsp::Position::new(1, 4);
        offer(
            CodeActionKind::GenerateFromComment,
            &ActionData {
                uri: "file:///a.py".into(),
                version: 7,
                position: p,
                range: lsp::Range { start: p, end: p },
                action: "generate_from_comment".into(),
                diagnostics: Vec::new(),
                alternatives: 0,
            },
        )
    }

    fn uri() -> lsp::Uri {
        "file:///a.py".parse().unwrap()
    }

    #[test]
    fn a_dropped_result_has_no_edit_and_names_the_rule() {
        let r = result(
            "",
            Some("safety gate: python/command-injection (Shell command)"),
            vec![finding(Severity::High)],
        );
        let a = resolve(offered(), uri(), &r, false);
        assert_eq!(a.edit, None);
        assert_eq!(
            a.title,
            "nib: Generate code from comment (blocked by the safety gate: python/command-injection)"
        );
        let data = a.data.unwrap();
        assert_eq!(
            data["result"]["findings"][0]["rule_id"],
            "python/command-injection"
        );
        assert_eq!(data["uri"], "file:///a.py", "the offer's data stays");
    }

    #[test]
    fn a_kept_result_is_an_edit_with_its_findings_in_data() {
        let r = result("os.system(cmd)", None, vec![finding(Severity::Medium)]);
        let a = resolve(offered(), uri(), &r, false);
        assert_eq!(a.title, "nib: Generate code from comment");
        let edit = a.edit.clone().unwrap();
        let edits = &edit.changes.unwrap()[&uri()];
        assert_eq!(edits[0].new_text, "    os.system(cmd)");
        assert_eq!(edits[0].range.start, lsp::Position::new(2, 0));
        let data = a.data.unwrap();
        assert_eq!(data["result"]["findings"][0]["severity"], "medium");
        assert_eq!(data["result"]["source"], "infill");
        // Clients that take versioned edits get one for the version the code was made for.
        let a = resolve(offered(), uri(), &r, true);
        let Some(lsp::DocumentChanges::Edits(edits)) = a.edit.unwrap().document_changes else {
            panic!("versioned document edits");
        };
        assert_eq!(edits[0].text_document.version, Some(7));
    }

    #[test]
    fn an_empty_result_has_no_edit() {
        let a = resolve(offered(), uri(), &result("", None, Vec::new()), false);
        assert_eq!(a.edit, None);
        assert!(a.title.ends_with("(no code generated)"), "{}", a.title);
    }

    #[test]
    fn only_filters_by_kind_prefix() {
        let k = |s: &str| lsp::CodeActionKind::from(s.to_string());
        let kind_wanted =
            |only: Option<&[lsp::CodeActionKind]>| lsp_kind_wanted(only, GENERATE_KIND);
        let fix = lsp_kind(CodeActionKind::Fix);
        assert!(lsp_kind_wanted(Some(&[k("quickfix")]), fix));
        assert!(!lsp_kind_wanted(Some(&[k("refactor")]), fix));
        assert!(lsp_kind_wanted(
            Some(&[k("refactor")]),
            lsp_kind(CodeActionKind::Explain)
        ));
        assert!(kind_wanted(None));
        assert!(kind_wanted(Some(&[k("refactor")])));
        assert!(kind_wanted(Some(&[k("quickfix"), k("refactor.nib")])));
        assert!(kind_wanted(Some(&[k(GENERATE_KIND)])));
        assert!(!kind_wanted(Some(&[k("quickfix")])));
        assert!(!kind_wanted(Some(&[k("refactor.rewrite")])));
        assert!(!kind_wanted(Some(&[k("refac")])));
        assert!(!kind_wanted(Some(&[])));
    }
}
