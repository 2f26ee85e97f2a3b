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
//! line up in arrival order instead of racing each other when a slot frees up.

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

    /// Books a call of `cost` units starting at `at` (which must be a `ready_at` instant).
    fn take(&mut self, at: Instant, cost: u64) {
        let base = self.tat.map_or(at, |t| t.max(at));
        self.tat = Some(base + self.span(cost));
    }
}

/// The rpm and tpm budgets of one upstream key; a key with neither is never paced.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    requests: Option<Gcra>,
    tokens: Option<Gcra>,
}

impl Pacer {
    /// A pacer for a key's `rpm` / `tpm` (a missing or zero limit is not paced).
    pub(crate) fn new(rpm: Option<u32>, tpm: Option<u32>) -> Self {
        Self {
            requests: Gcra::new(rpm, |rpm| u64::from(rpm / 60)),
            tokens: Gcra::new(tpm, u64::from),
        }
    }

    /// Whether the key has an rpm or tpm limit at all.
    pub(crate) fn is_limited(&self) -> bool {
        self.requests.is_some() || self.tokens.is_some()
    }

    /// The earliest instant (at or after `now`) a call costing `tokens` may start.
    pub(crate) fn ready_at(&self, now: Instant, tokens: u64) -> Instant {
        let r = self.requests.as_ref().map_or(now, |g| g.ready_at(now, 1));
        let t = self
            .tokens
            .as_ref()
            .map_or(now, |g| g.ready_at(now, tokens));
        r.max(t)
    }

    /// Takes a slot for a call now, or says when to try again.
    pub(crate) fn try_take(&mut self, now: Instant, tokens: u64) -> Result<(), Instant> {
        let at = self.ready_at(now, tokens);
        if at > now {
            return Err(at);
        }
        self.take_at(at, tokens);
        Ok(())
    }

    /// Books a call starting at `at`, an instant [`Pacer::ready_at`] returned (possibly in
    /// the future: the caller waits until then).
    pub(crate) fn take_at(&mut self, at: Instant, tokens: u64) {
        if let Some(g) = &mut self.requests {
            g.take(at, 1);
        }
        if let Some(g) = &mut self.tokens {
            g.take(at, tokens);
        }
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
