//! Key pacing: a provider's per-key rpm is respected under twice that load, by waiting in the
//! queue or by moving on to the next candidate, so the provider sends no 429s.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{assert_openai_error, chat, header, policies, Harness, Upstream};
use reqwest::StatusCode;
use switchyard::testing::lock;

/// Two keys at 60 rpm each allow 2 requests a second; the tests send 4 a second.
const REQUESTS: usize = 32;
const EVERY: Duration = Duration::from_millis(250);

fn policy(route: &str, pacing: &str) -> String {
    format!(
        "pacing: {pacing}\n{}",
        policies::route_all("alpha/a-1", route)
    )
}

/// Two keys; with `paced`, both declare rpm 60. The sim enforces rpm 60 per key either way.
fn alpha(paced: bool) -> Upstream {
    let u = Upstream::new("alpha", &["a-1"])
        .keys(&["sk-a", "sk-b"])
        .sim_key_rpm(60);
    if paced {
        u.key_limits(Some(60), None)
    } else {
        u
    }
}

/// Sends `REQUESTS` chats on a fixed schedule, each without waiting for the previous ones;
/// every answer's status and provider header, in sending order.
async fn drive(h: &Arc<Harness>) -> Vec<(StatusCode, String)> {
    let mut tick = tokio::time::interval(EVERY);
    let mut sent = Vec::new();
    for _ in 0..REQUESTS {
        tick.tick().await;
        let h = h.clone();
        sent.push(tokio::spawn(async move {
            let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
            (status, header(&headers, "x-switchyard-provider"))
        }));
    }
    let mut answers = Vec::new();
    for task in sent {
        answers.push(task.await.expect("request task"));
    }
    answers
}

#[tokio::test]
async fn waiting_for_paced_keys_avoids_every_429() {
    let pacing = "{on_busy: wait, max_wait_ms: 60000}";
    let h = Arc::new(
        Harness::builder(vec![alpha(true)])
            .policy(policy("[alpha/a-1]", pacing))
            .start()
            .await,
    );
    let answers = drive(&h).await;
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let sim = h.sim("alpha");
    assert_eq!(sim.rate_limited(), 0, "the provider answered 429");
    assert_eq!(sim.calls(), REQUESTS, "one upstream call per request");
    let on_a = sim
        .recorded()
        .iter()
        .filter(|c| c.key.as_deref() == Some("sk-a"))
        .count();
    assert_eq!(on_a, REQUESTS / 2, "both keys carry half the load");
}

#[tokio::test]
async fn moving_on_from_paced_keys_fails_over_without_429s() {
    let beta = Upstream::new("beta", &["b-1"]);
    let policy = policy("[alpha/a-1, beta/b-1]", "{on_busy: next}");
    let h = Arc::new(
        Harness::builder(vec![alpha(true), beta])
            .policy(policy)
            .start()
            .await,
    );
    let answers = drive(&h).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(
        h.sim("alpha").rate_limited(),
        0,
        "the provider answered 429"
    );
    let by_beta = answers.iter().filter(|(_, p)| p == "beta").count();
    let by_alpha = answers.iter().filter(|(_, p)| p == "alpha").count();
    assert!(by_alpha > 0, "alpha answered nothing: {answers:?}");
    assert!(by_beta > 0, "nothing failed over to beta: {answers:?}");
    assert_eq!(by_alpha + by_beta, REQUESTS);
    assert_eq!(
        h.calls("alpha"),
        by_alpha,
        "alpha was only called when a key was free"
    );
    let skipped = h
        .ledger_lines()
        .await
        .iter()
        .filter(|r| r.failovers > 0)
        .count();
    assert_eq!(skipped, by_beta);
}

#[tokio::test]
async fn without_declared_limits_the_provider_answers_429() {
    let h = Arc::new(
        Harness::builder(vec![alpha(false)])
            .policy(policy("[alpha/a-1]", "{}"))
            .start()
            .await,
    );
    let answers = drive(&h).await;
    assert!(
        h.sim("alpha").rate_limited() > 0,
        "the sim enforced nothing: {answers:?}"
    );
    assert!(answers.iter().any(|(s, _)| *s != 200));
}

/// One key at `rpm` that has just been used, so the next request finds it paced for
/// 60 / `rpm` seconds (long enough for the test's next steps on any machine).
async fn one_used_key(rpm: u32, max_queue: usize, pacing: &str) -> Arc<Harness> {
    let u = Upstream::new("alpha", &["a-1"])
        .keys(&["sk-a"])
        .key_limits(Some(rpm), None)
        .sim_key_rpm(rpm)
        .max_queue(max_queue);
    let h = Arc::new(
        Harness::builder(vec![u])
            .policy(policy("[alpha/a-1]", pacing))
            .start()
            .await,
    );
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    h
}

async fn refused_because(h: &Harness, why: &str) {
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 503, "{body}");
    let message = assert_openai_error(&body)["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains(why), "{message}");
}

#[tokio::test]
async fn a_full_queue_moves_on_at_once() {
    // the queued request waits 10 s for its slot
    let h = one_used_key(6, 1, "{on_busy: wait, max_wait_ms: 60000}").await;
    let queued = {
        let h = h.clone();
        tokio::spawn(async move { h.post_chat(chat("auto", "hi")).await.0 })
    };
    let pool = h.state.live().health.keys[0].clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lock(&pool).waiting() < 1 {
        assert!(std::time::Instant::now() < deadline, "nobody queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    refused_because(&h, "pacing queue full").await;
    assert_eq!(queued.await.expect("queued request"), 200);
    assert_eq!(lock(&pool).waiting(), 0);
    assert_eq!(h.sim("alpha").rate_limited(), 0);
    assert_eq!(h.calls("alpha"), 2);
}

#[tokio::test]
async fn a_wait_longer_than_max_wait_moves_on_at_once() {
    let h = one_used_key(1, 64, "{on_busy: wait, max_wait_ms: 100}").await;
    refused_because(&h, "keys at rpm/tpm limit").await;
    assert_eq!(h.calls("alpha"), 1);
}

#[tokio::test]
async fn dropped_waiters_hand_their_slots_back() {
    // rpm 6: one slot every 10 s. Ten waiters book the next ten slots (up to +100 s, within
    // the 105 s longest wait); a request after them would be told +110 s, beyond its wait.
    const WAITERS: usize = 10;
    let h = one_used_key(6, 64, "{on_busy: wait, max_wait_ms: 105000}").await;
    let pool = h.state.live().health.keys[0].clone();
    queue_then_drop(&h, WAITERS, || true).await;
    // their slots were handed back: the next request gets the first one (within a slot, 10 s)
    // instead of queueing behind ten phantom slots (+110 s: refused at once)
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.calls("alpha"),
        2,
        "only the used key and the new request called"
    );
    assert_eq!(h.sim("alpha").rate_limited(), 0);
    assert_eq!(lock(&pool).waiting(), 0);
}

/// Polls `done` until it holds, failing with `what` after a generous bound (never hangs).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `n` chats that queue for the first provider's keys, waits until all are queued and
/// `booked()` holds, then drops them (their clients go away) and waits for the queue to empty.
pub(crate) async fn queue_then_drop(h: &Arc<Harness>, n: usize, booked: impl FnMut() -> bool) {
    let pool = h.state.live().health.keys[0].clone();
    let waiters: Vec<_> = (0..n)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.post_chat(chat("auto", "hi")).await.0 })
        })
        .collect();
    until("the waiters never queued", || lock(&pool).waiting() >= n).await;
    until("the waiters never booked", booked).await;
    for w in &waiters {
        w.abort();
    }
    until("dropped waiters stayed queued", || {
        lock(&pool).waiting() == 0
    })
    .await;
}
