//! Budget accounts as pure state: spend and expiring reservations in micro-dollars, no clock.

use std::collections::HashMap;
use std::time::Duration;

/// Whole micro-dollars of a USD amount; negative, NaN and infinite amounts count as nothing.
pub(super) fn micros(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        // `as` saturates at u64::MAX
        (usd * 1e6).round() as u64
    } else {
        0
    }
}

/// USD of a micro-dollar amount.
pub(super) fn usd(micros: u64) -> f64 {
    micros as f64 / 1e6
}

/// The spend at which a budget warns: `warn_at × limit`, rounded up.
pub(super) fn warn_threshold(limit: u64, warn_at: f64) -> u64 {
    let w = if warn_at.is_finite() {
        warn_at.clamp(0.0, 1.0)
    } else {
        1.0
    };
    ((limit as f64) * w).ceil() as u64
}

/// The spend and reservations of one budget in one period.
#[derive(Debug, Clone, Default)]
pub(super) struct Account {
    pub spent: u64,
    reserved: u64,
    /// Reservation id → (amount, when it lapses).
    holds: HashMap<u64, (u64, Duration)>,
    /// No hold lapses before this (a lower bound, so most calls skip the scan).
    next_lapse: Option<Duration>,
}

/// Thresholds a settlement moved spend across.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Crossed {
    pub warning: bool,
    pub exceeded: bool,
}

/// Which thresholds spend crossed going from `before` to `after` (each fires once: only the
/// settlement that moves spend from below to at-or-above a threshold reports it).
pub(super) fn crossed(before: u64, after: u64, limit: u64, warn: u64) -> Crossed {
    Crossed {
        warning: before < warn && after >= warn,
        exceeded: before < limit && after >= limit,
    }
}

impl Account {
    /// Micro-dollars reserved by requests in flight.
    pub(super) fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Drops reservations that lapsed by `now` (their request never settled).
    pub(super) fn purge(&mut self, now: Duration) {
        if self.next_lapse.is_none_or(|t| t > now) {
            return;
        }
        let mut freed = 0;
        self.holds.retain(|_, (amount, lapse)| {
            let keep = *lapse > now;
            if !keep {
                freed += *amount;
            }
            keep
        });
        self.reserved = self.reserved.saturating_sub(freed);
        self.next_lapse = self.holds.values().map(|(_, lapse)| *lapse).min();
    }

    /// Whether `amount` more fits under `limit` next to what is spent and reserved.
    pub(super) fn fits(&self, amount: u64, limit: u64) -> bool {
        self.spent
            .saturating_add(self.reserved)
            .saturating_add(amount)
            <= limit
    }

    /// Reserves `amount` under `id` until `lapse`.
    pub(super) fn hold(&mut self, id: u64, amount: u64, lapse: Duration) {
        if let Some((old, _)) = self.holds.insert(id, (amount, lapse)) {
            self.reserved = self.reserved.saturating_sub(old);
        }
        self.reserved = self.reserved.saturating_add(amount);
        self.next_lapse = Some(self.next_lapse.map_or(lapse, |t| t.min(lapse)));
    }

    /// Releases hold `id` (if it has not lapsed) and adds `actual` to spend; returns the spend
    /// before and after.
    pub(super) fn settle(&mut self, id: Option<u64>, actual: u64) -> (u64, u64) {
        if let Some((amount, _)) = id.and_then(|id| self.holds.remove(&id)) {
            self.reserved = self.reserved.saturating_sub(amount);
        }
        let before = self.spent;
        self.spent = before.saturating_add(actual);
        (before, self.spent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn money_converts_at_the_edges() {
        assert_eq!(micros(1.5), 1_500_000);
        assert_eq!(micros(0.000_000_4), 0);
        assert_eq!(micros(-3.0), 0);
        assert_eq!(micros(f64::NAN), 0);
        assert_eq!(micros(f64::INFINITY), 0);
        assert_eq!(usd(250_000), 0.25);
        assert_eq!(warn_threshold(10_000_000, 0.8), 8_000_000);
        assert_eq!(warn_threshold(3, 0.5), 2, "rounded up");
    }

    #[test]
    fn reservations_count_until_settled() {
        let mut a = Account::default();
        assert!(a.fits(10, 10));
        a.hold(1, 6, 600 * S);
        assert!(!a.fits(5, 10), "6 reserved + 5 > 10");
        assert!(a.fits(4, 10));
        assert_eq!(a.settle(Some(1), 2), (0, 2));
        assert_eq!(a.reserved(), 0, "the hold is released");
        assert!(a.fits(8, 10));
        assert_eq!(
            a.settle(Some(1), 1),
            (2, 3),
            "a second settle only adds spend"
        );
        assert_eq!(a.reserved(), 0);
    }

    #[test]
    fn lapsed_holds_stop_counting() {
        let mut a = Account::default();
        a.hold(1, 5, 10 * S);
        a.hold(2, 3, 20 * S);
        a.purge(9 * S);
        assert_eq!(a.reserved(), 8);
        a.purge(10 * S);
        assert_eq!(a.reserved(), 3);
        assert_eq!(
            a.settle(Some(1), 4),
            (0, 4),
            "settling a lapsed hold still adds spend"
        );
        assert_eq!(a.reserved(), 3);
        a.purge(25 * S);
        assert_eq!(a.reserved(), 0);
    }

    #[test]
    fn crossings_fire_once() {
        let (limit, warn) = (100, 80);
        assert_eq!(crossed(0, 79, limit, warn), Crossed::default());
        assert_eq!(
            crossed(79, 80, limit, warn),
            Crossed {
                warning: true,
                exceeded: false
            }
        );
        assert_eq!(crossed(80, 99, limit, warn), Crossed::default());
        assert_eq!(
            crossed(0, 150, limit, warn),
            Crossed {
                warning: true,
                exceeded: true
            }
        );
        assert_eq!(crossed(150, 200, limit, warn), Crossed::default());
    }
}
