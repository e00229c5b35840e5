//! events: what happens to nib's suggestions (shown, accepted, partially accepted, rejected),
//! recorded in a local SQLite database, summed up by [`Store::stats`] and exported as training
//! data by [`Store::export_jsonl`].
//!
//! Invariants:
//! - Nothing leaves the machine: the database lives in nib's data directory
//!   (`nib_home()/events.sqlite3`) or at a path the caller gives.
//! - Code is stored only at [`Telemetry::Full`]: at `metrics` (the default) the text columns are
//!   always NULL, and at `off` nothing is written.
//! - Text from a file nib must not read (`nib_checks::is_denied_path`) is never stored, and text
//!   is redacted (`nib_checks::redact`) before it is exported.
//! - Opening never panics: an unwritable directory, a full disk or a corrupt file is an
//!   [`Error`] the caller logs, and nib goes on without events.
//! - Rows older than the retention limit are deleted when the store is opened.

mod export;
mod stats;
pub mod track;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection};

pub use export::ExportCounts;
pub use stats::{Counts, Stats};

/// The schema version in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i32 = 2;
/// Days an event is kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The database's file name in nib's data directory.
pub const FILE_NAME: &str = "events.sqlite3";

const SCHEMA: &str = "
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('shown', 'accepted', 'partially_accepted', 'rejected', 'kept')),
    time_ms INTEGER NOT NULL,
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    trigger TEXT NOT NULL CHECK (trigger IN ('automatic', 'invoked')),
    confidence TEXT NOT NULL,
    latency_ms REAL,
    suggestion_len INTEGER NOT NULL,
    accepted_len INTEGER,
    reason TEXT,
    prefix TEXT,
    suffix TEXT,
    suggestion TEXT,
    instead TEXT,
    source TEXT NOT NULL DEFAULT 'client' CHECK (source IN ('client', 'inferred'))
);
CREATE INDEX events_time ON events (time_ms);
";

/// From version 1: the `kept` kind (a new CHECK constraint, so a new table) and `source`.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE events RENAME TO events_v1;
DROP INDEX events_time;
{SCHEMA}
INSERT INTO events (id, kind, time_ms, language, model, provider, trigger, confidence,
    latency_ms, suggestion_len, accepted_len, reason, prefix, suffix, suggestion, instead)
SELECT id, kind, time_ms, language, model, provider, trigger, confidence,
    latency_ms, suggestion_len, accepted_len, reason, prefix, suffix, suggestion, instead
FROM events_v1;
DROP TABLE events_v1;
";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create {}: {source}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("events database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "events database {} has schema version {found}, newer than this nib's {SCHEMA_VERSION}",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i32 },
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// The `telemetry` setting: what is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Telemetry {
    /// Nothing.
    Off,
    /// Events and numbers, no code.
    #[default]
    Metrics,
    /// Also the text before and after the cursor, the suggestion and what the user wrote
    /// instead: what the export turns into training data.
    Full,
}

impl Telemetry {
    pub const NAMES: &'static [&'static str] = &["off", "metrics", "full"];

    pub fn parse(s: &str) -> Option<Telemetry> {
        match s {
            "off" => Some(Telemetry::Off),
            "metrics" => Some(Telemetry::Metrics),
            "full" => Some(Telemetry::Full),
            _ => None,
        }
    }
}

/// What happened to a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Shown,
    Accepted,
    /// Accepted in part (a word or a line of it); `accepted_len` says how much.
    PartiallyAccepted,
    Rejected,
    /// An accepted suggestion checked later: `accepted_len` says how much of it is still in
    /// the document, `reason` when it was checked (`save`, `close`, `30s`).
    Kept,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shown => "shown",
            Kind::Accepted => "accepted",
            Kind::PartiallyAccepted => "partially_accepted",
            Kind::Rejected => "rejected",
            Kind::Kept => "kept",
        }
    }
}

/// Who said what happened: the editor (a command or a notification), or nib from the edits
/// that followed the suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Client,
    Inferred,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Client => "client",
            Source::Inferred => "inferred",
        }
    }
}

/// How the completion was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    #[default]
    Automatic,
    Invoked,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Automatic => "automatic",
            Trigger::Invoked => "invoked",
        }
    }
}

/// The code around a suggestion (stored only at [`Telemetry::Full`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    /// The document before the suggestion's range.
    pub prefix: String,
    /// The document after the suggestion's range.
    pub suffix: String,
    pub suggestion: String,
    /// What the user wrote where the suggestion was (for a rejected one), when known.
    pub instead: Option<String>,
}

/// One event.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: Kind,
    pub time: SystemTime,
    pub language: String,
    pub model: String,
    /// `local` (the in-process model) or the name of a remote provider.
    pub provider: String,
    pub trigger: Trigger,
    /// `low`, `medium` or `high`.
    pub confidence: String,
    pub latency_ms: Option<f64>,
    /// Length of the suggestion in UTF-16 code units (what editors count).
    pub suggestion_len: usize,
    /// UTF-16 code units accepted (the whole suggestion for `accepted`).
    pub accepted_len: Option<usize>,
    /// Why a suggestion was rejected (`dismissed`, `typedOver`).
    pub reason: Option<String>,
    /// The document's path: text from a file nib must not read is not stored. Not stored.
    pub path: Option<String>,
    pub text: Option<Text>,
    pub source: Source,
}

impl Event {
    /// An event now, with empty descriptive fields for the caller to fill.
    pub fn new(kind: Kind) -> Event {
        Event {
            kind,
            time: SystemTime::now(),
            language: String::new(),
            model: String::new(),
            provider: "local".into(),
            trigger: Trigger::Automatic,
            confidence: String::new(),
            latency_ms: None,
            suggestion_len: 0,
            accepted_len: None,
            reason: None,
            path: None,
            text: None,
            source: Source::Client,
        }
    }
}

/// Where and how to open the store.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database file; `None`: `nib_home()/events.sqlite3`.
    pub path: Option<PathBuf>,
    pub telemetry: Telemetry,
    /// Events older than this are deleted on open; 0 keeps everything.
    pub retention_days: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            path: None,
            telemetry: Telemetry::default(),
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

/// `nib_home()/events.sqlite3`.
pub fn default_path() -> PathBuf {
    nib_workspace::nib_home().join(FILE_NAME)
}

/// The event store: one SQLite connection (WAL mode). Not `Sync`; a server keeps it behind a
/// mutex and writes from a blocking thread.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    telemetry: Telemetry,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (creating it and its directory if needed) the database, migrate its schema and
    /// apply the retention limit.
    pub fn open(options: &Options) -> Result<Store, Error> {
        let path = options.path.clone().unwrap_or_else(default_path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Directory {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let sql = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(2)).map_err(sql)?;
        // Reading the journal mode is the first real access: a corrupt file fails here.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::debug!("events database journal mode is {mode}, not wal");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        match version {
            0 => {
                conn.execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(sql)?;
            }
            1 => {
                conn.execute_batch(&format!(
                    "BEGIN; {} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
                    MIGRATE_1_TO_2.replace("{SCHEMA}", SCHEMA)
                ))
                .map_err(sql)?;
            }
            SCHEMA_VERSION => {}
            found => return Err(Error::NewerSchema { path, found }),
        }
        let store = Store {
            conn,
            path,
            telemetry: options.telemetry,
        };
        if options.retention_days > 0 {
            let keep = Duration::from_secs(u64::from(options.retention_days) * 86_400);
            let cutoff = SystemTime::now().checked_sub(keep).unwrap_or(UNIX_EPOCH);
            let deleted = store.delete_before(cutoff)?;
            if deleted > 0 {
                tracing::info!(
                    deleted,
                    "events older than {} days deleted",
                    options.retention_days
                );
            }
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn telemetry(&self) -> Telemetry {
        self.telemetry
    }

    /// Change what [`Store::record`] keeps (the setting changed).
    pub fn set_telemetry(&mut self, telemetry: Telemetry) {
        self.telemetry = telemetry;
    }

    fn sql(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Delete the events before `cutoff`; returns how many.
    pub fn delete_before(&self, cutoff: SystemTime) -> Result<usize, Error> {
        self.conn
            .execute(
                "DELETE FROM events WHERE time_ms < ?1",
                params![unix_ms(cutoff)],
            )
            .map_err(|e| self.sql(e))
    }

    /// Record one event (nothing at [`Telemetry::Off`]; without its text unless
    /// [`Telemetry::Full`] and the path may be read). Returns whether a row was written.
    pub fn record(&self, event: &Event) -> Result<bool, Error> {
        if self.telemetry == Telemetry::Off {
            return Ok(false);
        }
        let denied = event
            .path
            .as_deref()
            .is_some_and(nib_checks::is_denied_path);
        let text = event
            .text
            .as_ref()
            .filter(|_| self.telemetry == Telemetry::Full && !denied);
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO events (kind, time_ms, language, model, provider, trigger,
                    confidence, latency_ms, suggestion_len, accepted_len, reason,
                    prefix, suffix, suggestion, instead, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )
            .map_err(|e| self.sql(e))?;
        stmt.execute(params![
            event.kind.as_str(),
            unix_ms(event.time),
            event.language,
            event.model,
            event.provider,
            event.trigger.as_str(),
            event.confidence,
            event.latency_ms,
            event.suggestion_len as i64,
            event.accepted_len.map(|n| n as i64),
            event.reason,
            text.map(|t| t.prefix.as_str()),
            text.map(|t| t.suffix.as_str()),
            text.map(|t| t.suggestion.as_str()),
            text.and_then(|t| t.instead.as_deref()),
            event.source.as_str(),
        ])
        .map_err(|e| self.sql(e))?;
        Ok(true)
    }

    /// Number of stored events.
    pub fn len(&self) -> Result<u64, Error> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.sql(e))
    }

    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }
}

/// `now - days`, for the `--since DAYS` options.
pub fn days_ago(days: u32) -> SystemTime {
    SystemTime::now()
        .checked_sub(Duration::from_secs(u64::from(days) * 86_400))
        .unwrap_or(UNIX_EPOCH)
}

/// Length in UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests;
