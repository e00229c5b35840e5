//! Repository context for the holes: a thin [`RepoContextSource`] over a
//! [`nib_workspace::Workspace`] (as the server wires one in), optionally with oracle
//! definitions put first within the same budget.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use nib_context::index::{identifiers, WorkspaceIndex};
use nib_context::repo::{
    render_definition, PieceKind, RepoConfig, RepoPiece, PIECE_OVERHEAD_TOKENS,
};
use nib_engine::TokenCounter;
use nib_ide::{OpenFile, RepoContext, RepoContextSource};
use nib_workspace::Workspace;

/// Definitions per name the oracle shows (names like `new` have many).
const ORACLE_PER_NAME: usize = 3;

/// A definition the hidden rest of a line uses: where, and its rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OracleDef {
    pub name: String,
    pub path: String,
    pub lines: std::ops::Range<usize>,
    pub text: String,
}

/// Identifiers of `line` that overlap its part from byte `cut` on (the hidden rest; an
/// identifier cut in two counts whole), in order, without repeats.
pub fn hidden_identifiers(line: &str, cut: usize) -> Vec<&str> {
    let mut seen = HashSet::new();
    identifiers(line)
        .filter(|id| {
            let start = id.as_ptr() as usize - line.as_ptr() as usize;
            start + id.len() > cut && id.len() >= 2
        })
        .filter(|id| seen.insert(*id))
        .collect()
}

/// The true definitions (signature and docs, rendered as nib's repository context renders
/// them) of the identifiers the hidden rest of a line uses, from files other than `path`.
pub fn oracle_definitions(
    index: &WorkspaceIndex,
    path: &str,
    line: &str,
    cut: usize,
) -> Vec<OracleDef> {
    let config = RepoConfig::default();
    let mut out = Vec::new();
    for name in hidden_identifiers(line, cut) {
        let mut found: Vec<_> = index
            .definitions_named(name)
            .into_iter()
            .filter(|d| d.file.path != path)
            .collect();
        // Non-test definitions first (stable: the lookup is in path order).
        found.sort_by_key(|d| super::gen::is_test_or_aux(&d.file.path));
        for d in found.into_iter().take(ORACLE_PER_NAME) {
            let text = render_definition(
                d.file.lang,
                &d.file.text,
                &d.file.definitions,
                d.index,
                &config,
            );
            let n = d.file.text[d.def.range.clone()].lines().count().max(1);
            out.push(OracleDef {
                name: name.to_string(),
                path: d.file.path.clone(),
                lines: d.def.line..d.def.line + n,
                text,
            });
        }
    }
    out
}

/// `oracle` pieces first (in their order, while they fit), then `ctx`'s pieces in prompt
/// order while they fit, skipping those the oracle already shows. Prompt order: the
/// environment header, the oracle's definitions, the rest.
pub fn merge_oracle(
    oracle: &[OracleDef],
    ctx: RepoContext,
    counter: &dyn TokenCounter,
    budget: usize,
) -> RepoContext {
    let mut used = 0;
    let mut env = Vec::new();
    let mut first = Vec::new();
    let mut rest = Vec::new();
    let mut taken: HashSet<(String, usize)> = HashSet::new();
    for o in oracle {
        let tokens = counter.count(&o.path) + counter.count(&o.text) + PIECE_OVERHEAD_TOKENS;
        if used + tokens > budget || !taken.insert((o.path.clone(), o.lines.start)) {
            continue;
        }
        used += tokens;
        first.push(RepoPiece {
            path: o.path.clone(),
            text: o.text.clone(),
            kind: PieceKind::Definition,
            score: f32::INFINITY,
            lines: o.lines.clone(),
            tokens,
        });
    }
    for p in ctx.pieces {
        let dup =
            p.kind == PieceKind::Definition && taken.contains(&(p.path.clone(), p.lines.start));
        if dup || used + p.tokens > budget {
            continue;
        }
        used += p.tokens;
        if p.kind == PieceKind::Environment {
            env.push(p);
        } else {
            rest.push(p);
        }
    }
    let pieces: Vec<RepoPiece> = env.into_iter().chain(first).chain(rest).collect();
    let mut report = ctx.report;
    report.used_tokens = used;
    report.included = pieces
        .iter()
        .map(|p| (p.kind, p.path.clone(), p.lines.clone(), p.tokens))
        .collect();
    RepoContext { pieces, report }
}

/// The workspace as the completion path sees it, plus the oracle of the current setting.
pub struct HoleSource {
    pub ws: Arc<RwLock<Workspace>>,
    name: String,
    /// Definitions put first (the `oracle` setting); empty otherwise.
    pub oracle: Mutex<Vec<OracleDef>>,
}

impl HoleSource {
    pub fn new(ws: Workspace, name: &str) -> HoleSource {
        HoleSource {
            ws: Arc::new(RwLock::new(ws)),
            name: name.to_string(),
            oracle: Mutex::new(Vec::new()),
        }
    }

    /// Index `text` as the content of `path` (absolute).
    pub fn set_text(&self, path: &Path, text: &str) {
        let mut ws = self.ws.write().unwrap_or_else(|e| e.into_inner());
        ws.update_text(path, text);
    }

    pub fn set_oracle(&self, defs: Vec<OracleDef>) {
        *self.oracle.lock().unwrap_or_else(|e| e.into_inner()) = defs;
    }
}

pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl RepoContextSource for HoleSource {
    fn context(
        &self,
        uri: &str,
        text: &str,
        cursor: usize,
        tree: Option<&nib_syntax::tree_sitter::Tree>,
        open_files: &[OpenFile<'_>],
        counter: &dyn TokenCounter,
        budget_tokens: usize,
    ) -> Option<RepoContext> {
        let ws = self.ws.read().ok()?;
        let ctx =
            ws.context_for_uri(uri, text, cursor, tree, open_files, counter, budget_tokens)?;
        let oracle = self.oracle.lock().unwrap_or_else(|e| e.into_inner());
        if oracle.is_empty() {
            Some(ctx)
        } else {
            Some(merge_oracle(&oracle, ctx, counter, budget_tokens))
        }
    }

    fn repo_name(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Counts one token per 4 bytes.
    struct Bytes4;
    impl TokenCounter for Bytes4 {
        fn count(&self, text: &str) -> usize {
            text.len().div_ceil(4)
        }
    }

    fn pyproj() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/context/pyproj")
    }

    #[test]
    fn hidden_identifiers_include_the_cut_word() {
        let line = "    total = amount + fees.fee_for(amount, card=card)";
        let cut = line.find("fee_for").unwrap() + 3;
        assert_eq!(
            hidden_identifiers(line, cut),
            vec!["fee_for", "amount", "card"]
        );
        assert!(hidden_identifiers(line, line.len()).is_empty());
    }

    #[test]
    fn oracle_finds_the_definition_a_line_calls() {
        let (ws, _) = Workspace::open(&pyproj(), nib_workspace::WalkConfig::default(), &mut |_| {});
        let line = "    total = amount + fees.fee_for(amount, card=card)";
        let cut = line.find("fees.").unwrap() + 5;
        let defs = oracle_definitions(&ws.index, "shop/payments/gateway.py", line, cut);
        let fee = defs
            .iter()
            .find(|d| d.name == "fee_for")
            .expect("fee_for found");
        assert_eq!(fee.path, "shop/payments/fees.py");
        assert!(fee
            .text
            .contains("def fee_for(amount: float, *, card: str = \"visa\") -> float:"));
        assert!(fee.text.contains("The card fee for an amount."));
        // Its body is not shown.
        assert!(!fee.text.contains("0.029"));
        // A name only the file itself defines is not an oracle definition of another file.
        let own = oracle_definitions(&ws.index, "shop/payments/fees.py", "x = fee_for(1)", 4);
        assert!(own.iter().all(|d| d.path != "shop/payments/fees.py"));
    }

    #[test]
    fn oracle_goes_first_within_the_budget() {
        let piece = |path: &str, kind, line: usize, tokens| RepoPiece {
            path: path.into(),
            text: "x".repeat(tokens * 4),
            kind,
            score: 1.0,
            lines: line..line + 1,
            tokens,
        };
        let ctx = RepoContext {
            pieces: vec![
                piece("environment", PieceKind::Environment, 0, 5),
                piece("a.py", PieceKind::Definition, 3, 10),
                piece("b.py", PieceKind::Definition, 7, 10),
                piece("c.py", PieceKind::Bm25, 0, 30),
            ],
            report: Default::default(),
        };
        let oracle = vec![OracleDef {
            name: "f".into(),
            path: "a.py".into(),
            lines: 3..4,
            text: "y".repeat(36),
        }];
        // Oracle: 1 (path) + 9 (text) + 2 = 12 tokens.
        let merged = merge_oracle(&oracle, ctx, &Bytes4, 40);
        let order: Vec<(&str, PieceKind)> = merged
            .pieces
            .iter()
            .map(|p| (p.path.as_str(), p.kind))
            .collect();
        assert_eq!(
            order,
            vec![
                ("environment", PieceKind::Environment),
                ("a.py", PieceKind::Definition),
                ("b.py", PieceKind::Definition),
            ]
        );
        assert!(
            merged.pieces[1].text.starts_with('y'),
            "the oracle's, not nib's copy"
        );
        assert_eq!(merged.report.used_tokens, 27);
        assert!(merged.report.used_tokens <= 40);
    }
}
