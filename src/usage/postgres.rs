//! The Postgres ledger sink: copies the JSONL ledger's lines into a table, in batches, off
//! the request path, so a fleet's spend can be queried live in one place.
//!
//! **Journal.** Requests never talk to Postgres: their records go through the ledger's
//! bounded queue into the JSONL file, as without a sink. A background task reads the file from
//! the last copied offset (kept in `<ledger>.pg-offset`), inserts up to `batch` lines per
//! statement and moves the offset after the commit. So the file is the spill: while Postgres
//! is down lines simply wait there, and once it is back they are replayed in order — also
//! after a `kill -9` and restart, since the offset is on disk.
//!
//! **Exactly once.** Rows are keyed by `request_id` and inserted with `ON CONFLICT DO NOTHING`:
//! a batch committed just before a crash (offset not yet saved) is sent again harmlessly.
//!
//! **Schema.** Created and migrated at connection time under an advisory lock (several
//! instances may start at once), recording each applied version in `{table}_migrations`.
//! Rows hold the whole line as `record jsonb` plus `request_id` and `ts` for indexing.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::PostgresSink;

/// How long one connection attempt or statement may take before the sink calls Postgres down.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between retries while Postgres is down.
const RETRY: Duration = Duration::from_secs(1);
/// Most bytes read from the journal per batch (a batch also stops at `batch` lines).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The schema, one step per version; never edit a shipped step, append a new one.
fn migrations(table: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                request_id text PRIMARY KEY,
                ts timestamptz NOT NULL,
                record jsonb NOT NULL,
                inserted_at timestamptz NOT NULL DEFAULT now())"
        ),
        format!("CREATE INDEX IF NOT EXISTS {table}_ts ON {table} (ts)"),
    ]
}

/// The sink's state, shown in health.
#[derive(Debug, Default)]
pub(crate) struct SinkStatus {
    connected: AtomicBool,
    /// Journal bytes not yet in Postgres.
    behind: AtomicU64,
    copied: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl SinkStatus {
    /// For `/health/detailed`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "connected": self.connected.load(Ordering::Relaxed),
            "behind_bytes": self.behind.load(Ordering::Relaxed),
            "rows_copied": self.copied.load(Ordering::Relaxed),
            "last_error": crate::lock::lock(&self.last_error).clone(),
        })
    }

    /// Whether every journal line written so far is in Postgres.
    pub(crate) fn caught_up(&self) -> bool {
        self.connected.load(Ordering::Relaxed) && self.behind.load(Ordering::Relaxed) == 0
    }

    fn down(&self, why: String) {
        if self.connected.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %why, "postgres ledger sink is down; lines wait in the ledger file");
        }
        *crate::lock::lock(&self.last_error) = Some(why);
    }
}

/// Connects and migrates the schema.
pub(crate) async fn connect(sink: &PostgresSink) -> Result<Client, String> {
    let (client, conn) =
        tokio::time::timeout(TIMEOUT, tokio_postgres::connect(sink.url.expose(), NoTls))
            .await
            .map_err(|_| "postgres did not answer in time".to_owned())?
            .map_err(|e| format!("cannot connect to postgres: {}", short(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    migrate(&client, &sink.table).await?;
    Ok(client)
}

/// Applies every migration step not yet recorded, under an advisory lock.
async fn migrate(client: &Client, table: &str) -> Result<(), String> {
    let steps = migrations(table);
    let sql = |e: tokio_postgres::Error| format!("migrating {table}: {}", short(&e));
    client.batch_execute("BEGIN").await.map_err(sql)?;
    let result = async {
        client
            .execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&table])
            .await?;
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table}_migrations (
                    version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            ))
            .await?;
        let row = client
            .query_one(
                &format!("SELECT coalesce(max(version), 0) FROM {table}_migrations"),
                &[],
            )
            .await?;
        let done: i32 = row.get(0);
        for (i, step) in steps.iter().enumerate() {
            let version = i as i32 + 1;
            if version > done {
                client.batch_execute(step).await?;
                client
                    .execute(
                        &format!("INSERT INTO {table}_migrations (version) VALUES ($1)"),
                        &[&version],
                    )
                    .await?;
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    }
    .await;
    match result {
        Ok(()) => client.batch_execute("COMMIT").await.map_err(sql),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(sql(e))
        }
    }
}

/// Inserts ledger lines (JSON text); lines already there (same `request_id`) are skipped.
/// Returns how many rows were new.
pub(crate) async fn insert(client: &Client, table: &str, lines: &[String]) -> Result<u64, String> {
    let mut ids = Vec::with_capacity(lines.len());
    let mut times = Vec::with_capacity(lines.len());
    let mut records = Vec::with_capacity(lines.len());
    for line in lines {
        #[derive(serde::Deserialize)]
        struct Key {
            request_id: String,
            ts: String,
        }
        // a line that is not a ledger record cannot be keyed: it stays in the file only
        let Ok(k) = serde_json::from_str::<Key>(line) else {
            tracing::warn!("ledger line without request_id/ts not copied to postgres");
            continue;
        };
        ids.push(k.request_id);
        times.push(k.ts);
        records.push(line.clone());
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let statement = format!(
        "INSERT INTO {table} (request_id, ts, record)
         SELECT r, t::timestamptz, j::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS u(r, t, j)
         ON CONFLICT (request_id) DO NOTHING"
    );
    tokio::time::timeout(
        TIMEOUT,
        client.execute(&statement, &[&ids, &times, &records]),
    )
    .await
    .map_err(|_| "postgres insert timed out".to_owned())?
    .map_err(|e| format!("postgres insert failed: {}", short(&e)))
}

/// Every row's line, oldest first (by `ts`, then `request_id`), for reports.
pub(crate) async fn read_all(url: &str, table: &str) -> Result<Vec<String>, String> {
    if !crate::config::plain_identifier(table) {
        return Err(format!("`{table}` is not a plain SQL table name"));
    }
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to postgres: {}", short(&e)))?;
    tokio::spawn(conn);
    let rows = client
        .query(
            &format!("SELECT record::text FROM {table} ORDER BY ts, request_id"),
            &[],
        )
        .await
        .map_err(|e| format!("cannot read {table}: {}", short(&e)))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// The billed rows of the current month (UTC, by Postgres' clock), for rebuilding budget
/// spend at start-up: the whole fleet's, where the JSONL file holds one instance's.
pub(crate) async fn billed_this_month(sink: &PostgresSink) -> Result<Vec<String>, String> {
    let client = connect(sink).await?;
    let sql = format!(
        "SELECT record::text FROM {} WHERE ts >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND record->>'billed' = 'true' ORDER BY ts",
        sink.table
    );
    let rows = tokio::time::timeout(TIMEOUT, client.query(&sql, &[]))
        .await
        .map_err(|_| "postgres did not answer in time".to_owned())?
        .map_err(|e| format!("cannot read {}: {}", sink.table, short(&e)))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// The error's text (`tokio_postgres` errors never include the connection URL).
fn short(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

/// Where the sink remembers how far it copied the ledger file.
pub(crate) fn offset_path(ledger: &Path) -> PathBuf {
    let mut p = ledger.as_os_str().to_owned();
    p.push(".pg-offset");
    PathBuf::from(p)
}

fn load_offset(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn save_offset(path: &Path, offset: u64) -> std::io::Result<()> {
    let tmp = path.with_extension("pg-offset.tmp");
    std::fs::write(&tmp, offset.to_string())?;
    std::fs::rename(tmp, path)
}

/// Up to `max` whole lines of `ledger` from `offset`, and the offset after them (a line still
/// being written, without its newline, is left for later). A file shorter than `offset` was
/// replaced (rotated): reading starts again from its beginning.
fn read_batch(ledger: &Path, offset: u64, max: usize) -> std::io::Result<(Vec<String>, u64, u64)> {
    let mut file = std::fs::File::open(ledger)?;
    let len = file.metadata()?.len();
    let offset = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = std::io::BufReader::new(file.take(MAX_BATCH_BYTES as u64));
    let mut lines = Vec::new();
    let mut at = offset;
    let mut buf = String::new();
    while lines.len() < max {
        buf.clear();
        let n = reader.read_line(&mut buf)?;
        if n == 0 || !buf.ends_with('\n') {
            break;
        }
        at += n as u64;
        let line = buf.trim_end();
        if !line.is_empty() {
            lines.push(line.to_owned());
        }
    }
    Ok((lines, at, len))
}

/// Starts copying `ledger` into Postgres every `every`; returns the status for health.
pub(crate) fn spawn(sink: PostgresSink, ledger: PathBuf, every: Duration) -> Arc<SinkStatus> {
    let status = Arc::new(SinkStatus::default());
    let st = status.clone();
    tokio::spawn(async move { run(&sink, &ledger, every, &st).await });
    status
}

async fn run(sink: &PostgresSink, ledger: &Path, every: Duration, status: &SinkStatus) {
    let offsets = offset_path(ledger);
    let mut offset = load_offset(&offsets);
    let mut client: Option<Client> = None;
    loop {
        let c = match &client {
            Some(c) if !c.is_closed() => c,
            _ => match connect(sink).await {
                Ok(c) => {
                    tracing::info!(table = %sink.table, "postgres ledger sink connected");
                    status.connected.store(true, Ordering::Relaxed);
                    client.insert(c)
                }
                Err(e) => {
                    status.down(e);
                    let len = std::fs::metadata(ledger).map_or(0, |m| m.len());
                    status
                        .behind
                        .store(len.saturating_sub(offset), Ordering::Relaxed);
                    client = None;
                    tokio::time::sleep(RETRY.max(every)).await;
                    continue;
                }
            },
        };
        let (lines, next, len) = match read_batch(ledger, offset, sink.batch) {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the ledger file for postgres");
                tokio::time::sleep(every).await;
                continue;
            }
        };
        status
            .behind
            .store(len.saturating_sub(offset), Ordering::Relaxed);
        if lines.is_empty() {
            offset = next;
            tokio::time::sleep(every).await;
            continue;
        }
        match insert(c, &sink.table, &lines).await {
            Ok(n) => {
                offset = next;
                status.copied.fetch_add(n, Ordering::Relaxed);
                status
                    .behind
                    .store(len.saturating_sub(offset), Ordering::Relaxed);
                status.connected.store(true, Ordering::Relaxed);
                if let Err(e) = save_offset(&offsets, offset) {
                    tracing::warn!(error = %e, "cannot save the postgres sink's offset");
                }
            }
            Err(e) => {
                status.down(e);
                client = None;
                tokio::time::sleep(RETRY.max(every)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stop_at_a_partial_line_and_restart_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        std::fs::write(&path, "a\nbb\nccc\npartial").unwrap();
        let (lines, at, len) = read_batch(&path, 0, 2).unwrap();
        assert_eq!((lines, at, len), (vec!["a".into(), "bb".into()], 5, 16));
        let (lines, at, _) = read_batch(&path, 5, 10).unwrap();
        assert_eq!((lines, at), (vec!["ccc".to_owned()], 9), "no partial line");
        // a shorter file than the offset was rotated: start over
        std::fs::write(&path, "new\n").unwrap();
        let (lines, at, _) = read_batch(&path, 9, 10).unwrap();
        assert_eq!((lines, at), (vec!["new".to_owned()], 4));
        let offsets = offset_path(&path);
        assert_eq!(load_offset(&offsets), 0);
        save_offset(&offsets, 42).unwrap();
        assert_eq!(load_offset(&offsets), 42);
    }

    #[test]
    fn the_schema_steps_name_only_the_table() {
        let steps = migrations("spend");
        assert!(steps[0].contains("CREATE TABLE IF NOT EXISTS spend ("));
        assert!(steps[0].contains("request_id text PRIMARY KEY"));
        assert!(steps[1].contains("ON spend (ts)"));
    }
}
