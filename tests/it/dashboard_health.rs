//! The dashboard's first load and its failover and provider-health cards, in headless
//! Chromium, with a screenshot kept at target/test-output/dashboard-health.png. Alone in a
//! process (`common::own_process`): it reads the process-wide metrics recorder.

use std::path::{Path, PathBuf};

use crate::common::browser::{attr, chromium, metric, metric_f64, CHROMIUM};
use crate::common::{chat, Harness, Upstream};
use switchyard::sim::Behavior;

// `hot` answers 429 (its key cools down) and fails over to `calm`
const POLICY: &str = r#"
name: p
aliases: [auto]
baseline: calm/big-model-with-a-rather-long-name-for-the-tooltip
rules:
  - name: rest
    route:
      - hot/mini
      - calm/big-model-with-a-rather-long-name-for-the-tooltip
"#;

fn shot() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("test-output").join("dashboard-health.png")
}

#[test]
fn first_load_failovers_and_provider_health_in_own_process() {
    crate::common::own_process("dashboard_health::first_load_failovers_and_provider_health");
}

#[tokio::test]
#[ignore = "runs in its own process: see common::own_process"]
async fn first_load_failovers_and_provider_health() {
    let long = "big-model-with-a-rather-long-name-for-the-tooltip";
    let h = Harness::builder(vec![
        Upstream::new("hot", &["mini"])
            .price("mini", 0.1, 0.2)
            .keys(&["hot-key-a", "hot-key-b"])
            .cooldown_ms(600_000),
        Upstream::new("calm", &[long]).price(long, 0.2, 0.4),
    ])
    .policy(POLICY)
    .start()
    .await;
    h.sim("hot").set_behavior(Behavior::RateLimited {
        retry_after_secs: 600,
    });
    for text in ["What is 2+2?", "Name a colour.", "Say hi."] {
        let (status, _, body) = h.post_chat(chat("auto", text)).await;
        assert_eq!(status, 200, "{body}");
    }
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIPPING the browser part: {CHROMIUM} is missing");
        return;
    }
    let page = h.url("/dashboard");
    let path = shot();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    // a short virtual-time budget: the page as it looks after its first poll
    let first = chromium(600, vec!["--dump-dom".into(), page.clone()])
        .await
        .stdout;
    assert!(
        first.contains("data-ready=\"1\""),
        "first poll done: {first}"
    );
    assert!(!first.contains("data-js-error"), "script error: {first}");
    assert!(
        metric_f64(&first, "requests_per_second") > 0.0,
        "requests/s shown on first load"
    );
    assert!(
        first.contains("data-avg=\""),
        "the throughput chart is not empty"
    );

    let run = chromium(
        6000,
        vec![
            "--dump-dom".into(),
            format!("--screenshot={}", path.display()),
            "--window-size=1400,1400".into(),
            page,
        ],
    )
    .await;
    let dom = run.stdout;
    // the failover card: three requests, each failed over from hot to calm
    assert!(
        metric_f64(&dom, "failovers_total") >= 3.0,
        "{}",
        metric(&dom, "failovers_total")
    );
    assert!(
        dom.contains("data-failover=\"failovers:auto\""),
        "failovers by requested model"
    );
    // provider health: hot answered 429 and its key is cooling; calm is healthy
    let hot_429: u64 = attr(&dom, "data-provider", "hot", "data-429")
        .parse()
        .unwrap();
    assert!(hot_429 >= 1, "{hot_429}");
    let cooling: u64 = attr(&dom, "data-provider", "hot", "data-cooling")
        .parse()
        .unwrap();
    assert!(cooling >= 1, "a key of hot cools down after its 429");
    assert_eq!(attr(&dom, "data-provider", "calm", "data-429"), "0");
    assert_eq!(
        attr(&dom, "data-provider", "calm", "data-breaker"),
        "closed"
    );
    assert!(
        dom.contains("<i data-s=\"closed\"></i>"),
        "breaker history strip drawn"
    );
    // one money precision on every card: spend, saving and per-model rows
    let spend = dom
        .split("data-metric=\"spend_usd\"")
        .nth(1)
        .and_then(|s| s.split('>').nth(1))
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    let decimals = |t: &str| t.rsplit('.').next().map_or(0, str::len);
    let row = dom
        .split(&format!("data-spend-model=\"calm/{long}\""))
        .nth(1)
        .and_then(|s| s.split("class=\"val\">").nth(1))
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    assert!(
        spend.starts_with('$') && row.starts_with('$'),
        "{spend} {row}"
    );
    assert_eq!(decimals(&spend), decimals(&row), "{spend} vs {row}");
    assert!(
        decimals(&spend) > 2,
        "sub-cent spend is not shown as $0.00: {spend}"
    );
    // a long model name cut by an ellipsis has its full name as a tooltip
    assert!(
        dom.contains(&format!("title=\"calm/{long}\"")),
        "tooltip for the long name"
    );
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    assert!(
        size > 10_000,
        "screenshot at {} ({size} bytes)",
        path.display()
    );
    eprintln!("dashboard screenshot: {}", path.display());
}
