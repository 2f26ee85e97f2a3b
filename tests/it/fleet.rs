//! A fleet through the real binary: three `switchyard serve` processes share one Redis and
//! one Postgres and a provider key with `rpm: 60`, in front of a simulator enforcing 60 rpm
//! per key (the `switchyard sim --key-rpm` code, in process so its counters can be read).
//! Load at three times the key's rate gets no 429 from the simulator; one instance is
//! `kill -9`ed mid-load and the others carry on; after its restart Postgres holds exactly the
//! lines of all three ledger files (one per request, each answered request included once),
//! and `report --postgres` prints what `report` prints over the files. About 20 s.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::process::{read_lines, RouterProcess};
use crate::common::{policies, wait_until, Upstream};
use crate::ledger_postgres::{report, Db};
use switchyard::sim::{self, SimSettings};

const REDIS: &str = "redis://127.0.0.1:6379/0";
/// Requests sent, one every [`EVERY`]: three a second, three times the key's rate.
const REQUESTS: usize = 45;
const EVERY: Duration = Duration::from_millis(333);
/// The request at which instance C is killed.
const KILL_AT: usize = 21;

/// Deletes the fleet's Redis keys when dropped.
struct Prefix(String);

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(mut c) = redis::Client::open(REDIS).and_then(|c| c.get_connection()) else {
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

fn ids(path: &std::path::Path) -> Vec<String> {
    read_lines(path)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_a_key_survive_a_kill_and_fill_one_ledger() {
    static N: AtomicU64 = AtomicU64::new(0);
    let prefix = Prefix(format!(
        "sy-fleet-bin-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let db = Db::new().await;
    let mut settings = SimSettings::fast("alpha", ["a-1"]);
    settings.key_rpm = Some(60);
    let upstream = sim::spawn(settings).await.expect("sim");
    let sim = upstream.control();
    let provider = Upstream::new("alpha", &["a-1"])
        .keys(&["sk-fleet-key"])
        .key_limits(Some(60), None);
    let providers = [("alpha", provider.render(&upstream.base_url()))];
    let key_env = provider.key_env(0);
    let env = [(key_env.as_str(), "sk-fleet-key")];
    let policy = format!(
        "pacing: {{on_busy: wait, max_wait_ms: 3000}}\n{}",
        policies::ALPHA
    );
    let ledgers = tempfile::tempdir().unwrap();
    let server = |name: &str| {
        format!(
            "auth:\n  mode: open\nstate:\n  redis: {REDIS}\n  prefix: {}\n  expected_instances: 3\n\
             ledger:\n  path: {}\n  flush_ms: 20\n  postgres: {}\n  batch: 50\n",
            prefix.0,
            ledgers.path().join(format!("{name}.jsonl")).display(),
            db.url()
        )
    };
    let start = |name: &str| {
        RouterProcess::start(
            &server(name),
            &providers,
            &[("default", &policy)],
            None,
            &env,
        )
    };
    let routers = [start("a"), start("b")];
    let mut c = start("c");
    let urls = [
        routers[0].url.clone(),
        routers[1].url.clone(),
        c.url.clone(),
    ];
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(EVERY);
    let mut sent = Vec::new();
    let mut killed_at = None;
    for i in 0..REQUESTS {
        tick.tick().await;
        if i == KILL_AT {
            c.kill9();
            killed_at = Some(t0.elapsed());
        }
        // a load balancer stops sending to a dead instance
        let target = if killed_at.is_some() { i % 2 } else { i % 3 };
        let (client, url) = (client.clone(), urls[target].clone());
        sent.push(tokio::spawn(async move {
            let body = serde_json::json!({"model": "auto",
                "messages": [{"role": "user", "content": format!("question {i}")}]});
            let status = client
                .post(format!("{url}/v1/chat/completions"))
                .json(&body)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            (target, status)
        }));
    }
    let mut answers = Vec::new();
    for t in sent {
        answers.push(t.await.unwrap());
    }
    let load_done = t0.elapsed();
    let ok = |t: usize| answers.iter().filter(|a| **a == (t, 200)).count();
    let refused = answers.iter().filter(|a| a.1 != 200 && a.1 != 0).count();
    eprintln!(
        "fleet: {REQUESTS} requests in {load_done:?}; answered a={} b={} c={}; refused by the routers {refused}; \
         lost with c {}; simulator calls {}, 429s {}; c killed at {killed_at:?}",
        ok(0), ok(1), ok(2),
        answers.iter().filter(|a| a.1 == 0).count(),
        sim.calls(),
        sim.rate_limited()
    );
    assert_eq!(sim.rate_limited(), 0, "the simulator answered 429");
    assert!(
        ok(0) > 0 && ok(1) > 0,
        "the survivors carried on: {answers:?}"
    );
    assert!(
        answers[KILL_AT..].iter().any(|a| a.1 == 200),
        "answers after the kill"
    );

    // C comes back on its own ledger file and copies what it had not copied yet
    let restarted = Instant::now();
    let c2 = start("c");
    let files: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| ledgers.path().join(format!("{n}.jsonl")))
        .collect();
    let mut expected = BTreeSet::new();
    for f in &files {
        expected.extend(ids(f));
    }
    let lines: usize = files.iter().map(|f| ids(f).len()).sum();
    assert_eq!(
        lines,
        expected.len(),
        "request ids are unique across the fleet"
    );
    wait_until(
        "postgres holds every line",
        Duration::from_secs(20),
        async || db.count().await as usize == expected.len(),
    )
    .await;
    eprintln!(
        "fleet: c restarted {:?} after the kill; postgres caught up {:?} later with {} rows",
        (restarted - t0).saturating_sub(killed_at.unwrap_or_default()),
        restarted.elapsed(),
        expected.len()
    );
    let rows: BTreeSet<String> = db
        .client()
        .await
        .query("SELECT request_id FROM switchyard_ledger", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, expected, "exactly one row per ledger line");
    // every answered request of the survivors is a row, once
    for (i, f) in files[..2].iter().enumerate() {
        let answered = read_lines(f).iter().filter(|l| l["status"] == 200).count();
        assert_eq!(answered, ok(i), "answered requests of instance {i}");
    }
    // the fleet's report from Postgres is the report over the three files
    let all = ledgers.path().join("all.jsonl");
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    std::fs::write(&all, text).unwrap();
    let url = db.url();
    let dir = ledgers.path().to_owned();
    let (from_files, from_pg) = tokio::task::spawn_blocking(move || {
        (
            report(&all, None, &dir.join("files.csv")),
            report(&all, Some(&url), &dir.join("pg.csv")),
        )
    })
    .await
    .unwrap();
    assert_eq!(from_pg, from_files);
    drop(c2);
    drop(routers);
}
