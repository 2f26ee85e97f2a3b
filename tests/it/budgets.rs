//! Dollar budgets: reserve before calling and settle after, refusal with `budget_exceeded`
//! naming the budget and its reset, `degrade` to the cheapest candidates, warning webhooks,
//! and spend rebuilt from the ledger after a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, chat, header, Harness, Upstream};
use axum::routing::post;
use axum::Json;
use serde_json::Value;

const KEY: &str = "sk-sy-payer-00000000000000000000000000000";

/// alpha is dear ($1000 per 1M tokens), beta cheap; the rule prefers alpha.
fn upstreams() -> Vec<Upstream> {
    vec![
        Upstream::new("alpha", &["a-1"]).price("a-1", 1000.0, 1000.0),
        Upstream::new("beta", &["b-1"]).price("b-1", 1.0, 1.0),
    ]
}

fn policy(on_exceeded: &str) -> String {
    format!(
        "on_budget_exceeded: {on_exceeded}\n{}",
        policies::route_all("alpha/a-1", "[alpha/a-1, beta/b-1]")
    )
}

fn keys() -> String {
    key_entry("payer", KEY, "user: pat, tier: metered")
}

fn server(daily_usd: f64, extra: &str) -> String {
    format!("{KEYS_AUTH}tiers:\n  metered: {{daily_usd: {daily_usd}}}\nbudgets:\n{extra}")
}

/// A request that reserves (prompt + 40 completion tokens) × $1000/1M ≈ $0.05 at alpha and
/// costs at most that.
fn ask() -> Value {
    let mut body = chat("auto", "hello");
    body["max_tokens"] = 40.into();
    body
}

async fn spent(h: &Harness) -> f64 {
    h.ledger_lines().await.iter().map(|l| l.cost_usd).sum()
}

#[tokio::test]
async fn a_spent_budget_refuses_with_which_budget_and_when_it_resets() {
    let h = Harness::builder(upstreams())
        .policy(policy("refuse"))
        .server(server(0.2, ""))
        .keys(keys())
        .start()
        .await;
    let mut refused = None;
    for _ in 0..20 {
        let (status, headers, v) = h.post_chat_as(KEY, ask()).await;
        if status == 429 {
            refused = Some((headers, v));
            break;
        }
        assert_eq!(status, 200, "{v}");
    }
    let (headers, v) = refused.expect("the budget ran out within 20 requests");
    let e = assert_openai_error(&v);
    assert_eq!(e["type"], "budget_exceeded");
    assert_eq!(e["code"], "budget_exceeded");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("daily budget of user `pat`"), "{msg}");
    assert!(msg.contains("T00:00:00"), "names the reset time: {msg}");
    let retry: u64 = header(&headers, "retry-after").parse().unwrap();
    assert!((1..=86_400).contains(&retry));
    // reservations never let spend pass the limit: every request's actual cost is below
    // what was reserved for it
    let total = spent(&h).await;
    assert!(total > 0.1 && total <= 0.2, "spent {total}");
    let lines = h.ledger_lines().await;
    assert_eq!(lines.last().unwrap().outcome, "budget_exceeded");
    assert!(!lines.last().unwrap().billed);
}

#[tokio::test]
async fn degrade_routes_to_the_cheapest_candidate_once_spent() {
    let h = Harness::builder(upstreams())
        .policy(policy("degrade"))
        .server(server(0.15, ""))
        .keys(keys())
        .start()
        .await;
    let mut providers = Vec::new();
    for _ in 0..12 {
        let (status, headers, v) = h.post_chat_as(KEY, ask()).await;
        assert_eq!(status, 200, "degrade never refuses: {v}");
        providers.push(header(&headers, "x-switchyard-provider"));
    }
    assert_eq!(providers[0], "alpha");
    assert_eq!(providers.last().unwrap(), "beta", "{providers:?}");
    let lines = h.ledger_lines().await;
    let degraded: Vec<_> = lines.iter().filter(|l| l.degraded).collect();
    assert!(!degraded.is_empty());
    assert!(degraded
        .iter()
        .all(|l| l.provider.as_deref() == Some("beta")));
}

#[tokio::test]
async fn crossing_the_warning_and_the_limit_posts_to_the_webhook_once_each() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |Json(v): Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let extra = format!("  warn_at: 0.5\n  webhook: {hook}\n");
    let h = Harness::builder(upstreams())
        .policy(policy("refuse"))
        .server(server(0.2, &extra))
        .keys(keys())
        .start()
        .await;
    for _ in 0..20 {
        if h.post_chat_as(KEY, ask()).await.0 == 429 {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = seen.lock().unwrap().clone();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(
        kinds.iter().filter(|k| **k == "budget_warning").count() == 1,
        "{events:?}"
    );
    let warning = events
        .iter()
        .find(|e| e["event"] == "budget_warning")
        .unwrap();
    assert_eq!(warning["scope"], "user");
    assert_eq!(warning["name"], "pat");
    assert_eq!(warning["period"], "daily");
    assert!(warning["spent_usd"].as_f64().unwrap() >= 0.1);
    assert!(!serde_json::to_string(&events).unwrap().contains(KEY));
}

#[tokio::test]
async fn a_restart_rebuilds_spend_from_the_ledger() {
    let mut h = Harness::builder(upstreams())
        .policy(policy("refuse"))
        .server(server(0.2, ""))
        .keys(keys())
        .start()
        .await;
    // each request costs about a quarter of the budget: it runs out within a few
    let mut refused = false;
    for _ in 0..20 {
        if h.post_chat_as(KEY, ask()).await.0 == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the budget never ran out within 20 requests");
    let before = spent(&h).await;
    let again = h.restarted().await;
    let (status, _, v) = again.post_chat_as(KEY, ask()).await;
    assert_eq!(status, 429, "spend survived the restart: {v}");
    assert_eq!(assert_openai_error(&v)["code"], "budget_exceeded");
    assert!(spent(&again).await >= before);
}
