//! Gets a provider key for one call, queueing (bounded in depth and in time) while every key
//! is at its rpm/tpm limit.

use std::sync::Mutex;

use tokio::time::Instant;

use super::keys::{KeyPick, KeyPool};
use super::{Op, SkipReason, Trace};
use crate::config::Provider;
use crate::lock::lock;

/// A place in a provider's pacing queue; leaving it (also when the request is dropped while
/// waiting) updates the count and the gauge.
struct Queued<'a> {
    pool: &'a Mutex<KeyPool>,
    provider: &'a str,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        lock(self.pool).leave_queue();
        crate::metrics::pacing_queue(self.provider, -1.0);
    }
}

/// What one look at the pool decided.
enum Look {
    Use(Option<usize>),
    Skip(SkipReason, &'static str),
    Wait {
        key: usize,
        at: Instant,
        depth: usize,
    },
}

/// The key (`None` for a keyless provider) to call `provider` with, after waiting for a paced
/// key if `op.max_wait` allows and the queue has room; or the note to skip the candidate with.
/// No lock is held while waiting; the wait is added to `trace.waited`.
pub(super) async fn acquire<'a>(
    provider: &'a Provider,
    pool: &'a Mutex<KeyPool>,
    op: Op,
    trace: &mut Trace,
) -> Result<Option<usize>, SkipReason> {
    let started = Instant::now();
    let deadline = started.checked_add(op.max_wait);
    let mut queued: Option<Queued<'a>> = None;
    loop {
        let now = Instant::now();
        let look = {
            let mut p = lock(pool);
            match p.pick(now, op.tokens) {
                KeyPick::Key(i) => Look::Use(Some(i)),
                KeyPick::NoKeys => Look::Use(None),
                KeyPick::AllCooling(_) => Look::Skip(SkipReason::KeysCooling, "gave_up"),
                KeyPick::AllPaced { at, .. } if deadline.is_some_and(|d| at > d) => {
                    Look::Skip(SkipReason::Paced, "skipped")
                }
                KeyPick::AllPaced { .. }
                    if queued.is_none() && !p.join_queue(provider.max_queue) =>
                {
                    Look::Skip(SkipReason::QueueFull, "queue_full")
                }
                KeyPick::AllPaced { key, at } => {
                    p.book(key, at, op.tokens);
                    Look::Wait {
                        key,
                        at,
                        depth: p.waiting(),
                    }
                }
            }
        };
        let waited = started.elapsed();
        match look {
            Look::Use(key) => {
                if queued.is_some() {
                    crate::metrics::pacing_wait(&provider.name, "waited", waited.as_secs_f64());
                }
                return Ok(key);
            }
            Look::Skip(reason, outcome) => {
                // a cooldown met at once is not about pacing: nothing to record
                if queued.is_some() || reason != SkipReason::KeysCooling {
                    let outcome = if queued.is_some() { "gave_up" } else { outcome };
                    crate::metrics::pacing_wait(&provider.name, outcome, waited.as_secs_f64());
                }
                return Err(reason);
            }
            Look::Wait { key, at, depth } => {
                if queued.is_none() {
                    crate::metrics::pacing_queue(&provider.name, 1.0);
                    queued = Some(Queued {
                        pool,
                        provider: &provider.name,
                    });
                }
                tracing::debug!(
                    provider = %provider.name,
                    wait_ms = at.saturating_duration_since(now).as_millis() as u64,
                    queue_depth = depth,
                    "every key is at its rpm/tpm limit; waiting for a slot"
                );
                tokio::time::sleep_until(at).await;
                trace.waited += now.elapsed();
                // the booked slot is good unless the key was answered with a 429 meanwhile
                if lock(pool).cooling_until(key, Instant::now()).is_none() {
                    let waited = started.elapsed().as_secs_f64();
                    crate::metrics::pacing_wait(&provider.name, "waited", waited);
                    return Ok(Some(key));
                }
            }
        }
    }
}
