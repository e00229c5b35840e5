//! The training-data export: accepted suggestions as fill-in-the-middle examples
//! `{"prefix","suffix","middle"}`, and rejected ones with what the user wrote instead as
//! preference pairs `{"prompt","suffix","chosen","rejected"}` (`prompt` is the text before the
//! cursor). Only events stored with their text (telemetry `full`) can be exported; every text
//! is redacted first.

use std::io::Write;
use std::time::SystemTime;

use nib_checks::Redactor;
use rusqlite::params;
use serde_json::json;

use crate::{unix_ms, Error, Store};

/// What [`Store::export_jsonl`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Fill-in-the-middle examples.
    pub fim: usize,
    /// Preference pairs.
    pub pairs: usize,
    /// Secrets replaced by placeholders.
    pub redacted: usize,
}

impl Store {
    /// Write the examples from events at or after `since` (all when `None`), one JSON object
    /// per line, oldest first.
    pub fn export_jsonl(
        &self,
        since: Option<SystemTime>,
        out: &mut dyn Write,
    ) -> Result<ExportCounts, Error> {
        let since = since.map_or(i64::MIN, unix_ms);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, prefix, suffix, suggestion, instead FROM events
                 WHERE time_ms >= ?1 AND suggestion IS NOT NULL AND prefix IS NOT NULL
                   AND suffix IS NOT NULL
                   AND (kind = 'accepted' OR (kind = 'rejected' AND instead IS NOT NULL))
                 ORDER BY time_ms, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut counts = ExportCounts::default();
        for row in rows {
            let (kind, prefix, suffix, suggestion, instead) = row.map_err(|e| self.sql(e))?;
            // One redactor per example: a secret gets the same placeholder in all its fields.
            let mut r = Redactor::new();
            let line = if kind == "accepted" {
                if suggestion.is_empty() {
                    continue;
                }
                counts.fim += 1;
                json!({
                    "prefix": r.redact(&prefix),
                    "suffix": r.redact(&suffix),
                    "middle": r.redact(&suggestion),
                })
            } else {
                let instead = instead.unwrap_or_default();
                if instead.is_empty() || instead == suggestion {
                    continue;
                }
                counts.pairs += 1;
                json!({
                    "prompt": r.redact(&prefix),
                    "suffix": r.redact(&suffix),
                    "chosen": r.redact(&instead),
                    "rejected": r.redact(&suggestion),
                })
            };
            counts.redacted += r.count();
            serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(counts)
    }
}
