//! Upstream quota headroom per provider key, as pure state (time passed in): requests and
//! tokens sent in the current minute against the key's declared `rpm` / `tpm`, and what the
//! provider itself last said of the key's quota in its `x-ratelimit-*` headers.
//!
//! - Counting: every call made with a key counts one request and its estimated tokens (prompt
//!   plus `max_tokens`, as pacing counts them) in a fixed one-minute window that starts at the
//!   key's first call and moves on in whole minutes.
//! - Provider figures: the last answer's `x-ratelimit-limit-requests`,
//!   `x-ratelimit-remaining-requests`, `x-ratelimit-limit-tokens` and
//!   `x-ratelimit-remaining-tokens` (OpenAI and most compatible servers; Anthropic's
//!   `anthropic-ratelimit-*` equivalents too). A report older than a minute is stale: shown,
//!   but no longer counted, since the provider's window has moved on.
//! - Use: the largest of used/limit over the four figures present.
//! - Warning: when a key's use reaches [`WARN_AT`] (90%) from below, [`Headroom::check`]
//!   reports one [`Crossing`]; it re-arms only once the use falls back under [`REARM_BELOW`]
//!   (a new minute, or the provider reporting more room), so a key hovering at the line does
//!   not alert on every request.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use tokio::time::Instant;

/// The fraction of a limit at which a key's warning fires.
pub(crate) const WARN_AT: f64 = 0.9;
/// The fraction under which a warned key may warn again.
pub(crate) const REARM_BELOW: f64 = 0.8;

const MINUTE: Duration = Duration::from_secs(60);

/// What a provider's headers said of one key's quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reported {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: Option<u64>,
}

impl Reported {
    /// The quota figures of an answer's headers; `None` when it sent none. The headers are
    /// walked once and each figure's names compared as they come, rather than looking up
    /// eight names (each parsed and hashed on every answer); the OpenAI name wins over
    /// Anthropic's, and the first value of a repeated header counts, as `HeaderMap::get` gives.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        // [figure][0: OpenAI name, 1: Anthropic name]
        let mut found: [[Option<&HeaderValue>; 2]; 4] = Default::default();
        for (name, value) in headers {
            let (figure, wire) = match name.as_str() {
                "x-ratelimit-limit-requests" => (0, 0),
                "anthropic-ratelimit-requests-limit" => (0, 1),
                "x-ratelimit-remaining-requests" => (1, 0),
                "anthropic-ratelimit-requests-remaining" => (1, 1),
                "x-ratelimit-limit-tokens" => (2, 0),
                "anthropic-ratelimit-tokens-limit" => (2, 1),
                "x-ratelimit-remaining-tokens" => (3, 0),
                "anthropic-ratelimit-tokens-remaining" => (3, 1),
                _ => continue,
            };
            found[figure][wire].get_or_insert(value);
        }
        let get = |figure: usize| found[figure].iter().flatten().find_map(|v| figure_of(v));
        let r = Self {
            limit_requests: get(0),
            remaining_requests: get(1),
            limit_tokens: get(2),
            remaining_tokens: get(3),
        };
        (r != Self::default()).then_some(r)
    }
}

/// A header's figure: a whole number, or (some servers send fractional or float figures,
/// "99.0") a non-negative number truncated.
fn figure_of(value: &HeaderValue) -> Option<u64> {
    let v = value.to_str().ok()?.trim();
    v.parse::<u64>().ok().or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|f| *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// Which quota a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    Requests,
    Tokens,
}

impl Measure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }
}

/// Whose figure it is: the router's count against the declared limit, or the provider's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Declared,
    Provider,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Provider => "provider",
        }
    }
}

/// The most used of a key's quotas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Peak {
    pub measure: Measure,
    pub source: Source,
    pub used: u64,
    pub limit: u64,
    pub fraction: f64,
}

/// A key that just reached [`WARN_AT`] of a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Crossing {
    pub key: usize,
    pub peak: Peak,
}

/// One key's state.
#[derive(Debug, Clone, Default)]
struct Meter {
    rpm: Option<u32>,
    tpm: Option<u32>,
    /// When the current minute began; `None` before the first call.
    minute: Option<Instant>,
    requests: u64,
    tokens: u64,
    reported: Option<(Reported, Instant)>,
    warned: bool,
}

/// What a key's meter reads at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reading {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub requests: u64,
    pub tokens: u64,
    pub reported: Option<Reported>,
    /// Seconds since the provider's last report.
    pub reported_age_s: Option<f64>,
    /// The most used quota; `None` when the key has no limit known.
    pub peak: Option<Peak>,
}

/// The meters of one provider's keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headroom {
    keys: Vec<Meter>,
}

impl Headroom {
    /// Meters for keys with these declared `(rpm, tpm)` limits.
    pub(crate) fn new(limits: impl IntoIterator<Item = (Option<u32>, Option<u32>)>) -> Self {
        Self {
            keys: limits
                .into_iter()
                .map(|(rpm, tpm)| Meter {
                    rpm,
                    tpm,
                    ..Meter::default()
                })
                .collect(),
        }
    }

    /// A call of about `tokens` tokens was made with `key` at `now`.
    pub(crate) fn sent(&mut self, key: usize, tokens: u64, now: Instant) {
        let Some(m) = self.keys.get_mut(key) else {
            return;
        };
        match m.minute {
            Some(start) if now < start + MINUTE => {}
            Some(start) => {
                let whole = (now - start).as_secs() / 60;
                m.minute = Some(start + MINUTE * u32::try_from(whole).unwrap_or(u32::MAX));
                (m.requests, m.tokens) = (0, 0);
            }
            None => m.minute = Some(now),
        }
        m.requests += 1;
        m.tokens = m.tokens.saturating_add(tokens);
    }

    /// The provider's answer to a call with `key` carried these quota figures.
    pub(crate) fn reported(&mut self, key: usize, r: Reported, now: Instant) {
        if let Some(m) = self.keys.get_mut(key) {
            m.reported = Some((r, now));
        }
    }

    /// Key `key` at `now`.
    pub(crate) fn read(&self, key: usize, now: Instant) -> Option<Reading> {
        let m = self.keys.get(key)?;
        let current = m.minute.is_some_and(|s| now < s + MINUTE);
        let (requests, tokens) = if current {
            (m.requests, m.tokens)
        } else {
            (0, 0)
        };
        let fresh = m
            .reported
            .filter(|(_, at)| now.saturating_duration_since(*at) < MINUTE)
            .map(|(r, _)| r);
        let mut figures = vec![
            (
                Measure::Requests,
                Source::Declared,
                requests,
                m.rpm.map(u64::from),
            ),
            (
                Measure::Tokens,
                Source::Declared,
                tokens,
                m.tpm.map(u64::from),
            ),
        ];
        if let Some(r) = fresh {
            for (measure, limit, remaining) in [
                (Measure::Requests, r.limit_requests, r.remaining_requests),
                (Measure::Tokens, r.limit_tokens, r.remaining_tokens),
            ] {
                if let (Some(l), Some(left)) = (limit, remaining) {
                    figures.push((measure, Source::Provider, l.saturating_sub(left), Some(l)));
                }
            }
        }
        let peak = figures
            .into_iter()
            .filter_map(|(measure, source, used, limit)| {
                let limit = limit.filter(|l| *l > 0)?;
                Some(Peak {
                    measure,
                    source,
                    used,
                    limit,
                    fraction: used as f64 / limit as f64,
                })
            })
            .fold(None, |best: Option<Peak>, p| match best {
                Some(b) if b.fraction >= p.fraction => Some(b),
                _ => Some(p),
            });
        Some(Reading {
            rpm: m.rpm,
            tpm: m.tpm,
            requests,
            tokens,
            reported: m.reported.map(|(r, _)| r),
            reported_age_s: m
                .reported
                .map(|(_, at)| now.saturating_duration_since(at).as_secs_f64()),
            peak,
        })
    }

    /// Whether `key` just reached [`WARN_AT`] of a limit (once per crossing; see the module doc).
    pub(crate) fn check(&mut self, key: usize, now: Instant) -> Option<Crossing> {
        let peak = self.read(key, now)?.peak;
        let m = self.keys.get_mut(key)?;
        let fraction = peak.map_or(0.0, |p| p.fraction);
        if m.warned {
            if fraction < REARM_BELOW {
                m.warned = false;
            }
            return None;
        }
        let peak = peak.filter(|p| p.fraction >= WARN_AT)?;
        m.warned = true;
        Some(Crossing { key, peak })
    }

    /// Keeps the counts of keys whose limits did not change, for a reloaded provider.
    pub(crate) fn carried(&self, limits: &[(Option<u32>, Option<u32>)]) -> Option<Self> {
        let same = self.keys.len() == limits.len()
            && self
                .keys
                .iter()
                .zip(limits)
                .all(|(m, l)| (m.rpm, m.tpm) == *l);
        same.then(|| self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[tokio::test(start_paused = true)]
    async fn counts_the_current_minute_against_the_declared_limits() {
        let mut h = Headroom::new([(Some(10), Some(1_000))]);
        let t0 = Instant::now();
        h.sent(0, 100, t0);
        h.sent(0, 300, t0 + Duration::from_secs(30));
        let r = h.read(0, t0 + Duration::from_secs(31)).unwrap();
        assert_eq!((r.requests, r.tokens), (2, 400));
        let p = r.peak.unwrap();
        assert_eq!(
            (p.measure, p.source, p.used, p.limit),
            (Measure::Tokens, Source::Declared, 400, 1_000)
        );
        let later = h.read(0, t0 + Duration::from_secs(61)).unwrap();
        assert_eq!((later.requests, later.tokens), (0, 0), "a new minute");
        h.sent(0, 5, t0 + Duration::from_secs(130));
        let r = h.read(0, t0 + Duration::from_secs(131)).unwrap();
        assert_eq!((r.requests, r.tokens), (1, 5));
        assert!(h.read(1, t0).is_none(), "no such key");
    }

    #[tokio::test(start_paused = true)]
    async fn provider_figures_count_while_fresh() {
        let mut h = Headroom::new([(None, None)]);
        let t0 = Instant::now();
        assert_eq!(h.read(0, t0).unwrap().peak, None, "no limit known");
        let r = Reported::from_headers(&headers(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "25"),
            ("x-ratelimit-limit-tokens", "1000"),
        ]))
        .unwrap();
        h.reported(0, r, t0);
        let p = h.read(0, t0).unwrap().peak.unwrap();
        assert_eq!(
            (p.measure, p.source, p.used, p.limit),
            (Measure::Requests, Source::Provider, 75, 100)
        );
        let stale = h.read(0, t0 + Duration::from_secs(61)).unwrap();
        assert_eq!(stale.peak, None);
        assert_eq!(stale.reported, Some(r), "still shown");
    }

    #[test]
    fn reads_openai_and_anthropic_headers_and_ignores_junk() {
        let r = Reported::from_headers(&headers(&[
            ("anthropic-ratelimit-tokens-limit", "5000"),
            ("anthropic-ratelimit-tokens-remaining", "4990.0"),
        ]))
        .unwrap();
        assert_eq!(
            (r.limit_tokens, r.remaining_tokens),
            (Some(5000), Some(4990))
        );
        assert_eq!(Reported::from_headers(&HeaderMap::new()), None);
        // the OpenAI name wins; an unreadable one gives way to the Anthropic name; the first
        // value of a repeated header counts
        let mut both = headers(&[
            ("anthropic-ratelimit-requests-limit", "7"),
            ("x-ratelimit-limit-requests", "9"),
            ("x-ratelimit-limit-tokens", "lots"),
            ("anthropic-ratelimit-tokens-limit", "11"),
            ("content-type", "application/json"),
        ]);
        both.append("x-ratelimit-remaining-requests", "3".parse().unwrap());
        both.append("x-ratelimit-remaining-requests", "4".parse().unwrap());
        let r = Reported::from_headers(&both).unwrap();
        assert_eq!(
            (
                r.limit_requests,
                r.limit_tokens,
                r.remaining_requests,
                r.remaining_tokens
            ),
            (Some(9), Some(11), Some(3), None)
        );
        assert_eq!(
            Reported::from_headers(&headers(&[("x-ratelimit-remaining-requests", "-3")])),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn warns_once_per_crossing_and_rearms_below_the_line() {
        let mut h = Headroom::new([(Some(1_000), Some(100))]);
        let t0 = Instant::now();
        for _ in 0..8 {
            h.sent(0, 10, t0);
            assert_eq!(h.check(0, t0), None, "under 90%");
        }
        h.sent(0, 10, t0);
        let c = h.check(0, t0).expect("crossed");
        assert_eq!(
            (c.key, c.peak.measure, c.peak.used),
            (0, Measure::Tokens, 90)
        );
        h.sent(0, 10, t0);
        assert_eq!(h.check(0, t0), None, "once per crossing");
        let next = t0 + Duration::from_secs(60);
        h.sent(0, 10, next);
        assert_eq!(h.check(0, next), None, "re-armed at 10%");
        for _ in 0..8 {
            h.sent(0, 10, next);
        }
        assert!(h.check(0, next).is_some(), "crosses again");
    }

    #[test]
    fn carries_counts_only_when_the_limits_are_unchanged() {
        let h = Headroom::new([(Some(1), None)]);
        assert!(h.carried(&[(Some(1), None)]).is_some());
        assert!(h.carried(&[(Some(2), None)]).is_none());
        assert!(h.carried(&[(Some(1), None), (None, None)]).is_none());
    }
}
