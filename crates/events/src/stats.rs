//! Acceptance rates: counts of each event kind, in total and grouped by language, model,
//! confidence bucket and trigger; and the kept rate: how much of the accepted suggestions was
//! still in the document when last checked (30 s after acceptance, or when the document was
//! closed before that).

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
    /// Accepted suggestions checked later (`kept` events, the last check of each).
    pub checked: u64,
    /// UTF-16 code units of the checked suggestions.
    pub checked_len: u64,
    /// Of those, the code units still in the document.
    pub kept_len: u64,
}

impl Counts {
    /// accepted / shown; `None` when nothing was shown.
    pub fn acceptance(&self) -> Option<f64> {
        (self.shown > 0).then(|| self.accepted as f64 / self.shown as f64)
    }

    /// kept_len / checked_len; `None` when nothing was checked.
    pub fn kept(&self) -> Option<f64> {
        (self.checked_len > 0).then(|| self.kept_len as f64 / self.checked_len as f64)
    }

    fn add(&mut self, kind: &str, n: u64, suggestion_len: u64, accepted_len: u64) {
        match kind {
            "shown" => self.shown += n,
            "accepted" => self.accepted += n,
            "partially_accepted" => self.partially_accepted += n,
            "rejected" => self.rejected += n,
            "kept" => {
                self.checked += n;
                self.checked_len += suggestion_len;
                self.kept_len += accepted_len;
            }
            _ => {}
        }
    }

    fn sum(&mut self, o: &Counts) {
        self.shown += o.shown;
        self.accepted += o.accepted;
        self.partially_accepted += o.partially_accepted;
        self.rejected += o.rejected;
        self.checked += o.checked;
        self.checked_len += o.checked_len;
        self.kept_len += o.kept_len;
    }

    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "shown": self.shown,
            "accepted": self.accepted,
            "partiallyAccepted": self.partially_accepted,
            "rejected": self.rejected,
            "acceptance": self.acceptance(),
            "checked": self.checked,
            "checkedLen": self.checked_len,
            "keptLen": self.kept_len,
            "kept": self.kept(),
        })
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
    /// Acceptances and rejections nib inferred from edits (the client reported nothing).
    pub inferred: u64,
}

impl Stats {
    /// For `nib stats --json`: `{ total, inferred, byLanguage: { name: counts }, … }`.
    pub fn to_json(&self) -> serde_json::Value {
        let group = |rows: &[(String, Counts)]| {
            serde_json::Value::Object(rows.iter().map(|(g, c)| (g.clone(), c.to_json())).collect())
        };
        serde_json::json!({
            "total": self.total.to_json(),
            "inferred": self.inferred,
            "byLanguage": group(&self.by_language),
            "byModel": group(&self.by_model),
            "byConfidence": group(&self.by_confidence),
            "byTrigger": group(&self.by_trigger),
        })
    }
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
            inferred: 0,
        };
        for (_, c) in &stats.by_trigger {
            stats.total.sum(c);
        }
        stats.inferred = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE time_ms >= ?1 AND source = 'inferred'
                   AND kind IN ('accepted', 'rejected')",
                params![since],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.sql(e))? as u64;
        Ok(stats)
    }

    /// `column` is one of a fixed set of column names (never user input).
    fn grouped(&self, column: &str, since: i64) -> Result<Vec<(String, Counts)>, Error> {
        let sql = format!(
            "SELECT {column}, kind, COUNT(*), COALESCE(SUM(suggestion_len), 0),
                    COALESCE(SUM(accepted_len), 0)
             FROM events WHERE time_ms >= ?1 AND (kind != 'kept' OR reason IS NOT 'save')
             GROUP BY {column}, kind ORDER BY {column}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out: Vec<(String, Counts)> = Vec::new();
        for row in rows {
            let (group, kind, n, len, accepted) = row.map_err(|e| self.sql(e))?;
            if out.last().is_none_or(|(g, _)| *g != group) {
                out.push((group.clone(), Counts::default()));
            }
            if let Some((_, c)) = out.last_mut() {
                c.add(&kind, n as u64, len as u64, accepted as u64);
            }
        }
        Ok(out)
    }
}

fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
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
                "{name:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>10}  {:>6}",
                c.shown,
                c.accepted,
                c.partially_accepted,
                c.rejected,
                percent(c.acceptance()),
                percent(c.kept())
            )
        };
        let header = |f: &mut fmt::Formatter<'_>, name: &str| {
            writeln!(
                f,
                "{name:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>10}  {:>6}",
                "shown", "accepted", "partial", "rejected", "acceptance", "kept"
            )
        };
        header(f, "")?;
        line(f, "total", &self.total)?;
        if self.inferred > 0 {
            writeln!(
                f,
                "({} of the acceptances and rejections inferred from edits: the editor reported nothing)",
                self.inferred
            )?;
        }
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
