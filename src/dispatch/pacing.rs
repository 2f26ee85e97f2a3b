//! Per-key request and token pacing (rpm / tpm) as pure GCRA state machines.
//!
//! Both limits are one idea: a budget of `capacity` units refilling at `per_minute` units a
//! minute, tracked as a "theoretical arrival time" (TAT): the instant at which the budget would
//! be full again. A call costing `c` units may start once the budget holds `min(c, capacity)`,
//! i.e. at `TAT - (capacity - min(c, capacity)) × unit`, and then pushes the TAT by `c × unit`.
//!
//! - rpm: one unit per request, `unit = 60 s / rpm`, capacity (the burst) `max(1, rpm / 60)`.
//!   Providers enforce per-minute limits over shorter windows, so smooth pacing is what keeps
//!   their 429s away; a whole minute's burst would not.
//! - tpm: one unit per token, `unit = 60 s / tpm`, capacity `tpm`. A call larger than the
//!   capacity may still go once the budget is full (it cannot starve); it leaves a debt.
//!
//! A start may also be booked in the future ([`Pacer::take_at`]), which is how waiting requests
//! line up in arrival order instead of racing each other when a slot frees up. A booking that
//! goes unused (the request gave up or was dropped while waiting) is handed back with
//! [`Pacer::refund`]: the latest booking is undone exactly (the TAT goes back to what it was);
//! an earlier one leaves a *hole*, its slot, which the next request may take as it stands
//! (later bookings were placed after it, so using it keeps the pace), and which is undone too
//! once every booking after it is gone. A hole whose instant has passed is dropped.

use std::time::Duration;

use tokio::time::Instant;

/// The longest debt one call can leave (a huge token estimate must not block a key for years,
/// nor overflow an `Instant`).
const MAX_DEBT: Duration = Duration::from_secs(24 * 60 * 60);

/// This instance's share of a key's `rpm` / `tpm` when it cannot pace with the rest of the
/// fleet (Redis unreachable or not configured): `limit / instances`, never below 1. With
/// Redis up, the whole limit is one fleet-wide budget instead (`fleet.rs`).
pub(crate) fn fallback_limits(
    rpm: Option<u32>,
    tpm: Option<u32>,
    instances: u32,
) -> (Option<u32>, Option<u32>) {
    // zero means "no limit" and stays so
    let share = |l: u32| {
        if l == 0 {
            0
        } else {
            (l / instances.max(1)).max(1)
        }
    };
    (rpm.map(share), tpm.map(share))
}

/// One GCRA budget; see the module docs.
#[derive(Debug, Clone)]
struct Gcra {
    per_minute: u32,
    capacity: u64,
    tat: Option<Instant>,
}

impl Gcra {
    /// `None` for a missing or zero limit: nothing to pace.
    fn new(per_minute: Option<u32>, capacity: impl Fn(u32) -> u64) -> Option<Self> {
        let per_minute = per_minute.filter(|&n| n > 0)?;
        Some(Self {
            per_minute,
            capacity: capacity(per_minute).max(1),
            tat: None,
        })
    }

    /// How long `units` take to refill.
    fn span(&self, units: u64) -> Duration {
        let nanos = 60_000_000_000u128 * u128::from(units) / u128::from(self.per_minute);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)).min(MAX_DEBT)
    }

    /// The earliest instant (at or after `now`) a call of `cost` units may start.
    fn ready_at(&self, now: Instant, cost: u64) -> Instant {
        let Some(tat) = self.tat.filter(|t| *t > now) else {
            return now;
        };
        let slack = self.span(self.capacity - cost.min(self.capacity));
        // `tat - slack > now` is checked without subtracting, so it cannot underflow
        if now + slack >= tat {
            now
        } else {
            tat - slack
        }
    }

    /// Books a call of `cost` units starting at `at` (which must be a `ready_at` instant);
    /// returns the TAT before and after, to undo it with.
    fn take(&mut self, at: Instant, cost: u64) -> Push {
        let before = self.tat;
        let base = before.map_or(at, |t| t.max(at));
        let after = base + self.span(cost);
        self.tat = Some(after);
        Push { before, after }
    }
}

/// How one booking moved one budget's TAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Push {
    before: Option<Instant>,
    after: Instant,
}

/// Whether `push` is the last thing that moved `g`'s TAT (so it can be undone exactly).
fn is_top(g: Option<&Gcra>, push: Option<Push>) -> bool {
    match (g, push) {
        (Some(g), Some(p)) => g.tat == Some(p.after),
        (None, None) => true,
        _ => false,
    }
}

/// A slot booked with [`Pacer::take_at`]: hand it to [`Pacer::refund`] if it goes unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Booking {
    /// When the call was to start.
    at: Instant,
    /// The tokens the slot holds room for.
    tokens: u64,
    requests: Option<Push>,
    token_push: Option<Push>,
}

/// The rpm and tpm budgets of one upstream key; a key with neither is never paced.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    requests: Option<Gcra>,
    tokens: Option<Gcra>,
    /// Refunded bookings that were not the latest: their slots, free for the taking.
    holes: Vec<Booking>,
}

impl Pacer {
    /// A pacer for a key's `rpm` / `tpm` (a missing or zero limit is not paced).
    pub(crate) fn new(rpm: Option<u32>, tpm: Option<u32>) -> Self {
        Self {
            requests: Gcra::new(rpm, |rpm| u64::from(rpm / 60)),
            tokens: Gcra::new(tpm, u64::from),
            holes: Vec::new(),
        }
    }

    /// Whether the key has an rpm or tpm limit at all.
    pub(crate) fn is_limited(&self) -> bool {
        self.requests.is_some() || self.tokens.is_some()
    }

    /// The earliest instant (at or after `now`) a call costing `tokens` may start: the
    /// budgets' own, or an earlier hole left by a refund that has room for the call.
    pub(crate) fn ready_at(&self, now: Instant, tokens: u64) -> Instant {
        let r = self.requests.as_ref().map_or(now, |g| g.ready_at(now, 1));
        let t = self
            .tokens
            .as_ref()
            .map_or(now, |g| g.ready_at(now, tokens));
        let hole = self.hole(now, tokens).map(|i| self.holes[i].at);
        hole.map_or(r.max(t), |h| h.min(r.max(t)))
    }

    /// The earliest hole still ahead of `now` with room for `tokens`.
    fn hole(&self, now: Instant, tokens: u64) -> Option<usize> {
        (0..self.holes.len())
            .filter(|&i| self.holes[i].at >= now && self.holes[i].tokens >= tokens)
            .min_by_key(|&i| self.holes[i].at)
    }

    /// Takes a slot for a call now, or says when to try again.
    pub(crate) fn try_take(&mut self, now: Instant, tokens: u64) -> Result<(), Instant> {
        let at = self.ready_at(now, tokens);
        if at > now {
            return Err(at);
        }
        self.holes.retain(|h| h.at >= now);
        self.take_at(at, tokens);
        Ok(())
    }

    /// Books a call starting at `at`, an instant [`Pacer::ready_at`] returned (possibly in
    /// the future: the caller waits until then). A hole at `at` with room is taken as it is.
    pub(crate) fn take_at(&mut self, at: Instant, tokens: u64) -> Booking {
        if let Some(i) = self.hole(at, tokens).filter(|&i| self.holes[i].at == at) {
            return self.holes.swap_remove(i);
        }
        Booking {
            at,
            tokens,
            requests: self.requests.as_mut().map(|g| g.take(at, 1)),
            token_push: self.tokens.as_mut().map(|g| g.take(at, tokens)),
        }
    }

    /// Hands back a booking that will not be used, as if it had never been made (see the
    /// module docs); `now` drops holes whose instant has passed.
    pub(crate) fn refund(&mut self, booking: Booking, now: Instant) {
        self.holes.push(booking);
        // undo from the top while the latest push is a hole's
        while let Some(i) = (0..self.holes.len()).find(|&i| {
            let h = &self.holes[i];
            (h.requests.is_some() || h.token_push.is_some())
                && is_top(self.requests.as_ref(), h.requests)
                && is_top(self.tokens.as_ref(), h.token_push)
        }) {
            let h = self.holes.swap_remove(i);
            if let (Some(g), Some(p)) = (&mut self.requests, h.requests) {
                g.tat = p.before;
            }
            if let (Some(g), Some(p)) = (&mut self.tokens, h.token_push) {
                g.tat = p.before;
            }
        }
        self.holes.retain(|h| h.at >= now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn rpm_60_allows_one_per_second() {
        let mut p = Pacer::new(Some(60), None);
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 0), Ok(()));
        assert_eq!(p.try_take(t0, 0), Err(t0 + S));
        tokio::time::advance(S / 2).await;
        assert_eq!(p.try_take(Instant::now(), 0), Err(t0 + S));
        tokio::time::advance(S / 2).await;
        assert_eq!(p.try_take(Instant::now(), 0), Ok(()));
        assert_eq!(p.try_take(Instant::now(), 0), Err(t0 + 2 * S));
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_burst_is_a_second_worth() {
        // 600 rpm: 10 per second may go at once, then one every 100 ms
        let mut p = Pacer::new(Some(600), None);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(p.try_take(t0, 0), Ok(()));
        }
        assert_eq!(p.try_take(t0, 0), Err(t0 + S / 10));
        tokio::time::advance(S / 10).await;
        assert_eq!(p.try_take(Instant::now(), 0), Ok(()));
        assert!(p.try_take(Instant::now(), 0).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_does_not_bank_more_than_the_burst() {
        let mut p = Pacer::new(Some(60), None);
        tokio::time::advance(60 * S).await;
        let t = Instant::now();
        assert_eq!(p.try_take(t, 0), Ok(()));
        assert_eq!(p.try_take(t, 0), Err(t + S));
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_bucket_refills_per_minute() {
        let mut p = Pacer::new(None, Some(6_000));
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 4_000), Ok(()));
        // 2,000 left; 3,000 more needs 1,000 refilled: 10 s at 100 tokens/s
        assert_eq!(p.try_take(t0, 3_000), Err(t0 + 10 * S));
        assert_eq!(p.try_take(t0, 2_000), Ok(()));
        assert_eq!(p.try_take(t0, 1), Err(t0 + S / 100));
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_call_goes_when_full_and_leaves_a_debt() {
        let mut p = Pacer::new(None, Some(6_000));
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 1), Ok(()));
        // not full: waits for a full bucket, not forever
        assert_eq!(p.try_take(t0, 12_000), Err(t0 + S / 100));
        tokio::time::advance(S / 100).await;
        let t1 = Instant::now();
        assert_eq!(p.try_take(t1, 12_000), Ok(()));
        // 6,000 tokens of debt: a minute until the next token
        assert_eq!(p.try_take(t1, 1), Err(t1 + 60 * S + S / 100));
        let mut huge = Pacer::new(None, Some(1));
        assert_eq!(huge.try_take(t1, u64::MAX), Ok(()));
        assert!(huge.ready_at(t1, 1) <= t1 + MAX_DEBT);
    }

    #[tokio::test(start_paused = true)]
    async fn both_limits_apply_and_a_refusal_takes_nothing() {
        let mut p = Pacer::new(Some(120), Some(1_000));
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 900), Ok(()));
        // rpm would allow 200 tokens at +0.5 s, tpm only at +6 s (100 left, 16.7 a second)
        let tpm_at = t0 + Duration::from_millis(6_000);
        assert_eq!(p.try_take(t0 + S / 2, 200), Err(tpm_at));
        // the refusal booked nothing: a small call still fits at +0.5 s
        assert_eq!(p.try_take(t0 + S / 2, 100), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn future_bookings_line_up() {
        let mut p = Pacer::new(Some(60), None);
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 0), Ok(()));
        let first = p.ready_at(t0, 0);
        p.take_at(first, 0);
        let second = p.ready_at(t0, 0);
        p.take_at(second, 0);
        assert_eq!((first, second), (t0 + S, t0 + 2 * S));
    }

    #[tokio::test(start_paused = true)]
    async fn refunding_the_latest_booking_undoes_it_exactly() {
        let mut p = Pacer::new(Some(60), Some(6_000));
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 100), Ok(()));
        let mut booked = Vec::new();
        for _ in 0..100 {
            let at = p.ready_at(t0, 100);
            booked.push(p.take_at(at, 100));
        }
        assert_eq!(p.ready_at(t0, 100), t0 + 101 * S);
        // dropped newest first: each is the latest, undone exactly
        while let Some(b) = booked.pop() {
            p.refund(b, t0);
        }
        assert_eq!(p.ready_at(t0, 100), t0 + S, "only the call made counts");
        assert!(p.holes.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_refund_leaves_a_hole_the_next_request_takes() {
        let mut p = Pacer::new(Some(60), None);
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 0), Ok(()));
        let b1 = p.take_at(p.ready_at(t0, 0), 0);
        let b2 = p.take_at(p.ready_at(t0, 0), 0);
        assert_eq!((b1.at, b2.at), (t0 + S, t0 + 2 * S));
        // the first waiter leaves while the second still waits for its slot at +2 s
        p.refund(b1, t0 + S / 2);
        let at = p.ready_at(t0 + S / 2, 0);
        assert_eq!(at, t0 + S, "the hole, not after the second waiter");
        let b3 = p.take_at(at, 0);
        // the hole is taken: the next one lines up behind the second waiter, never beside it
        assert_eq!(p.ready_at(t0 + S / 2, 0), t0 + 3 * S);
        // when the later ones leave too, everything unwinds to the one call made
        p.refund(b2, t0 + S / 2);
        p.refund(b3, t0 + S / 2);
        assert_eq!(p.ready_at(t0 + S / 2, 0), t0 + S);
        assert!(p.holes.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn oldest_first_refunds_unwind_once_the_newest_goes() {
        // 100 waiters dropped in arrival order (timeouts): holes until the newest goes
        let mut p = Pacer::new(Some(1_200), None);
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(p.try_take(t0, 0), Ok(()));
        }
        let booked: Vec<_> = (0..100).map(|_| p.take_at(p.ready_at(t0, 0), 0)).collect();
        assert_eq!(p.ready_at(t0, 0), t0 + 101 * S / 20);
        for b in booked {
            p.refund(b, t0);
        }
        assert_eq!(p.ready_at(t0, 0), t0 + S / 20);
        assert!(p.holes.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn holes_fit_only_calls_they_have_room_for_and_expire() {
        let mut p = Pacer::new(None, Some(6_000));
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 6_000), Ok(()));
        let small = p.take_at(p.ready_at(t0, 100), 100);
        let _big = p.take_at(p.ready_at(t0, 1_000), 1_000);
        p.refund(small, t0);
        // a 100-token hole at +1 s: no room for 200 tokens, which queue behind the big one
        assert_eq!(p.ready_at(t0, 50), small.at);
        assert_eq!(p.ready_at(t0, 200), t0 + 13 * S);
        // once its instant passes, the hole is gone
        let taken = p.take_at(p.ready_at(t0, 50), 50);
        assert_eq!(taken.at, small.at);
        p.refund(taken, small.at + S);
        assert!(p.holes.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_fallback_divides_the_rate_among_instances() {
        assert_eq!(
            fallback_limits(Some(60), Some(9_000), 3),
            (Some(20), Some(3_000))
        );
        assert_eq!(fallback_limits(Some(60), None, 1), (Some(60), None));
        assert_eq!(fallback_limits(Some(2), Some(0), 5), (Some(1), Some(0)));
        // 60 rpm over 3 instances: this one goes once every 3 s
        let (rpm, tpm) = fallback_limits(Some(60), None, 3);
        let mut p = Pacer::new(rpm, tpm);
        let t0 = Instant::now();
        assert_eq!(p.try_take(t0, 0), Ok(()));
        assert_eq!(p.try_take(t0, 0), Err(t0 + 3 * S));
    }

    #[tokio::test(start_paused = true)]
    async fn no_or_zero_limits_never_pace() {
        for mut p in [Pacer::new(None, None), Pacer::new(Some(0), Some(0))] {
            let t = Instant::now();
            for _ in 0..1_000 {
                assert_eq!(p.try_take(t, 1_000_000), Ok(()));
            }
        }
    }
}
