//! The append-only usage ledger: a writer thread turns records into JSON lines, off the request path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Pending, UsageRecord};
use crate::config::LedgerSettings;

const QUEUE: usize = 16 * 1024;
/// Queued messages past which a sender wakes the writer before its next tick.
const FILL_MARK: usize = QUEUE / 2;

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
    /// Declared after `tx`: the last handle drops its sender before waking the writer, which
    /// then finds the queue closed and exits.
    waker: Arc<Waker>,
}

/// The writer's queue gauge and sleep state, shared by the request path and the writer.
#[derive(Debug, Default)]
struct Gate {
    /// Messages sent and not yet taken by the writer.
    queued: AtomicUsize,
    /// The writer sleeps until woken: nothing was queued at its last tick.
    idle: AtomicBool,
}

/// Wakes the writer only when it must act before its next tick: it is idle, the queue passed
/// [`FILL_MARK`], or a flush is asked for. A busy writer wakes on its own every flush interval,
/// so under load a record costs no futex wake-up or context switch. Dropped with the last
/// handle, it wakes the writer once more to see the queue closed.
#[derive(Debug)]
struct Waker {
    gate: Arc<Gate>,
    writer: Thread,
}

impl Waker {
    /// Called after a message went on the queue, `before` being the count queued ahead of it.
    fn sent(&self, before: usize, urgent: bool) {
        let gate = &self.gate;
        // SeqCst pairs with the writer's store of `idle` then load of `queued`: either it sees
        // this message queued and does not sleep, or this sees it idle and wakes it
        if urgent
            || before + 1 >= FILL_MARK
            || (gate.idle.load(Ordering::SeqCst) && gate.idle.swap(false, Ordering::SeqCst))
        {
            self.writer.unpark();
        }
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        self.writer.unpark();
    }
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
        let gate = Arc::new(Gate::default());
        let writer_gate = gate.clone();
        let writer = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || write_loop(file, &rx, &writer_gate, &flag, every, fsync))?;
        Ok(Self {
            tx,
            path: path.to_owned(),
            healthy,
            overflow: Arc::default(),
            waker: Arc::new(Waker {
                gate,
                writer: writer.thread().clone(),
            }),
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
        let urgent = matches!(msg, Msg::Flush(_));
        let before = self.waker.gate.queued.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(msg) {
            Ok(()) => self.waker.sent(before, urgent),
            Err(TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                let overflow = self.overflow.clone();
                let waker = self.waker.clone();
                overflow.fetch_add(1, Ordering::SeqCst);
                let wait = move || {
                    waker.writer.unpark();
                    if tx.send(msg).is_ok() {
                        waker.sent(QUEUE, urgent);
                    }
                    overflow.fetch_sub(1, Ordering::SeqCst);
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => drop(rt.spawn_blocking(wait)),
                    Err(_) => wait(),
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.waker.gate.queued.fetch_sub(1, Ordering::SeqCst);
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

/// Writes lines in ticks: each tick takes every queued record, writes its line and flushes the
/// batch. A busy writer ticks every `every`, so a crash loses at most that window of lines; an
/// idle one (nothing taken at its last tick) sleeps until a record wakes it, and a flush
/// request or a filling queue wakes it early.
fn write_loop(
    file: std::fs::File,
    rx: &Receiver<Msg>,
    gate: &Gate,
    healthy: &AtomicBool,
    every: Duration,
    fsync: bool,
) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut line = Vec::with_capacity(1024);
    loop {
        let mut took = false;
        let mut dirty = false;
        loop {
            let msg = match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    flush(&mut out, healthy, fsync);
                    return;
                }
            };
            gate.queued.fetch_sub(1, Ordering::SeqCst);
            took = true;
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
                        dirty = true;
                    }
                }
                Msg::Flush(done) => {
                    flush(&mut out, healthy, fsync);
                    dirty = false;
                    let _ = done.send(());
                }
            }
        }
        if dirty {
            flush(&mut out, healthy, fsync);
        }
        if took {
            std::thread::park_timeout(every);
        } else {
            // SeqCst pairs with `Waker::sent`: a sender that counts its message after this
            // load finds the writer idle and wakes it. One counted before it may be landing
            // just now, unseen by the drain: then the next tick takes it, within `every`.
            gate.idle.store(true, Ordering::SeqCst);
            if gate.queued.load(Ordering::SeqCst) == 0 {
                std::thread::park();
            } else {
                std::thread::park_timeout(every);
            }
            gate.idle.store(false, Ordering::SeqCst);
        }
    }
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

    fn record(id: &str) -> Pending {
        Pending::unbilled(UsageRecord {
            request_id: id.to_owned(),
            ..Default::default()
        })
    }

    fn ledger_every(path: &Path, every: Duration) -> Ledger {
        Ledger::open_with(&LedgerSettings {
            path: path.to_owned(),
            flush: every,
            fsync: false,
            postgres: None,
        })
        .unwrap()
    }

    /// The ids in the file once it holds `n` lines (waiting for the writer, 10 s at most).
    fn ids_once(path: &Path, n: usize) -> Vec<String> {
        for _ in 0..1000 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n {
                return text
                    .lines()
                    .map(|l| serde_json::from_str::<UsageRecord>(l).unwrap().request_id)
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{n} lines never reached {}", path.display());
    }

    #[test]
    fn records_reach_the_file_unasked_whether_the_writer_was_idle_or_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        let ledger = ledger_every(&path, Duration::from_millis(20));
        ledger.record(record("a"));
        assert_eq!(ids_once(&path, 1), ["a"]);
        // a quiet spell: the writer goes idle, and the next record wakes it
        std::thread::sleep(Duration::from_millis(200));
        ledger.record(record("b"));
        ledger.record(record("c"));
        assert_eq!(ids_once(&path, 3), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn flush_and_the_last_handle_dropped_wake_a_writer_between_ticks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        // a tick far away: only a wake-up can get these lines out in time
        let ledger = ledger_every(&path, Duration::from_secs(600));
        ledger.record(record("first"));
        assert_eq!(ids_once(&path, 1), ["first"]);
        ledger.record(record("flushed"));
        tokio::time::timeout(Duration::from_secs(10), ledger.flush())
            .await
            .expect("flush returns without waiting for the tick");
        assert_eq!(ids_once(&path, 2), ["first", "flushed"]);
        ledger.record(record("last"));
        let other = ledger.clone();
        drop(ledger);
        other.record(record("very last"));
        drop(other);
        assert_eq!(
            ids_once(&path, 4),
            ["first", "flushed", "last", "very last"]
        );
    }

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
