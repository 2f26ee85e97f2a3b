//! The server file's `ledger:` setting, validated: a file path, or a map with the path, how often the
//! writer flushes (the most a hard crash can lose) and an optional Postgres sink.

use std::path::{Path, PathBuf};

use super::provider::EnvLookup;
use super::Problem;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// `ledger: FILE` or `ledger: {path: FILE, flush_ms: 50, fsync: false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLedger {
    #[serde(default = "default_path")]
    pub path: PathBuf,
    /// Lines are written to the file at most this long after their request ended, under any
    /// load; a `kill -9` loses at most the lines of this window.
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u64,
    /// Also `fsync` at every flush, so a power loss loses no more than a process crash.
    #[serde(default)]
    pub fsync: bool,
    /// A Postgres URL: lines are also copied there in batches (the file stays as the journal
    /// they are copied from, and the spill while Postgres is down).
    #[serde(default)]
    pub postgres: Option<String>,
    /// The environment variable holding the Postgres URL (when it carries a password).
    #[serde(default)]
    pub url_env: Option<String>,
    /// The table the rows go to (created and migrated by the router).
    #[serde(default = "default_table")]
    pub table: String,
    /// Most rows per INSERT.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_table() -> String {
    "switchyard_ledger".into()
}

fn default_batch() -> usize {
    500
}

fn default_path() -> PathBuf {
    "switchyard-ledger.jsonl".into()
}

fn default_flush_ms() -> u64 {
    50
}

impl Default for RawLedger {
    fn default() -> Self {
        Self {
            path: default_path(),
            flush_ms: default_flush_ms(),
            fsync: false,
            postgres: None,
            url_env: None,
            table: default_table(),
            batch: default_batch(),
        }
    }
}

impl<'de> Deserialize<'de> for RawLedgerSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawLedgerSetting;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a file path, or a map with `path`, `flush_ms` and `fsync`")
            }

            fn visit_str<E: de::Error>(self, path: &str) -> Result<Self::Value, E> {
                Ok(RawLedgerSetting(RawLedger {
                    path: path.into(),
                    ..RawLedger::default()
                }))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawLedger::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawLedgerSetting)
            }
        }
        d.deserialize_any(Either)
    }
}

/// What `ledger:` says, in either form (a map keeps its own field errors).
#[derive(Debug, Default)]
pub(crate) struct RawLedgerSetting(pub RawLedger);

/// The validated ledger settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    /// Resolved against the server file's folder.
    pub path: PathBuf,
    pub flush: Duration,
    pub fsync: bool,
    /// The Postgres sink, when configured.
    pub postgres: Option<PostgresSink>,
}

/// Where and how ledger lines are copied into Postgres (see `usage::postgres`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSink {
    pub url: crate::secret::Secret,
    /// A plain SQL identifier (checked).
    pub table: String,
    pub batch: usize,
}

/// Whether `name` can be a table name without quoting: `[A-Za-z_][A-Za-z0-9_]*`, at most 63.
pub(crate) fn plain_identifier(name: &str) -> bool {
    name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The ledger's Postgres sink, if `ledger.postgres` or `ledger.url_env` names one.
pub(super) fn postgres_sink(
    raw: &RawLedger,
    env: EnvLookup<'_>,
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<PostgresSink> {
    let url = match (&raw.postgres, &raw.url_env) {
        (Some(url), _) => url.clone(),
        (None, Some(var)) => {
            let Some(v) = env(var) else {
                problems.push(Problem::at(
                    path,
                    text,
                    "ledger.url_env",
                    Some(var),
                    format!("environment variable `{var}` is not set"),
                ));
                return None;
            };
            v
        }
        (None, None) => return None,
    };
    // the URL may carry a password: the problem never quotes it
    if url.parse::<tokio_postgres::Config>().is_err() {
        problems.push(Problem::at(
            path,
            text,
            "ledger.postgres",
            Some("postgres"),
            "is not a usable Postgres URL (postgres://user@host:port/db)",
        ));
    }
    if !plain_identifier(&raw.table) {
        problems.push(Problem::at(
            path,
            text,
            "ledger.table",
            Some("table"),
            "must be a plain SQL name: letters, digits and _, not starting with a digit",
        ));
    }
    if raw.batch == 0 || raw.batch > 10_000 {
        problems.push(Problem::at(
            path,
            text,
            "ledger.batch",
            Some("batch"),
            "must be between 1 and 10000",
        ));
    }
    Some(PostgresSink {
        url: crate::secret::Secret::new(url),
        table: raw.table.clone(),
        batch: raw.batch.clamp(1, 10_000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Server {
        ledger: RawLedgerSetting,
    }

    #[test]
    fn a_path_or_a_map() {
        let s: Server = serde_yaml::from_str("ledger: usage.jsonl").unwrap();
        assert_eq!(s.ledger.0.path, PathBuf::from("usage.jsonl"));
        assert_eq!(s.ledger.0.flush_ms, 50);
        let s: Server =
            serde_yaml::from_str("ledger: {path: l.jsonl, flush_ms: 10, fsync: true}").unwrap();
        assert_eq!(
            (s.ledger.0.path, s.ledger.0.flush_ms, s.ledger.0.fsync),
            (PathBuf::from("l.jsonl"), 10, true)
        );
        let e = serde_yaml::from_str::<Server>("ledger: {path: l, flush: 3}").unwrap_err();
        assert!(e.to_string().contains("flush"), "{e}");
    }
}
