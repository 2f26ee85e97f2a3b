//! The server file's `response_store:` setting: how many Responses API answers the router
//! keeps for `GET /v1/responses/{id}` and `previous_response_id`, how large, and how long.

use std::time::Duration;

use serde::Deserialize;

/// `response_store:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawResponseStore {
    /// At most this many responses in process (Redis keeps what its memory allows).
    pub max_entries: u64,
    /// At most this many bytes of JSON in process, least recently used out first.
    pub max_bytes: u64,
    /// A larger response is answered but not stored.
    pub max_entry_bytes: u64,
    /// Seconds a stored response can be read or continued.
    pub ttl_s: u64,
}

impl Default for RawResponseStore {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_entry_bytes: 4 * 1024 * 1024,
            ttl_s: 24 * 60 * 60,
        }
    }
}

/// The bounds of the response store, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseStoreSettings {
    pub max_entries: u64,
    pub max_bytes: u64,
    pub max_entry_bytes: usize,
    pub ttl: Duration,
}

impl Default for ResponseStoreSettings {
    fn default() -> Self {
        RawResponseStore::default()
            .validate()
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl RawResponseStore {
    /// The settings, or what is wrong with them.
    pub(crate) fn validate(&self) -> Result<ResponseStoreSettings, String> {
        if self.max_entries == 0 || self.max_bytes == 0 || self.max_entry_bytes == 0 {
            return Err("max_entries, max_bytes and max_entry_bytes must be above 0".into());
        }
        if self.ttl_s == 0 {
            return Err("ttl_s must be above 0".into());
        }
        Ok(ResponseStoreSettings {
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            max_entry_bytes: usize::try_from(self.max_entry_bytes.min(self.max_bytes))
                .unwrap_or(usize::MAX),
            ttl: Duration::from_secs(self.ttl_s),
        })
    }
}
