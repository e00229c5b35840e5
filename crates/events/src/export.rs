//! The training-data export: accepted suggestions as fill-in-the-middle examples
//! `{"prefix","suffix","middle"}`, and rejected ones with what the user wrote instead as
//! preference pairs `{"prompt","suffix","chosen","rejected"}` (`prompt` is the text before the
//! cursor). Only events stored with their text (telemetry `full`) can be exported; every text
//! is redacted first.
//!
//! [`Store::export_fim`] writes the same examples in a model family's own infilling format
//! (its prefix, suffix and middle tokens, `nib_engine::PromptFormat`), ready for a trainer:
//! `{"kind":"fim","text"}` for an accepted suggestion (prompt, middle, end of text),
//! `{"kind":"pair","prompt","chosen","rejected"}` for a rejected one with what was written
//! instead (the DPO layout), and `{"kind":"negative","prompt","completion","label":false}` for a
//! rejected one without it (the KTO layout).

use std::io::Write;
use std::time::SystemTime;

use nib_checks::Redactor;
use nib_engine::PromptFormat;
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
    /// Rejected suggestions without what was written instead ([`Store::export_fim`] only).
    pub negatives: usize,
    /// Events left out because their model's format is unknown or has no infilling tokens.
    pub unknown_format: usize,
    /// Secrets replaced by placeholders.
    pub redacted: usize,
}

/// One exportable event: kind, model, prefix, suffix, suggestion, instead.
type Row = (String, String, String, String, String, Option<String>);

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

    /// The events with text at or after `since`, oldest first.
    fn text_rows(&self, since: Option<SystemTime>, negatives: bool) -> Result<Vec<Row>, Error> {
        let since = since.map_or(i64::MIN, unix_ms);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, model, prefix, suffix, suggestion, instead FROM events
                 WHERE time_ms >= ?1 AND suggestion IS NOT NULL AND prefix IS NOT NULL
                   AND suffix IS NOT NULL
                   AND (kind = 'accepted'
                        OR (kind = 'rejected' AND (?2 OR instead IS NOT NULL)))
                 ORDER BY time_ms, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![since, negatives], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<Vec<Row>, _>>()
            .map_err(|e| self.sql(e))
    }

    /// Write the examples in the infilling format of each event's model family (`format`
    /// when given, else the family its model's name says), one JSON object per line, oldest
    /// first. Events of a model without infilling tokens are left out and counted.
    pub fn export_fim(
        &self,
        since: Option<SystemTime>,
        format: Option<PromptFormat>,
        out: &mut dyn Write,
    ) -> Result<ExportCounts, Error> {
        let mut counts = ExportCounts::default();
        for (kind, model, prefix, suffix, suggestion, instead) in self.text_rows(since, true)? {
            if suggestion.is_empty() {
                continue;
            }
            let Some(f) = format
                .or_else(|| PromptFormat::from_model_name(&model))
                .filter(|f| f.supports_fim())
            else {
                counts.unknown_format += 1;
                continue;
            };
            let end = f.end_of_text().unwrap_or_default();
            let mut r = Redactor::new();
            let (prefix, suffix) = (r.redact(&prefix), r.redact(&suffix));
            let middle = r.redact(&suggestion);
            let Some((prompt, full)) = f.training_text(&prefix, &suffix, &middle) else {
                counts.unknown_format += 1;
                continue;
            };
            let line = match (kind.as_str(), instead.filter(|i| !i.is_empty())) {
                ("accepted", _) => {
                    counts.fim += 1;
                    json!({ "kind": "fim", "text": full })
                }
                (_, Some(instead)) if instead != suggestion => {
                    counts.pairs += 1;
                    json!({
                        "kind": "pair",
                        "prompt": prompt,
                        "chosen": format!("{}{end}", r.redact(&instead)),
                        "rejected": format!("{middle}{end}"),
                    })
                }
                (_, Some(_)) => continue,
                (_, None) => {
                    counts.negatives += 1;
                    json!({
                        "kind": "negative",
                        "prompt": prompt,
                        "completion": format!("{middle}{end}"),
                        "label": false,
                    })
                }
            };
            counts.redacted += r.count();
            serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(counts)
    }
}
