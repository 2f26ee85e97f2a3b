//! Breaker openings and key cooldowns travel between two router instances through Redis
//! (needs Redis on 127.0.0.1:6379).

use std::sync::Arc;
use std::time::Duration;

use crate::common::{policies, Harness, Upstream};
use redis::AsyncCommands;
use switchyard::testing::breaker_event;
use switchyard::testing::lock;
use switchyard::testing::spawn_sync;
use switchyard::testing::BreakerState;
use switchyard::testing::Live;
use switchyard::testing::Secret;
use switchyard::testing::Shared;
use switchyard::testing::{OnUnavailable, StateSettings};
use tokio::time::Instant;

/// Two instances with the same provider, each syncing through its own Redis connection under
/// a fresh prefix; the first one's `Shared` is returned to inspect Redis.
async fn two_instances() -> (Harness, Harness, Arc<Shared>) {
    let prefix = format!("switchyard-test-{:016x}", rand::random::<u64>());
    let upstream = || {
        Upstream::new("alpha", &["a-1"])
            .keys(&["sk-a", "sk-b"])
            .breaker(1, 30_000, 1)
    };
    let a = Harness::builder(vec![upstream()])
        .policy(policies::ALPHA)
        .start()
        .await;
    let b = Harness::builder(vec![upstream()])
        .policy(policies::ALPHA)
        .start()
        .await;
    let connect = || {
        Shared::connect(&StateSettings {
            redis: Some(Secret::new("redis://127.0.0.1:6379/0")),
            prefix: prefix.clone(),
            on_unavailable: OnUnavailable::Local,
            timeout: Duration::from_millis(250),
            expected_instances: 1,
        })
        .expect("redis settings")
        .expect("redis configured")
    };
    let shared = connect();
    for (h, s) in [(&a, shared.clone()), (&b, connect())] {
        let state = Arc::downgrade(&h.state);
        spawn_sync(s, move || state.upgrade().map(|s| s.live()));
    }
    (a, b, shared)
}

/// Polls `check` on `h`'s live state every 50 ms until it holds (panics after 10 s).
async fn eventually(h: &Harness, what: &str, check: impl Fn(&Live, Instant) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check(&h.state.live(), Instant::now()) {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_opened_breaker_is_adopted_by_the_other_instance() {
    let (a, b, shared) = two_instances().await;
    let live_a = a.state.live();
    breaker_event(&live_a.health.breakers[0], "alpha/a-1", |br, now| {
        br.on_failure(now);
    });
    let until = lock(&live_a.health.breakers[0]).local_open_until(Instant::now());
    assert!(until.is_some(), "threshold 1: one failure opens it");

    eventually(&b, "b's breaker opens", |l, now| {
        lock(&l.health.breakers[0]).state(now) == BreakerState::Open
    })
    .await;
    let adopted = &b.state.live().health.breakers[0];
    assert_eq!(lock(adopted).local_open_until(Instant::now()), None);

    let mut conn = shared.conn();
    let published: Option<i64> = conn.get(shared.key("breaker:alpha/a-1")).await.unwrap();
    assert!(published.is_some(), "a published its opening");
    let ttl: i64 = conn.pttl(shared.key("breaker:alpha/a-1")).await.unwrap();
    assert!(ttl > 0, "the entry expires with the opening (pttl {ttl})");
}

#[tokio::test]
async fn a_cooled_key_is_adopted_and_expires_everywhere() {
    let (a, b, shared) = two_instances().await;
    let live_a = a.state.live();
    let cooled_until = Instant::now() + Duration::from_millis(1_500);
    lock(&live_a.health.keys[0]).cool_down(1, cooled_until);

    eventually(&b, "b's second key cools down", |l, now| {
        lock(&l.health.keys[0]).cooling_until(1, now).is_some()
    })
    .await;
    let now = Instant::now();
    let pool = lock(&b.state.live().health.keys[0]).clone();
    assert_eq!(pool.cooling_until(0, now), None, "only that key");
    assert!(pool.local_cooldowns(now).is_empty(), "adopted, not b's own");

    // the entry is named by the key's env var, never by its secret
    let name = shared.key("cooldown:alpha:ALPHA_KEY_1");
    let mut conn = shared.conn();
    let keys: Vec<String> = conn.keys(shared.key("*")).await.unwrap();
    assert!(keys.contains(&name), "published: {keys:?}");
    assert!(keys.iter().all(|k| !k.contains("sk-")), "{keys:?}");

    // nobody keeps it alive: it ends on both instances and disappears from Redis
    for h in [&a, &b] {
        eventually(h, "the cooldown ends", |l, now| {
            lock(&l.health.keys[0]).cooling_until(1, now).is_none()
        })
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.exists::<_, bool>(&name).await.unwrap() {
        assert!(Instant::now() < deadline, "{name} is kept alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
