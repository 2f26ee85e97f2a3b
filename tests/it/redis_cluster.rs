//! Shared state on a real Redis Cluster: three `redis-server --cluster-enabled yes` processes
//! on free ports, joined with `redis-cli --cluster create`, stopped when the test ends. Limits
//! and budgets (scripts over user, team and global keys at once) and fleet-wide key pacing
//! work there because every key a script touches carries the prefix as its hash tag.
//! Without `redis-server` / `redis-cli`, or when the cluster cannot form, the tests say
//! SKIPPED on stderr and pass.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::common::{chat, policies, Harness, Upstream};
use switchyard::testing::{Limiter, Limits, OnUnavailable, RateRefusal, Secret, Shared};
use switchyard::testing::{StateSettings, Subject};

/// Three cluster nodes, killed (and their folder removed) on drop.
struct Cluster {
    ports: Vec<u16>,
    nodes: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
    }
}

/// A port free now whose cluster bus port (+10000) is free too.
pub(crate) fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().unwrap().port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

pub(crate) fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Cluster {
    /// Starts and joins three nodes, or says why not (the caller skips the test).
    fn start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut cluster = Self {
            ports: Vec::new(),
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(cluster.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start redis-server: {e}"))?;
            cluster.nodes.push(child);
            cluster.ports.push(port);
        }
        for &p in &cluster.ports {
            let up = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(50));
                cli(p, &["ping"]).is_some_and(|s| s.trim() == "PONG")
            });
            if !up {
                return Err(format!("redis-server on port {p} did not answer"));
            }
        }
        let addrs: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run redis-cli --cluster create: {e}"))?;
        if !created.success() {
            return Err(format!("redis-cli --cluster create failed: {created}"));
        }
        let ok = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            cluster.ports.iter().all(|&p| {
                cli(p, &["cluster", "info"]).is_some_and(|s| s.contains("cluster_state:ok"))
            })
        });
        if !ok {
            return Err("the cluster did not reach cluster_state:ok".into());
        }
        Ok(cluster)
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`
    fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

/// The cluster, or `None` after saying loudly why the test is skipped.
fn cluster(test: &str) -> Option<Cluster> {
    match Cluster::start() {
        Ok(c) => Some(c),
        Err(why) => {
            eprintln!("SKIPPED {test}: no local Redis Cluster ({why})");
            None
        }
    }
}

fn limiter(url: &str) -> Arc<Limiter> {
    let shared = Shared::connect(&StateSettings {
        redis: Some(Secret::new(url.to_owned())),
        prefix: "sy-cluster".into(),
        on_unavailable: OnUnavailable::Refuse,
        timeout: Duration::from_secs(2),
        expected_instances: 1,
    })
    .unwrap()
    .unwrap();
    assert!(shared.is_cluster());
    Arc::new(Limiter::new(Some(shared), 0.8))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_budgets_hold_on_a_cluster() {
    let Some(c) = cluster("limits_and_budgets_hold_on_a_cluster") else {
        return;
    };
    let (a, b) = (limiter(&c.url()), limiter(&c.url()));
    // user, team and global buckets in one script: one slot, or the cluster refuses it
    let s = Arc::new(Subject {
        user: Some("ann".into()),
        team: Some("ops".into()),
        user_limits: Limits {
            rph: Some(12),
            daily_usd: Some(1.0),
            ..Limits::default()
        },
        team_limits: Limits {
            rph: Some(100),
            ..Limits::default()
        },
        global: Limits {
            rph: Some(1000),
            ..Limits::default()
        },
    });
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let s = s.clone();
            tokio::spawn(async move { l.admit(&s, 0).await })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => admitted += 1,
            Err(RateRefusal::Limited { .. }) => {}
            Err(e) => panic!("the cluster did not answer: {e}"),
        }
    }
    assert_eq!(
        admitted, 12,
        "exactly the hourly limit across both limiters"
    );
    let now = SystemTime::now();
    let hold = a.reserve(&s, 0.6, now).await.expect("fits");
    assert!(b.reserve(&s, 0.6, now).await.is_err(), "the hold is shared");
    a.settle(hold, 0.25).await;
    let spend = b.spend(&s, now).await;
    assert_eq!(spend[0].spent_usd, 0.25, "{spend:?}");
}

#[tokio::test]
async fn key_pacing_is_fleet_wide_on_a_cluster() {
    let Some(c) = cluster("key_pacing_is_fleet_wide_on_a_cluster") else {
        return;
    };
    let server = format!(
        "state:\n  redis: {}\n  prefix: sy-cluster-pace\n  timeout_ms: 2000\n",
        c.url()
    );
    let policy = format!(
        "pacing: {{on_busy: wait, max_wait_ms: 60000}}\n{}",
        policies::route_all("alpha/a-1", "[alpha/a-1]")
    );
    let upstream = Upstream::new("alpha", &["a-1"])
        .keys(&["sk-cluster"])
        .sim_key_rpm(60)
        .key_limits(Some(60), None);
    let a = Arc::new(
        Harness::builder(vec![upstream])
            .policy(policy)
            .server(server)
            .start()
            .await,
    );
    let b = Arc::new(a.twin().await);
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    for i in 0..6 {
        tick.tick().await;
        let h = if i % 2 == 0 { a.clone() } else { b.clone() };
        sent.push(tokio::spawn(async move {
            h.post_chat(chat("auto", &format!("hi {i}"))).await.0
        }));
    }
    for t in sent {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        a.sim("alpha").rate_limited(),
        0,
        "the simulator answered 429"
    );
    let (_, d) = b.get("/health/detailed").await;
    assert_eq!(d["key_pacing"]["scope"], "fleet", "{}", d["key_pacing"]);
}
