//! Output formats: SARIF 2.1.0 and plain text.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{Finding, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub code scanning's `security-severity` score for a severity.
fn security_score(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A SARIF 2.1.0 log with one run for `results` (path, findings of that file). Lines and
/// columns are 1-based; columns count bytes, which equals characters for ASCII lines.
pub fn to_sarif(results: &[(String, Vec<Finding>)]) -> Value {
    let mut rules: BTreeMap<&str, &Finding> = BTreeMap::new();
    for (_, findings) in results {
        for f in findings {
            rules.entry(f.rule_id.as_str()).or_insert(f);
        }
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let rules_json: Vec<Value> = rules
        .values()
        .map(|f| {
            let mut tags = vec![Value::from(format!("{:?}", f.category).to_lowercase())];
            if let Some(cwe) = &f.cwe {
                tags.push(Value::from(format!("external/cwe/{}", cwe.to_lowercase())));
            }
            json!({
                "id": f.rule_id,
                "shortDescription": { "text": f.message },
                "help": { "text": f.fix_hint },
                "defaultConfiguration": { "level": level(f.severity) },
                "properties": { "tags": tags, "security-severity": security_score(f.severity) },
            })
        })
        .collect();
    let mut results_json = Vec::new();
    for (path, findings) in results {
        for f in findings {
            results_json.push(json!({
                "ruleId": f.rule_id,
                "ruleIndex": index[f.rule_id.as_str()],
                "level": level(f.severity),
                "message": { "text": format!("{} ({})", f.message, f.severity.as_str()) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": path },
                        "region": {
                            "startLine": f.start.0 + 1,
                            "startColumn": f.start.1 + 1,
                            "endLine": f.end.0 + 1,
                            "endColumn": f.end.1 + 1,
                            "byteOffset": f.start_byte,
                            "byteLength": f.end_byte - f.start_byte,
                        }
                    }
                }],
                "properties": { "severity": f.severity.as_str(), "fixHint": f.fix_hint },
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "nib",
                "informationUri": "https://example.invalid/nib",
                "rules": rules_json,
            }},
            "results": results_json,
        }]
    })
}

/// `path:line:col: severity [rule-id] message (CWE)` lines followed by an indented fix hint.
pub fn to_text(results: &[(String, Vec<Finding>)]) -> String {
    let mut out = String::new();
    for (path, findings) in results {
        for f in findings {
            let cwe = f
                .cwe
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{path}:{}:{}: {} [{}] {}{cwe}\n    fix: {}\n",
                f.start.0 + 1,
                f.start.1 + 1,
                f.severity.as_str(),
                f.rule_id,
                f.message,
                f.fix_hint
            ));
        }
    }
    out
}
