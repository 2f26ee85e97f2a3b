//! Operational endpoints in keys mode: probes stay open, metrics and detailed health need the
//! ops (or admin) key, or are served without one on `ops_listen`.

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, Harness, Upstream};
use switchyard::sha256_hex;

const ALICE: &str = "sk-sy-alice-ops-0123456789abcdefghijklmnop";
const OPS: &str = "ops-0123456789abcdefghijklmn";
const ADMIN: &str = "admin-0123456789abcdefghijk";

const GUARDED: [&str; 4] = [
    "/metrics",
    "/metrics/json",
    "/metrics/circuit-breakers",
    "/health/detailed",
];
const PROBES: [&str; 3] = ["/health", "/health/live", "/health/ready"];

async fn start(extra: &str) -> Harness {
    Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(format!("{KEYS_AUTH}{extra}"))
        .keys(key_entry("alice", ALICE, "user: alice"))
        .start()
        .await
}

async fn get(h: &Harness, base: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let mut req = h.client.get(format!("{base}{path}"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("router answers");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn without_an_ops_key_only_the_probes_and_the_static_dashboard_are_open() {
    let h = start("").await;
    let base = h.url("");
    for path in PROBES
        .into_iter()
        .chain(["/dashboard", "/dashboard/app.js"])
    {
        assert_eq!(get(&h, &base, path, None).await.0, 200, "{path}");
    }
    for path in GUARDED {
        for key in [None, Some(ALICE)] {
            let (status, body) = get(&h, &base, path, key).await;
            assert_eq!(status, 401, "{path} with {key:?}");
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
            let e = assert_openai_error(&v);
            assert!(
                e["message"].as_str().unwrap().contains("ops_listen"),
                "{body}"
            );
            assert!(!body.contains("alpha"), "no provider is named: {body}");
        }
    }
}

#[tokio::test]
async fn the_ops_key_and_the_admin_key_open_them_and_a_virtual_key_does_not() {
    let extra = format!(
        "  ops_key_sha256: {}\n  admin_key_sha256: {}\n",
        sha256_hex(OPS),
        sha256_hex(ADMIN)
    );
    let h = start(&extra).await;
    let base = h.url("");
    for path in GUARDED {
        assert_eq!(get(&h, &base, path, Some(OPS)).await.0, 200, "{path}");
        assert_eq!(get(&h, &base, path, Some(ADMIN)).await.0, 200, "{path}");
        assert_eq!(get(&h, &base, path, Some(ALICE)).await.0, 401, "{path}");
        assert_eq!(get(&h, &base, path, None).await.0, 401, "{path}");
    }
    let (status, body) = get(&h, &base, "/metrics", Some(OPS)).await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE"), "Prometheus text: {body}");
    // the ops key is no admin key
    let r = h
        .client
        .post(h.url("/admin/reload"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn ops_listen_serves_them_without_a_key_and_nothing_else() {
    let h = start("ops_listen: 127.0.0.1:0\n").await;
    crate::common::wait_until(
        "ops_listen to be bound",
        std::time::Duration::from_secs(5),
        async || h.state.ops_addr().is_some(),
    )
    .await;
    let addr = h.state.ops_addr().expect("ops_listen is bound");
    let ops = format!("http://{addr}");
    for path in GUARDED.into_iter().chain(PROBES).chain(["/dashboard"]) {
        assert_eq!(get(&h, &ops, path, None).await.0, 200, "{path}");
    }
    let r = h
        .client
        .post(format!("{ops}/v1/chat/completions"))
        .bearer_auth(ALICE)
        .json(&crate::common::chat("auto", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the ops address serves no model traffic");
    // the main address still guards them
    assert_eq!(get(&h, &h.url(""), "/metrics", None).await.0, 401);
}
