//! Gets a provider key for one call, queueing (bounded in depth and in time) while every key
//! is at its rpm/tpm limit.
//!
//! Batch lines (`Op::background`) never queue and never book a slot: they take a key only
//! when it is free now and no interactive request waits in the queue, and otherwise sleep
//! until the earliest slot and look again. An interactive request arriving meanwhile books
//! that slot first, so batches only ever use capacity interactive traffic leaves over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::fleet::{self, FleetPick};
use super::keys::{KeyPick, KeyPool};
use super::pacing::Booking;
use super::{Op, SkipReason, Trace};
use crate::config::Provider;
use crate::lock::lock;
use crate::shared::Shared;

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

/// A slot booked on this instance's pacer while waiting for it: handed back (refunded) when
/// it goes unused — the request gave up, found the key cooling, or was dropped (its client
/// went away) — so later requests are not held back by slots nobody will use.
struct Slot<'a> {
    pool: &'a Mutex<KeyPool>,
    key: usize,
    booking: Option<Booked>,
}

/// Where a slot was booked.
enum Booked {
    /// On this instance's pacer.
    Local(Booking),
    /// On the fleet-wide budgets in Redis.
    Fleet(Box<fleet::Refund>),
}

impl Slot<'_> {
    /// The call is made with the slot: nothing to hand back.
    fn use_it(mut self) {
        self.booking = None;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        match self.booking.take() {
            Some(Booked::Local(b)) => lock(self.pool).unbook(self.key, b, Instant::now()),
            Some(Booked::Fleet(refund)) => refund.spawn(),
            None => {}
        }
    }
}

/// A place taken in the queue by one fleet-wide look, given back when dropped still held.
struct Place<'a> {
    pool: &'a Mutex<KeyPool>,
    held: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.held {
            lock(self.pool).leave_queue();
        }
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
        /// The booking, to hand back if it goes unused.
        booking: Option<Booked>,
    },
    /// A background call stands aside (nothing booked) and looks again at this instant.
    Yield(Instant),
}

/// How soon a background call looks again when a request waits but no slot time is known.
const YIELD_TICK: Duration = Duration::from_millis(10);

/// The key (`None` for a keyless provider) to call `provider` with, after waiting for a paced
/// key if `op.max_wait` allows and the queue has room; or the note to skip the candidate with.
/// With `fleet` (Redis configured and not known to be down) the keys' budgets are the
/// fleet-wide ones (`fleet.rs`); without, or when a Redis call fails, this instance's own
/// pacers (at its share of the rate, [`super::pacing::fallback_limits`]).
/// No lock is held while waiting; the wait is added to `trace.waited`.
pub(super) async fn acquire<'a>(
    provider: &'a Provider,
    pool: &'a Mutex<KeyPool>,
    fleet: Option<&Arc<Shared>>,
    op: Op,
    trace: &mut Trace,
) -> Result<Option<usize>, SkipReason> {
    let started = Instant::now();
    let deadline = started.checked_add(op.max_wait);
    let mut queued: Option<Queued<'a>> = None;
    loop {
        let now = Instant::now();
        let fleet = fleet.filter(|sh| !sh.is_down() && lock(pool).is_paced());
        let look = match fleet {
            Some(sh) => {
                match look_fleet(sh, provider, pool, op, deadline, queued.is_some()).await {
                    Ok(look) => look,
                    Err(e) => {
                        tracing::debug!(provider = %provider.name, error = %e, "fleet-wide pacing unavailable; pacing this instance's share");
                        look_local(provider, pool, op, deadline, queued.is_some(), now)
                    }
                }
            }
            None => look_local(provider, pool, op, deadline, queued.is_some(), now),
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
            Look::Yield(at) => {
                tokio::time::sleep_until(at).await;
                trace.waited += now.elapsed();
            }
            Look::Wait {
                key,
                at,
                depth,
                booking,
            } => {
                let slot = Slot { pool, key, booking };
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
                // the booked slot is good unless the key was answered with a 429 (or taken out
                // of rotation by an operator) meanwhile
                let still_good = {
                    let p = lock(pool);
                    p.cooling_until(key, Instant::now()).is_none()
                        && p.state(key) == super::keys::KeyState::Active
                };
                if still_good {
                    slot.use_it();
                    let waited = started.elapsed().as_secs_f64();
                    crate::metrics::pacing_wait(&provider.name, "waited", waited);
                    return Ok(Some(key));
                }
            }
        }
    }
}

/// One look at this instance's own pool (its pacers hold this instance's share).
fn look_local(
    provider: &Provider,
    pool: &Mutex<KeyPool>,
    op: Op,
    deadline: Option<Instant>,
    in_queue: bool,
    now: Instant,
) -> Look {
    let mut p = lock(pool);
    let pick = if op.background {
        p.pick_background(now, op.tokens)
    } else {
        p.pick(now, op.tokens)
    };
    match pick {
        KeyPick::Key(i) => Look::Use(Some(i)),
        KeyPick::NoKeys => Look::Use(None),
        KeyPick::AllCooling(_) => Look::Skip(SkipReason::KeysCooling, "gave_up"),
        KeyPick::AllOff => Look::Skip(SkipReason::KeysOff, "gave_up"),
        KeyPick::AllPaced { at, .. } if deadline.is_some_and(|d| at > d) => {
            Look::Skip(SkipReason::Paced, "skipped")
        }
        KeyPick::AllPaced { at, .. } if op.background => Look::Yield(at.max(now + YIELD_TICK)),
        KeyPick::AllPaced { .. } if !in_queue && !p.join_queue(provider.max_queue) => {
            Look::Skip(SkipReason::QueueFull, "queue_full")
        }
        KeyPick::AllPaced { key, at } => {
            let booking = Some(Booked::Local(p.book(key, at, op.tokens)));
            Look::Wait {
                key,
                at,
                depth: p.waiting(),
                booking,
            }
        }
    }
}

/// One look at the fleet-wide budgets. A place in this instance's queue is taken before
/// booking (and given back unless a booking was made), so the queue bound holds.
async fn look_fleet(
    sh: &Arc<Shared>,
    provider: &Provider,
    pool: &Mutex<KeyPool>,
    op: Op,
    deadline: Option<Instant>,
    in_queue: bool,
) -> Result<Look, crate::shared::SharedError> {
    let now = Instant::now();
    let (free, joined) = {
        let mut p = lock(pool);
        let free = match p.candidates(now) {
            Ok(free) => free,
            Err(KeyPick::NoKeys) => return Ok(Look::Use(None)),
            Err(KeyPick::AllOff) => return Ok(Look::Skip(SkipReason::KeysOff, "gave_up")),
            Err(_) => return Ok(Look::Skip(SkipReason::KeysCooling, "gave_up")),
        };
        if op.background && p.waiting() > 0 {
            return Ok(Look::Yield(now + YIELD_TICK));
        }
        let joined = !in_queue && !op.background && p.join_queue(provider.max_queue);
        (free, joined)
    };
    let room = in_queue || joined;
    // given back on every way out (a drop mid-call too) but a booking, which keeps it
    let mut place = Place { pool, held: joined };
    let budget = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
    let keys: Vec<_> = free.iter().map(|&i| &provider.keys[i]).collect();
    let picked = match fleet::pick(sh, &keys, op.tokens, room.then_some(budget)).await {
        Ok(picked) => picked,
        Err(e) => {
            return Err(e);
        }
    };
    let chosen = |n: usize| free.get(n).copied();
    Ok(match picked {
        FleetPick::Now(n) => {
            let Some(key) = chosen(n) else {
                return Ok(Look::Skip(SkipReason::Paced, "skipped"));
            };
            lock(pool).advance(key);
            Look::Use(Some(key))
        }
        FleetPick::Booked { n, wait, booking } => {
            // (the script only answers with a candidate given)
            let Some((key, pk)) = chosen(n).zip(keys.get(n)) else {
                return Ok(Look::Skip(SkipReason::Paced, "skipped"));
            };
            let refund = fleet::Refund::new(sh.clone(), pk, booking);
            place.held = false;
            let mut p = lock(pool);
            p.advance(key);
            Look::Wait {
                key,
                at: Instant::now() + wait,
                depth: p.waiting(),
                booking: Some(Booked::Fleet(Box::new(refund))),
            }
        }
        FleetPick::Busy { wait } if op.background && wait <= budget => {
            Look::Yield(Instant::now() + wait.max(YIELD_TICK))
        }
        FleetPick::Busy { wait } => {
            if room || wait > budget {
                Look::Skip(SkipReason::Paced, "skipped")
            } else {
                Look::Skip(SkipReason::QueueFull, "queue_full")
            }
        }
    })
}
