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
//! Another instance's opening can be adopted with [`Breaker::force_open`] (shared state); an
//! adopted opening is never reported as this instance's own, so it is not published back.
//!
//! An operator can override the machine (`POST /admin/breakers/{model}`, [`Breaker::set_forced`]):
//! - forced OPEN: every call is refused, whatever happens; nothing is published to other
//!   instances as a failure opening, and nothing adopted from them changes it.
//! - forced CLOSED: every call is allowed; failures and successes are ignored (nothing opens).
//! - back to automatic: the machine restarts CLOSED with no failures counted.
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

/// An operator's override of the automatic state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forced {
    /// Refuse every call until set back to automatic.
    Open,
    /// Allow every call and ignore failures until set back to automatic.
    Closed,
}

impl Forced {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
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
    /// While OPEN: when it turns HALF_OPEN.
    open_until: Instant,
    /// Whether the current opening came from another instance.
    adopted: bool,
    probe_started: Option<Instant>,
    /// The operator's override, when set.
    forced: Option<Forced>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings, now: Instant) -> Self {
        Self {
            settings,
            state: BreakerState::Closed,
            failures: 0,
            successes: 0,
            open_until: now,
            adopted: false,
            probe_started: None,
            forced: None,
        }
    }

    /// Sets (`Some`) or lifts (`None`) the operator's override; lifting it restarts the
    /// machine CLOSED with nothing counted.
    pub fn set_forced(&mut self, forced: Option<Forced>, now: Instant) {
        self.forced = forced;
        self.failures = 0;
        self.successes = 0;
        self.probe_started = None;
        self.adopted = false;
        self.state = BreakerState::Closed;
        self.open_until = now;
    }

    /// The operator's override, if any.
    pub fn forced(&self) -> Option<Forced> {
        self.forced
    }

    /// The state as of `now` (an OPEN breaker past its recovery time reads as HALF_OPEN).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.forced {
            Some(Forced::Open) => return BreakerState::Open,
            Some(Forced::Closed) => return BreakerState::Closed,
            None => {}
        }
        match self.state {
            BreakerState::Open if now >= self.open_until => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Consecutive failures counted so far (closed) — for health output.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Asks to make a call at `now`.
    pub fn acquire(&mut self, now: Instant) -> Permit {
        match self.forced {
            Some(Forced::Open) => return Permit::Refused,
            Some(Forced::Closed) => return Permit::Allowed,
            None => {}
        }
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
        if self.forced.is_some() {
            return;
        }
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
        if self.forced.is_some() {
            return;
        }
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

    /// Opens until `until` because another instance's breaker for this model opened; returns
    /// whether that changed anything. An opening that already lasts as long is kept as is.
    pub fn force_open(&mut self, now: Instant, until: Instant) -> bool {
        if self.forced.is_some() || until <= now || self.open_until(now).is_some_and(|t| t >= until)
        {
            return false;
        }
        self.open_until_at(until);
        self.adopted = true;
        true
    }

    /// When an OPEN breaker turns HALF_OPEN, whoever opened it.
    /// `None` under an operator's override (a forced opening has no end).
    pub fn open_until(&self, now: Instant) -> Option<Instant> {
        (self.forced.is_none() && self.state(now) == BreakerState::Open).then_some(self.open_until)
    }

    /// [`Breaker::open_until`] for an opening caused by this instance's own failures: what
    /// it shares with other instances.
    pub fn local_open_until(&self, now: Instant) -> Option<Instant> {
        self.open_until(now).filter(|_| !self.adopted)
    }

    fn open(&mut self, now: Instant) {
        self.open_until_at(now + self.settings.recovery);
        self.adopted = false;
    }

    fn open_until_at(&mut self, until: Instant) {
        self.state = BreakerState::Open;
        self.open_until = until;
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

    #[tokio::test(start_paused = true)]
    async fn forced_opening_is_adopted_not_shortened_and_not_local() {
        let s = Duration::from_secs(1);
        let mut b = Breaker::new(settings(), Instant::now());
        let t0 = Instant::now();
        assert!(
            !b.force_open(t0, t0),
            "an opening already over changes nothing"
        );
        assert!(b.force_open(t0, t0 + 4 * s));
        assert_eq!(b.acquire(t0), Permit::Refused);
        assert_eq!(b.open_until(t0), Some(t0 + 4 * s));
        assert_eq!(b.local_open_until(t0), None);
        assert!(!b.force_open(t0, t0 + 3 * s), "never shortened");
        tokio::time::advance(4 * s).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
        b.on_failure(Instant::now());
        // its own failed probe: a local opening for a full recovery, shared from now on
        let t1 = Instant::now();
        assert_eq!(b.local_open_until(t1), Some(t1 + 10 * s));
        assert!(b.force_open(t1, t1 + 20 * s));
        assert_eq!(b.local_open_until(t1), None);
    }

    #[tokio::test(start_paused = true)]
    async fn operator_overrides_refuse_or_allow_everything_until_lifted() {
        let mut b = Breaker::new(settings(), Instant::now());
        let t = Instant::now();
        b.set_forced(Some(Forced::Open), t);
        assert_eq!(b.acquire(t), Permit::Refused);
        assert_eq!(b.state(t), BreakerState::Open);
        assert_eq!((b.open_until(t), b.local_open_until(t)), (None, None));
        b.on_success(t);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Refused, "never recovers");
        b.set_forced(Some(Forced::Closed), Instant::now());
        for _ in 0..10 {
            b.on_failure(Instant::now());
        }
        assert_eq!(b.acquire(Instant::now()), Permit::Allowed);
        assert!(!b.force_open(Instant::now(), Instant::now() + Duration::from_secs(5)));
        assert_eq!(b.state(Instant::now()), BreakerState::Closed);
        assert_eq!(b.forced(), Some(Forced::Closed));
        // automatic again: closed, nothing counted, opening after a full threshold
        b.set_forced(None, Instant::now());
        assert_eq!((b.forced(), b.failures()), (None, 0));
        b.on_failure(Instant::now());
        b.on_failure(Instant::now());
        assert_eq!(b.acquire(Instant::now()), Permit::Allowed);
        b.on_failure(Instant::now());
        assert_eq!(b.acquire(Instant::now()), Permit::Refused);
    }

    #[tokio::test(start_paused = true)]
    async fn forcing_open_a_half_open_breaker_drops_its_probe() {
        let mut b = Breaker::new(settings(), Instant::now());
        for _ in 0..3 {
            b.on_failure(Instant::now());
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        let t = Instant::now();
        assert_eq!(b.acquire(t), Permit::Probe);
        assert!(b.force_open(t, t + Duration::from_secs(5)));
        // the probe's late success does not close it
        b.on_success(t);
        assert_eq!(b.state(t), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.acquire(Instant::now()), Permit::Probe);
    }
}
