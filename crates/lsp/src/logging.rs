//! Logs go to stderr or a file, never stdout: stdout carries only JSON-RPC frames.
//!
//! The server ([`init_server`]) writes warnings and errors to stderr (editors such as Neovim log
//! every stderr line of a server as an error) and everything at the configured level to a log
//! file: `NIB_LOG_FILE`, or `nib.log` in nib's data directory, capped at [`MAX_LOG_BYTES`] (the
//! full file is renamed to `nib.log.1`, replacing the one before). `NIB_LOG_FILE=-` keeps the
//! whole log on stderr. The command-line tools ([`init`]) log to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::{prelude::*, reload, EnvFilter, Registry};

/// A log file is rotated when it grows past this many bytes.
pub const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;
/// The log file's name in nib's data directory.
pub const LOG_FILE_NAME: &str = "nib.log";

#[derive(Clone)]
pub struct LogHandle(Option<reload::Handle<EnvFilter, Registry>>);

impl LogHandle {
    /// Change the level at run time (`logLevel` setting); `NIB_LOG` wins if set.
    pub fn set_level(&self, level: &str) {
        if std::env::var_os("NIB_LOG").is_some() {
            return;
        }
        if let Some(h) = &self.0 {
            let _ = h.modify(|f| *f = filter(level));
        }
    }
}

fn filter(level: &str) -> EnvFilter {
    // llama.cpp is chatty at info; keep it at warn unless asked for.
    EnvFilter::try_new(format!("{level},llama_cpp_2=error"))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

fn initial_filter(default_level: &str) -> EnvFilter {
    match std::env::var("NIB_LOG") {
        Ok(spec) => EnvFilter::try_new(spec).unwrap_or_else(|_| filter(default_level)),
        Err(_) => filter(default_level),
    }
}

/// Where the server's log file is: `NIB_LOG_FILE` (`None` for `-`: stderr only), else
/// `nib.log` in nib's data directory.
pub fn log_file_path() -> Option<PathBuf> {
    match std::env::var_os("NIB_LOG_FILE").filter(|p| !p.is_empty()) {
        Some(p) if p == "-" => None,
        Some(p) => Some(PathBuf::from(p)),
        None => Some(nib_workspace::nib_home().join(LOG_FILE_NAME)),
    }
}

/// A log file that is renamed to `<name>.1` and started afresh when it would pass `max` bytes.
pub struct CappedFile {
    path: PathBuf,
    file: std::fs::File,
    len: u64,
    max: u64,
}

fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

impl CappedFile {
    /// Open (creating its directory) for appending; a file already past `max` is rotated first.
    pub fn open(path: &Path, max: u64) -> std::io::Result<CappedFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = CappedFile {
            path: path.to_path_buf(),
            file: Self::append(path)?,
            len: 0,
            max,
        };
        f.len = f.file.metadata()?.len();
        if f.len >= max {
            f.rotate()?;
        }
        Ok(f)
    }

    fn append(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.path, rotated(&self.path))?;
        self.file = Self::append(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for CappedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.len > 0 && self.len + buf.len() as u64 > self.max {
            // A failed rotation (the directory went away) keeps writing to the open file.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn fmt_layer<S>(writer: BoxMakeWriter) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
}

/// Logging for the command-line tools: stderr (or `NIB_LOG_FILE`) at `default_level`.
pub fn init(default_level: &str) -> LogHandle {
    let (layer, handle) = reload::Layer::new(initial_filter(default_level));
    let writer = match std::env::var_os("NIB_LOG_FILE").filter(|p| !p.is_empty() && p != "-") {
        Some(path) => match CappedFile::open(Path::new(&path), MAX_LOG_BYTES) {
            Ok(file) => BoxMakeWriter::new(Mutex::new(file)),
            Err(_) => BoxMakeWriter::new(std::io::stderr),
        },
        None => BoxMakeWriter::new(std::io::stderr),
    };
    if tracing_subscriber::registry()
        .with(layer)
        .with(fmt_layer(writer))
        .try_init()
        .is_err()
    {
        return LogHandle(None);
    }
    LogHandle(Some(handle))
}

/// Logging for `nib serve`: warnings and errors to stderr, everything at `default_level` (the
/// `logLevel` setting, `NIB_LOG`) to the log file ([`log_file_path`]). A log file that cannot
/// be opened is reported on stderr, which then carries the whole log.
pub fn init_server(default_level: &str) -> LogHandle {
    let (file_filter, handle) = reload::Layer::new(initial_filter(default_level));
    let mut failed = None;
    let file = match log_file_path() {
        Some(path) => match CappedFile::open(&path, MAX_LOG_BYTES) {
            Ok(f) => Some(f),
            Err(e) => {
                failed = Some(format!("cannot open the log file {}: {e}", path.display()));
                None
            }
        },
        None => None,
    };
    let result = match file {
        Some(file) => tracing_subscriber::registry()
            .with(fmt_layer(BoxMakeWriter::new(Mutex::new(file))).with_filter(file_filter))
            .with(fmt_layer(BoxMakeWriter::new(std::io::stderr)).with_filter(LevelFilter::WARN))
            .try_init(),
        None => tracing_subscriber::registry()
            .with(fmt_layer(BoxMakeWriter::new(std::io::stderr)).with_filter(file_filter))
            .try_init(),
    };
    if result.is_err() {
        return LogHandle(None);
    }
    if let Some(msg) = failed {
        tracing::warn!("{msg}; logging to stderr");
    }
    LogHandle(Some(handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_file_is_renamed_and_started_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/nib.log");
        let mut f = CappedFile::open(&path, 10).unwrap();
        f.write_all(b"0123456").unwrap();
        f.write_all(b"abcdef").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abcdef");
        assert_eq!(std::fs::read_to_string(rotated(&path)).unwrap(), "0123456");
        drop(f);
        // Reopened past the cap: rotated at once, the older rotation replaced.
        std::fs::write(&path, "x".repeat(12)).unwrap();
        let mut f = CappedFile::open(&path, 10).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(rotated(&path)).unwrap(),
            "x".repeat(12)
        );
    }

    #[test]
    fn a_line_longer_than_the_cap_is_still_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nib.log");
        let mut f = CappedFile::open(&path, 4).unwrap();
        f.write_all(b"longer than four").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "longer than four");
    }
}
