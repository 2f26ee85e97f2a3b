//! Operator controls: `POST /admin/breakers/{model}` forces a breaker open or closed (or back
//! to automatic), `POST /admin/keys/{provider}/{key}` drains or disables one upstream key;
//! both need the admin key, survive a reload and show in health and the ledger's trace.

use serde_json::{json, Value};
use switchyard::sha256_hex;
use switchyard::sim::Behavior;

use crate::common::{assert_openai_error, chat, header, policies, Harness, Upstream};

const ADMIN: &str = "admin-operator-0123456789abcdef";

fn server() -> String {
    format!(
        "auth:\n  mode: open\n  admin_key_sha256: {}\n",
        sha256_hex(ADMIN)
    )
}

/// flaky first, steady as the fallback; flaky has two keys.
async fn harness() -> Harness {
    Harness::builder(vec![
        Upstream::new("flaky", &["f-1"])
            .keys(&["fk-0", "fk-1"])
            .breaker(2, 60_000, 1),
        Upstream::new("steady", &["s-1"]),
    ])
    .policy(policies::route_all("flaky/f-1", "[flaky/f-1, steady/s-1]"))
    .server(server())
    .start()
    .await
}

/// POSTs `body` to `path` with `key` as bearer; status and JSON answer.
async fn admin(h: &Harness, key: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut req = h.client.post(h.url(path)).json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("router answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The answering model of one request.
async fn ask(h: &Harness) -> String {
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    header(&headers, "x-switchyard-model")
}

/// `/health/detailed`'s entry for `provider`.
async fn provider_health(h: &Harness, provider: &str) -> Value {
    let (status, v) = h.get_as(Some(ADMIN), "/health/detailed").await;
    assert_eq!(status, 200, "{v}");
    v["providers"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == provider))
        .cloned()
        .unwrap_or_else(|| panic!("no provider {provider}: {v}"))
}

fn fail() -> Behavior {
    Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}),
    }
}

#[tokio::test]
async fn forced_open_fails_over_says_why_and_auto_restores() {
    let h = harness().await;
    assert_eq!(ask(&h).await, "flaky/f-1");
    let (status, v) = admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "open"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["forced"].as_str(), v["state"].as_str()),
        (Some("open"), Some("open"))
    );
    let before = h.calls("flaky");
    for _ in 0..3 {
        assert_eq!(ask(&h).await, "steady/s-1");
    }
    assert_eq!(h.calls("flaky"), before, "a forced-open model gets no call");
    let lines = h.ledger_lines().await;
    let last = lines.last().expect("a ledger line");
    assert!(
        last.trace
            .iter()
            .any(|t| t.contains("flaky/f-1") && t.contains("forced open")),
        "the skip is in the ledger's trace: {:?}",
        last.trace
    );
    let p = provider_health(&h, "flaky").await;
    assert_eq!(p["models"][0]["forced"], "open", "{p}");
    assert_eq!(p["models"][0]["breaker"], "open", "{p}");

    let (status, v) = admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "auto"}),
    )
    .await;
    assert_eq!((status, v["state"].as_str()), (200, Some("closed")), "{v}");
    assert!(v["forced"].is_null(), "{v}");
    assert_eq!(ask(&h).await, "flaky/f-1");
    assert!(provider_health(&h, "flaky").await["models"][0]["forced"].is_null());
}

#[tokio::test]
async fn forced_closed_ignores_failures_until_auto() {
    let h = harness().await;
    let (status, _) = admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "closed"}),
    )
    .await;
    assert_eq!(status, 200);
    h.sim("flaky").set_behavior(fail());
    // the threshold is 2: forced closed, every request still tries flaky first
    for i in 1..=4 {
        assert_eq!(ask(&h).await, "steady/s-1");
        assert_eq!(h.calls("flaky"), i, "flaky was tried on request {i}");
    }
    assert_eq!(
        provider_health(&h, "flaky").await["models"][0]["breaker"],
        "closed"
    );
    // automatic again: two failures open it, then flaky is skipped
    admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "auto"}),
    )
    .await;
    ask(&h).await;
    ask(&h).await;
    assert_eq!(h.calls("flaky"), 6);
    ask(&h).await;
    assert_eq!(h.calls("flaky"), 6, "opened by its own failures after auto");
}

#[tokio::test]
async fn drained_and_disabled_keys_get_no_new_calls_while_others_do() {
    let h = harness().await;
    let (status, v) = admin(
        &h,
        Some(ADMIN),
        "/admin/keys/flaky/FLAKY_KEY_0",
        json!({"state": "drain"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["in_flight"].as_u64()),
        (Some("drain"), Some(0))
    );
    for _ in 0..4 {
        assert_eq!(ask(&h).await, "flaky/f-1");
    }
    let keys: Vec<_> = h
        .sim("flaky")
        .recorded()
        .into_iter()
        .map(|c| c.key.unwrap_or_default())
        .collect();
    assert_eq!(keys, ["fk-1"; 4], "only the active key is used");
    let p = provider_health(&h, "flaky").await;
    assert_eq!(p["keys"][0]["state"], "drain", "{p}");
    assert_eq!(p["keys"][1]["state"], "active", "{p}");
    assert!(!p.to_string().contains("fk-0"), "never the key itself: {p}");

    // both keys off: the provider is skipped, with the reason in the trace
    admin(
        &h,
        Some(ADMIN),
        "/admin/keys/flaky/FLAKY_KEY_1",
        json!({"state": "disable"}),
    )
    .await;
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 4);
    let lines = h.ledger_lines().await;
    let trace = &lines.last().expect("a line").trace;
    assert!(
        trace
            .iter()
            .any(|t| t.contains("flaky/f-1") && t.contains("drained or disabled")),
        "{trace:?}"
    );
    // active again: rotation resumes over both
    for k in ["FLAKY_KEY_0", "FLAKY_KEY_1"] {
        let path = format!("/admin/keys/flaky/{k}");
        assert_eq!(
            admin(&h, Some(ADMIN), &path, json!({"state": "active"}))
                .await
                .0,
            200
        );
    }
    h.sim("flaky").reset();
    ask(&h).await;
    ask(&h).await;
    let mut keys: Vec<_> = h
        .sim("flaky")
        .recorded()
        .into_iter()
        .map(|c| c.key.unwrap_or_default())
        .collect();
    keys.sort();
    assert_eq!(keys, ["fk-0", "fk-1"]);
}

#[tokio::test]
async fn overrides_survive_a_reload_that_rebuilds_the_provider() {
    let h = harness().await;
    admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "open"}),
    )
    .await;
    admin(
        &h,
        Some(ADMIN),
        "/admin/keys/flaky/FLAKY_KEY_1",
        json!({"state": "disable"}),
    )
    .await;
    // a changed provider file gets fresh runtime state; the overrides are carried over
    h.replace_config(|sources| {
        let file = sources
            .providers
            .iter_mut()
            .find(|f| f.text.contains("name: flaky"))
            .expect("flaky's file");
        assert!(file.text.contains("recovery_ms: 60000"), "{}", file.text);
        file.text = file
            .text
            .replace("recovery_ms: 60000", "recovery_ms: 50000");
    });
    let p = provider_health(&h, "flaky").await;
    assert_eq!(p["models"][0]["forced"], "open");
    assert_eq!(p["keys"][1]["state"], "disable");
    assert_eq!(ask(&h).await, "steady/s-1");
    admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "auto"}),
    )
    .await;
    assert_eq!(ask(&h).await, "flaky/f-1");
    let keys: Vec<_> = h
        .sim("flaky")
        .recorded()
        .into_iter()
        .map(|c| c.key.unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        ["fk-0"],
        "the disabled key stayed out after the reload"
    );
}

#[tokio::test]
async fn unknown_targets_are_404_and_a_missing_admin_key_is_401() {
    let h = harness().await;
    for (path, body) in [
        ("/admin/breakers/nope/x", json!({"state": "open"})),
        ("/admin/keys/flaky/NOPE_KEY", json!({"state": "drain"})),
        ("/admin/keys/nope/FLAKY_KEY_0", json!({"state": "drain"})),
    ] {
        let (status, v) = admin(&h, Some(ADMIN), path, body).await;
        assert_eq!(status, 404, "{path}: {v}");
        assert_openai_error(&v);
    }
    let (status, v) = admin(
        &h,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "sideways"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(assert_openai_error(&v)["param"], "state");
    for key in [None, Some("not-the-admin-key")] {
        let (status, v) = admin(
            &h,
            key,
            "/admin/breakers/flaky/f-1",
            json!({"state": "open"}),
        )
        .await;
        assert_eq!(status, 401, "{v}");
        assert_openai_error(&v);
        let (status, _) = admin(
            &h,
            key,
            "/admin/keys/flaky/FLAKY_KEY_0",
            json!({"state": "disable"}),
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(ask(&h).await, "flaky/f-1", "nothing was changed");
}

/// Deletes a test's Redis keys when dropped.
struct Prefix(String);

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(mut c) =
            redis::Client::open("redis://127.0.0.1:6379/0").and_then(|c| c.get_connection())
        else {
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

/// Polls `h`'s `/health/detailed` entry for flaky until `check` holds (panics after 10 s).
async fn eventually(h: &Harness, what: &str, check: impl Fn(&Value) -> bool) {
    crate::common::wait_until(what, std::time::Duration::from_secs(10), async || {
        check(&provider_health(h, "flaky").await)
    })
    .await;
}

#[tokio::test]
async fn with_redis_overrides_reach_every_instance() {
    let prefix = Prefix(format!("sy-overrides-{:016x}", rand::random::<u64>()));
    let a = Harness::builder(vec![
        Upstream::new("flaky", &["f-1"]).keys(&["fk-0", "fk-1"]),
        Upstream::new("steady", &["s-1"]),
    ])
    .policy(policies::route_all("flaky/f-1", "[flaky/f-1, steady/s-1]"))
    .server(format!(
        "{}state:\n  redis: redis://127.0.0.1:6379/0\n  prefix: {}\n",
        server(),
        prefix.0
    ))
    .start()
    .await;
    let b = a.twin().await;
    let (status, v) = admin(
        &a,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "open"}),
    )
    .await;
    assert_eq!((status, v["scope"].as_str()), (200, Some("fleet")), "{v}");
    admin(
        &a,
        Some(ADMIN),
        "/admin/keys/flaky/FLAKY_KEY_1",
        json!({"state": "drain"}),
    )
    .await;
    eventually(&b, "b adopted a's overrides", |p| {
        p["models"][0]["forced"] == "open" && p["keys"][1]["state"] == "drain"
    })
    .await;
    assert_eq!(ask(&b).await, "steady/s-1");
    // lifted on b: a follows
    admin(
        &b,
        Some(ADMIN),
        "/admin/breakers/flaky/f-1",
        json!({"state": "auto"}),
    )
    .await;
    admin(
        &b,
        Some(ADMIN),
        "/admin/keys/flaky/FLAKY_KEY_1",
        json!({"state": "active"}),
    )
    .await;
    eventually(&a, "a adopted b's lifting", |p| {
        p["models"][0]["forced"].is_null() && p["keys"][1]["state"] == "active"
    })
    .await;
    assert_eq!(ask(&a).await, "flaky/f-1");
}
