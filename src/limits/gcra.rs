//! GCRA token buckets as pure integer arithmetic: times are passed in, nothing is stored.
//!
//! A bucket of capacity `limit` refills continuously at `limit` per `window`, so one unit
//! takes `window / limit` to come back. The state is the theoretical arrival time (TAT): the
//! moment the bucket will be full again. Taking `cost` units moves it `cost × window / limit`
//! later (from `now` if it was already in the past); that is allowed while the TAT stays
//! within one `window` of `now`. To keep this exact, times are held in nanoseconds multiplied
//! by `limit`, where one unit is exactly `window` nanoseconds.

use std::time::Duration;

/// A capacity and how long the bucket takes to refill completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rate {
    limit: u64,
    window_ns: u128,
}

/// One bucket's state; the default is a full bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Bucket {
    /// TAT in nanoseconds since the store's epoch, times `limit`.
    tat: u128,
    /// The limit `tat` was scaled by (a reload may change the limit).
    limit: u64,
}

/// What a bucket looks like to a client: `OpenAI`'s `x-ratelimit-*` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// The answer to "may I take `cost` now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Yes: store `bucket`; `quota` is after taking.
    Allow { bucket: Bucket, quota: Quota },
    /// Not yet: enough comes back after `retry_after`; `quota` is unchanged.
    Deny { retry_after: Duration, quota: Quota },
    /// Never: `cost` exceeds the capacity.
    Never { quota: Quota },
}

impl Rate {
    /// A rate of `limit` per `window` (`limit` ≥ 1; 0 is treated as 1).
    pub(super) fn new(limit: u64, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window_ns: window.as_nanos().max(1),
        }
    }

    pub(super) fn limit(&self) -> u64 {
        self.limit
    }

    pub(super) fn window(&self) -> Duration {
        duration(self.window_ns)
    }

    fn scaled_now(&self, now: Duration) -> u128 {
        now.as_nanos().saturating_mul(u128::from(self.limit))
    }

    /// The bucket's TAT in this rate's scale, not earlier than `now`.
    fn tat(&self, b: &Bucket, now_s: u128) -> u128 {
        let tat = if b.limit == self.limit || b.limit == 0 {
            b.tat
        } else {
            b.tat / u128::from(b.limit) * u128::from(self.limit)
        };
        tat.max(now_s)
    }

    fn cost(&self, n: u64) -> u128 {
        u128::from(n).saturating_mul(self.window_ns)
    }

    /// The quota when the bucket is full again `used` (scaled) after now.
    fn quota_of(&self, used: u128) -> Quota {
        let capacity = self.cost(self.limit);
        Quota {
            limit: self.limit,
            remaining: (capacity.saturating_sub(used) / self.window_ns) as u64,
            reset: duration(used.div_ceil(u128::from(self.limit))),
        }
    }

    /// Whether `cost` units may be taken at `now`, and the bucket afterwards if so.
    pub(super) fn check(&self, b: &Bucket, now: Duration, cost: u64) -> Verdict {
        let now_s = self.scaled_now(now);
        let tat = self.tat(b, now_s);
        let before = self.quota_of(tat - now_s);
        if cost > self.limit {
            return Verdict::Never { quota: before };
        }
        let after = tat.saturating_add(self.cost(cost));
        let capacity = self.cost(self.limit);
        let used = after - now_s;
        if used <= capacity {
            Verdict::Allow {
                bucket: Bucket {
                    tat: after,
                    limit: self.limit,
                },
                quota: self.quota_of(used),
            }
        } else {
            Verdict::Deny {
                retry_after: duration((used - capacity).div_ceil(u128::from(self.limit))),
                quota: before,
            }
        }
    }

    /// Takes `cost` units unconditionally (the bucket may go into debt, delaying later calls).
    pub(super) fn take(&self, b: &Bucket, now: Duration, cost: u64) -> Bucket {
        let now_s = self.scaled_now(now);
        Bucket {
            tat: self.tat(b, now_s).saturating_add(self.cost(cost)),
            limit: self.limit,
        }
    }

    /// Whether the bucket is full at `now`, so forgetting it changes nothing.
    pub(super) fn is_full(&self, b: &Bucket, now: Duration) -> bool {
        let now_s = self.scaled_now(now);
        self.tat(b, now_s) == now_s
    }
}

fn duration(ns: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// The quota at `now`, taking nothing.
    fn peek(r: &Rate, b: &Bucket, now: Duration) -> Quota {
        match r.check(b, now, 0) {
            Verdict::Allow { quota, .. }
            | Verdict::Deny { quota, .. }
            | Verdict::Never { quota } => quota,
        }
    }

    fn allow(r: &Rate, b: &mut Bucket, now: Duration, cost: u64) -> Quota {
        match r.check(b, now, cost) {
            Verdict::Allow { bucket, quota } => {
                *b = bucket;
                quota
            }
            v => panic!("refused: {v:?}"),
        }
    }

    #[test]
    fn a_full_bucket_admits_its_capacity_at_once_then_refuses() {
        let r = Rate::new(60, MIN);
        let mut b = Bucket::default();
        let now = secs(100.0);
        assert_eq!(peek(&r, &b, now).remaining, 60);
        for i in 1..=60 {
            let q = allow(&r, &mut b, now, 1);
            assert_eq!(q.remaining, 60 - i);
            assert_eq!(
                q.reset,
                secs(i as f64),
                "full again after one second per request"
            );
        }
        match r.check(&b, now, 1) {
            Verdict::Deny { retry_after, quota } => {
                assert_eq!(retry_after, secs(1.0));
                assert_eq!(quota.remaining, 0);
                assert_eq!(quota.reset, MIN);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn refills_continuously_not_by_window() {
        let r = Rate::new(60, MIN);
        let mut b = Bucket::default();
        allow(&r, &mut b, secs(0.0), 60);
        assert!(
            matches!(r.check(&b, secs(0.5), 1), Verdict::Deny { retry_after, .. } if retry_after == secs(0.5))
        );
        assert_eq!(allow(&r, &mut b, secs(1.0), 1).remaining, 0);
        assert_eq!(
            peek(&r, &b, secs(11.0)).remaining,
            10,
            "ten seconds bring back ten"
        );
        assert_eq!(
            peek(&r, &b, secs(500.0)).remaining,
            60,
            "never more than capacity"
        );
        assert!(r.is_full(&b, secs(61.0)));
        assert!(!r.is_full(&b, secs(60.5)));
    }

    #[test]
    fn token_costs_wait_for_enough_capacity() {
        let r = Rate::new(1000, MIN);
        let mut b = Bucket::default();
        assert_eq!(allow(&r, &mut b, secs(0.0), 900).remaining, 100);
        match r.check(&b, secs(0.0), 400) {
            Verdict::Deny { retry_after, .. } => assert_eq!(retry_after, secs(18.0)),
            v => panic!("{v:?}"),
        }
        assert_eq!(allow(&r, &mut b, secs(18.0), 400).remaining, 0);
        assert!(matches!(
            r.check(&b, secs(18.0), 1001),
            Verdict::Never { .. }
        ));
    }

    #[test]
    fn unconditional_takes_go_into_debt() {
        let r = Rate::new(100, MIN);
        let b = r.take(&Bucket::default(), secs(0.0), 250);
        let q = peek(&r, &b, secs(0.0));
        assert_eq!((q.remaining, q.reset), (0, secs(150.0)));
        assert!(
            matches!(r.check(&b, secs(60.0), 1), Verdict::Deny { retry_after, .. } if retry_after == Duration::from_millis(30_600))
        );
        assert!(matches!(r.check(&b, secs(91.0), 1), Verdict::Allow { .. }));
    }

    #[test]
    fn uneven_rates_stay_exact() {
        let r = Rate::new(7, MIN);
        let mut b = Bucket::default();
        for _ in 0..7 {
            allow(&r, &mut b, secs(3.0), 1);
        }
        assert!(matches!(r.check(&b, secs(3.0), 1), Verdict::Deny { .. }));
        let day = Rate::new(1_000_000_007, Duration::from_secs(86_400));
        let mut b = Bucket::default();
        allow(&day, &mut b, secs(0.0), 1_000_000_007);
        assert!(matches!(day.check(&b, secs(0.0), 1), Verdict::Deny { .. }));
    }

    #[test]
    fn a_changed_limit_keeps_the_time_until_full() {
        let r = Rate::new(60, MIN);
        let mut b = Bucket::default();
        allow(&r, &mut b, secs(0.0), 30);
        let bigger = Rate::new(120, MIN);
        let q = peek(&bigger, &b, secs(0.0));
        assert_eq!((q.remaining, q.reset), (60, secs(30.0)));
    }
}
