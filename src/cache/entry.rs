//! A cached answer and its size, serialisable so instances can share it through Redis.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::openai::Usage;

/// Bookkeeping counted per entry beyond its text (key, timestamps, allocations).
const ENTRY_OVERHEAD: usize = 128;
/// Bookkeeping counted per stored chunk (a `String`'s header).
const CHUNK_OVERHEAD: usize = 24;

/// One cached answer, with what the ledger needs to record a hit and the saving it brought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub reply: Stored,
    /// The model id that answered.
    pub model: String,
    pub provider: String,
    /// The original answer's usage, which a hit saves.
    pub usage: Option<Usage>,
    pub created: SystemTime,
}

/// The answer as the client received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stored {
    /// A non-streamed response body.
    Full(#[serde(with = "body")] Bytes),
    /// A streamed answer: the SSE data payloads without `data: ` and without `[DONE]`.
    Chunks(Vec<String>),
}

impl Entry {
    /// Approximate memory held, used for the byte bound.
    pub fn size(&self) -> usize {
        let reply = match &self.reply {
            Stored::Full(b) => b.len(),
            Stored::Chunks(c) => c.iter().map(|s| chunk_cost(s.len())).sum(),
        };
        ENTRY_OVERHEAD + reply + self.model.len() + self.provider.len()
    }

    /// How long the entry has left of `ttl`; an entry stamped in the future (clock skew between
    /// instances) counts as new.
    pub fn remaining(&self, ttl: Duration) -> Duration {
        let age = SystemTime::now()
            .duration_since(self.created)
            .unwrap_or_default();
        ttl.saturating_sub(age)
    }
}

/// What one chunk of `len` bytes counts for.
fn chunk_cost(len: usize) -> usize {
    len + CHUNK_OVERHEAD
}

/// Bodies are JSON, so they are stored as a string; other bytes as an array of numbers.
mod body {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(b) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_seq(b.iter()),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Binary(Vec<u8>),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        Ok(match Raw::deserialize(d)? {
            Raw::Text(t) => Bytes::from(t),
            Raw::Binary(b) => Bytes::from(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(reply: Stored) -> Entry {
        Entry {
            reply,
            model: "m".into(),
            provider: "p".into(),
            usage: Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                prompt_tokens_details: None,
            }),
            created: SystemTime::now(),
        }
    }

    #[test]
    fn round_trips_through_json() {
        for reply in [
            Stored::Full(Bytes::from_static(br#"{"id":"x"}"#)),
            Stored::Full(Bytes::from_static(&[0xff, 0x00, 0x80])),
            Stored::Chunks(vec!["{\"a\":1}".into(), "{}".into()]),
        ] {
            let e = entry(reply);
            let json = serde_json::to_vec(&e).expect("serialisable");
            let back: Entry = serde_json::from_slice(&json).expect("deserialisable");
            assert_eq!(back, e);
        }
    }

    #[test]
    fn size_counts_text_and_overheads() {
        let full = entry(Stored::Full(Bytes::from(vec![b'x'; 1000])));
        assert_eq!(full.size(), ENTRY_OVERHEAD + 1000 + 2);
        let chunks = entry(Stored::Chunks(vec!["ab".into(), "c".into()]));
        assert_eq!(chunks.size(), ENTRY_OVERHEAD + 3 + 2 * CHUNK_OVERHEAD + 2);
    }

    #[test]
    fn remaining_shrinks_with_age_and_tolerates_future_stamps() {
        let ttl = Duration::from_secs(60);
        let mut e = entry(Stored::Chunks(vec![]));
        e.created = SystemTime::now() - Duration::from_secs(120);
        assert_eq!(e.remaining(ttl), Duration::ZERO);
        e.created = SystemTime::now() + Duration::from_secs(30);
        assert_eq!(e.remaining(ttl), ttl);
    }
}
