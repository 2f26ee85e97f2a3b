//! Rate limits per user (the key's tier), per team and global: token buckets, 429 with
//! `Retry-After`, and OpenAI's `x-ratelimit-*` headers on every answer.

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, chat, header, Harness, Upstream};

const ANN: &str = "sk-sy-ann-000000000000000000000000000000";
const BEN: &str = "sk-sy-ben-000000000000000000000000000000";
const CID: &str = "sk-sy-cid-000000000000000000000000000000";

/// ann and ben share team `blue`; cid is alone. Tier `small` allows 3 requests per minute.
async fn start(server_extra: &str) -> Harness {
    let keys = key_entry("ann", ANN, "user: ann, team: blue, tier: small")
        + &key_entry("ben", BEN, "user: ben, team: blue, tier: small")
        + &key_entry("cid", CID, "user: cid, tier: small");
    let server = format!("{KEYS_AUTH}tiers:\n  small: {{rpm: 3}}\n{server_extra}");
    Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(&server)
        .keys(&keys)
        .start()
        .await
}

#[tokio::test]
async fn per_user_rpm_refuses_with_retry_after_and_headers() {
    let h = start("").await;
    for remaining in ["2", "1", "0"] {
        let (status, headers, _) = h.post_chat_as(ANN, chat("auto", "hi")).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "x-ratelimit-limit-requests"), "3");
        assert_eq!(
            header(&headers, "x-ratelimit-remaining-requests"),
            remaining
        );
        assert!(header(&headers, "x-ratelimit-reset-requests").ends_with('s'));
    }
    let (status, headers, v) = h.post_chat_as(ANN, chat("auto", "hi")).await;
    assert_eq!(status, 429);
    let e = assert_openai_error(&v);
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(e["type"], "requests");
    assert!(e["message"].as_str().unwrap().contains("user rpm"), "{v}");
    let retry: u64 = header(&headers, "retry-after").parse().unwrap();
    // a 3-per-minute bucket refills one request every 20 s
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(header(&headers, "x-ratelimit-remaining-requests"), "0");
    assert_eq!(
        h.calls("alpha"),
        3,
        "the refused request never reached upstream"
    );
    // another user of the same tier has a bucket of their own
    let (status, _, _) = h.post_chat_as(BEN, chat("auto", "hi")).await;
    assert_eq!(status, 200);
    let lines = h.ledger_lines().await;
    let refused: Vec<_> = lines.iter().filter(|l| l.status == 429).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].outcome, "rate_limited");
    assert_eq!(refused[0].user.as_deref(), Some("ann"));
}

#[tokio::test]
async fn team_limit_is_shared_by_its_members() {
    let h = start("teams:\n  blue: {rpm: 2}\n").await;
    assert_eq!(h.post_chat_as(ANN, chat("auto", "a")).await.0, 200);
    assert_eq!(h.post_chat_as(BEN, chat("auto", "b")).await.0, 200);
    let (status, _, v) = h.post_chat_as(BEN, chat("auto", "c")).await;
    assert_eq!(status, 429);
    assert!(
        assert_openai_error(&v)["message"]
            .as_str()
            .unwrap()
            .contains("team rpm"),
        "{v}"
    );
    // cid is not in the team
    assert_eq!(h.post_chat_as(CID, chat("auto", "d")).await.0, 200);
}

#[tokio::test]
async fn global_token_limit_counts_prompt_tokens_and_reports_token_headers() {
    let h = start("global: {tpm: 60}\n").await;
    let (status, headers, _) = h.post_chat_as(ANN, chat("auto", "hello there")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-limit-tokens"), "60");
    let remaining: u64 = header(&headers, "x-ratelimit-remaining-tokens")
        .parse()
        .unwrap();
    let prompt: u64 = header(&headers, "x-switchyard-prompt-tokens")
        .parse()
        .unwrap();
    assert_eq!(remaining, 60 - prompt);
    // a prompt larger than the whole bucket can never be admitted: a clear 400, not a 429 loop
    let big = "word ".repeat(200);
    let (status, _, v) = h.post_chat_as(BEN, chat("auto", &big)).await;
    assert_eq!(status, 400, "{v}");
    assert!(assert_openai_error(&v)["message"]
        .as_str()
        .unwrap()
        .contains("can never be admitted"));
}

#[tokio::test]
async fn no_limits_means_no_ratelimit_headers() {
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .start()
        .await;
    let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-ratelimit-limit-requests").is_none());
}
