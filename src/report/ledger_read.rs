//! Reads ledger lines (the JSON form of [`crate::usage::UsageRecord`]) tolerantly for reports.

use std::io::BufRead;
use std::time::SystemTime;

use std::ops::Deref;

use crate::usage::{Outcome, UsageRecord};

use super::input::{read_lines, BadLine};

/// A ledger line as reports read it: the writer's own [`UsageRecord`] (whose fields all have
/// defaults, so ledgers from other versions still read) plus its parsed time.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub record: UsageRecord,
    /// `ts` parsed; set by [`Entry::parse`].
    pub time: Option<SystemTime>,
}

impl Deref for Entry {
    type Target = UsageRecord;

    fn deref(&self) -> &UsageRecord {
        &self.record
    }
}

impl From<UsageRecord> for Entry {
    fn from(record: UsageRecord) -> Self {
        Self { record, time: None }
    }
}

impl Entry {
    /// Parses one line; the error says what is wrong with it.
    pub fn parse(line: &str) -> Result<Self, String> {
        let record: UsageRecord =
            serde_json::from_str(line).map_err(|e| format!("not a ledger line: {e}"))?;
        let mut e = Entry::from(record);
        if e.ts.is_empty() {
            return Err("no `ts` field".into());
        }
        e.time = Some(
            super::time::parse_rfc3339(&e.ts)
                .ok_or_else(|| format!("`ts` {:?} is not an RFC 3339 time", e.ts))?,
        );
        for (name, v) in [
            ("cost_usd", e.cost_usd),
            ("baseline_cost_usd", e.baseline_cost_usd),
            ("latency_ms", e.latency_ms),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("`{name}` is {v}, not a non-negative number"));
            }
        }
        if !e.saving_usd.is_finite() {
            return Err("`saving_usd` is not a finite number".into());
        }
        Ok(e)
    }

    /// Answered from the cache: its baseline cost counts as saved.
    pub fn is_cache_hit(&self) -> bool {
        self.outcome == Outcome::CacheHit
    }

    /// Failed: an HTTP error status, or an outcome other than `ok` / `cache_hit`.
    pub fn is_error(&self) -> bool {
        self.status >= 400 || !self.outcome.is_success()
    }
}

/// Every readable ledger line, and the lines that were skipped.
#[derive(Debug, Default)]
pub(crate) struct LedgerInput {
    pub entries: Vec<Entry>,
    pub bad: Vec<BadLine>,
}

/// Reads a whole ledger; bad lines are kept aside, never fatal.
pub(crate) fn read_ledger<R: BufRead>(reader: R) -> LedgerInput {
    let mut entries = Vec::new();
    let bad = read_lines(reader, |_, text| {
        entries.push(Entry::parse(text)?);
        Ok(())
    });
    LedgerInput { entries, bad }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_of_missing_fields_strict_about_types_and_time() {
        let e =
            Entry::parse(r#"{"ts":"2026-03-01T10:00:00.000Z","cost_usd":0.5,"extra":1}"#).unwrap();
        assert_eq!((e.cost_usd, e.status, e.outcome.as_str()), (0.5, 200, "ok"));
        assert!(Entry::parse(r#"{"cost_usd":1}"#).is_err());
        assert!(Entry::parse(r#"{"ts":"yesterday"}"#).is_err());
        assert!(Entry::parse(r#"{"ts":"2026-03-01T10:00:00Z","cost_usd":"1"}"#).is_err());
        assert!(Entry::parse(r#"{"ts":"2026-03-01T10:00:00Z","cost_usd":-1}"#).is_err());
        assert!(Entry::parse("[1,2]").is_err());
    }

    #[test]
    fn errors_and_cache_hits() {
        let mut e = Entry::parse(r#"{"ts":"2026-03-01T10:00:00Z"}"#).unwrap();
        assert!(!e.is_error());
        e.record.outcome = Outcome::CacheHit;
        assert!(!e.is_error() && e.is_cache_hit());
        e.record.status = 502;
        assert!(e.is_error());
        e.record.status = 200;
        e.record.outcome = Outcome::from_label("stream_cut");
        assert!(e.is_error());
    }
}
