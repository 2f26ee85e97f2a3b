//! Budget spend rebuilt at start-up from the Postgres ledger (a database of its own on the real
//! Postgres): a new instance with an empty ledger file starts with the fleet's spend, and a
//! line in both the file and the table counts once.

use std::time::{Duration, SystemTime};

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, chat, wait_until, Harness, Upstream};
use crate::ledger_postgres::Db;
use switchyard::testing::{Limits, Subject};

const KEY: &str = "sk-sy-payer-11111111111111111111111111111";
const DAILY_USD: f64 = 0.2;

fn pat() -> Subject {
    Subject {
        user: Some("pat".into()),
        user_limits: Limits {
            daily_usd: Some(DAILY_USD),
            ..Limits::default()
        },
        ..Subject::default()
    }
}

/// What the instance counts as pat's spend today.
async fn spent(h: &Harness) -> f64 {
    h.state.limiter.spend(&pat(), SystemTime::now()).await[0].spent_usd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_starts_with_the_fleets_spend_from_postgres() {
    let db = Db::new().await;
    let server = format!(
        "{KEYS_AUTH}tiers:\n  metered: {{daily_usd: {DAILY_USD}}}\nledger:\n  flush_ms: 20\n  postgres: {}\n",
        db.url()
    );
    let mut a = Harness::builder(vec![
        Upstream::new("alpha", &["a-1"]).price("a-1", 1000.0, 1000.0)
    ])
    .policy(policies::ALPHA)
    .server(server)
    .keys(key_entry("payer", KEY, "user: pat, tier: metered"))
    .start()
    .await;
    let mut refused = false;
    for _ in 0..20 {
        let mut body = chat("auto", "hello");
        body["max_tokens"] = 40.into();
        if a.post_chat_as(KEY, body).await.0 == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the budget never ran out within 20 requests");
    let lines = a.ledger_lines().await;
    let total: f64 = lines.iter().filter(|l| l.billed).map(|l| l.cost_usd).sum();
    assert!(total > 0.0);
    wait_until(
        "every line in postgres",
        Duration::from_secs(20),
        async || db.count().await == lines.len() as i64,
    )
    .await;

    // a second instance with an empty ledger file: only Postgres knows what pat spent
    let b = a.twin().await;
    assert!(b.ledger_lines().await.is_empty());
    assert!(
        (spent(&b).await - total).abs() < 1e-5,
        "{} vs {total}",
        spent(&b).await
    );
    let (status, _, v) = b.post_chat_as(KEY, chat("auto", "hello")).await;
    assert_eq!(status, 429, "the fleet's spend came from postgres: {v}");
    assert_eq!(assert_openai_error(&v)["code"], "budget_exceeded");

    // a restart on the same file: lines in the file and in the table count once, and a
    // line not copied yet (appended here) counts too
    let extra = {
        let mut r = lines.iter().find(|l| l.billed).unwrap().clone();
        r.request_id = "not-copied-yet".into();
        r
    };
    let mut text = std::fs::read_to_string(&a.ledger_path).unwrap();
    text.push_str(&serde_json::to_string(&extra).unwrap());
    text.push('\n');
    a.begin_shutdown();
    a.wait_stopped().await;
    std::fs::write(&a.ledger_path, text).unwrap();
    let again = a.restarted().await;
    let expected = total + extra.cost_usd;
    assert!(
        (spent(&again).await - expected).abs() < 1e-5,
        "{} vs {expected}",
        spent(&again).await
    );
}
