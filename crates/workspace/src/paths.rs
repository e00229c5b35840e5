//! Where nib keeps its files, and file URIs as paths.

use std::path::PathBuf;

/// `$NIB_HOME`, or the platform cache dir + `nib` (`$XDG_CACHE_HOME/nib`, `~/.cache/nib`,
/// `%LOCALAPPDATA%\nib`, `~/Library/Caches/nib`): models, evaluation data, caches.
pub fn nib_home() -> PathBuf {
    if let Some(h) = std::env::var_os("NIB_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(x).join("nib");
    }
    if let Some(l) = std::env::var_os("LOCALAPPDATA").filter(|h| !h.is_empty()) {
        return PathBuf::from(l).join("nib");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    if cfg!(target_os = "macos") {
        home.join("Library/Caches/nib")
    } else {
        home.join(".cache/nib")
    }
}

/// `file:///a/b%20c.py` -> `/a/b c.py`; `None` for other schemes.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_file_uris() {
        assert_eq!(
            uri_to_path("file:///a/b%20c.py"),
            Some(PathBuf::from("/a/b c.py"))
        );
        assert_eq!(uri_to_path("file:///x.rs"), Some(PathBuf::from("/x.rs")));
        assert_eq!(uri_to_path("untitled:1"), None);
        assert_eq!(uri_to_path("file:///bad%2"), Some(PathBuf::from("/bad%2")));
    }
}
