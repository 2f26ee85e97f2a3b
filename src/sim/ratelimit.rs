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

/// What a provider tells a client of its key's quota: per key, requests and tokens used in
/// the current minute (a fixed window from the key's first request) against the sim's
/// `key_rpm` / `key_tpm`, sent back as OpenAI's `x-ratelimit-*` headers on every answer.
/// The token figure is advertised only (the sim enforces `key_rpm` alone, through [`KeyRate`]).
#[derive(Debug)]
pub(super) struct KeyQuota {
    rpm: Option<u32>,
    tpm: Option<u32>,
    used: Mutex<HashMap<String, (Instant, u64, u64)>>,
}

impl KeyQuota {
    /// `None` when neither limit is set: no headers are sent.
    pub(super) fn new(rpm: Option<u32>, tpm: Option<u32>) -> Option<Self> {
        let (rpm, tpm) = (rpm.filter(|&r| r > 0), tpm.filter(|&t| t > 0));
        (rpm.is_some() || tpm.is_some()).then(|| Self {
            rpm,
            tpm,
            used: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a request of `key` costing `tokens` at `now`; the header pairs to answer with.
    pub(super) fn record(
        &self,
        key: &str,
        tokens: u64,
        now: Instant,
    ) -> Vec<(&'static str, String)> {
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.len() >= MAX_KEYS && !used.contains_key(key) {
            used.clear();
        }
        let entry = used.entry(key.to_owned()).or_insert((now, 0, 0));
        if now.saturating_duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0, 0);
        }
        entry.1 += 1;
        entry.2 = entry.2.saturating_add(tokens);
        let reset = Duration::from_secs(60).saturating_sub(now.saturating_duration_since(entry.0));
        let reset = format!("{}s", reset.as_secs().max(1));
        let mut out = Vec::new();
        if let Some(rpm) = self.rpm {
            out.push(("x-ratelimit-limit-requests", rpm.to_string()));
            out.push((
                "x-ratelimit-remaining-requests",
                u64::from(rpm).saturating_sub(entry.1).to_string(),
            ));
            out.push(("x-ratelimit-reset-requests", reset.clone()));
        }
        if let Some(tpm) = self.tpm {
            out.push(("x-ratelimit-limit-tokens", tpm.to_string()));
            out.push((
                "x-ratelimit-remaining-tokens",
                u64::from(tpm).saturating_sub(entry.2).to_string(),
            ));
            out.push(("x-ratelimit-reset-tokens", reset));
        }
        out
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
    async fn quota_headers_count_the_minute_per_key() {
        let q = KeyQuota::new(Some(10), Some(100)).expect("limited");
        let now = Instant::now();
        q.record("a", 30, now);
        let h = q.record("a", 30, now);
        let get =
            |h: &[(&str, String)], n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(
            get(&h, "x-ratelimit-remaining-requests").as_deref(),
            Some("8")
        );
        assert_eq!(
            get(&h, "x-ratelimit-remaining-tokens").as_deref(),
            Some("40")
        );
        assert_eq!(get(&h, "x-ratelimit-limit-tokens").as_deref(), Some("100"));
        let other = q.record("b", 1, now);
        assert_eq!(
            get(&other, "x-ratelimit-remaining-requests").as_deref(),
            Some("9")
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        let h = q.record("a", 1, Instant::now());
        assert_eq!(
            get(&h, "x-ratelimit-remaining-requests").as_deref(),
            Some("9"),
            "a new minute"
        );
        assert!(KeyQuota::new(None, Some(0)).is_none());
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
