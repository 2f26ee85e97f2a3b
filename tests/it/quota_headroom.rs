//! Upstream quota headroom per provider key: requests and tokens of the current minute against
//! the declared rpm/tpm, the provider's own `x-ratelimit-*` figures, the 90% warning (log,
//! metric, the budget webhook) once per crossing, in `/health/detailed` and `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};
use switchyard::sim::SimSettings;

use crate::common::{chat, policies, wait_until, Harness, Upstream};

/// A webhook receiver on 127.0.0.1: its URL and what it received.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
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
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A router over provider `name` (one key, `sk-<name>`), its webhook at `hook`.
async fn router(up: Upstream, hook: Option<&str>) -> Harness {
    let model = format!("{}/m", up.name);
    let server = hook.map_or_else(String::new, |h| format!("budgets:\n  webhook: {h}\n"));
    Harness::builder(vec![up])
        .policy(policies::route_all(&model, &format!("[{model}]")))
        .server(server)
        .start()
        .await
}

/// `/health/detailed`'s headroom entry of `provider`'s only key.
async fn headroom(h: &Harness, provider: &str) -> Value {
    let (status, v) = h.get("/health/detailed").await;
    assert_eq!(status, 200);
    let keys = v["quota_headroom"]["keys"]
        .as_array()
        .expect("keys")
        .clone();
    keys.into_iter()
        .find(|k| k["provider"] == provider)
        .unwrap_or_else(|| panic!("no headroom for {provider}: {v}"))
}

async fn metrics(h: &Harness) -> String {
    h.client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Sends chats (each ≈ its prompt + 100 max tokens) until the key's view says `warning`, at
/// most `max`; how many were sent.
async fn until_warning(h: &Harness, provider: &str, max: usize) -> usize {
    for n in 1..=max {
        let mut body = chat("auto", "hello there");
        body["max_tokens"] = 100.into();
        let (status, _, v) = h.post_chat(body).await;
        assert_eq!(status, 200, "{v}");
        if headroom(h, provider).await["warning"] == true {
            return n;
        }
    }
    panic!(
        "no warning after {max} requests: {}",
        headroom(h, provider).await
    );
}

#[tokio::test]
async fn requests_and_tokens_count_against_the_declared_limits() {
    let up = Upstream::new("qa", &["m"])
        .keys(&["sk-qa"])
        .key_limits(Some(600), Some(100_000));
    let h = router(up, None).await;
    for _ in 0..3 {
        let mut body = chat("auto", "count me");
        body["max_tokens"] = 10.into();
        assert_eq!(h.post_chat(body).await.0, 200);
    }
    let k = headroom(&h, "qa").await;
    assert_eq!(k["key_id"], "QA_KEY_0", "the env var's name, never the key");
    assert_eq!(
        (k["requests_used"].clone(), k["rpm"].clone()),
        (json!(3), json!(600))
    );
    let tokens = k["tokens_used"].as_u64().unwrap();
    assert!(tokens >= 3 * 10, "prompt + max_tokens counted: {k}");
    assert_eq!(k["tpm"], 100_000);
    assert_eq!(k["peak"]["measure"], "requests", "3/600 > {tokens}/100000");
    assert_eq!(k["peak"]["source"], "declared");
    assert_eq!(k["warning"], false);
    let text = metrics(&h).await;
    for line in [
        r#"switchyard_upstream_key_requests_used{provider="qa",key_id="QA_KEY_0",source="declared"} 3"#,
        r#"switchyard_upstream_key_requests_limit{provider="qa",key_id="QA_KEY_0",source="declared"} 600"#,
        r#"switchyard_upstream_key_tokens_limit{provider="qa",key_id="QA_KEY_0",source="declared"} 100000"#,
        r#"switchyard_upstream_key_headroom_used_ratio{provider="qa",key_id="QA_KEY_0"} 0.005"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(!text.contains("sk-qa") && !serde_json::to_string(&k).unwrap().contains("sk-qa"));
}

#[tokio::test]
async fn the_providers_own_figures_are_reflected() {
    let mut sim = SimSettings::fast("qb", ["m"]);
    sim.key_rpm = Some(100);
    sim.key_tpm = Some(50_000);
    let up = Upstream::new("qb", &["m"])
        .keys(&["sk-qb"])
        .sim_settings(sim);
    let h = router(up, None).await;
    for _ in 0..2 {
        assert_eq!(h.post_chat(chat("auto", "hi")).await.0, 200);
    }
    let k = headroom(&h, "qb").await;
    let r = &k["provider_reported"];
    assert_eq!(r["limit_requests"], 100, "{k}");
    assert_eq!(r["remaining_requests"], 98, "{k}");
    assert_eq!(r["limit_tokens"], 50_000);
    assert!(r["remaining_tokens"].as_u64().unwrap() < 50_000);
    assert_eq!(k["rpm"], Value::Null, "nothing declared");
    assert_eq!(k["peak"]["source"], "provider");
    assert_eq!(k["peak"]["used"], 2);
    let text = metrics(&h).await;
    for line in [
        r#"switchyard_upstream_key_requests_used{provider="qb",key_id="QB_KEY_0",source="provider"} 2"#,
        r#"switchyard_upstream_key_requests_limit{provider="qb",key_id="QB_KEY_0",source="provider"} 100"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

#[tokio::test]
async fn passing_90_percent_of_a_declared_limit_warns_once() {
    let (hook, seen) = webhook().await;
    // ≈ 110 tokens a request against 2000 a minute: the line is passed around the 17th
    let up = Upstream::new("qc", &["m"])
        .keys(&["sk-qc"])
        .key_limits(None, Some(2_000));
    let h = router(up, Some(&hook)).await;
    until_warning(&h, "qc", 30).await;
    // one more request above the line (still within the minute's budget): no second warning
    let mut body = chat("auto", "hello there");
    body["max_tokens"] = 10.into();
    assert_eq!(h.post_chat(body).await.0, 200);
    wait_until(
        "the webhook hears of the crossing",
        Duration::from_secs(5),
        async || !seen.lock().unwrap().is_empty(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "once per crossing: {events:?}");
    let e = &events[0];
    assert_eq!(e["event"], "quota_warning");
    assert_eq!(
        (e["provider"].as_str(), e["key_id"].as_str()),
        (Some("qc"), Some("QC_KEY_0"))
    );
    assert_eq!(
        (e["measure"].as_str(), e["source"].as_str()),
        (Some("tokens"), Some("declared"))
    );
    assert_eq!(e["limit"], 2_000);
    assert!(e["used"].as_u64().unwrap() >= 1_800, "{e}");
    assert_eq!(e["threshold"], 0.9);
    assert!(!serde_json::to_string(&events).unwrap().contains("sk-qc"));
    let text = metrics(&h).await;
    let line = r#"switchyard_upstream_quota_warnings_total{provider="qc",key_id="QC_KEY_0",measure="tokens"} 1"#;
    assert!(text.contains(line), "{line} missing from:\n{text}");
}

#[tokio::test]
async fn the_providers_figures_can_raise_the_warning_too() {
    let (hook, seen) = webhook().await;
    let mut sim = SimSettings::fast("qd", ["m"]);
    // the sim counts a request as its body's bytes / 4: a few dozen tokens each
    sim.key_tpm = Some(600);
    let up = Upstream::new("qd", &["m"])
        .keys(&["sk-qd"])
        .sim_settings(sim);
    let h = router(up, Some(&hook)).await;
    until_warning(&h, "qd", 40).await;
    wait_until(
        "the webhook hears of the crossing",
        Duration::from_secs(5),
        async || !seen.lock().unwrap().is_empty(),
    )
    .await;
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["source"], "provider");
    assert_eq!(events[0]["measure"], "tokens");
    assert_eq!(events[0]["limit"], 600);
}

#[tokio::test]
async fn the_dashboard_draws_a_headroom_bar_per_key() {
    let up = Upstream::new("qe", &["m"])
        .keys(&["sk-qe-1", "sk-qe-2"])
        .key_limits(None, Some(2_000));
    let h = router(up, None).await;
    // keys take turns: both fill up, one of them past 90% first
    for _ in 0..40 {
        let mut body = chat("auto", "hello there");
        body["max_tokens"] = 100.into();
        assert_eq!(h.post_chat(body).await.0, 200);
        let (_, v) = h.get("/health/detailed").await;
        let keys = v["quota_headroom"]["keys"].as_array().unwrap().clone();
        if keys.iter().any(|k| k["warning"] == true) {
            break;
        }
    }
    if !std::path::Path::new(crate::common::browser::CHROMIUM).exists() {
        eprintln!("SKIPPING the browser part: chromium is missing");
        return;
    }
    let dom = crate::common::browser::dump_dom(&h.url("/dashboard")).await;
    assert!(!dom.contains("data-js-error"), "script error: {dom}");
    let value = |key: &str| -> f64 {
        crate::common::browser::attr(&dom, "data-key", key, "data-value")
            .parse()
            .unwrap()
    };
    let (a, b) = (value("qe/QE_KEY_0"), value("qe/QE_KEY_1"));
    assert!(a > 0.5 && b > 0.5, "both keys used: {a} {b}");
    assert!(a.max(b) >= 0.9, "{a} {b}");
    let warned = ["qe/QE_KEY_0", "qe/QE_KEY_1"]
        .iter()
        .filter(|k| crate::common::browser::attr(&dom, "data-key", k, "data-warning") == "1")
        .count();
    assert!(warned >= 1, "the key past 90% is marked");
    assert!(!dom.contains("sk-qe-"), "never a key in the page");
}
