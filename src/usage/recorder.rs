//! Collects one request's usage facts as it moves through the pipeline and hands them to the ledger.

use std::time::Duration;

use crate::tokens::Encoding;
use tokio::time::Instant;

use super::{Ledger, Pending, UsageRecord};
use crate::openai::Usage;

/// Work that needs a request's final record (its cost), run just before it is written.
pub type AfterRecord = Box<dyn FnOnce(&UsageRecord) + Send>;

/// Owned by a request from its first stage; `finish` writes its ledger line. If a request is
/// dropped unfinished (the client went away mid-request, or shutdown cut it), `Drop` writes it
/// as `client_disconnected`, so every request leaves exactly one ledger line.
pub struct Recorder {
    ledger: Ledger,
    pub record: UsageRecord,
    pub price: Option<crate::config::Price>,
    pub baseline_price: Option<crate::config::Price>,
    pub started: Instant,
    /// Time spent waiting on upstreams, excluded from the overhead figure.
    pub waited: Duration,
    /// Encoding for counting the completion when the upstream reports no usage.
    pub encoding: Encoding,
    /// Set once an upstream answer is committed to the client: only then is anything billed.
    pub answered: bool,
    /// The router's own time, frozen when the answer is committed (a stream's relay time is
    /// the upstream's pace, not router overhead).
    overhead: Option<Duration>,
    written: bool,
    /// Runs with the finished record (cost known) before it goes to the ledger: settles the
    /// budget hold and adds completion tokens to the rate windows.
    pub after: Option<AfterRecord>,
}

impl Recorder {
    pub fn new(ledger: Ledger, request_id: &str, endpoint: &str, started: Instant) -> Self {
        crate::metrics::in_flight("requests", 1.0);
        Self {
            ledger,
            record: UsageRecord {
                request_id: request_id.to_owned(),
                endpoint: endpoint.to_owned(),
                ..Default::default()
            },
            price: None,
            baseline_price: None,
            started,
            waited: Duration::ZERO,
            encoding: Encoding::default(),
            answered: false,
            overhead: None,
            written: false,
            after: None,
        }
    }

    /// The router's own time: everything but upstream waits and backoff sleeps, up to the
    /// moment the answer was committed (or until now, if it has not been).
    pub fn overhead(&self) -> Duration {
        self.overhead
            .unwrap_or_else(|| self.started.elapsed().saturating_sub(self.waited))
    }

    /// Fixes the overhead figure at this moment; called when the response starts.
    pub fn freeze_overhead(&mut self) -> Duration {
        let d = self.overhead();
        self.overhead = Some(d);
        d
    }

    /// Writes the ledger line. `text` is the completion, counted only if `reported` is `None`.
    pub fn finish(
        mut self,
        status: u16,
        outcome: &str,
        reported: Option<Usage>,
        text: Option<String>,
        ttft: Option<Duration>,
    ) {
        self.write(status, outcome, reported, text, ttft);
    }

    /// Writes a cache hit's ledger line: nothing billed, priced against the baseline, with what
    /// the cached answer cost when it was made (`answer_price`).
    pub fn finish_cache_hit(
        mut self,
        usage: Option<Usage>,
        answer_price: Option<crate::config::Price>,
    ) {
        self.written = true;
        crate::metrics::in_flight("requests", -1.0);
        let mut r = std::mem::take(&mut self.record);
        r.status = 200;
        r.outcome = "cache_hit".into();
        r.cache_hit = true;
        r.latency_ms = ms(self.started.elapsed());
        r.overhead_ms = ms(self.overhead());
        if let Some(u) = usage {
            r.prompt_tokens = u.prompt_tokens;
            r.completion_tokens = u.completion_tokens;
        }
        let cost = |p: crate::config::Price| p.cost(r.prompt_tokens, r.completion_tokens);
        r.baseline_cost_usd = self.baseline_price.map_or(0.0, cost);
        r.saving_usd = r.baseline_cost_usd;
        r.cache_saving_usd = answer_price.map_or(0.0, cost);
        self.ledger.record(Pending {
            at: std::time::SystemTime::now(),
            ..Pending::finished(r)
        });
    }

    fn write(
        &mut self,
        status: u16,
        outcome: &str,
        reported: Option<Usage>,
        text: Option<String>,
        ttft: Option<Duration>,
    ) {
        self.written = true;
        crate::metrics::in_flight("requests", -1.0);
        let mut record = std::mem::take(&mut self.record);
        record.status = status;
        record.outcome = outcome.to_owned();
        record.latency_ms = ms(self.started.elapsed());
        record.ttft_ms = ttft.map(ms);
        record.overhead_ms = ms(self.overhead());
        let uncounted = if reported.is_none() {
            text.map(|t| (t, self.encoding))
        } else {
            None
        };
        let pending = Pending {
            record,
            price: self.price,
            baseline_price: self.baseline_price,
            reported,
            uncounted,
            billable: self.answered,
            at: std::time::SystemTime::now(),
            done: false,
        };
        match self.after.take() {
            Some(after) => {
                let record = pending.finish();
                after(&record);
                self.ledger.record(Pending::finished(record));
            }
            None => self.ledger.record(pending),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.written {
            self.write(499, "client_disconnected", None, None, None);
        }
    }
}

/// Milliseconds with microsecond precision.
pub fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
