//! Collects one request's usage facts as it moves through the pipeline and hands them to the ledger.

use std::time::Duration;

use crate::tokens::Encoding;
use tokio::time::Instant;

use super::{Ledger, Pending, UsageRecord};
use crate::openai::Usage;

/// Owned by a request from its first stage; `finish` is called exactly once (the stream relay
/// calls it from `Drop` when a client goes away), so every request leaves one ledger line.
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
}

impl Recorder {
    pub fn new(ledger: Ledger, request_id: &str, endpoint: &str, started: Instant) -> Self {
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
        }
    }

    /// The router's own time so far: everything but upstream waits and backoff sleeps.
    pub fn overhead(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.waited)
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
        let r = &mut self.record;
        r.status = status;
        r.outcome = outcome.to_owned();
        r.latency_ms = ms(self.started.elapsed());
        r.ttft_ms = ttft.map(ms);
        r.overhead_ms = ms(self.started.elapsed().saturating_sub(self.waited));
        let uncounted = if reported.is_none() {
            text.map(|t| (t, self.encoding))
        } else {
            None
        };
        self.ledger.record(Pending {
            record: self.record,
            price: self.price,
            baseline_price: self.baseline_price,
            reported,
            uncounted,
            billable: self.answered,
            at: std::time::SystemTime::now(),
        });
    }
}

/// Milliseconds with microsecond precision.
pub fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
