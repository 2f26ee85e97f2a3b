//! Stored responses (`store: true`): what `GET /v1/responses/{id}` returns and what
//! `previous_response_id` continues, kept in process, bounded and scoped to the tenant.
//!
//! Bounds (the server file's `response_store:`, [`ResponseStoreSettings`]): entries expire
//! `ttl_s` after they were stored and the store holds at most `max_bytes` of JSON and
//! `max_entries` entries (each entry weighs its JSON size, at least `max_bytes / max_entries`;
//! the least recently used go first), so a busy router cannot grow without limit. One entry
//! is at most `max_entry_bytes`; a larger response is answered but not stored (a later
//! `previous_response_id` to it is a 404).
//!
//! Scope: an entry belongs to the tenant that created it: the virtual key's user (keys of one
//! user share their responses), or everyone in open mode. Another tenant's lookups, reads and
//! deletes get the same 404 as an id that never existed, so ids cannot be probed.
//!
//! Shared: with `state.redis` configured the entries live in Redis only (under
//! `{prefix}:resp:{id}`, with the same TTL), so every instance reads, continues and deletes the
//! same responses, and a delete is seen everywhere at once. A Redis failure is a miss (and a
//! response that could not be written is answered but not stored), logged.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Tenant;
use crate::config::response_store::ResponseStoreSettings;
use crate::shared::Shared;

/// One stored response: the object as the client got it, and the conversation up to and
/// including its answer as chat messages (what a continuation prepends).
#[derive(Debug)]
pub(crate) struct Stored {
    pub scope: String,
    /// The Response object's JSON.
    pub object: Bytes,
    /// Chat messages: every earlier turn's input and output, this turn's input, then this
    /// answer (without `instructions`, which a continuation does not inherit).
    pub conversation: Vec<Value>,
    /// How many leading conversation messages were the input (the rest is the answer).
    pub inputs: usize,
    size: usize,
}

impl Stored {
    /// An entry of `scope`; its weight is the JSON it holds.
    pub(crate) fn new(scope: String, object: Bytes, conversation: Vec<Value>) -> Self {
        let size = object.len()
            + conversation
                .iter()
                .map(|m| serde_json::to_vec(m).map_or(0, |v| v.len()))
                .sum::<usize>();
        Self {
            scope,
            object,
            inputs: conversation.len(),
            conversation,
            size,
        }
    }

    /// The entry with its first `inputs` conversation messages marked as the input.
    pub(crate) fn with_inputs(mut self, inputs: usize) -> Self {
        self.inputs = inputs.min(self.conversation.len());
        self
    }

    /// The input messages: the conversation before this answer.
    pub(crate) fn input(&self) -> &[Value] {
        &self.conversation[..self.inputs.min(self.conversation.len())]
    }
}

/// A stored response as Redis keeps it.
#[derive(Serialize, Deserialize)]
struct Shaped {
    scope: String,
    object: String,
    conversation: Vec<Value>,
    #[serde(default)]
    inputs: Option<usize>,
}

/// The bounded store of responses: in process, or in Redis when state is shared.
pub(crate) struct ResponseStore {
    entries: Cache<String, Arc<Stored>>,
    shared: Option<Arc<Shared>>,
    ttl: Duration,
    max_entry_bytes: usize,
}

impl std::fmt::Debug for ResponseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStore")
            .field("entries", &self.entries.entry_count())
            .field("shared", &self.shared.is_some())
            .field("ttl", &self.ttl)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .finish()
    }
}

impl Default for ResponseStore {
    fn default() -> Self {
        Self::new(&ResponseStoreSettings::default(), None)
    }
}

impl ResponseStore {
    /// A store bounded as `settings` say in process, or that keeps its entries in `shared`
    /// Redis (with the same TTL and per-entry bound) when given.
    pub(crate) fn new(settings: &ResponseStoreSettings, shared: Option<Arc<Shared>>) -> Self {
        let floor = settings
            .max_bytes
            .div_ceil(settings.max_entries.max(1))
            .max(1);
        let entries = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(move |_: &String, v: &Arc<Stored>| {
                u32::try_from((v.size as u64).max(floor)).unwrap_or(u32::MAX)
            })
            .time_to_live(settings.ttl)
            .build();
        Self {
            entries,
            shared,
            ttl: settings.ttl,
            max_entry_bytes: settings.max_entry_bytes,
        }
    }

    /// The scope a tenant's responses are kept under.
    pub(crate) fn scope(tenant: &Tenant) -> String {
        match &tenant.user {
            Some(user) => format!("user:{user}"),
            None => "open".into(),
        }
    }

    /// Keeps `entry` under `id`; says whether it was kept (small enough, and written).
    pub(crate) async fn put(&self, id: String, entry: Stored) -> bool {
        if entry.size > self.max_entry_bytes {
            return false;
        }
        let Some(shared) = &self.shared else {
            self.entries.insert(id, Arc::new(entry)).await;
            return true;
        };
        let shaped = Shaped {
            scope: entry.scope,
            object: String::from_utf8_lossy(&entry.object).into_owned(),
            inputs: Some(entry.inputs),
            conversation: entry.conversation,
        };
        let Ok(value) = serde_json::to_vec(&shaped) else {
            return false;
        };
        let name = shared.key(&format!("resp:{id}"));
        let ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut conn = shared.conn();
        let stored = shared
            .run(async move {
                redis::cmd("SET")
                    .arg(&name)
                    .arg(value)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        if let Err(e) = &stored {
            tracing::warn!(error = %e, "a response could not be stored in Redis");
        }
        stored.is_ok()
    }

    /// The entry `id` if it belongs to `scope`.
    pub(crate) async fn get(&self, id: &str, scope: &str) -> Option<Arc<Stored>> {
        let found = match &self.shared {
            None => self.entries.get(id).await,
            Some(shared) => Self::fetch(shared, id).await.map(Arc::new),
        };
        found.filter(|e| e.scope == scope)
    }

    /// The entry `id` as Redis holds it; a failure or an unreadable value is a miss.
    async fn fetch(shared: &Shared, id: &str) -> Option<Stored> {
        let name = shared.key(&format!("resp:{id}"));
        let mut conn = shared.conn();
        let read = shared
            .run(async move {
                redis::cmd("GET")
                    .arg(&name)
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
            })
            .await;
        let raw = match read {
            Ok(raw) => raw?,
            Err(e) => {
                tracing::warn!(error = %e, "a stored response could not be read from Redis");
                return None;
            }
        };
        match serde_json::from_slice::<Shaped>(&raw) {
            Ok(s) => {
                let inputs = s.inputs.unwrap_or(s.conversation.len());
                Some(Stored::new(s.scope, s.object.into(), s.conversation).with_inputs(inputs))
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable stored response in Redis");
                None
            }
        }
    }

    /// Removes the entry `id` if it belongs to `scope`; says whether it did.
    pub(crate) async fn delete(&self, id: &str, scope: &str) -> bool {
        if self.get(id, scope).await.is_none() {
            return false;
        }
        let Some(shared) = &self.shared else {
            self.entries.invalidate(id).await;
            return true;
        };
        let name = shared.key(&format!("resp:{id}"));
        let mut conn = shared.conn();
        shared
            .run(async move {
                redis::cmd("DEL")
                    .arg(&name)
                    .query_async::<u64>(&mut conn)
                    .await
            })
            .await
            .is_ok_and(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: &str, text: &str) -> Stored {
        Stored::new(
            scope.into(),
            Bytes::from(format!("{{\"text\":\"{text}\"}}")),
            vec![serde_json::json!({"role": "user", "content": text})],
        )
    }

    #[tokio::test]
    async fn entries_belong_to_their_scope() {
        let store = ResponseStore::default();
        assert!(store.put("resp_1".into(), entry("user:a", "hi")).await);
        assert!(store.get("resp_1", "user:a").await.is_some());
        assert!(store.get("resp_1", "user:b").await.is_none());
        assert!(!store.delete("resp_1", "user:b").await);
        assert!(store.get("resp_1", "user:a").await.is_some());
        assert!(store.delete("resp_1", "user:a").await);
        assert!(store.get("resp_1", "user:a").await.is_none());
    }

    #[tokio::test]
    async fn an_oversized_entry_is_not_kept() {
        let store = ResponseStore::default();
        let huge = "x".repeat(ResponseStoreSettings::default().max_entry_bytes + 1);
        assert!(!store.put("resp_big".into(), entry("open", &huge)).await);
        assert!(store.get("resp_big", "open").await.is_none());
    }

    #[tokio::test]
    async fn the_byte_bound_evicts() {
        let settings = ResponseStoreSettings {
            max_bytes: 10_000,
            ..ResponseStoreSettings::default()
        };
        let store = ResponseStore::new(&settings, None);
        for i in 0..100 {
            store
                .put(format!("resp_{i}"), entry("open", &"y".repeat(500)))
                .await;
        }
        store.entries.run_pending_tasks().await;
        assert!(store.entries.weighted_size() <= 10_000);
        assert!(store.entries.entry_count() < 100);
    }

    #[tokio::test]
    async fn the_entry_bound_evicts_small_entries_too() {
        let settings = ResponseStoreSettings {
            max_entries: 5,
            ..ResponseStoreSettings::default()
        };
        let store = ResponseStore::new(&settings, None);
        for i in 0..50 {
            store.put(format!("resp_{i}"), entry("open", "z")).await;
        }
        store.entries.run_pending_tasks().await;
        assert!(store.entries.entry_count() <= 5);
        let input = entry("open", "q").with_inputs(0);
        assert!(input.input().is_empty());
    }
}
