//! The live dashboard in real headless Chromium: after known traffic its numbers match `/metrics/json`.
//! One test function, run in a process of its own (`common::own_process`), because the
//! Prometheus recorder is process-wide.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::browser::{
    attr, chromium, close, dump_dom, metric, metric_f64, quantile, samples, sum, CHROMIUM,
};
use crate::common::{chat, chat_stream, Harness, Upstream};
use serde_json::{json, Value};
use switchyard::sim::Behavior;

const POLICY: &str = r#"
name: p
aliases: [auto]
baseline: premium/large
rules:
  - name: hard
    when: {complexity: complex}
    route: [premium/large]
  - name: rest
    route: [cheap/mini]
"#;

const SIMPLE: &[&str] = &[
    "What is the capital of France?",
    "Say hello in Spanish.",
    "How many days are in a week?",
    "Name a primary colour.",
    "What is 2 + 2?",
];

const COMPLEX: &str = "Design a sharded, multi-region rate limiter for an API gateway. Prove that \
it never over-admits under concurrent requests and clock skew, compare token bucket, sliding \
window and GCRA step by step, analyse the trade-offs in latency and memory, and write the Rust \
implementation with tests.";

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("test-output").join("dashboard.png")
}

/// The body below, alone in a process: it asserts exact totals of the process-wide recorder.
#[test]
fn dashboard_shows_the_numbers_metrics_json_reports_in_own_process() {
    crate::common::own_process("dashboard::dashboard_shows_the_numbers_metrics_json_reports");
}

#[tokio::test]
#[ignore = "runs in its own process: see common::own_process"]
async fn dashboard_shows_the_numbers_metrics_json_reports() {
    let h = Harness::builder(vec![
        Upstream::new("cheap", &["mini"]).price("mini", 0.5, 1.5),
        Upstream::new("premium", &["large"]).price("large", 10.0, 30.0),
        Upstream::new("flaky", &["f"])
            .price("f", 2.0, 6.0)
            .breaker(1, 600_000, 1),
    ])
    .policy(POLICY)
    .start()
    .await;

    // The page and its assets are served from the binary with the right content types.
    for (path, kind, marker) in [
        ("/dashboard", "text/html", "/dashboard/app.js"),
        ("/dashboard/app.js", "text/javascript", "/metrics/json"),
        ("/dashboard/style.css", "text/css", ":root"),
    ] {
        let resp = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path} served as {ct}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(marker), "{path} lacks {marker}");
        for remote in ["src=\"http", "href=\"http", "url(http", "@import", "//cdn"] {
            assert!(
                !body.contains(remote),
                "{path} must not load anything from the network ({remote})"
            );
        }
    }

    if !Path::new(CHROMIUM).exists() {
        eprintln!(
            "SKIPPING the browser part of the dashboard test: {CHROMIUM} is missing \
             (install Debian's `chromium` package, as scripts/test-all does)"
        );
        return;
    }
    let page = h.url("/dashboard");

    // No traffic yet: the page renders all zeros without a script error.
    let dom = dump_dom(&page).await;
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script never finished a refresh:\n{dom}"
    );
    assert!(!dom.contains("data-js-error"), "script error:\n{dom}");
    assert_eq!(metric(&dom, "requests_total"), "0");
    assert_eq!(metric(&dom, "spend_usd"), "0.000000");
    assert_eq!(metric(&dom, "error_rate"), "0.000000");
    assert_eq!(metric(&dom, "latency_p50"), "", "no latency samples yet");
    assert_eq!(
        attr(&dom, "data-breaker", "flaky/f", "data-state"),
        "closed"
    );
    // the response cache is on by default; no global budget is set
    assert_eq!(
        attr(&dom, "data-metric", "cache_hit_rate", "data-state"),
        "live"
    );
    assert_eq!(
        attr(&dom, "data-metric", "budget_usage", "data-state"),
        "not_configured"
    );

    // Known traffic: five simple answers, one complex stream, one failure that opens a breaker.
    for text in SIMPLE {
        let (status, _, _) = h.post_chat(chat("auto", text)).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = h.stream_chat(chat_stream("auto", COMPLEX, true)).await;
    assert_eq!(status, 200);
    h.sim("flaky").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}}),
    });
    let (status, _, _) = h.post_chat(chat("flaky/f", "hello")).await;
    assert_eq!(status, 502);
    assert_eq!(h.ledger_lines().await.len(), 7); // flushes: the ledger writer records metrics

    let metrics: Value = h.get("/metrics/json").await.1;
    let breakers: Value = h.get("/metrics/circuit-breakers").await.1;
    let dom = dump_dom(&page).await;
    assert!(dom.contains("data-ready=\"1\""), "no refresh:\n{dom}");
    assert!(!dom.contains("data-js-error"), "script error:\n{dom}");

    let requests = samples(&metrics, "switchyard_requests_total");
    let total = sum(requests);
    assert_eq!(total, 7.0);
    assert_eq!(metric(&dom, "requests_total"), "7");
    let errors = sum(&requests
        .iter()
        .filter(|s| {
            s["labels"]["status"]
                .as_str()
                .unwrap()
                .parse::<u16>()
                .unwrap()
                >= 400
        })
        .cloned()
        .collect::<Vec<_>>());
    assert_eq!(errors, 1.0);
    assert_eq!(metric(&dom, "errors_total"), "1");
    assert!(close(metric_f64(&dom, "error_rate"), errors / total, 1e-6));

    let spend = sum(samples(&metrics, "switchyard_cost_usd_total"));
    let saving = sum(samples(&metrics, "switchyard_saving_usd_total"));
    assert!(
        spend > 0.0 && saving > 0.0,
        "spend {spend}, saving {saving}"
    );
    assert_eq!(metric(&dom, "spend_usd"), format!("{spend:.6}"));
    assert_eq!(metric(&dom, "saving_usd"), format!("{saving:.6}"));
    assert!(close(
        metric_f64(&dom, "saving_pct"),
        saving / (spend + saving),
        1e-6
    ));

    let mut by_model: BTreeMap<String, f64> = BTreeMap::new();
    for s in requests {
        *by_model
            .entry(s["labels"]["model"].as_str().unwrap().to_owned())
            .or_default() += s["value"].as_f64().unwrap();
    }
    assert!(by_model.len() >= 2, "{by_model:?}");
    for (model, n) in &by_model {
        assert_eq!(
            attr(&dom, "data-model", model, "data-count"),
            n.to_string(),
            "{model}"
        );
        let share: f64 = attr(&dom, "data-model", model, "data-share")
            .parse()
            .unwrap();
        assert!(close(share, n / total, 1e-6), "{model}: {share}");
    }
    assert_eq!(by_model["cheap/mini"], 5.0);

    for (name, family) in [
        ("latency", "switchyard_request_duration_seconds_bucket"),
        ("ttft", "switchyard_time_to_first_token_seconds_bucket"),
    ] {
        for (q, p) in [(0.5, "p50"), (0.95, "p95")] {
            let want = quantile(q, samples(&metrics, family)).expect(family);
            let shown = metric_f64(&dom, &format!("{name}_{p}"));
            assert!(close(shown, want, 1e-9), "{name} {p}: {shown} vs {want}");
        }
    }

    let failed = breakers["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["model"] == "flaky/f")
        .expect("flaky/f breaker");
    assert_eq!(failed["state"], "open");
    assert_eq!(attr(&dom, "data-breaker", "flaky/f", "data-state"), "open");
    let row = &dom[dom.find("data-breaker=\"flaky/f\"").unwrap()..];
    let row = &row[..row.find("</li>").unwrap()];
    assert!(row.contains(">open</span>"), "breaker row: {row}");
    assert_eq!(
        attr(&dom, "data-breaker", "cheap/mini", "data-state"),
        "closed"
    );

    // A screenshot for people, under the test's output, taken while traffic flows so the
    // throughput chart has something to draw.
    let shot = screenshot_path();
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    h.sim("flaky").set_behavior(Behavior::Ok);
    let h = std::sync::Arc::new(h);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let traffic = {
        let h = h.clone();
        tokio::spawn(async move {
            for i in 0usize.. {
                let text = if i % 7 == 3 {
                    COMPLEX
                } else {
                    SIMPLE[i % SIMPLE.len()]
                };
                tokio::select! {
                    _ = h.post_chat(chat("auto", text)) => {}
                    _ = stopped.changed() => break,
                }
                let pause = Duration::from_millis(20 + (i as u64 * 37) % 90);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.changed() => break,
                }
            }
        })
    };
    let run = chromium(
        20_000,
        vec![
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000".into(),
            page.clone(),
        ],
    )
    .await;
    let _ = stop.send(true);
    traffic.await.unwrap();
    let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
    assert!(
        size > 10_000,
        "no screenshot at {} ({size} bytes); stderr:\n{}",
        shot.display(),
        run.stderr
    );
    eprintln!("dashboard screenshot: {}", shot.display());
}
