//! The project a file belongs to.

use std::path::{Path, PathBuf};

/// Files or directories whose presence marks a project root.
const ROOT_MARKERS: &[&str] = &[
    ".git",
    "Cargo.toml",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    ".nibignore",
];

/// The project root of `path` (a file or a directory): walking up from it, the outermost
/// directory holding a root marker, without going above the nearest one holding `.git`
/// (a workspace's `Cargo.toml` above a member's, a repository above its packages). Without
/// any marker, the directory of `path`.
pub fn project_root(path: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let start = if abs.is_dir() {
        abs.clone()
    } else {
        abs.parent().map_or_else(|| abs.clone(), Path::to_path_buf)
    };
    let mut best = None;
    for dir in start.ancestors() {
        if ROOT_MARKERS.iter().any(|m| dir.join(m).exists()) {
            best = Some(dir.to_path_buf());
            if dir.join(".git").exists() {
                break;
            }
        }
    }
    best.unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[test]
    fn outermost_marker_up_to_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        touch(&root, "pyproject.toml");
        touch(&root, "a/b/c.py");
        assert_eq!(project_root(&root.join("a/b/c.py")), root);
        // A member's manifest does not make a project of its own under the workspace's.
        touch(&root, "a/Cargo.toml");
        assert_eq!(project_root(&root.join("a/b")), root);
        // A repository inside stops the walk.
        std::fs::create_dir_all(root.join("a/.git")).unwrap();
        assert_eq!(project_root(&root.join("a/b/c.py")), root.join("a"));
    }

    #[test]
    fn no_marker_is_the_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        touch(&root, "x/y.py");
        let got = project_root(&root.join("x/y.py"));
        assert!(got.starts_with(&root) || got == root.join("x"), "{got:?}");
    }
}
