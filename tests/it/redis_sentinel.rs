//! Shared state through Redis Sentinel: a throwaway master, its replica and one
//! `redis-server --sentinel` on free ports, stopped when the test ends. The router finds the
//! master through the Sentinel (`redis+sentinel://…/mastername`), and after a failover finds
//! the new one. Without `redis-server`, the tests say SKIPPED on stderr and pass.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{chat, policies, wait_until, Harness, Upstream};
use crate::redis_cluster::{cli, free_port};
use switchyard::testing::{Limiter, Limits, OnUnavailable, RateRefusal, Secret, Shared};
use switchyard::testing::{StateSettings, Subject};

const MASTER_NAME: &str = "sytest";

/// A master, a replica and a Sentinel watching them; killed on drop.
struct Sentinel {
    master: u16,
    replica: u16,
    sentinel: u16,
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn redis_server(dir: &std::path::Path, args: &[&str]) -> Result<Child, String> {
    Command::new("redis-server")
        .args(args)
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server: {e}"))
}

fn answers(port: u16) -> bool {
    (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        cli(port, &["ping"]).is_some_and(|s| s.trim() == "PONG")
    })
}

impl Sentinel {
    fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (master, replica, sentinel) = (free_port(), free_port(), free_port());
        let mut s = Self {
            master,
            replica,
            sentinel,
            children: Vec::new(),
            dir,
        };
        let d = s.dir.path().to_owned();
        let port = |p: u16| p.to_string();
        s.children.push(redis_server(
            &d,
            &["--port", &port(master), "--bind", "127.0.0.1"],
        )?);
        s.children.push(redis_server(
            &d,
            &[
                "--port",
                &port(replica),
                "--bind",
                "127.0.0.1",
                "--replicaof",
                "127.0.0.1",
                &port(master),
            ],
        )?);
        // a Sentinel rewrites its config file, so it gets one of its own
        let conf = d.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel}\nbind 127.0.0.1\nsentinel monitor {MASTER_NAME} 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 5000\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        s.children.push(
            Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start redis-server --sentinel: {e}"))?,
        );
        for p in [master, replica, sentinel] {
            if !answers(p) {
                return Err(format!("redis on port {p} did not answer"));
            }
        }
        let synced = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            cli(replica, &["info", "replication"])
                .is_some_and(|s| s.contains("master_link_status:up"))
        });
        if !synced {
            return Err("the replica did not sync with the master".into());
        }
        Ok(s)
    }

    fn url(&self) -> String {
        format!("redis+sentinel://127.0.0.1:{}/{MASTER_NAME}", self.sentinel)
    }

    /// The master's port as the Sentinel names it.
    fn master_port(&self) -> Option<u16> {
        let out = cli(
            self.sentinel,
            &["sentinel", "get-master-addr-by-name", MASTER_NAME],
        )?;
        out.lines().nth(1)?.trim().parse().ok()
    }
}

fn sentinel(test: &str) -> Option<Sentinel> {
    match Sentinel::start() {
        Ok(s) => Some(s),
        Err(why) => {
            eprintln!("SKIPPED {test}: no local Redis Sentinel ({why})");
            None
        }
    }
}

/// The keys under `prefix` on the node at `port`.
fn keys(port: u16, prefix: &str) -> Vec<String> {
    cli(port, &["--scan", "--pattern", &format!("*{prefix}*")])
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn the_router_shares_limits_through_the_sentinel_resolved_master() {
    let Some(s) = sentinel("the_router_shares_limits_through_the_sentinel_resolved_master") else {
        return;
    };
    let prefix = format!("sy-sentinel-{:08x}", rand::random::<u32>());
    let server = format!(
        "global: {{rpm: 3}}\nstate:\n  redis: {}\n  prefix: {prefix}\n  on_unavailable: refuse\n  timeout_ms: 3000\n",
        s.url()
    );
    let a = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(server)
        .start()
        .await;
    wait_until(
        "redis through the Sentinel to answer",
        Duration::from_secs(10),
        async || a.get("/health/detailed").await.1["shared_state"]["connected"] == true,
    )
    .await;
    let b = a.twin().await;
    let mut statuses = Vec::new();
    for h in [&a, &b, &a, &b] {
        statuses.push(h.post_chat(chat("auto", "hi")).await.0.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429], "one limit of 3 across both");
    // the counters are on the master the Sentinel named (and on no other Redis)
    assert!(!keys(s.master, &prefix).is_empty(), "no key on the master");
    assert!(keys(6379, &prefix).is_empty(), "keys on the default Redis");
}

fn limiter(url: &str) -> Arc<Limiter> {
    let shared = Shared::connect(&StateSettings {
        redis: Some(Secret::new(url.to_owned())),
        prefix: format!("sy-sentinel-{:08x}", rand::random::<u32>()),
        on_unavailable: OnUnavailable::Refuse,
        timeout: Duration::from_secs(2),
        expected_instances: 1,
    })
    .unwrap()
    .unwrap();
    Arc::new(Limiter::new(Some(shared), 0.8))
}

fn user(name: &str) -> Subject {
    Subject {
        user: Some(name.into()),
        user_limits: Limits {
            rph: Some(3),
            ..Limits::default()
        },
        ..Subject::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_moves_the_router_to_the_new_master() {
    let Some(s) = sentinel("a_failover_moves_the_router_to_the_new_master") else {
        return;
    };
    let l = limiter(&s.url());
    let ann = user("ann");
    for _ in 0..3 {
        l.admit(&ann, 0).await.expect("admitted through the master");
    }
    assert!(matches!(
        l.admit(&ann, 0).await,
        Err(RateRefusal::Limited { .. })
    ));
    // wait for the counters to reach the replica, then promote it
    let replicated = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        cli(s.master, &["dbsize"]) == cli(s.replica, &["dbsize"])
    });
    assert!(replicated, "the replica did not catch up");
    // a Sentinel learns of replicas from the master's INFO (every 10 s) and refuses a failover
    // (NOGOODSLAVE) until it has seen one: ask until it agrees, within generous bounds
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let answer = cli(s.sentinel, &["sentinel", "failover", MASTER_NAME]);
        if answer.as_deref().is_some_and(|a| a.trim() == "OK") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Sentinel refused the failover: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.master_port() != Some(s.replica) {
        assert!(Instant::now() < deadline, "the Sentinel did not fail over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the old master is now a replica: writes there fail, and the router asks again
    let deadline = Instant::now() + Duration::from_secs(30);
    let bob = user("bob");
    loop {
        match l.admit(&bob, 0).await {
            Ok(_) => break,
            Err(RateRefusal::Unavailable) => {
                assert!(Instant::now() < deadline, "never reached the new master");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    }
    // ann's spent limit came along with the data
    assert!(matches!(
        l.admit(&ann, 0).await,
        Err(RateRefusal::Limited { .. })
    ));
    let role = cli(s.replica, &["role"]).unwrap_or_default();
    assert!(role.starts_with("master"), "{role}");
}
