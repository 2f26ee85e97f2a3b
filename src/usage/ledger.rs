//! The append-only usage ledger: a writer thread turns records into JSON lines, off the request path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Pending, UsageRecord};
use crate::config::LedgerSettings;

const QUEUE: usize = 16 * 1024;

enum Msg {
    Record(Box<Pending>),
    Flush(oneshot::Sender<()>),
}

/// A handle to the ledger writer. Recording never blocks the request path: a record goes on a
/// bounded queue, and only if that queue is full does a blocking-pool task wait for room (so
/// nothing is dropped). One thread owns the file, so lines are never interleaved or torn.
#[derive(Clone, Debug)]
pub struct Ledger {
    tx: SyncSender<Msg>,
    path: PathBuf,
    /// False after a failed write or flush, until one succeeds again (shown in health).
    healthy: Arc<AtomicBool>,
    /// Records waiting for room in a full queue; `flush` waits for them too.
    overflow: Arc<AtomicUsize>,
}

impl Ledger {
    /// Opens (creating) the file for appending with the default flush interval (50 ms, no
    /// fsync) and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::open_with(&LedgerSettings {
            path: path.to_owned(),
            flush: Duration::from_millis(50),
            fsync: false,
            postgres: None,
        })
    }

    /// Opens (creating) the file for appending and starts the writer thread, which writes
    /// every line to the file within `settings.flush` of its request ending, whatever the load.
    pub fn open_with(settings: &LedgerSettings) -> std::io::Result<Self> {
        let path = settings.path.as_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = sync_channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let (every, fsync) = (settings.flush, settings.fsync);
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || write_loop(file, rx, &flag, every, fsync))?;
        Ok(Self {
            tx,
            path: path.to_owned(),
            healthy,
            overflow: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the last write and flush succeeded.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Queues a record; costs, counted tokens and the timestamp text are finished by the writer.
    pub fn record(&self, pending: Pending) {
        self.send(Msg::Record(Box::new(pending)));
    }

    fn send(&self, msg: Msg) {
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                let overflow = self.overflow.clone();
                overflow.fetch_add(1, Ordering::SeqCst);
                let wait = move || {
                    let _ = tx.send(msg);
                    overflow.fetch_sub(1, Ordering::SeqCst);
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => drop(rt.spawn_blocking(wait)),
                    Err(_) => wait(),
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("ledger writer has stopped; record lost");
            }
        }
    }

    /// Waits until every record queued before this call is written and flushed to the file.
    pub async fn flush(&self) {
        while self.overflow.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (done, wait) = oneshot::channel();
        self.send(Msg::Flush(done));
        let _ = wait.await;
    }
}

/// Writes lines in batches: a batch is flushed once its oldest line is `every` old (or at a
/// quiet moment, or on request), so a crash loses at most that window of lines.
fn write_loop(
    file: std::fs::File,
    rx: Receiver<Msg>,
    healthy: &AtomicBool,
    every: Duration,
    fsync: bool,
) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut line = Vec::with_capacity(1024);
    // when the oldest unflushed line was written
    let mut dirty_since: Option<Instant> = None;
    loop {
        let msg = match dirty_since {
            Some(t) => match rx.recv_timeout(every.saturating_sub(t.elapsed())) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    flush(&mut out, healthy, fsync);
                    dirty_since = None;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
        };
        match msg {
            Msg::Record(p) => {
                let r = p.finish();
                emit(&r);
                crate::metrics::record_usage(&r);
                line.clear();
                if super::line::write(&r, &mut line).is_ok() {
                    line.push(b'\n');
                    if let Err(e) = out.write_all(&line) {
                        healthy.store(false, Ordering::Relaxed);
                        tracing::error!(error = %e, "cannot write ledger line");
                    }
                    dirty_since.get_or_insert_with(Instant::now);
                }
                if dirty_since.is_some_and(|t| t.elapsed() >= every) {
                    flush(&mut out, healthy, fsync);
                    dirty_since = None;
                }
            }
            Msg::Flush(done) => {
                flush(&mut out, healthy, fsync);
                dirty_since = None;
                let _ = done.send(());
            }
        }
    }
    flush(&mut out, healthy, fsync);
}

fn flush(out: &mut std::io::BufWriter<std::fs::File>, healthy: &AtomicBool, fsync: bool) {
    let result = out.flush().and_then(|()| {
        if fsync {
            out.get_ref().sync_data()
        } else {
            Ok(())
        }
    });
    match result {
        Ok(()) => healthy.store(true, Ordering::Relaxed),
        Err(e) => {
            healthy.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "cannot flush ledger");
        }
    }
}

/// The same record as a tracing event, for log pipelines.
fn emit(r: &UsageRecord) {
    tracing::info!(
        target: "switchyard::ledger",
        request_id = %r.request_id,
        requested = %r.requested_model,
        model = r.model.as_deref().unwrap_or("-"),
        complexity = r.complexity.map_or("-", |c| c.as_str()),
        rule = r.rule.as_deref().unwrap_or("-"),
        prompt_tokens = r.prompt_tokens,
        completion_tokens = r.completion_tokens,
        cost_usd = r.cost_usd,
        saving_usd = r.saving_usd,
        latency_ms = r.latency_ms,
        attempts = r.attempts,
        outcome = %r.outcome,
        "usage"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_records_become_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.jsonl");
        let ledger = Ledger::open(&path).unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let l = ledger.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..3000 {
                    let record = UsageRecord {
                        request_id: format!("{t}-{i}"),
                        outcome: crate::usage::Outcome::Other("x".repeat(300)),
                        ..Default::default()
                    };
                    l.record(Pending::unbilled(record));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        ledger.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: std::collections::HashSet<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<UsageRecord>(l)
                    .expect("whole JSON line")
                    .request_id
            })
            .collect();
        assert_eq!(ids.len(), 24_000, "more than the queue holds, none lost");
    }
}
