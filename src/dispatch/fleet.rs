//! The Redis store of fleet-wide key pacing: one script call picks a key or books a slot.
//!
//! The decision is the one [`super::keys::KeyPool`] makes in process (the same GCRA over
//! `rpm` and `tpm` per key, the first key in rotation order that is free now, else a booking
//! on the key free soonest), made in `lua/pace.lua` where every instance sees the same
//! budgets. A key's budgets live at `{prefix}:pace:{id}:rpm` and `…:tpm`, `id` being a
//! SHA-256 prefix of the key itself (two providers sharing one key share its budget; the key
//! is never written). Times are Redis's, so instance clocks do not matter; a booked slot comes
//! back as a wait relative to the Redis clock's "now". A booked slot nobody uses is handed
//! back by `lua/refund.lua` ([`Refund`]), as [`super::pacing::Pacer::refund`] does locally.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use crate::config::ProviderKey;
use crate::shared::{Shared, SharedError};

static PACE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/pace.lua")));
static REFUND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/refund.lua")));

/// What the shared budgets decided for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FleetPick {
    /// Candidate `n` (an index into the candidates given) may be called now.
    Now(usize),
    /// Candidate `n`'s slot is booked `wait` from now: wait, then call it (or hand `booking`
    /// back with [`Refund`]).
    Booked {
        n: usize,
        wait: Duration,
        booking: FleetBooking,
    },
    /// No slot within the allowed wait; the earliest is `wait` away.
    Busy { wait: Duration },
}

/// A key's budget id in Redis: never the key itself.
fn key_id(k: &ProviderKey) -> String {
    crate::config::sha256_hex(k.secret.expose())[..16].to_owned()
}

/// Picks among `candidates` (keys of one provider, in rotation order, none cooling down) for
/// a call of `tokens`, booking a slot up to `max_wait` ahead (`None`: take only a free one).
///
/// The script runs in a task of its own: a waiter dropped while it is in flight (its client
/// went away) does not lose the booking Redis made for it; the task hands it back instead.
pub(crate) async fn pick(
    sh: &Arc<Shared>,
    candidates: &[&ProviderKey],
    tokens: u64,
    max_wait: Option<Duration>,
) -> Result<FleetPick, SharedError> {
    let mut inv = PACE.prepare_invoke();
    let max_wait = max_wait.map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    inv.arg(tokens).arg(max_wait);
    let ids: Vec<String> = candidates.iter().map(|k| key_id(k)).collect();
    for (k, id) in candidates.iter().zip(&ids) {
        inv.key(sh.key(&format!("pace:{id}:rpm")))
            .key(sh.key(&format!("pace:{id}:tpm")))
            .arg(k.rpm.unwrap_or(0))
            .arg(k.tpm.unwrap_or(0));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sh = Arc::clone(sh);
    tokio::spawn(async move {
        let mut conn = sh.conn();
        let reply: Result<(i64, i64, String, i64), _> = sh
            .run(async move { inv.invoke_async(&mut conn).await })
            .await;
        if let Err(Ok(FleetPick::Booked { n, booking, .. })) = tx.send(reply.map(decode)) {
            if let Some(id) = ids.get(n).cloned() {
                let refund = Refund { sh, id, booking };
                if let Err(e) = refund.send().await {
                    tracing::debug!(error = %e, "could not hand a fleet-wide pacing slot back");
                }
            }
        }
    });
    rx.await
        .unwrap_or(Err(SharedError::Timeout(Duration::ZERO)))
}

/// `pace.lua`'s answer as a pick.
fn decode(reply: (i64, i64, String, i64)) -> FleetPick {
    let wait = Duration::from_micros(u64::try_from(reply.1).unwrap_or(0));
    match usize::try_from(reply.0).unwrap_or(0) {
        0 => FleetPick::Busy { wait },
        n if wait.is_zero() => FleetPick::Now(n - 1),
        n => FleetPick::Booked {
            n: n - 1,
            wait,
            booking: FleetBooking {
                pushes: reply.2,
                at: reply.3,
            },
        },
    }
}

/// A fleet-wide booking as `pace.lua` made it: the TATs it moved and its instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FleetBooking {
    pushes: String,
    at: i64,
}

/// Everything needed to hand one fleet-wide booking back, owned, so a dropped waiter can
/// send it from a task of its own.
pub(crate) struct Refund {
    sh: Arc<Shared>,
    id: String,
    booking: FleetBooking,
}

impl Refund {
    /// The refund of `booking`, made on `key`.
    pub(crate) fn new(sh: Arc<Shared>, key: &ProviderKey, booking: FleetBooking) -> Self {
        Self {
            sh,
            id: key_id(key),
            booking,
        }
    }

    /// Runs `refund.lua`; returns how many bookings were undone.
    pub(crate) async fn send(self) -> Result<i64, SharedError> {
        let mut inv = REFUND.prepare_invoke();
        for part in ["rpm", "tpm", "holes"] {
            inv.key(self.sh.key(&format!("pace:{}:{part}", self.id)));
        }
        inv.arg(&self.booking.pushes).arg(self.booking.at);
        let mut conn = self.sh.conn();
        self.sh
            .run(async move { inv.invoke_async(&mut conn).await })
            .await
    }

    /// Sends the refund from a task of its own (a waiter dropped mid-wait cannot await it);
    /// a lost refund only leaves the slot booked, as it was before refunds existed.
    pub(crate) fn spawn(self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = self.send().await {
                    tracing::debug!(error = %e, "could not hand a fleet-wide pacing slot back");
                }
            });
        }
    }
}
