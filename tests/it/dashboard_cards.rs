//! The dashboard's cache and budget cards against `/metrics/json` (a process of its own: the
//! metrics recorder is process-wide).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::browser::{attr, close, dump_dom, metric_f64, samples, CHROMIUM};
use crate::common::{chat, header, Harness, Upstream};
use serde_json::Value;

const POLICY: &str = r#"
name: p
aliases: [auto]
baseline: premium/large
rules:
  - name: rest
    route: [cheap/mini]
"#;

/// The body below, alone in a process: it asserts exact totals of the process-wide recorder.
#[test]
fn cache_and_budget_cards_show_hit_rate_and_global_spend_in_own_process() {
    crate::common::own_process(
        "dashboard_cards::cache_and_budget_cards_show_hit_rate_and_global_spend",
    );
}

#[tokio::test]
#[ignore = "runs in its own process: see common::own_process"]
async fn cache_and_budget_cards_show_hit_rate_and_global_spend() {
    let h = Harness::builder(vec![
        Upstream::new("cheap", &["mini"]).price("mini", 500.0, 1500.0),
        Upstream::new("premium", &["large"]).price("large", 1000.0, 3000.0),
    ])
    .policy(POLICY)
    .server("global: {daily_usd: 10}\n")
    .start()
    .await;
    let mut body = chat("auto", "What is the capital of France?");
    body["temperature"] = 0.into();
    let (status, _, _) = h.post_chat(body.clone()).await;
    assert_eq!(status, 200);
    // the answer is stored in the background: ask again until it is served from the cache
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, headers, _) = h.post_chat(body.clone()).await;
        assert_eq!(status, 200);
        if header(&headers, "x-switchyard-cache") == "hit" {
            break;
        }
        assert!(Instant::now() < deadline, "no hit");
    }
    let spent: f64 = h.ledger_lines().await.iter().map(|l| l.cost_usd).sum();
    assert!(spent > 0.0);
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIPPING the browser part: {CHROMIUM} is missing");
        return;
    }
    let metrics: Value = h.get("/metrics/json").await.1;
    let by = |outcome: &str| {
        samples(&metrics, "switchyard_cache_requests_total")
            .iter()
            .filter(|s| s["labels"]["outcome"] == outcome)
            .map(|s| s["value"].as_f64().unwrap())
            .sum::<f64>()
    };
    let rate = by("hit") / (by("hit") + by("miss"));
    let dom = dump_dom(&h.url("/dashboard")).await;
    assert_eq!(
        attr(&dom, "data-metric", "cache_hit_rate", "data-state"),
        "live"
    );
    assert!(
        close(metric_f64(&dom, "cache_hit_rate"), rate, 1e-3),
        "{rate}"
    );
    assert_eq!(
        attr(&dom, "data-metric", "budget_usage", "data-state"),
        "live"
    );
    let share: f64 = attr(&dom, "data-budget", "global-daily", "data-value")
        .parse()
        .unwrap();
    assert!(
        close(share, spent / 10.0, 1e-3),
        "{share} vs {}",
        spent / 10.0
    );
}
