//! The response cache itself: moka in-process, Redis as a shared second level.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use moka::future::Cache;

use super::bounds::{capacity, weight, FromCreation, Tally};
use super::decision::{decide, Decision};
use super::entry::Entry;
use super::key::{CacheKey, Partition};
use crate::config::CacheSettings;
use crate::openai::ChatRequest;
use crate::shared::Shared;

/// No single answer may take more than this, whatever the byte bound.
const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;

/// Cached answers bounded by count, bytes and age. Redis, when configured, lets instances
/// answer from each other's entries; when it is unreachable the cache simply stays local.
pub struct ResponseCache {
    /// `None` when the cache is disabled.
    local: Option<Cache<CacheKey, Arc<Entry>>>,
    shared: Option<Arc<Shared>>,
    ttl: Duration,
    entry_cap: usize,
    tally: Arc<Tally>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("enabled", &self.local.is_some())
            .field("ttl", &self.ttl)
            .field("entry_cap", &self.entry_cap)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    /// A cache bounded as `settings` say, sharing entries through `shared` when given.
    pub fn new(settings: &CacheSettings, shared: Option<Arc<Shared>>) -> Self {
        let tally = Arc::new(Tally::default());
        let usable = settings.enabled && settings.max_entries > 0 && settings.max_bytes > 0;
        let entry_cap = (settings.max_bytes / 8).clamp(1, MAX_ENTRY_BYTES);
        let local = usable.then(|| {
            let capacity = capacity(settings.max_bytes);
            let floor = capacity.div_ceil(settings.max_entries).max(1);
            let listener = Arc::clone(&tally);
            Cache::builder()
                .max_capacity(capacity)
                .weigher(move |_: &CacheKey, v: &Arc<Entry>| weight(v.size() as u64, floor))
                .expire_after(FromCreation(settings.ttl))
                .eviction_listener(move |_, v: Arc<Entry>, _| {
                    listener.remove(v.size() as u64);
                    let (entries, bytes) = listener.get();
                    crate::metrics::cache_size(entries, bytes);
                })
                .build()
        });
        Self {
            local,
            shared,
            ttl: settings.ttl,
            entry_cap: usize::try_from(entry_cap).unwrap_or(usize::MAX),
            tally,
        }
    }

    /// Whether the cache is on; when off every request bypasses it.
    pub fn enabled(&self) -> bool {
        self.local.is_some()
    }

    /// [`decide`], plus the bypass a disabled cache imposes; counts bypasses in the metrics.
    pub fn decide(
        &self,
        req: &ChatRequest,
        partition: &Partition<'_>,
        headers: &HeaderMap,
    ) -> Decision {
        let d = if self.enabled() {
            decide(req, partition, headers)
        } else {
            Decision::Bypass("disabled")
        };
        if matches!(d, Decision::Bypass(_)) {
            crate::metrics::cache_event("bypass");
        }
        d
    }

    /// The most one answer may take to be stored (an eighth of the byte bound, at most 4 MiB).
    pub fn entry_cap(&self) -> usize {
        self.entry_cap
    }

    /// The answer under `key`: this instance's first, then the shared one (kept locally
    /// afterwards). A Redis failure is a miss.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let local = self.local.as_ref()?;
        if let Some(hit) = local.get(key).await {
            crate::metrics::cache_event("hit");
            return Some(hit);
        }
        if let Some(entry) = self.fetch_shared(key).await {
            let entry = Arc::new(entry);
            self.insert_local(local, *key, Arc::clone(&entry)).await;
            crate::metrics::cache_event("hit");
            Some(entry)
        } else {
            crate::metrics::cache_event("miss");
            None
        }
    }

    /// Stores `entry` here and, when shared, in Redis for the same remaining time. Entries over
    /// the per-entry cap (an eighth of the byte bound, at most 4 MiB) are not stored, so one
    /// huge answer cannot flush the cache. A Redis failure only skips the shared copy.
    pub async fn put(&self, key: CacheKey, entry: Entry) {
        let Some(local) = self.local.as_ref() else {
            return;
        };
        let remaining = entry.remaining(self.ttl);
        if entry.size() > self.entry_cap || remaining.is_zero() {
            return;
        }
        let entry = Arc::new(entry);
        self.insert_local(local, key, Arc::clone(&entry)).await;
        crate::metrics::cache_event("store");
        self.store_shared(&key, &entry, remaining).await;
    }

    /// Stores a fresh answer in the background, so writing it (and its Redis copy) never
    /// delays the response that carries it.
    pub fn store_later(
        self: &Arc<Self>,
        key: CacheKey,
        reply: super::Stored,
        model: String,
        provider: String,
        usage: Option<crate::openai::Usage>,
    ) {
        if self.local.is_none() {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let entry = Entry {
                reply,
                model,
                provider,
                usage,
                created: std::time::SystemTime::now(),
            };
            me.put(key, entry).await;
        });
    }

    /// (entries, bytes) held in this instance.
    pub fn stats(&self) -> (u64, u64) {
        self.tally.get()
    }

    async fn insert_local(
        &self,
        local: &Cache<CacheKey, Arc<Entry>>,
        key: CacheKey,
        entry: Arc<Entry>,
    ) {
        // counted before insertion: the eviction listener takes replaced and rejected
        // entries back out
        self.tally.add(entry.size() as u64);
        local.insert(key, entry).await;
        let (entries, bytes) = self.stats();
        crate::metrics::cache_size(entries, bytes);
    }

    fn redis_key(shared: &Shared, key: &CacheKey) -> String {
        shared.spread_key(&format!("cache:{}", key.hex()))
    }

    async fn fetch_shared(&self, key: &CacheKey) -> Option<Entry> {
        let shared = self.shared.as_ref()?;
        let name = Self::redis_key(shared, key);
        let mut conn = shared.conn();
        let raw: Option<Vec<u8>> = shared
            .run(async move {
                redis::cmd("GET")
                    .arg(&name)
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
            })
            .await
            .ok()
            .flatten();
        let entry: Entry = match serde_json::from_slice(&raw?) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, key = %key.hex(), "unreadable shared cache entry");
                return None;
            }
        };
        (!entry.remaining(self.ttl).is_zero() && entry.size() <= self.entry_cap).then_some(entry)
    }

    async fn store_shared(&self, key: &CacheKey, entry: &Entry, ttl: Duration) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        let value = match serde_json::to_vec(entry) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cache entry not serialisable");
                return;
            }
        };
        let name = Self::redis_key(shared, key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = shared.conn();
        let _ = shared
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Stored;
    use bytes::Bytes;
    use std::time::SystemTime;

    fn settings(max_entries: u64, max_bytes: u64, ttl: Duration) -> CacheSettings {
        CacheSettings {
            enabled: true,
            max_entries,
            max_bytes,
            ttl,
            scope: crate::config::CacheScope::User,
        }
    }

    fn key(i: usize) -> CacheKey {
        let body = format!(
            r#"{{"model":"m","temperature":0,"messages":[{{"role":"user","content":"q{i}"}}]}}"#
        );
        let req = ChatRequest::parse(body.as_bytes()).expect("valid request");
        CacheKey::for_request(
            &req,
            &Partition {
                route: "r",
                scope: "global",
                policy: 0,
            },
        )
    }

    fn entry(body_len: usize) -> Entry {
        Entry {
            reply: Stored::Full(Bytes::from(vec![b'x'; body_len])),
            model: "m".into(),
            provider: "p".into(),
            usage: None,
            created: SystemTime::now(),
        }
    }

    /// Lets moka apply evictions, then returns (moka's count, our tally).
    async fn settle(c: &ResponseCache) -> (u64, (u64, u64)) {
        let local = c.local.as_ref().expect("enabled");
        local.run_pending_tasks().await;
        (local.entry_count(), c.stats())
    }

    #[tokio::test]
    async fn stores_and_returns_an_entry() {
        let c = ResponseCache::new(&settings(10, 1 << 20, Duration::from_secs(60)), None);
        assert!(c.get(&key(1)).await.is_none());
        c.put(key(1), entry(10)).await;
        let got = c.get(&key(1)).await.expect("hit");
        assert_eq!(got.reply, entry(10).reply);
        assert!(c.get(&key(2)).await.is_none());
    }

    #[tokio::test]
    async fn the_entry_bound_holds() {
        let c = ResponseCache::new(&settings(5, 1 << 20, Duration::from_secs(60)), None);
        for i in 0..40 {
            c.put(key(i), entry(10)).await;
        }
        let (count, (entries, bytes)) = settle(&c).await;
        assert!(count <= 5 && count > 0, "{count}");
        assert_eq!(entries, count);
        assert_eq!(bytes, count * entry(10).size() as u64);
    }

    #[tokio::test]
    async fn the_byte_bound_holds() {
        let size = entry(800).size() as u64;
        let c = ResponseCache::new(&settings(1000, 10_000, Duration::from_secs(60)), None);
        for i in 0..40 {
            c.put(key(i), entry(800)).await;
        }
        let (count, (entries, bytes)) = settle(&c).await;
        assert!(count > 0 && count * size <= 10_000, "{count}");
        assert_eq!((entries, bytes), (count, count * size));
    }

    #[tokio::test]
    async fn replacing_an_entry_keeps_the_tally_right() {
        let c = ResponseCache::new(&settings(10, 1 << 20, Duration::from_secs(60)), None);
        c.put(key(1), entry(10)).await;
        c.put(key(1), entry(20)).await;
        let (count, stats) = settle(&c).await;
        assert_eq!((count, stats), (1, (1, entry(20).size() as u64)));
    }

    #[tokio::test]
    async fn oversized_and_stale_entries_are_not_stored() {
        // cap: 10_000 / 8 = 1250 bytes
        let c = ResponseCache::new(&settings(100, 10_000, Duration::from_secs(60)), None);
        c.put(key(1), entry(2000)).await;
        let mut stale = entry(10);
        stale.created = SystemTime::now() - Duration::from_secs(120);
        c.put(key(2), stale).await;
        assert!(c.get(&key(1)).await.is_none() && c.get(&key(2)).await.is_none());
        assert_eq!(settle(&c).await, (0, (0, 0)));
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let ttl = Duration::from_millis(200);
        let c = ResponseCache::new(&settings(10, 1 << 20, ttl), None);
        c.put(key(1), entry(10)).await;
        assert!(c.get(&key(1)).await.is_some());
        tokio::time::sleep(ttl * 3).await;
        // moka removes expired entries on its timer wheel's schedule (about a second), but
        // never returns one
        assert!(c.get(&key(1)).await.is_none());
    }

    #[tokio::test]
    async fn a_disabled_cache_bypasses_everything() {
        let mut s = settings(10, 1 << 20, Duration::from_secs(60));
        s.enabled = false;
        let c = ResponseCache::new(&s, None);
        c.put(key(1), entry(10)).await;
        assert!(c.get(&key(1)).await.is_none());
        let req = ChatRequest::parse(
            br#"{"model":"m","temperature":0,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .expect("valid");
        assert_eq!(
            c.decide(
                &req,
                &Partition {
                    route: "r",
                    scope: "global",
                    policy: 0
                },
                &HeaderMap::new()
            ),
            Decision::Bypass("disabled")
        );
        assert_eq!(c.stats(), (0, 0));
    }
}
