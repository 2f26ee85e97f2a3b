//! With Redis configured, stored responses are shared: one instance stores, another reads,
//! continues and deletes it (and the delete is seen by both), still scoped to the tenant.

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{Harness, Upstream};
use crate::responses::create;
use serde_json::{json, Value};

const REDIS: &str = "redis://127.0.0.1:6379/0";
const ANN: &str = "sk-sy-ann-shared-responses-0123456789abc";
const BEN: &str = "sk-sy-ben-shared-responses-0123456789abc";

/// A Redis key prefix of this test's own, whose keys are deleted when dropped.
struct Prefix(String);

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(REDIS) else {
            return;
        };
        let Ok(mut c) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

async fn status_of(h: &Harness, method: reqwest::Method, key: &str, id: &str) -> (u16, Value) {
    let resp = h
        .client
        .request(method, h.url(&format!("/v1/responses/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("router answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn instances_share_stored_responses_through_redis() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = Prefix(format!("sy-test-responses-{}-{nanos}", std::process::id()));
    let keys = key_entry("ann", ANN, "user: ann") + &key_entry("ben", BEN, "user: ben");
    let server = format!(
        "{KEYS_AUTH}state:\n  redis: {REDIS}\n  prefix: {}\n  timeout_ms: 3000\n",
        prefix.0
    );
    let a = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(server)
        .keys(keys)
        .start()
        .await;
    let b = a.twin().await;
    let (status, _, first) = create(
        &a,
        Some(ANN),
        &json!({"model": "auto", "input": "Stored on A"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap();
    let (status, got) = status_of(&b, reqwest::Method::GET, ANN, id).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, first);
    let (status, _) = status_of(&b, reqwest::Method::GET, BEN, id).await;
    assert_eq!(status, 404, "another tenant on another instance");
    let (status, _, next) = create(
        &b,
        Some(ANN),
        &json!({"model": "auto", "input": "Continued on B", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    let sent = &a.sim("alpha").recorded()[1].body["messages"];
    assert_eq!(sent[0]["content"], "Stored on A");
    assert_eq!(sent.as_array().unwrap().len(), 3);
    let (status, _) = status_of(&b, reqwest::Method::DELETE, ANN, id).await;
    assert_eq!(status, 200);
    let (status, _) = status_of(&a, reqwest::Method::GET, ANN, id).await;
    assert_eq!(status, 404, "the delete is seen by every instance");
}
