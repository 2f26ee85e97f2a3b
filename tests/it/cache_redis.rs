//! The response cache shared through a real Redis at 127.0.0.1:6379, and its local fallback.
//!
//! Each test uses its own random key prefix and deletes its keys when it ends, pass or fail.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard::testing::{
    replay, CacheKey, CacheScope, CacheSettings, ChatRequest, Entry, OnUnavailable, Partition,
    ResponseCache, Secret, Shared, StateSettings, Stored, Usage,
};

const REDIS: &str = "redis://127.0.0.1:6379/0";
const TTL: Duration = Duration::from_secs(60);

/// Deletes every key under its prefix when dropped, so a failing test leaves nothing behind.
struct Prefix(String);

impl Prefix {
    fn new() -> Self {
        Self(format!("sy-test-cache-{:016x}", rand::random::<u64>()))
    }

    fn keys(&self) -> Vec<String> {
        let Ok(mut conn) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) else {
            return Vec::new();
        };
        redis::cmd("KEYS")
            .arg(format!("*{}*", self.0))
            .query(&mut conn)
            .unwrap_or_default()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let keys = self.keys();
        if let Ok(mut conn) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) {
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

fn shared(url: &str, prefix: &str) -> Arc<Shared> {
    Shared::connect(&StateSettings {
        redis: Some(Secret::new(url)),
        prefix: prefix.to_owned(),
        on_unavailable: OnUnavailable::Local,
        timeout: Duration::from_millis(250),
        expected_instances: 1,
    })
    .expect("usable settings")
    .expect("redis configured")
}

fn cache(shared: Arc<Shared>) -> ResponseCache {
    let settings = CacheSettings {
        enabled: true,
        max_entries: 100,
        max_bytes: 1 << 20,
        ttl: TTL,
        scope: CacheScope::User,
    };
    ResponseCache::new(&settings, Some(shared))
}

fn key(text: &str, stream: bool) -> CacheKey {
    let body = format!(
        r#"{{"model":"auto","temperature":0,"stream":{stream},"messages":[{{"role":"user","content":"{text}"}}]}}"#
    );
    let partition = Partition {
        route: "default",
        scope: "user:",
        policy: 0,
    };
    CacheKey::for_request(
        &ChatRequest::parse(body.as_bytes()).expect("valid"),
        &partition,
    )
}

fn entry(reply: Stored) -> Entry {
    Entry {
        reply,
        model: "gpt-x".into(),
        provider: "openai".into(),
        usage: Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
            prompt_tokens_details: None,
        }),
        created: SystemTime::now(),
    }
}

#[tokio::test]
async fn a_put_on_one_instance_is_a_hit_on_another() {
    let p = Prefix::new();
    let (a, b) = (cache(shared(REDIS, &p.0)), cache(shared(REDIS, &p.0)));
    let k = key("hello", false);
    assert!(b.get(&k).await.is_none());
    let stored = entry(Stored::Full(Bytes::from_static(
        br#"{"id":"r1","choices":[]}"#,
    )));
    a.put(k, stored.clone()).await;
    assert_eq!(p.keys(), [format!("{}:cache:{}", p.0, k.hex())]);

    let got = b.get(&k).await.expect("shared hit");
    assert_eq!(*got, stored);
    // the hit was kept locally: b's entry count grew
    assert_eq!(b.stats().0, 1);
}

#[tokio::test]
async fn a_shared_stream_replays_on_another_instance() {
    let p = Prefix::new();
    let (a, b) = (cache(shared(REDIS, &p.0)), cache(shared(REDIS, &p.0)));
    let k = key("stream me", true);
    let chunks = [
        r#"{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}"#,
        r#"{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
    ];
    let stored = Stored::Chunks(chunks.iter().map(|c| (*c).to_owned()).collect());
    a.put(k, entry(stored)).await;

    let got = b.get(&k).await.expect("shared hit");
    let frames: Vec<Bytes> = replay(&got.reply, false)
        .expect("a stream entry")
        .map(std::result::Result::unwrap_or_default)
        .collect()
        .await;
    assert_eq!(
        frames,
        [
            Bytes::from_static(
                b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n"
            ),
            Bytes::from_static(b"data: [DONE]\n\n"),
        ]
    );
}

#[tokio::test]
async fn the_shared_copy_expires_with_the_entry_not_after_a_full_ttl() {
    let p = Prefix::new();
    let s = shared(REDIS, &p.0);
    let a = cache(Arc::clone(&s));
    let k = key("aged", false);
    let mut aged = entry(Stored::Full(Bytes::from_static(b"{}")));
    aged.created = SystemTime::now() - TTL.checked_sub(Duration::from_secs(10)).unwrap();
    a.put(k, aged).await;
    let mut conn = redis::Client::open(REDIS)
        .and_then(|c| c.get_connection())
        .expect("redis reachable");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}:cache:{}", p.0, k.hex()))
        .query(&mut conn)
        .expect("pttl");
    assert!(pttl > 0 && pttl <= 10_000, "{pttl}");
}

#[tokio::test]
async fn an_unreadable_shared_entry_is_a_miss() {
    let p = Prefix::new();
    let b = cache(shared(REDIS, &p.0));
    let k = key("garbage", false);
    let mut conn = redis::Client::open(REDIS)
        .and_then(|c| c.get_connection())
        .expect("redis reachable");
    let _: () = redis::cmd("SET")
        .arg(format!("{}:cache:{}", p.0, k.hex()))
        .arg("not json")
        .query(&mut conn)
        .expect("set");
    assert!(b.get(&k).await.is_none());
}

#[tokio::test]
async fn with_redis_unreachable_the_cache_stays_local() {
    let p = Prefix::new();
    let s = shared("redis://127.0.0.1:1", &p.0);
    let a = cache(Arc::clone(&s));
    let k = key("offline", false);
    assert!(a.get(&k).await.is_none());
    let stored = entry(Stored::Full(Bytes::from_static(b"{}")));
    a.put(k, stored.clone()).await;
    assert_eq!(a.get(&k).await.as_deref(), Some(&stored));
    assert!(!s.is_up());
    // a second instance cannot see it, and says so with a plain miss
    assert!(cache(s).get(&key("offline", false)).await.is_none());
}
