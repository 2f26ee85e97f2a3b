//! Two router instances on one real Redis act as one: a per-user limit and a budget hold
//! across both under 200 concurrent requests, a new instance loses no spend, the response
//! cache is shared, and an unreachable Redis means local counters (or 503 when fail-closed).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, chat, header, Harness, Upstream};
use serde_json::Value;
use std::time::SystemTime;

use switchyard::testing::Limits;
use switchyard::testing::Subject;

const KEY: &str = "sk-sy-shared-0000000000000000000000000000";
const REDIS: &str = "redis://127.0.0.1:6379/0";

fn keys() -> String {
    key_entry("shared", KEY, "user: sam, team: ops, tier: t")
}

/// A key prefix of its own per test; its keys are deleted when dropped.
struct Prefix(String);

impl Prefix {
    fn new(test: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(format!(
            "sy-test-{test}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(client) = redis::Client::open(REDIS) {
            if let Ok(mut c) = client.get_connection() {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("*{}*", self.0))
                    .query(&mut c)
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut c);
                }
            }
        }
    }
}

/// The ops key of these instances, for `/health/detailed`.
const OPS: &str = "ops-shared-state-0123456789abcdef";

fn server(prefix: &str, tier: &str, redis: &str, on_unavailable: &str) -> String {
    format!(
        "{KEYS_AUTH}  ops_key_sha256: {}\ntiers:\n  t: {tier}\nstate:\n  redis: {redis}\n  prefix: {prefix}\n  \
         on_unavailable: {on_unavailable}\n  timeout_ms: 3000\n",
        switchyard::sha256_hex(OPS)
    )
}

/// An instance of the router with key `shared` and `server` as its server file.
async fn start(server: &str) -> Harness {
    Harness::builder(upstream())
        .policy(policies::ALPHA)
        .server(server)
        .keys(keys())
        .start()
        .await
}

fn upstream() -> Vec<Upstream> {
    vec![Upstream::new("alpha", &["a-1"]).price("a-1", 1000.0, 1000.0)]
}

fn ask(i: usize) -> Value {
    let mut body = chat("auto", &format!("question {i}"));
    body["max_tokens"] = 20.into();
    body
}

/// Sends `n` requests at once, alternating between the two instances; statuses and bodies.
async fn burst(a: &Harness, b: &Harness, n: usize) -> Vec<(u16, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, url) = {
            let h = if i % 2 == 0 { a } else { b };
            (h.client.clone(), h.url("/v1/chat/completions"))
        };
        tasks.spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(KEY)
                .json(&ask(i))
                .send()
                .await
                .expect("router answers");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test]
async fn a_per_user_limit_holds_across_two_instances() {
    let p = Prefix::new("rate");
    // an hourly bucket refills one request every 72 s: none come back during the burst
    let text = server(&p.0, "{rph: 50}", REDIS, "local");
    let a = start(&text).await;
    let b = a.twin().await;
    let results = burst(&a, &b, 200).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(
        ok, 50,
        "exactly the limit was admitted across both instances"
    );
    assert_eq!(limited.len(), 150);
    assert!(limited
        .iter()
        .all(|(_, v)| assert_openai_error(v)["code"] == "rate_limit_exceeded"));
    assert_eq!(a.calls("alpha"), 50);
}

#[tokio::test]
async fn a_budget_holds_across_two_instances_and_survives_a_new_one() {
    let p = Prefix::new("budget");
    let text = server(&p.0, "{daily_usd: 0.5}", REDIS, "local");
    let a = start(&text).await;
    let b = a.twin().await;
    let results = burst(&a, &b, 200).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results
        .iter()
        .filter(|(s, v)| *s == 429 && assert_openai_error(v)["code"] == "budget_exceeded")
        .count();
    assert!(
        ok > 0 && refused > 0 && ok + refused == 200,
        "{ok} ok, {refused} refused"
    );
    // each request's actual cost is at most what it reserved, so reservations keep the total
    // spend within the budget however the 200 requests interleave
    let mut spent = 0.0;
    for h in [&a, &b] {
        spent += h
            .ledger_lines()
            .await
            .iter()
            .map(|l| l.cost_usd)
            .sum::<f64>();
    }
    assert!(spent <= 0.5 + 1e-9, "spent {spent} of a $0.50 budget");
    assert!(spent > 0.25, "most of the budget was usable: {spent}");
    // a freshly started instance (a restart) sees all of the shared spend at once
    let c = a.twin().await;
    let subject = Subject {
        user: Some("sam".into()),
        user_limits: Limits {
            daily_usd: Some(0.5),
            ..Default::default()
        },
        ..Default::default()
    };
    // settlements run just after each answer: allow the last ones to land
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen = c.state.limiter.spend(&subject, SystemTime::now()).await;
        let daily = seen.iter().find(|b| b.period.as_str() == "daily").unwrap();
        if daily.reserved_usd.abs() < 1e-9 || std::time::Instant::now() > deadline {
            assert!(daily.reserved_usd.abs() < 1e-9, "every hold was settled");
            assert!(
                (daily.spent_usd - spent).abs() < 1e-5,
                "{} vs {spent}",
                daily.spent_usd
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_response_cache_is_shared() {
    let p = Prefix::new("cache");
    let text = server(&p.0, "{}", REDIS, "local");
    let a = start(&text).await;
    let b = a.twin().await;
    let mut body = chat("auto", "same question");
    body["temperature"] = 0.into();
    let (status, headers, first) = a.post_chat_as(KEY, body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-cache"), "miss");
    // the store is written in the background: poll the other instance briefly
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, headers, second) = b.post_chat_as(KEY, body.clone()).await;
        assert_eq!(status, 200);
        if header(&headers, "x-switchyard-cache") == "hit" {
            assert_eq!(second["choices"], first["choices"]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never shared");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn unreachable_redis_serves_on_local_counters_or_refuses_when_fail_closed() {
    let p = Prefix::new("down");
    let open = server(&p.0, "{rpm: 2}", "redis://127.0.0.1:1/0", "local");
    let h = start(&open).await;
    assert_eq!(h.post_chat_as(KEY, ask(1)).await.0, 200);
    assert_eq!(h.post_chat_as(KEY, ask(2)).await.0, 200);
    assert_eq!(h.post_chat_as(KEY, ask(3)).await.0, 429, "local limits");
    let (_, health) = h.get_as(Some(OPS), "/health/detailed").await;
    assert_eq!(health["shared_state"]["backend"], "redis");
    assert_eq!(health["shared_state"]["connected"], false);
    assert_eq!(health["status"], "degraded");

    let closed = server(&p.0, "{rpm: 2}", "redis://127.0.0.1:1/0", "refuse");
    let h = start(&closed).await;
    let (status, headers, v) = h.post_chat_as(KEY, ask(1)).await;
    assert_eq!(status, 503);
    assert_eq!(assert_openai_error(&v)["code"], "state_unavailable");
    assert!(!header(&headers, "retry-after").is_empty());
    assert_eq!(h.calls("alpha"), 0);
    let (status, ready) = h.get("/health/ready").await;
    assert_eq!(status, 503, "{ready}");
}
