//! The Postgres ledger sink against the real Postgres on 127.0.0.1:5432: each test creates a
//! database of its own and drops it. Rows arrive once per request (also across a restart),
//! the schema is migrated with recorded versions, lines written while Postgres is unreachable
//! wait in the ledger file and are replayed once it is reachable, and `report --postgres`
//! prints what `report` prints over the file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{chat, policies, wait_until, Harness, Upstream};

const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

/// A database of its own, dropped (with its connections) when this drops.
pub(crate) struct Db(String);

async fn admin() -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(ADMIN, tokio_postgres::NoTls)
        .await
        .expect("postgres on 127.0.0.1:5432 (user postgres, trust)");
    tokio::spawn(conn);
    c
}

impl Db {
    pub(crate) async fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "sy_ledger_{}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Self(name)
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
    }

    pub(crate) async fn client(&self) -> tokio_postgres::Client {
        let (c, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c
    }

    pub(crate) async fn count(&self) -> i64 {
        let c = self.client().await;
        match c
            .query_one("SELECT count(*) FROM switchyard_ledger", &[])
            .await
        {
            Ok(row) => row.get(0),
            Err(_) => 0,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let c = admin().await;
                let _ = c
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

fn server(url: &str) -> String {
    format!("ledger:\n  flush_ms: 20\n  postgres: {url}\n  batch: 3\n")
}

async fn start(url: &str) -> Harness {
    Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(server(url))
        .start()
        .await
}

async fn send(h: &Harness, n: usize) {
    for i in 0..n {
        let (status, _, _) = h.post_chat(chat("auto", &format!("question {i}"))).await;
        assert_eq!(status, 200);
    }
}

/// `report` over `source` (a file, or the database when `postgres` is given), as CSV.
pub(crate) fn report(
    ledger: &std::path::Path,
    postgres: Option<&str>,
    out: &std::path::Path,
) -> String {
    let by = [];
    let code = switchyard::cli::report::run(switchyard::cli::report::Options {
        ledger,
        postgres: postgres.map(|u| (u, "switchyard_ledger")),
        since: None,
        until: None,
        by: &by,
        format: switchyard::cli::report::Format::Csv,
        out: Some(out),
        svg_dir: None,
    });
    assert_eq!(code, 0);
    std::fs::read_to_string(out).unwrap()
}

#[tokio::test]
async fn rows_arrive_once_and_the_report_matches_the_file() {
    let db = Db::new().await;
    let mut h = start(&db.url()).await;
    send(&h, 7).await;
    wait_until("7 rows", Duration::from_secs(20), async || {
        db.count().await == 7
    })
    .await;
    // a restart reads the ledger from its saved offset: nothing is copied twice
    let h2 = h.restarted().await;
    send(&h2, 2).await;
    wait_until("9 rows", Duration::from_secs(20), async || {
        db.count().await == 9
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(db.count().await, 9, "one row per request");
    let c = db.client().await;
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM switchyard_ledger_migrations ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);
    let (_, d) = h2.get("/health/detailed").await;
    assert_eq!(
        d["ledger"]["postgres"]["connected"], true,
        "{}",
        d["ledger"]
    );
    let dir = tempfile::tempdir().unwrap();
    let from_file = report(&h2.ledger_path, None, &dir.path().join("file.csv"));
    let url = db.url();
    let path = h2.ledger_path.clone();
    let out = dir.path().join("pg.csv");
    let from_pg = tokio::task::spawn_blocking(move || report(&path, Some(&url), &out))
        .await
        .unwrap();
    assert!(from_file.lines().count() > 1, "{from_file}");
    assert_eq!(from_pg, from_file);
}

#[tokio::test]
async fn lines_wait_in_the_file_while_postgres_is_down_and_are_replayed() {
    let db = Db::new().await;
    // nothing listens on port 1
    let mut h = start("postgres://postgres@127.0.0.1:1/nothing").await;
    send(&h, 4).await;
    let mut down = serde_json::Value::Null;
    wait_until(
        "the sink reported down",
        Duration::from_secs(20),
        async || {
            let (_, d) = h.get("/health/detailed").await;
            down = d["ledger"]["postgres"].clone();
            // the lines not copied yet are counted while it is down
            down["connected"] == false
                && down["last_error"].is_string()
                && down["behind_bytes"].as_u64().unwrap_or(0) > 0
        },
    )
    .await;
    assert_eq!(down["rows_copied"], 0, "{down}");
    assert_eq!(h.ledger_lines().await.len(), 4, "the file has every line");
    // the same instance, restarted against the real server, replays what waited
    let h2 = h.restarted_with_server(&server(&db.url())).await;
    wait_until("4 replayed rows", Duration::from_secs(20), async || {
        db.count().await == 4
    })
    .await;
    send(&h2, 1).await;
    wait_until("5 rows", Duration::from_secs(20), async || {
        db.count().await == 5
    })
    .await;
    let c = db.client().await;
    let ids: Vec<String> = c
        .query("SELECT request_id FROM switchyard_ledger", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut in_file: Vec<String> = h2
        .ledger_lines()
        .await
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    let mut ids = ids;
    ids.sort();
    in_file.sort();
    assert_eq!(ids, in_file, "exactly the file's lines, none doubled");
}
