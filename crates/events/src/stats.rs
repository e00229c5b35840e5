//! Acceptance rates: counts of each event kind, in total and grouped by language, model,
//! confidence bucket and trigger.

use std::fmt;
use std::time::SystemTime;

use rusqlite::params;

use crate::{unix_ms, Error, Store};

/// Events of each kind in one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub shown: u64,
    pub accepted: u64,
    pub partially_accepted: u64,
    pub rejected: u64,
}

impl Counts {
    /// accepted / shown; `None` when nothing was shown.
    pub fn acceptance(&self) -> Option<f64> {
        (self.shown > 0).then(|| self.accepted as f64 / self.shown as f64)
    }

    fn add(&mut self, kind: &str, n: u64) {
        match kind {
            "shown" => self.shown += n,
            "accepted" => self.accepted += n,
            "partially_accepted" => self.partially_accepted += n,
            "rejected" => self.rejected += n,
            _ => {}
        }
    }
}

/// What [`Store::stats`] returns. Groups are sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub total: Counts,
    pub by_language: Vec<(String, Counts)>,
    pub by_model: Vec<(String, Counts)>,
    /// By the suggestion's confidence (`low`, `medium`, `high`).
    pub by_confidence: Vec<(String, Counts)>,
    pub by_trigger: Vec<(String, Counts)>,
}

impl Store {
    /// Counts of the events at or after `since` (all events when `None`).
    pub fn stats(&self, since: Option<SystemTime>) -> Result<Stats, Error> {
        let since = since.map_or(i64::MIN, unix_ms);
        let mut stats = Stats {
            total: Counts::default(),
            by_language: self.grouped("language", since)?,
            by_model: self.grouped("model", since)?,
            by_confidence: self.grouped("confidence", since)?,
            by_trigger: self.grouped("trigger", since)?,
        };
        for (_, c) in &stats.by_trigger {
            stats.total.shown += c.shown;
            stats.total.accepted += c.accepted;
            stats.total.partially_accepted += c.partially_accepted;
            stats.total.rejected += c.rejected;
        }
        Ok(stats)
    }

    /// `column` is one of a fixed set of column names (never user input).
    fn grouped(&self, column: &str, since: i64) -> Result<Vec<(String, Counts)>, Error> {
        let sql = format!(
            "SELECT {column}, kind, COUNT(*) FROM events WHERE time_ms >= ?1
             GROUP BY {column}, kind ORDER BY {column}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out: Vec<(String, Counts)> = Vec::new();
        for row in rows {
            let (group, kind, n) = row.map_err(|e| self.sql(e))?;
            if out.last().is_none_or(|(g, _)| *g != group) {
                out.push((group.clone(), Counts::default()));
            }
            if let Some((_, c)) = out.last_mut() {
                c.add(&kind, n as u64);
            }
        }
        Ok(out)
    }
}

fn rate(c: &Counts) -> String {
    c.acceptance()
        .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// A printable table: one section per grouping.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sections: [(&str, &[(String, Counts)]); 4] = [
            ("language", &self.by_language),
            ("model", &self.by_model),
            ("confidence", &self.by_confidence),
            ("trigger", &self.by_trigger),
        ];
        let width = sections
            .iter()
            .flat_map(|(name, rows)| {
                std::iter::once(name.len()).chain(rows.iter().map(|(g, _)| g.chars().count()))
            })
            .max()
            .unwrap_or(0)
            .max("(unknown)".len());
        let line = |f: &mut fmt::Formatter<'_>, name: &str, c: &Counts| {
            writeln!(
                f,
                "{name:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>10}",
                c.shown,
                c.accepted,
                c.partially_accepted,
                c.rejected,
                rate(c)
            )
        };
        let header = |f: &mut fmt::Formatter<'_>, name: &str| {
            writeln!(
                f,
                "{name:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>10}",
                "shown", "accepted", "partial", "rejected", "acceptance"
            )
        };
        header(f, "")?;
        line(f, "total", &self.total)?;
        for (name, rows) in sections {
            if rows.is_empty() {
                continue;
            }
            writeln!(f)?;
            header(f, name)?;
            for (group, c) in rows {
                let group = if group.is_empty() { "(unknown)" } else { group };
                line(f, group, c)?;
            }
        }
        Ok(())
    }
}
