//! Tenants (virtual keys) never see each other's cached answers or spend: the cache is scoped
//! per user by default, per team or globally when the operator says so.

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{header, Harness, Upstream};
use serde_json::json;

const ALICE: &str = "sk-sy-alice-tenant-0123456789abcdefghijkl";
const BOB: &str = "sk-sy-bob-tenant-0123456789abcdefghijklmn";
const CAROL: &str = "sk-sy-carol-tenant-0123456789abcdefghijk";

async fn start(cache: &str) -> Harness {
    let keys = key_entry("alice", ALICE, "user: alice, team: red")
        + &key_entry("bob", BOB, "user: bob, team: red")
        + &key_entry("carol", CAROL, "user: carol, team: blue");
    let server = format!("{KEYS_AUTH}tiers:\n  t: {{daily_usd: 100}}\ndefault_tier: t\n{cache}");
    Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(server)
        .keys(keys)
        .start()
        .await
}

/// A deterministic request (temperature 0) as `key`: its cache header, its answer.
async fn ask(h: &Harness, key: &str) -> (String, serde_json::Value) {
    let body = json!({"model": "auto", "temperature": 0,
        "messages": [{"role": "user", "content": "what did I ask before?"}]});
    let (status, headers, v) = h.post_chat_as(key, body).await;
    assert_eq!(status, 200, "{v}");
    (header(&headers, "x-switchyard-cache"), v)
}

/// Asks as `key` until the first answer is stored and served back (the store is in the
/// background), then returns that answer.
async fn warm(h: &Harness, key: &str) -> serde_json::Value {
    let (cache, first) = ask(h, key).await;
    assert_eq!(cache, "miss");
    crate::common::wait_until(
        "the answer to be cached",
        std::time::Duration::from_secs(5),
        async || ask(h, key).await.0 == "hit",
    )
    .await;
    first
}

#[tokio::test]
async fn by_default_one_user_never_gets_another_users_cached_answer() {
    let h = start("").await;
    let alices = warm(&h, ALICE).await;
    let calls = h.calls("alpha");
    let (cache, bobs) = ask(&h, BOB).await;
    assert_eq!(cache, "miss", "bob is another tenant");
    assert_eq!(h.calls("alpha"), calls + 1, "bob's request went upstream");
    assert_ne!(alices["id"], bobs["id"], "bob got his own answer");
    // spend is each tenant's own
    let lines = h.ledger_lines().await;
    let spent = |user: &str| -> f64 {
        lines
            .iter()
            .filter(|l| l.user.as_deref() == Some(user))
            .map(|l| l.cost_usd)
            .sum()
    };
    assert!(spent("alice") > 0.0 && spent("bob") > 0.0);
    assert!(lines.iter().all(|l| l.cache_hit || l.billed), "{lines:?}");
    assert!(lines
        .iter()
        .filter(|l| l.cache_hit)
        .all(|l| l.user.as_deref() == Some("alice")));
}

#[tokio::test]
async fn a_team_scope_shares_within_the_team_only() {
    let h = start("cache: {scope: team}\n").await;
    let alices = warm(&h, ALICE).await;
    let (cache, bobs) = ask(&h, BOB).await;
    assert_eq!((cache.as_str(), &bobs["id"]), ("hit", &alices["id"]));
    let (cache, _) = ask(&h, CAROL).await;
    assert_eq!(cache, "miss", "carol is in another team");
}

#[tokio::test]
async fn a_global_scope_shares_with_everyone() {
    let h = start("cache: {scope: global}\n").await;
    warm(&h, ALICE).await;
    assert_eq!(ask(&h, CAROL).await.0, "hit");
}
