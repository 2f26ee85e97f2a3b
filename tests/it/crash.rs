//! The real binary under `kill -9` and SIGTERM: a crash loses at most the ledger's flush window
//! of lines; a shutdown with slow clients and stalled upstreams ends within grace plus
//! deadline, with every request in the ledger.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::process::RouterProcess;
use switchyard::sim::{self, Behavior, SimSettings};
use tokio::io::AsyncWriteExt;

/// The ledger's promise: a line is in the file at most this long after its request ended.
const FLUSH_MS: u64 = 50;

fn provider(url: &str) -> String {
    format!(
        "name: up\nbase_url: {url}\nretry: {{attempts: 1}}\ntimeouts: {{first_byte_ms: 30000, idle_ms: 30000}}\nmodels:\n  - {{name: m, input_per_1m: 1, output_per_1m: 2}}\n"
    )
}

const POLICY: &str =
    "name: default\naliases: [auto]\nbaseline: up/m\nrules:\n  - name: all\n    route: [up/m]\n";

fn body() -> serde_json::Value {
    serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_line_older_than_the_flush_window() {
    let up = sim::spawn(SimSettings::fast("up", ["m"]))
        .await
        .expect("sim");
    let mut router = RouterProcess::start(
        &format!("auth: {{mode: open}}\nledger: {{path: ledger.jsonl, flush_ms: {FLUSH_MS}}}\n"),
        &[("up", provider(&up.base_url()))],
        &[("default", POLICY)],
        None,
        &[],
    );
    // request id -> when its answer was complete
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let client = reqwest::Client::new();
    // steady, moderate load: lines arrive every few ms, so a writer that waits for a full
    // buffer (or for a quiet moment) before writing would hold many of them for long
    let stop = Instant::now() + Duration::from_millis(2_000);
    let mut load = Vec::new();
    for worker in 0..8 {
        let (client, url, answered) = (client.clone(), router.url.clone(), answered.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop {
                n += 1;
                let id = format!("w{worker}-{n}");
                let r = client
                    .post(format!("{url}/v1/chat/completions"))
                    .header("x-request-id", &id)
                    .json(&body())
                    .send()
                    .await;
                let Ok(r) = r else { break };
                if r.status() == 200 && r.bytes().await.is_ok() {
                    answered.lock().unwrap().push((id, Instant::now()));
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let killed = Instant::now();
    router.kill9();
    for t in load {
        let _ = t.await;
    }
    let lines = router.ledger("ledger.jsonl");
    let written: std::collections::HashSet<String> = lines
        .iter()
        .filter_map(|l| l["request_id"].as_str().map(str::to_owned))
        .collect();
    let answered = answered.lock().unwrap().clone();
    let window = Duration::from_millis(FLUSH_MS + 200);
    let missing: Vec<&(String, Instant)> = answered
        .iter()
        .filter(|(id, _)| !written.contains(id))
        .collect();
    let old_missing: Vec<&String> = missing
        .iter()
        .filter(|(_, at)| killed.duration_since(*at) > window)
        .map(|(id, _)| id)
        .collect();
    let oldest = missing
        .iter()
        .map(|(_, at)| killed.saturating_duration_since(*at))
        .max()
        .unwrap_or_default();
    println!(
        "kill -9 after {} answered requests: {} ledger lines, {} missing ({:.2}%), the oldest answered {} ms before the kill; {} older than {} ms",
        answered.len(),
        lines.len(),
        missing.len(),
        100.0 * missing.len() as f64 / answered.len().max(1) as f64,
        oldest.as_millis(),
        old_missing.len(),
        window.as_millis()
    );
    assert!(answered.len() > 100, "the load ran: {}", answered.len());
    assert!(
        old_missing.is_empty(),
        "answered more than the flush window before the kill, yet not in the ledger: {old_missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_slow_clients_and_stalled_upstreams_exits_within_grace_and_deadline() {
    let up = sim::spawn(SimSettings::fast("up", ["m"]))
        .await
        .expect("sim");
    up.control().set_behavior(Behavior::Stall);
    let (grace, deadline) = (Duration::from_millis(1_000), Duration::from_millis(1_000));
    let mut router = RouterProcess::start(
        &format!(
            "auth: {{mode: open}}\nledger: ledger.jsonl\nshutdown_grace_ms: {}\nshutdown_deadline_ms: {}\nheader_timeout_ms: 30000\n",
            grace.as_millis(),
            deadline.as_millis()
        ),
        &[("up", provider(&up.base_url()))],
        &[("default", POLICY)],
        None,
        &[],
    );
    let addr = router.url.trim_start_matches("http://").to_owned();
    // three clients that sent half their headers and wait
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-")
            .await
            .expect("half the headers");
        slow.push(s);
    }
    // five requests stuck on the stalled upstream
    let client = reqwest::Client::new();
    let mut stuck = Vec::new();
    for i in 0..5 {
        let (client, url) = (client.clone(), router.url.clone());
        stuck.push(tokio::spawn(async move {
            client
                .post(format!("{url}/v1/chat/completions"))
                .header("x-request-id", format!("stuck-{i}"))
                .json(&body())
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    crate::common::wait_until(
        "the upstream to hold all five",
        Duration::from_secs(10),
        async || up.control().calls() >= 5,
    )
    .await;
    let took = tokio::task::spawn_blocking(move || {
        let took = router.terminate(Duration::from_secs(20));
        (took, router)
    })
    .await
    .expect("terminate");
    let (took, router) = took;
    let took = took.expect("the router exited within 20 s of SIGTERM");
    println!(
        "SIGTERM with 3 slow clients and 5 stalled requests: exited in {} ms (grace {} ms + deadline {} ms)",
        took.as_millis(),
        grace.as_millis(),
        deadline.as_millis()
    );
    assert!(
        took <= grace + deadline + Duration::from_secs(3),
        "{took:?}"
    );
    let ids: Vec<String> = router
        .ledger("ledger.jsonl")
        .iter()
        .filter_map(|l| l["request_id"].as_str().map(str::to_owned))
        .collect();
    for i in 0..5 {
        assert!(
            ids.contains(&format!("stuck-{i}")),
            "stuck-{i} has its line: {ids:?}"
        );
    }
    drop(slow);
}
