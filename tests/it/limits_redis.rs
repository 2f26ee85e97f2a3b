//! Limits and budgets shared through the real Redis at 127.0.0.1:6379 (each test under its own
//! random key prefix, removed afterwards), including outages and the fallback to local state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use switchyard::testing::Secret;
use switchyard::testing::Shared;
use switchyard::testing::{
    BudgetEvent, BudgetRefusal, LimitName, Limiter, RateRefusal, Scope, Subject,
};
use switchyard::testing::{Limits, OnUnavailable, StateSettings};
use tokio::net::{TcpListener, TcpStream};

const REDIS: &str = "127.0.0.1:6379";

/// A random key prefix whose keys are deleted when it drops (even after a failed assert).
struct Prefix(String);

impl Prefix {
    fn new() -> Self {
        Self(format!("sy-test-limits-{:016x}", rand::random::<u64>()))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(format!("redis://{REDIS}")) else {
            return;
        };
        let Ok(mut c) = client.get_connection() else {
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

fn shared(addr: &str, prefix: &Prefix, on_unavailable: OnUnavailable) -> Arc<Shared> {
    Shared::connect(&StateSettings {
        redis: Some(Secret::new(format!("redis://{addr}"))),
        prefix: prefix.0.clone(),
        on_unavailable,
        timeout: Duration::from_millis(500),
        expected_instances: 1,
    })
    .unwrap()
    .unwrap()
}

fn limiter(prefix: &Prefix) -> Arc<Limiter> {
    Arc::new(Limiter::new(
        Some(shared(REDIS, prefix, OnUnavailable::Local)),
        0.8,
    ))
}

fn user(limits: Limits) -> Subject {
    Subject {
        user: Some("ann:{odd} name".into()),
        user_limits: limits,
        ..Subject::default()
    }
}

fn daily(usd: f64) -> Limits {
    Limits {
        daily_usd: Some(usd),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_enforce_one_rpm() {
    let p = Prefix::new();
    let (a, b) = (limiter(&p), limiter(&p));
    let rpm = 20;
    let s = Arc::new(user(Limits {
        rpm: Some(rpm),
        ..Limits::default()
    }));
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let s = s.clone();
            tokio::spawn(async move { l.admit(&s, 0).await })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(q) => {
                admitted += 1;
                assert_eq!(q.requests.unwrap().limit, rpm);
            }
            Err(RateRefusal::Limited {
                scope,
                limit,
                retry_after,
                ..
            }) => {
                assert_eq!((scope, limit), (Scope::User, LimitName::Rpm));
                // at most one interval (3 s), plus the scripts' 1/1000 slack for float rounding
                assert!(
                    retry_after <= Duration::from_millis(3_003),
                    "{retry_after:?}"
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    // one request comes back every 3 s: exactly `rpm` unless the run itself took that long
    let refilled = started.elapsed().as_secs() / 3;
    assert!(
        admitted >= rpm && admitted <= rpm + refilled,
        "{admitted} admitted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_a_budget_and_cross_thresholds_once() {
    let p = Prefix::new();
    let (a, b) = (limiter(&p), limiter(&p));
    let s = Arc::new(user(daily(1.0)));
    let now = SystemTime::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let s = s.clone();
            tokio::spawn(async move {
                match l.reserve(&s, 0.05, now).await {
                    Ok(hold) => Some(l.settle(hold, 0.05).await),
                    Err(BudgetRefusal::Exhausted { .. }) => None,
                    Err(e) => panic!("{e}"),
                }
            })
        })
        .collect();
    let (mut settled, mut crossings) = (0, Vec::new());
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            settled += 1;
            crossings.extend(c.into_iter().map(|c| c.event));
        }
    }
    assert_eq!(
        settled, 20,
        "reservations never let more than the budget through"
    );
    crossings.sort_by_key(|e| e.as_str());
    assert_eq!(crossings, vec![BudgetEvent::Exceeded, BudgetEvent::Warning]);
    let st = b.spend(&s, now).await;
    assert_eq!((st[0].spent_usd, st[0].reserved_usd), (1.0, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spend_stays_within_the_budget_when_actuals_stay_within_estimates() {
    let p = Prefix::new();
    let (a, b) = (limiter(&p), limiter(&p));
    let s = Arc::new(user(daily(2.0)));
    let now = SystemTime::now();
    let total = Arc::new(Mutex::new(0u64));
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (s, total) = (s.clone(), total.clone());
            tokio::spawn(async move {
                let actual_micros = 10_000 + (i * 7_919) % 40_001; // $0.01 ..= $0.05
                if let Ok(hold) = l.reserve(&s, 0.05, now).await {
                    l.settle(hold, actual_micros as f64 / 1e6).await;
                    *total.lock().unwrap() += actual_micros;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let total = *total.lock().unwrap();
    assert!(total <= 2_000_000, "spent {total} µ$");
    let st = a.spend(&s, now).await;
    assert_eq!(
        st[0].spent_usd,
        total as f64 / 1e6,
        "every settlement counted once"
    );
    assert_eq!(st[0].reserved_usd, 0.0);
}

#[tokio::test]
async fn a_restarted_instance_sees_spend_and_buckets() {
    let p = Prefix::new();
    let s = user(Limits {
        rph: Some(10),
        daily_usd: Some(5.0),
        monthly_usd: Some(50.0),
        ..Limits::default()
    });
    let now = SystemTime::now();
    {
        let first = limiter(&p);
        first.admit(&s, 0).await.unwrap();
        first.admit(&s, 0).await.unwrap();
        let hold = first.reserve(&s, 1.0, now).await.unwrap();
        first.settle(hold, 0.3).await;
        let _in_flight = first.reserve(&s, 2.0, now).await.unwrap();
    }
    let second = limiter(&p);
    let st = second.spend(&s, now).await;
    assert_eq!(st.len(), 2);
    for b in &st {
        assert_eq!((b.spent_usd, b.reserved_usd), (0.3, 2.0), "{b:?}");
    }
    let q = second.admit(&s, 0).await.unwrap();
    assert_eq!(
        q.requests.unwrap().remaining,
        7,
        "one request comes back every 6 minutes"
    );
}

#[tokio::test]
async fn unreachable_redis_falls_back_or_refuses_as_configured() {
    let p = Prefix::new();
    let s = user(Limits {
        rpm: Some(2),
        daily_usd: Some(1.0),
        ..Limits::default()
    });
    let now = SystemTime::now();
    let open = Limiter::new(Some(shared("127.0.0.1:1", &p, OnUnavailable::Local)), 0.8);
    open.admit(&s, 0).await.unwrap();
    open.admit(&s, 0).await.unwrap();
    assert!(
        matches!(open.admit(&s, 0).await, Err(RateRefusal::Limited { .. })),
        "local counters still limit"
    );
    let hold = open.reserve(&s, 0.6, now).await.unwrap();
    assert!(open.reserve(&s, 0.6, now).await.is_err(), "local budget");
    open.settle(hold, 0.5).await;
    assert_eq!(open.pending_spend(), 1, "kept for replay");
    assert_eq!(open.spend(&s, now).await[0].spent_usd, 0.5);

    let closed = Limiter::new(Some(shared("127.0.0.1:1", &p, OnUnavailable::Refuse)), 0.8);
    assert_eq!(
        closed.admit(&s, 0).await.unwrap_err(),
        RateRefusal::Unavailable
    );
    assert_eq!(
        closed.reserve(&s, 0.1, now).await.unwrap_err(),
        BudgetRefusal::Unavailable
    );
    assert_eq!(
        closed.admit(&Subject::default(), 0).await,
        Ok(switchyard::testing::Quotas::default()),
        "no limits, no Redis needed"
    );
}

#[tokio::test]
async fn spend_settled_during_an_outage_is_replayed() {
    let p = Prefix::new();
    let proxy = Proxy::start().await;
    let l = Limiter::new(Some(shared(&proxy.addr, &p, OnUnavailable::Local)), 0.8);
    let s = user(daily(10.0));
    let now = SystemTime::now();
    let reserved_before = l.reserve(&s, 1.0, now).await.unwrap();
    proxy.set_up(false);
    let reserved_during = l.reserve(&s, 1.0, now).await.unwrap();
    l.settle(reserved_before, 0.25).await;
    l.settle(reserved_during, 0.5).await;
    assert_eq!(l.pending_spend(), 2);
    proxy.set_up(true);
    // the connection comes back on its own schedule; each try is one flush
    for _ in 0..200 {
        l.flush_pending().await;
        if l.pending_spend() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(l.pending_spend(), 0);
    let fresh = limiter(&p);
    let st = fresh.spend(&s, now).await;
    assert_eq!((st[0].spent_usd, st[0].reserved_usd), (0.75, 0.0));
}

/// A TCP relay to the real Redis that can be switched off (dropping every connection) and on.
struct Proxy {
    addr: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(REDIS).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { addr, up, conns }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            for c in self.conns.lock().unwrap().drain(..) {
                c.abort();
            }
        }
    }
}
