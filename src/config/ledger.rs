//! The server file's `ledger:` setting: a file path, or a map with the path and how often the
//! writer flushes (the most a hard crash can lose).

use std::path::PathBuf;
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
