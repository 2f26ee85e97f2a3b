//! Virtual keys: Bearer auth as the OpenAI SDKs send it, 401s in OpenAI's shape that never
//! echo the key, tenants in the ledger, revoked keys, and the admin key on /admin/*.

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, chat, Harness, Upstream};
use switchyard::sha256_hex;

const ALICE: &str = "sk-sy-alice-0123456789abcdefghijklmnopqrstuv";
const OLD: &str = "sk-sy-revoked-0123456789abcdefghijklmnopqrs";
const ADMIN: &str = "admin-0123456789abcdefghij";

fn keys_file() -> String {
    key_entry(
        "alice-laptop",
        ALICE,
        "user: alice, team: research, tier: pro",
    ) + &key_entry("old", OLD, "user: bob, disabled: true")
}

async fn start() -> Harness {
    let server = format!(
        "{KEYS_AUTH}  admin_key_sha256: {}\ntiers:\n  pro: {{rpm: 1000}}\n",
        sha256_hex(ADMIN)
    );
    Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(&server)
        .keys(keys_file())
        .start()
        .await
}

async fn post(h: &Harness, key: Option<&str>) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(&chat("auto", "hello")).unwrap();
    let (status, _, v) = h.post_as(key, "/v1/chat/completions", body).await;
    (status.as_u16(), v)
}

#[tokio::test]
async fn missing_unknown_and_revoked_keys_get_401_without_the_key() {
    let h = start().await;
    let (status, v) = post(&h, None).await;
    assert_eq!(status, 401);
    assert_eq!(assert_openai_error(&v)["code"], "missing_api_key");
    for key in [
        "sk-sy-not-a-key-at-all-000000000000",
        OLD,
        &ALICE[..ALICE.len() - 1],
    ] {
        let (status, v) = post(&h, Some(key)).await;
        assert_eq!(status, 401, "{key}");
        let e = assert_openai_error(&v);
        assert_eq!(e["code"], "invalid_api_key");
        assert_eq!(e["type"], "invalid_request_error");
        assert!(!v.to_string().contains("sk-sy"), "key echoed: {v}");
    }
    assert_eq!(h.calls("alpha"), 0, "nothing reached the upstream");
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 4);
    assert!(lines
        .iter()
        .all(|l| l.status == 401 && l.outcome == "unauthorized" && !l.billed));
    assert!(!h.ledger_text().await.contains("sk-sy"));
}

#[tokio::test]
async fn a_valid_key_is_served_and_its_tenant_recorded() {
    let h = start().await;
    let (status, v) = post(&h, Some(ALICE)).await;
    assert_eq!(status, 200, "{v}");
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.user.as_deref(), Some("alice"));
    assert_eq!(l.team.as_deref(), Some("research"));
    assert_eq!(l.key_id.as_deref(), Some("alice-laptop"));
    assert!(!h.ledger_text().await.contains(ALICE));
}

#[tokio::test]
async fn body_user_cannot_impersonate_the_keys_user() {
    let h = start().await;
    let mut body = chat("auto", "hello");
    body["user"] = "mallory".into();
    let (status, _, _) = h.post_chat_as(ALICE, body).await;
    assert_eq!(status, 200);
    let lines = h.ledger_lines().await;
    assert_eq!(lines[0].user.as_deref(), Some("alice"));
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_key() {
    let h = start().await;
    let url = h.url("/admin/reload");
    for key in [None, Some(ALICE), Some("admin-wrong")] {
        let mut req = h.client.post(&url);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{key:?}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_openai_error(&v);
    }
    let resp = h.client.post(&url).bearer_auth(ADMIN).send().await.unwrap();
    // the harness has no config file to re-read: authorised, then refused with the reason
    assert_eq!(resp.status(), 422);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["problems"][0]
        .as_str()
        .unwrap()
        .contains("no config file"));
}
