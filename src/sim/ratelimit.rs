//! Per-key request-rate enforcement for the sim, as a real provider does it: a small token
//! bucket per bearer key, so a client that does not pace its keys collects 429s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Requests a key may send back to back; two tolerate a few milliseconds of jitter around
/// perfectly paced requests without allowing a real burst.
pub(super) const BURST: f64 = 2.0;

/// Distinct keys remembered at most (a client inventing keys must not grow the map forever).
const MAX_KEYS: usize = 10_000;

/// The buckets of every key seen, refilling at `rpm / 60` requests a second.
#[derive(Debug)]
pub(super) struct KeyRate {
    per_sec: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl KeyRate {
    /// `None` for no limit (or a zero one).
    pub(super) fn new(rpm: Option<u32>) -> Option<Self> {
        let rpm = rpm.filter(|&r| r > 0)?;
        Some(Self {
            per_sec: f64::from(rpm) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one request of `key` at `now`, or says how long until it could go.
    pub(super) fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.clear();
        }
        let (level, at) = buckets.entry(key.to_owned()).or_insert((BURST, now));
        let refilled = now.saturating_duration_since(*at).as_secs_f64() * self.per_sec;
        *level = (*level + refilled).min(BURST);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *level) / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn two_at_once_then_one_per_interval_per_key() {
        let r = KeyRate::new(Some(60)).expect("limited");
        let now = Instant::now();
        assert!(r.check("a", now).is_ok());
        assert!(r.check("a", now).is_ok());
        assert_eq!(r.check("a", now), Err(Duration::from_secs(1)));
        assert!(r.check("b", now).is_ok(), "keys are limited separately");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            r.check("a", Instant::now()),
            Err(Duration::from_millis(500))
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(r.check("a", Instant::now()).is_ok());
        assert!(r.check("a", Instant::now()).is_err());
        assert!(KeyRate::new(None).is_none() && KeyRate::new(Some(0)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn paced_requests_with_jitter_pass() {
        let r = KeyRate::new(Some(60)).expect("limited");
        // one a second, alternately 5 ms late and 5 ms early
        for i in 0..20u64 {
            let offset = if i % 2 == 0 { 1_005 } else { 995 };
            tokio::time::advance(Duration::from_millis(offset)).await;
            assert!(r.check("k", Instant::now()).is_ok(), "request {i}");
        }
    }
}
