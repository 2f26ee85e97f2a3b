//! Fleet-wide key pacing on the real Redis (a key prefix of its own per test): two router
//! instances sharing one key with `rpm: 60` keep to it together, so the simulator (which
//! enforces 60 rpm per key, with a burst of two) sends no 429; with Redis unreachable each instance paces its
//! share (`rpm / expected_instances`) and says so in `/health/detailed`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{chat, policies, Harness, Upstream};
use serde_json::Value;

const REDIS: &str = "redis://127.0.0.1:6379/0";
/// Requests sent, at four times the key's rate (split over the instances).
const REQUESTS: usize = 10;
const EVERY: Duration = Duration::from_millis(250);

/// A key prefix of its own; its keys are deleted when dropped.
struct Prefix(String);

impl Prefix {
    fn new(test: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(format!(
            "sy-fleet-{test}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(mut c) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{}*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

/// One provider with one key paced at (and enforced by the simulator at) 60 rpm.
fn upstream() -> Vec<Upstream> {
    vec![Upstream::new("alpha", &["a-1"])
        .keys(&["sk-fleet"])
        .sim_key_rpm(60)
        .key_limits(Some(60), None)]
}

fn server(redis: &str, prefix: &str, instances: u32) -> String {
    format!(
        "state:\n  redis: {redis}\n  prefix: {prefix}\n  timeout_ms: 500\n  expected_instances: {instances}\n"
    )
}

async fn start(server: &str) -> Harness {
    let policy = format!(
        "pacing: {{on_busy: wait, max_wait_ms: 60000}}\n{}",
        policies::route_all("alpha/a-1", "[alpha/a-1]")
    );
    Harness::builder(upstream())
        .policy(policy)
        .server(server)
        .start()
        .await
}

/// Sends `REQUESTS` chats on a fixed schedule alternating between `a` and `b`, none waiting
/// for another; every status.
async fn drive(a: &Arc<Harness>, b: &Arc<Harness>) -> Vec<u16> {
    let mut tick = tokio::time::interval(EVERY);
    let mut sent = Vec::new();
    for i in 0..REQUESTS {
        tick.tick().await;
        let h = if i % 2 == 0 { a.clone() } else { b.clone() };
        sent.push(tokio::spawn(async move {
            let (status, _, body) = h.post_chat(chat("auto", &format!("hi {i}"))).await;
            if status != 200 {
                eprintln!("request {i}: {status} {body}");
            }
            status.as_u16()
        }));
    }
    let mut out = Vec::new();
    for t in sent {
        out.push(t.await.expect("request task"));
    }
    out
}

async fn key_pacing(h: &Harness) -> Value {
    let (_, d) = h.get("/health/detailed").await;
    d
}

#[tokio::test]
async fn two_instances_share_one_key_budget_through_redis() {
    let p = Prefix::new("shared");
    let a = Arc::new(start(&server(REDIS, &p.0, 2)).await);
    let b = Arc::new(a.twin().await);
    let statuses = drive(&a, &b).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let sim = a.sim("alpha");
    assert_eq!(sim.rate_limited(), 0, "the simulator answered 429");
    assert_eq!(sim.calls(), REQUESTS, "one upstream call per request");
    let d = key_pacing(&b).await;
    assert_eq!(d["key_pacing"]["scope"], "fleet", "{}", d["key_pacing"]);
    // the budget lives in Redis under the prefix's hash tag, never under the key itself
    let mut c = redis::Client::open(REDIS)
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{}}}:pace:*", p.0))
        .query(&mut c)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].ends_with(":rpm") && !keys[0].contains("sk-fleet"),
        "{keys:?}"
    );
}

#[tokio::test]
async fn without_redis_each_instance_paces_its_share() {
    let p = Prefix::new("fallback");
    // nothing listens on port 1: both instances fall back to 60 / 2 = 30 rpm each
    let a = Arc::new(start(&server("redis://127.0.0.1:1/0", &p.0, 2)).await);
    let b = Arc::new(a.twin().await);
    let statuses = drive(&a, &b).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let sim = a.sim("alpha");
    assert_eq!(sim.rate_limited(), 0, "the simulator answered 429");
    let d = key_pacing(&a).await;
    assert_eq!(d["key_pacing"]["scope"], "instance", "{}", d["key_pacing"]);
    assert_eq!(d["key_pacing"]["reason"], "redis unreachable");
    assert_eq!(d["key_pacing"]["expected_instances"], 2);
    assert_eq!(d["providers"][0]["keys"][0]["fallback_rpm"], 30);
}

#[tokio::test]
async fn each_instance_at_the_full_rate_gets_429s() {
    // the control: without sharing and without dividing, two instances send twice the rate
    let p = Prefix::new("control");
    let a = Arc::new(start(&server("redis://127.0.0.1:1/0", &p.0, 1)).await);
    let b = Arc::new(a.twin().await);
    drive(&a, &b).await;
    assert!(
        a.sim("alpha").rate_limited() > 0,
        "the simulator should have refused calls beyond 60 rpm"
    );
}

/// The fleet-wide TAT of the only paced key under `prefix`, as µs ahead of Redis's clock.
fn fleet_tat_ahead(c: &mut redis::Connection, prefix: &str) -> f64 {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}}}:pace:*:rpm"))
        .query(c)
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let tat: Option<String> = redis::cmd("GET").arg(&keys[0]).query(c).unwrap();
    let (secs, micros): (String, String) = redis::cmd("TIME").query(c).unwrap();
    let now = secs.parse::<f64>().unwrap() * 1e6 + micros.parse::<f64>().unwrap();
    tat.map_or(0.0, |t| t.parse::<f64>().unwrap() - now)
}

#[tokio::test]
async fn dropped_waiters_hand_their_fleet_slots_back() {
    // rpm 6: one slot every 10 s. Ten waiters book the next ten slots in Redis (up to +100 s,
    // within the 105 s longest wait); a request after them would be told +110 s: refused.
    const WAITERS: usize = 10;
    const SLOT_US: f64 = 10e6;
    let p = Prefix::new("refund");
    let policy = format!(
        "pacing: {{on_busy: wait, max_wait_ms: 105000}}\n{}",
        policies::route_all("alpha/a-1", "[alpha/a-1]")
    );
    let u = Upstream::new("alpha", &["a-1"])
        .keys(&["sk-fleet-refund"])
        .sim_key_rpm(6)
        .key_limits(Some(6), None)
        .max_queue(64);
    let h = Arc::new(
        Harness::builder(vec![u])
            .policy(policy)
            .server(server(REDIS, &p.0, 1))
            .start()
            .await,
    );
    let first = std::time::Instant::now();
    assert_eq!(h.post_chat(chat("auto", "hi")).await.0, 200);
    let mut c = redis::Client::open(REDIS)
        .unwrap()
        .get_connection()
        .unwrap();
    // a waiter counts as queued just before its booking reaches Redis: wait for the TAT to
    // reach all eleven slots (first call + ten bookings: +110 s from the first call)
    let prefix = p.0.clone();
    crate::pacing::queue_then_drop(&h, WAITERS, || {
        fleet_tat_ahead(&mut c, &prefix) + first.elapsed().as_secs_f64() * 1e6 >= 10.5 * SLOT_US
    })
    .await;
    // the refunds run on their own: wait (bounded) until Redis holds only the call made
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fleet_tat_ahead(&mut c, &p.0) > SLOT_US {
        assert!(
            std::time::Instant::now() < deadline,
            "the slots were not handed back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.calls("alpha"),
        2,
        "only the first and the new request called"
    );
    assert_eq!(h.sim("alpha").rate_limited(), 0);
}
