//! Repository context for the ide from a workspace index (the IO side: walking and reading
//! files lives in nib-workspace; the pure ranking in nib-context).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use nib_ide::{OpenFile, RepoContext, RepoContextSource};
use nib_workspace::{WalkConfig, Workspace};

pub struct WorkspaceSource {
    pub ws: Arc<RwLock<Workspace>>,
    name: String,
}

impl WorkspaceSource {
    /// Index everything under `root` (blocking), reporting `(done, total)` as it goes.
    pub fn index(
        root: &Path,
        progress: &mut dyn FnMut(usize, usize),
    ) -> (WorkspaceSource, nib_workspace::IndexStats) {
        let (ws, stats) = Workspace::open(root, WalkConfig::default(), &mut |p| {
            progress(p.done, p.total)
        });
        let name = root.file_name().map_or_else(
            || "workspace".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        (
            WorkspaceSource {
                ws: Arc::new(RwLock::new(ws)),
                name,
            },
            stats,
        )
    }

    /// Re-read an open document's text into the index.
    pub fn update(&self, uri: &str, text: &str, tree: Option<&nib_syntax::tree_sitter::Tree>) {
        if let (Some(path), Ok(mut ws)) = (uri_to_path(uri), self.ws.write()) {
            ws.update_document(&path, text, tree);
        }
    }

    /// A file changed on disk (saved, created, deleted).
    pub fn reindex(&self, uri: &str) {
        if let (Some(path), Ok(mut ws)) = (uri_to_path(uri), self.ws.write()) {
            ws.reindex_path(&path);
        }
    }
}

impl RepoContextSource for WorkspaceSource {
    fn context(
        &self,
        uri: &str,
        text: &str,
        cursor: usize,
        tree: Option<&nib_syntax::tree_sitter::Tree>,
        open_files: &[OpenFile<'_>],
        counter: &dyn nib_engine::TokenCounter,
        budget_tokens: usize,
    ) -> Option<RepoContext> {
        let ws = self.ws.read().ok()?;
        ws.context_for_uri(uri, text, cursor, tree, open_files, counter, budget_tokens)
    }

    fn repo_name(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

pub use nib_workspace::uri_to_path;

/// The project root of a file: the nearest ancestor with a VCS or project marker.
pub fn project_root(file: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(file).ok()?;
    let markers = [
        ".git",
        "Cargo.toml",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        ".nibignore",
    ];
    let mut dir = abs.parent();
    let mut best = None;
    while let Some(d) = dir {
        if markers.iter().any(|m| d.join(m).exists()) {
            best = Some(d.to_path_buf());
            if d.join(".git").exists() {
                break;
            }
        }
        dir = d.parent();
    }
    best.or_else(|| abs.parent().map(Path::to_path_buf))
}
