//! Security rules: one TOML file per rule under `rules/<language>/`, embedded at build time.
//!
//! A rule has one or more `[[match]]` blocks. Each holds a tree-sitter query (its `@sink`
//! capture is what gets reported), an optional named predicate implemented in
//! `predicates.rs` for what a query cannot say, and an optional `[match.taint]` table that
//! grades the finding by where the captured value comes from (see `flow.rs`).

use std::collections::BTreeMap;

use nib_syntax::tree_sitter::{Query, QueryCursor, StreamingIterator, Tree};
use nib_syntax::{point_of, Language};
use serde::Deserialize;

use crate::flow::{self, Origin};
use crate::predicates::{MatchCtx, Predicate};
use crate::testcode;
use crate::{Category, Finding, Severity};

/// The embedded rule files: (path under `rules/`, contents).
pub const RULE_FILES: &[(&str, &str)] = &[
    (
        "python/code-injection.toml",
        include_str!("../rules/python/code-injection.toml"),
    ),
    (
        "python/command-injection.toml",
        include_str!("../rules/python/command-injection.toml"),
    ),
    (
        "python/flask-debug.toml",
        include_str!("../rules/python/flask-debug.toml"),
    ),
    (
        "python/hardcoded-secret.toml",
        include_str!("../rules/python/hardcoded-secret.toml"),
    ),
    (
        "python/insecure-random.toml",
        include_str!("../rules/python/insecure-random.toml"),
    ),
    (
        "python/insecure-tempfile.toml",
        include_str!("../rules/python/insecure-tempfile.toml"),
    ),
    (
        "python/jinja-autoescape.toml",
        include_str!("../rules/python/jinja-autoescape.toml"),
    ),
    (
        "python/path-traversal.toml",
        include_str!("../rules/python/path-traversal.toml"),
    ),
    (
        "python/sql-injection.toml",
        include_str!("../rules/python/sql-injection.toml"),
    ),
    (
        "python/tls-verify-disabled.toml",
        include_str!("../rules/python/tls-verify-disabled.toml"),
    ),
    (
        "python/unsafe-deserialization.toml",
        include_str!("../rules/python/unsafe-deserialization.toml"),
    ),
    (
        "python/weak-password-hash.toml",
        include_str!("../rules/python/weak-password-hash.toml"),
    ),
    ("python/xxe.toml", include_str!("../rules/python/xxe.toml")),
    (
        "python/yaml-load.toml",
        include_str!("../rules/python/yaml-load.toml"),
    ),
    (
        "rust/command-injection.toml",
        include_str!("../rules/rust/command-injection.toml"),
    ),
    (
        "rust/hardcoded-secret.toml",
        include_str!("../rules/rust/hardcoded-secret.toml"),
    ),
    (
        "rust/insecure-tempfile.toml",
        include_str!("../rules/rust/insecure-tempfile.toml"),
    ),
    (
        "rust/path-traversal.toml",
        include_str!("../rules/rust/path-traversal.toml"),
    ),
    (
        "rust/sql-injection.toml",
        include_str!("../rules/rust/sql-injection.toml"),
    ),
    (
        "rust/tls-verify-disabled.toml",
        include_str!("../rules/rust/tls-verify-disabled.toml"),
    ),
    (
        "rust/unsafe-block.toml",
        include_str!("../rules/rust/unsafe-block.toml"),
    ),
    (
        "rust/weak-hash.toml",
        include_str!("../rules/rust/weak-hash.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    language: String,
    cwe: Option<String>,
    severity: Severity,
    message: String,
    fix_hint: String,
    /// Highest severity in test code (see `testcode.rs`); `None`: as anywhere else.
    #[serde(default)]
    test_severity: Option<Severity>,
    #[serde(rename = "match")]
    matches: Vec<MatchSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    query: String,
    #[serde(default)]
    predicate: Option<String>,
    /// Overrides the rule's severity for this match.
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    taint: Option<TaintSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaintSpec {
    /// The capture whose value is classified (all its nodes in a match are joined).
    capture: String,
    /// Only report values built by formatting / concatenation.
    #[serde(default)]
    require_built: bool,
    /// Whether a function parameter counts as outside data (`param_severity`) or as `unknown`.
    #[serde(default = "yes")]
    params: bool,
    /// Severity when the only evidence is a function parameter; default: the match severity,
    /// at most medium (the caller decides, and most callers pass their own data).
    #[serde(default)]
    param_severity: Option<Severity>,
    /// Severity for input from whoever runs the program (`sys.argv`, the environment, stdin,
    /// `input()`); default: the match severity.
    #[serde(default)]
    local_severity: Option<Severity>,
    /// Severity when that input is the environment; default: `local_severity`.
    #[serde(default)]
    env_severity: Option<Severity>,
    /// Highest severity when the value is the content of a file the program opens.
    #[serde(default)]
    file_severity: Option<Severity>,
    /// Severity for values of unknown origin; `None`: no finding.
    #[serde(default)]
    unknown_severity: Option<Severity>,
    /// Severity for constant values; `None`: no finding.
    #[serde(default)]
    constant_severity: Option<Severity>,
}

fn yes() -> bool {
    true
}

/// Public description of a rule, e.g. for SARIF `rules` and documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub language: Language,
    pub cwe: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub fix_hint: String,
}

struct CompiledMatch {
    /// Number of patterns this match's query contributes to the combined query.
    patterns: usize,
    predicate: Option<Predicate>,
    severity: Severity,
    taint: Option<TaintSpec>,
}

pub(crate) struct Rule {
    pub(crate) info: RuleInfo,
    test_severity: Option<Severity>,
    matches: Vec<CompiledMatch>,
}

/// All match queries of one language in one tree-sitter query, so a check walks the tree once.
struct Combined {
    lang: Language,
    query: Query,
    /// Pattern index -> (rule index, match index).
    owners: Vec<(usize, usize)>,
    sink: u32,
}

/// The compiled rule set.
pub(crate) struct Rules {
    pub(crate) rules: Vec<Rule>,
    combined: Vec<Combined>,
}

/// Parse and compile every embedded rule; errors name the rule file.
pub(crate) fn compile_all() -> (Rules, Vec<String>) {
    let mut rules = Vec::new();
    let mut sources: Vec<(Language, String)> = Vec::new();
    let mut errors = Vec::new();
    for (path, text) in RULE_FILES {
        match compile(text) {
            Ok((rule, queries)) => {
                sources.push((rule.info.language, queries));
                rules.push(rule);
            }
            Err(e) => errors.push(format!("rules/{path}: {e}")),
        }
    }
    let mut combined = Vec::new();
    for &lang in Language::ALL {
        let Some(grammar) = lang.grammar() else {
            continue;
        };
        let mut source = String::new();
        let mut owners = Vec::new();
        for (ri, rule) in rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.info.language == lang)
        {
            for (mi, m) in rule.matches.iter().enumerate() {
                owners.extend(std::iter::repeat_n((ri, mi), m.patterns));
            }
            source.push_str(&sources[ri].1);
        }
        if owners.is_empty() {
            continue;
        }
        match Query::new(&grammar, &source) {
            Ok(query) if query.pattern_count() == owners.len() => {
                let sink = query
                    .capture_index_for_name("sink")
                    .expect("every match has @sink");
                combined.push(Combined {
                    lang,
                    query,
                    owners,
                    sink,
                });
            }
            Ok(_) => errors.push(format!(
                "{}: combined query has an unexpected pattern count",
                lang.name()
            )),
            Err(e) => errors.push(format!("{}: combined query: {e}", lang.name())),
        }
    }
    (Rules { rules, combined }, errors)
}

/// A rule and the concatenated source of its match queries.
fn compile(text: &str) -> Result<(Rule, String), String> {
    let spec: RuleSpec = toml::from_str(text).map_err(|e| e.to_string())?;
    let language = match spec.language.as_str() {
        "python" => Language::Python,
        "rust" => Language::Rust,
        other => return Err(format!("unknown language `{other}`")),
    };
    let grammar = language
        .grammar()
        .ok_or_else(|| format!("no grammar for {}", spec.language))?;
    let mut matches = Vec::new();
    let mut source = String::new();
    for (i, m) in spec.matches.iter().enumerate() {
        // Compiled alone to validate it and count its patterns.
        let query = Query::new(&grammar, &m.query).map_err(|e| format!("match {i}: {e}"))?;
        query
            .capture_index_for_name("sink")
            .ok_or_else(|| format!("match {i}: no @sink capture"))?;
        if let Some(t) = &m.taint {
            query
                .capture_index_for_name(&t.capture)
                .ok_or_else(|| format!("match {i}: no @{} capture", t.capture))?;
        }
        let predicate = match &m.predicate {
            Some(name) => Some(
                Predicate::from_name(name)
                    .ok_or_else(|| format!("match {i}: unknown predicate `{name}`"))?,
            ),
            None => None,
        };
        matches.push(CompiledMatch {
            patterns: query.pattern_count(),
            predicate,
            severity: m.severity.unwrap_or(spec.severity),
            taint: m.taint.clone(),
        });
        source.push_str(&m.query);
        source.push('\n');
    }
    let rule = Rule {
        info: RuleInfo {
            id: spec.id,
            language,
            cwe: spec.cwe,
            severity: spec.severity,
            message: spec.message,
            fix_hint: spec.fix_hint,
        },
        test_severity: spec.test_severity,
        matches,
    };
    Ok((rule, source))
}

/// Run `rules` for `lang` over `tree` (of `src`), only looking at nodes intersecting `range`.
/// `test_file`: the code is known to be test code (from its path).
pub(crate) fn run(
    rules: &Rules,
    lang: Language,
    tree: &Tree,
    src: &str,
    range: std::ops::Range<usize>,
    disabled: &std::collections::BTreeSet<String>,
    test_file: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(combined) = rules.combined.iter().find(|c| c.lang == lang) else {
        return out;
    };
    let query = &combined.query;
    let names = query.capture_names();
    let mut cursor = QueryCursor::new();
    cursor.set_match_limit(4096);
    cursor.set_byte_range(range);
    let mut it = cursor.matches(query, tree.root_node(), src.as_bytes());
    while let Some(m) = it.next() {
        let (ri, mi) = combined.owners[m.pattern_index];
        let rule = &rules.rules[ri];
        if disabled.contains(&rule.info.id) {
            continue;
        }
        let cm = &rule.matches[mi];
        let Some(sink) = m
            .captures
            .iter()
            .find(|c| c.index == combined.sink)
            .map(|c| c.node)
        else {
            continue;
        };
        if let Some(pred) = &cm.predicate {
            let mut captures = BTreeMap::new();
            for c in m.captures {
                captures.entry(names[c.index as usize]).or_insert(c.node);
            }
            let ctx = MatchCtx {
                lang,
                src,
                sink,
                captures,
            };
            if !pred.holds(&ctx) {
                continue;
            }
        }
        let mut message = rule.info.message.clone();
        let severity = match &cm.taint {
            Some(spec) => {
                let nodes: Vec<_> = m
                    .captures
                    .iter()
                    .filter(|c| names[c.index as usize] == spec.capture)
                    .map(|c| c.node)
                    .collect();
                let Some(flow) =
                    nodes
                        .iter()
                        .map(|n| flow::classify(lang, *n, src))
                        .reduce(|a, b| {
                            if b.origin > a.origin {
                                Flow2::pick(b, a)
                            } else {
                                Flow2::pick(a, b)
                            }
                        })
                else {
                    continue;
                };
                if spec.require_built && !flow.built {
                    continue;
                }
                let sev = match flow.origin {
                    Origin::Remote => Some(cm.severity),
                    Origin::Local => Some(
                        (if flow.env { spec.env_severity } else { None })
                            .or(spec.local_severity)
                            .unwrap_or(cm.severity),
                    ),
                    Origin::Param if spec.params => Some(
                        spec.param_severity
                            .unwrap_or_else(|| cm.severity.min(Severity::Medium)),
                    ),
                    Origin::Param | Origin::Unknown => spec.unknown_severity,
                    Origin::Constant => spec.constant_severity,
                };
                let Some(mut sev) = sev else { continue };
                if let (Some(source), true) = (&flow.source, flow.origin >= Origin::Param) {
                    let via = if flow.file { "a file named by " } else { "" };
                    message = format!("{message} (data from {via}{source})");
                }
                if let (true, Some(cap)) = (flow.file, spec.file_severity) {
                    sev = sev.min(cap);
                }
                sev
            }
            None => cm.severity,
        };
        let severity = match rule.test_severity {
            Some(cap)
                if severity > cap && (test_file || testcode::in_test_code(lang, sink, src)) =>
            {
                message = format!("{message} (in test code)");
                cap
            }
            _ => severity,
        };
        let (start_byte, end_byte) = (sink.start_byte(), sink.end_byte());
        out.push(Finding {
            rule_id: rule.info.id.clone(),
            cwe: rule.info.cwe.clone(),
            severity,
            message,
            fix_hint: rule.info.fix_hint.clone(),
            start_byte,
            end_byte,
            start: point_of(src, start_byte),
            end: point_of(src, end_byte),
            category: Category::Security,
        });
    }
    dedupe(out)
}

/// Joining flows of several captured nodes keeps the built flag of any of them.
struct Flow2;
impl Flow2 {
    fn pick(mut hi: flow::Flow, lo: flow::Flow) -> flow::Flow {
        hi.built |= lo.built;
        hi
    }
}

/// Of findings of the same rule where one range contains the other, keep one: the more
/// severe, or the outer on a tie.
pub(crate) fn dedupe(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        (a.start_byte, std::cmp::Reverse(a.end_byte), &a.rule_id).cmp(&(
            b.start_byte,
            std::cmp::Reverse(b.end_byte),
            &b.rule_id,
        ))
    });
    let mut kept: Vec<Finding> = Vec::new();
    for f in findings {
        let contained = kept.iter_mut().rev().find(|k| {
            k.rule_id == f.rule_id && k.start_byte <= f.start_byte && f.end_byte <= k.end_byte
        });
        match contained {
            Some(k) => {
                if f.severity > k.severity {
                    *k = f;
                }
            }
            None => kept.push(f),
        }
    }
    kept
}
