//! The circuit breaker per provider and model: a pure CLOSED / OPEN / HALF_OPEN state machine.
//!
//! Transitions (times are passed in, so tests drive them with paused tokio time):
//! - CLOSED: every call is allowed. `failure_threshold` consecutive failures -> OPEN.
//!   A success resets the failure count.
//! - OPEN: calls are refused until `recovery` has passed since it opened -> HALF_OPEN.
//! - HALF_OPEN: one probe at a time is allowed. A failed probe -> OPEN again, with a full
//!   `recovery` counted from that failure (never shortened). `success_threshold` successful
//!   probes in a row -> CLOSED. A probe whose outcome never arrives (the client went away)
//!   stops blocking others after `recovery`.
//!
//! A single-deployment group behaves the same way: while its breaker is open the candidate is
//! skipped and the request moves on (or fails with 503 if nothing else is left).

use tokio::time::Instant;

use crate::config::BreakerSettings;

/// The externally visible state, also exported as a metric later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// What the caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Go ahead (closed).
    Allowed,
    /// Go ahead as the half-open probe; report its outcome.
    Probe,
    /// Skip this candidate.
    Refused,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    state: BreakerState,
    failures: u32,
    successes: u32,
    opened_at: Instant,
    probe_started: Option<Instant>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings, now: Instant) -> Self {
        Self {
            settings,
            state: BreakerState::Closed,
            failures: 0,
            successes: 0,
            opened_at: now,
            probe_started: None,
        }
    }

    /// The state as of `now` (an OPEN breaker past its recovery time reads as HALF_OPEN).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            BreakerState::Open if now >= self.opened_at + self.settings.recovery => {
                BreakerState::HalfOpen
            }
            s => s,
        }
    }

    /// Consecutive failures counted so far (closed) — for health output.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Asks to make a call at `now`.
    pub fn acquire(&mut self, now: Instant) -> Permit {
        if self.state(now) == BreakerState::HalfOpen && self.state == BreakerState::Open {
            self.state = BreakerState::HalfOpen;
            self.successes = 0;
            self.probe_started = None;
        }
        match self.state {
            BreakerState::Closed => Permit::Allowed,
            BreakerState::Open => Permit::Refused,
            BreakerState::HalfOpen => match self.probe_started {
                Some(t) if now < t + self.settings.recovery => Permit::Refused,
                _ => {
                    self.probe_started = Some(now);
                    Permit::Probe
                }
            },
        }
    }

    /// Reports a successful call.
    pub fn on_success(&mut self, _now: Instant) {
        match self.state {
            BreakerState::Closed => self.failures = 0,
            BreakerState::HalfOpen => {
                self.probe_started = None;
                self.successes += 1;
                if self.successes >= self.settings.success_threshold {
                    self.state = BreakerState::Closed;
                    self.failures = 0;
                    self.successes = 0;
                }
            }
            BreakerState::Open => {}
        }
    }

    /// Reports a failed call (a provider fault: connect error, timeout, 5xx, malformed answer).
    pub fn on_failure(&mut self, now: Instant) {
        match self.state {
            BreakerState::Closed => {
                self.failures += 1;
                if self.failures >= self.settings.failure_threshold {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => self.open(now),
            BreakerState::Open => {}
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.successes = 0;
        self.probe_started = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            failure_threshold: 3,
            recovery: Duration::from_secs(10),
            success_threshold: 2,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closed_opens_after_threshold_and_success_resets_count() {
        let mut b = Breaker::new(settings(), Instant::now());
        b.on_failure(Instant::now());
        b.on_failure(Instant::now());
        b.on_success(Instant::now());
        b.on_failure(Instant::now());
        b.on_failure(Instant::now());
        assert_eq!(b.state(Instant::now()), BreakerState::Closed);
        assert_eq!(b.acquire(Instant::now()), Permit::Allowed);
        b.on_failure(Instant::now());
        assert_eq!(b.state(Instant::now()), BreakerState::Open);
        assert_eq!(b.acquire(Instant::now()), Permit::Refused);
    }

    #[tokio::test(start_paused = true)]
    async fn open_to_half_open_after_recovery_then_closes_after_successes() {
        let mut b = Breaker::new(settings(), Instant::now());
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Refused);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.state(Instant::now()), BreakerState::HalfOpen);
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
        // only one probe at a time
        assert_eq!(b.acquire(Instant::now()), Permit::Refused);
        b.on_success(Instant::now());
        assert_eq!(b.state(Instant::now()), BreakerState::HalfOpen);
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
        b.on_success(Instant::now());
        assert_eq!(b.state(Instant::now()), BreakerState::Closed);
        assert_eq!(b.acquire(Instant::now()), Permit::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_for_a_full_recovery() {
        let mut b = Breaker::new(settings(), Instant::now());
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
        tokio::time::advance(Duration::from_secs(3)).await;
        b.on_failure(Instant::now());
        assert_eq!(b.state(Instant::now()), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Refused);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_probe_expires() {
        let mut b = Breaker::new(settings(), Instant::now());
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
    }
}
