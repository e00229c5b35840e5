//! Repository context for the ide from a workspace index: a [`RepoContextSource`] over a
//! [`Workspace`] that follows the editor's open documents and file events (the pure ranking
//! lives in nib-context).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use nib_context::repo::{OpenFile, RepoContext, RepoContextSource};

use crate::{uri_to_path, Reindexed, WalkConfig, Workspace};

/// Globs registered for `workspace/didChangeWatchedFiles`: the sources the index covers, the
/// manifests the environment header reads, and the ignore files the walk honours.
pub const WATCH_GLOBS: &[&str] = &[
    "**/*.py",
    "**/*.pyi",
    "**/*.rs",
    "**/pyproject.toml",
    "**/setup.cfg",
    "**/Pipfile",
    "**/.python-version",
    "**/requirements*.txt",
    "**/Cargo.toml",
    "**/Cargo.lock",
    "**/rust-toolchain",
    "**/rust-toolchain.toml",
    "**/.gitignore",
    "**/.ignore",
    "**/.nibignore",
];

/// What happened to a watched path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChange {
    Created,
    Changed,
    Deleted,
}

/// Paths of the documents open in the editor: their text is the editor's, not the disk's.
#[derive(Debug, Default, Clone)]
pub struct OpenPaths(Arc<Mutex<HashSet<PathBuf>>>);

impl OpenPaths {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn open(&self, uri: &str) {
        if let Some(p) = uri_to_path(uri) {
            self.set().insert(p);
        }
    }

    pub fn close(&self, uri: &str) {
        if let Some(p) = uri_to_path(uri) {
            self.set().remove(&p);
        }
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.set().contains(path)
    }
}

/// What a batch of file events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsApplied {
    pub updated: usize,
    pub removed: usize,
    pub manifests: usize,
    /// Events about open documents, left to the editor.
    pub open: usize,
    pub skipped: usize,
    /// An ignore file changed and the index was checked against the ignore rules again.
    pub resynced: bool,
}

pub struct WorkspaceSource {
    pub ws: Arc<RwLock<Workspace>>,
    name: String,
}

impl WorkspaceSource {
    /// Index everything under `root` (blocking), reporting `(done, total)` as it goes.
    pub fn index(
        root: &Path,
        progress: &mut dyn FnMut(usize, usize),
    ) -> (WorkspaceSource, crate::IndexStats) {
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

    /// A document was saved: re-read it (and re-check the ignore rules if it is an ignore file).
    pub fn reindex(&self, uri: &str, open: &OpenPaths) {
        if let (Some(path), Ok(mut ws)) = (uri_to_path(uri), self.ws.write()) {
            if ws.reindex_path(&path) == Reindexed::IgnoreRulesChanged {
                ws.resync(&|p| open.contains(p));
            }
        }
    }

    /// Apply `workspace/didChangeWatchedFiles` events (blocking: reads files). Paths open in
    /// the editor are left alone; an ignore file's change re-checks the workspace once per
    /// batch. The lock is taken per event, so completions wait for one file at most.
    pub fn apply_file_events(
        &self,
        events: &[(PathBuf, FileChange)],
        open: &OpenPaths,
    ) -> EventsApplied {
        let mut out = EventsApplied::default();
        let mut resync = false;
        for (path, change) in events {
            if open.contains(path) {
                out.open += 1;
                continue;
            }
            let Ok(mut ws) = self.ws.write() else {
                return out;
            };
            let r = match change {
                FileChange::Created | FileChange::Changed => ws.update_path(path),
                FileChange::Deleted => ws.remove_path(path),
            };
            match r {
                Reindexed::Updated => out.updated += 1,
                Reindexed::Removed => out.removed += 1,
                Reindexed::ManifestUpdated => out.manifests += 1,
                Reindexed::IgnoreRulesChanged => resync = true,
                Reindexed::Skipped(_) => out.skipped += 1,
            }
        }
        if resync {
            if let Ok(mut ws) = self.ws.write() {
                ws.resync(&|p| open.contains(p));
                out.resynced = true;
            }
        }
        out
    }

    /// (indexed files, definitions), for `nib/stats`.
    pub fn counts(&self) -> (usize, usize) {
        self.ws
            .read()
            .map(|ws| (ws.index.len(), ws.index.definition_count()))
            .unwrap_or_default()
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

    fn is_ignored(&self, path: &str) -> bool {
        let p = uri_to_path(path).unwrap_or_else(|| PathBuf::from(path));
        // A poisoned lock: nothing is known about the file, so it is kept back.
        let Ok(ws) = self.ws.read() else {
            return true;
        };
        let abs = if p.is_absolute() { p } else { ws.root.join(p) };
        ws.excludes(&abs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every watched glob names files the workspace acts on, and every manifest name the
    /// environment reads is watched.
    #[test]
    fn watch_globs_cover_what_the_index_reads() {
        for g in WATCH_GLOBS {
            let sample = g.trim_start_matches("**/").replace('*', "x");
            let handled = nib_context::env::is_manifest(&sample)
                || crate::is_ignore_file(&sample)
                || nib_syntax::Language::from_path(Path::new(&sample)).is_some();
            assert!(handled, "{g} watches files nib ignores");
        }
        for name in [
            "pyproject.toml",
            "setup.cfg",
            "Pipfile",
            ".python-version",
            "requirements-dev.txt",
            "Cargo.toml",
            "Cargo.lock",
            "rust-toolchain",
            "rust-toolchain.toml",
            ".gitignore",
            ".nibignore",
        ] {
            assert!(
                WATCH_GLOBS
                    .iter()
                    .any(|g| glob_matches(g.trim_start_matches("**/"), name)),
                "{name} is not watched"
            );
        }
    }

    /// `*` only, enough for the globs above.
    fn glob_matches(glob: &str, name: &str) -> bool {
        match glob.split_once('*') {
            None => glob == name,
            Some((a, b)) => {
                name.len() >= a.len() + b.len() && name.starts_with(a) && name.ends_with(b)
            }
        }
    }
}
