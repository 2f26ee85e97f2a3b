//! Round-robin rotation over a provider's keys, skipping keys cooling down after a 429 and
//! keys at their rpm/tpm pace, with the bookkeeping for requests queued for a paced key.
//!
//! An operator can take a key out of rotation (`POST /admin/keys/{provider}/{key}`,
//! [`KeyPool::set_state`]): a draining or disabled key gets no new call, calls already made
//! with it finish (their count is kept, so a drain can be watched until it reaches zero).

use std::time::Duration;

use tokio::time::Instant;

use super::pacing::{Booking, Pacer};

/// Whether the operator lets a key take new calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// In rotation.
    #[default]
    Active,
    /// No new calls; calls in flight finish (a planned rotation).
    Drain,
    /// No new calls at all (a revoked or leaked key); calls in flight are not cut.
    Disable,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Drain => "drain",
            Self::Disable => "disable",
        }
    }
}

/// Which key serves the next call. Pure: times are passed in.
#[derive(Debug, Clone)]
pub struct KeyPool {
    /// The operator's say per key.
    states: Vec<KeyState>,
    /// Calls made with each key that have not finished yet.
    in_flight: Vec<u32>,
    cooldown_until: Vec<Option<Instant>>,
    /// Whether a key's cooldown was adopted from another instance (so it is not re-published).
    adopted: Vec<bool>,
    pacers: Vec<Pacer>,
    next: usize,
    waiting: usize,
}

/// The outcome of asking for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPick {
    /// Use key number `n`.
    Key(usize),
    /// The provider has no keys (a local server); call without auth.
    NoKeys,
    /// Every key is cooling down; the earliest is free at this instant.
    AllCooling(Instant),
    /// The operator drained or disabled every key.
    AllOff,
    /// Every key is cooling down or at its rpm/tpm limit, and at least one is only paced: `key`
    /// is the first free, at `at`, so waiting for it is worth considering ([`KeyPool::book`]).
    AllPaced { key: usize, at: Instant },
}

impl KeyPool {
    /// `keys` keys without rpm/tpm limits.
    pub fn new(keys: usize) -> Self {
        Self::with_limits(std::iter::repeat_n((None, None), keys))
    }

    /// One key per `(rpm, tpm)` pair, paced to those limits.
    pub fn with_limits(limits: impl IntoIterator<Item = (Option<u32>, Option<u32>)>) -> Self {
        let pacers: Vec<Pacer> = limits
            .into_iter()
            .map(|(rpm, tpm)| Pacer::new(rpm, tpm))
            .collect();
        Self {
            states: vec![KeyState::Active; pacers.len()],
            in_flight: vec![0; pacers.len()],
            cooldown_until: vec![None; pacers.len()],
            adopted: vec![false; pacers.len()],
            pacers,
            next: 0,
            waiting: 0,
        }
    }

    /// The next key in round-robin order that is neither cooling down nor paced at `now`,
    /// for a call of about `tokens` tokens; the key's pace is charged for it.
    pub fn pick(&mut self, now: Instant, tokens: u64) -> KeyPick {
        let n = self.pacers.len();
        if n == 0 {
            return KeyPick::NoKeys;
        }
        if !self.any_active() {
            return KeyPick::AllOff;
        }
        for step in 0..n {
            let i = (self.next + step) % n;
            if !self.is_active(i) || self.cooling_until(i, now).is_some() {
                continue;
            }
            self.cooldown_until[i] = None;
            self.adopted[i] = false;
            if self.pacers[i].try_take(now, tokens).is_ok() {
                self.next = (i + 1) % n;
                return KeyPick::Key(i);
            }
        }
        self.busy(now, tokens)
    }

    /// Why no key is free at `now`: every key cooling down, or the first slot to wait for.
    fn busy(&self, now: Instant, tokens: u64) -> KeyPick {
        let (key, at) = self.earliest(now, tokens);
        if (0..self.pacers.len())
            .filter(|&i| self.is_active(i))
            .all(|i| self.cooling_until(i, now).is_some())
        {
            KeyPick::AllCooling(at)
        } else {
            KeyPick::AllPaced { key, at }
        }
    }

    /// Like [`KeyPool::pick`] for a background (batch) call, which must not take a slot an
    /// interactive request is waiting for: with requests in the queue it takes nothing and
    /// reports the earliest slot as [`KeyPick::AllPaced`] (to look again then); it never books.
    pub fn pick_background(&mut self, now: Instant, tokens: u64) -> KeyPick {
        if self.waiting == 0 || self.pacers.is_empty() || !self.any_active() {
            return self.pick(now, tokens);
        }
        self.busy(now, tokens)
    }

    /// Whether any key has an rpm or tpm limit (only then is pacing worth a Redis call).
    pub(crate) fn is_paced(&self) -> bool {
        self.pacers.iter().any(Pacer::is_limited)
    }

    /// For fleet-wide pacing: the keys not cooling down at `now`, in rotation order; or the
    /// answer when there is nothing to pace (no keys, or every key cooling down).
    pub(crate) fn candidates(&mut self, now: Instant) -> Result<Vec<usize>, KeyPick> {
        let n = self.pacers.len();
        if n == 0 {
            return Err(KeyPick::NoKeys);
        }
        if !self.any_active() {
            return Err(KeyPick::AllOff);
        }
        let free: Vec<usize> = (0..n)
            .map(|step| (self.next + step) % n)
            .filter(|&i| self.is_active(i) && self.cooling_until(i, now).is_none())
            .collect();
        if free.is_empty() {
            let at = (0..n)
                .filter(|&i| self.is_active(i))
                .filter_map(|i| self.cooling_until(i, now))
                .min()
                .unwrap_or(now);
            return Err(KeyPick::AllCooling(at));
        }
        for &i in &free {
            self.cooldown_until[i] = None;
            self.adopted[i] = false;
        }
        Ok(free)
    }

    /// Moves the rotation past `key`, chosen by the fleet-wide pacer.
    pub(crate) fn advance(&mut self, key: usize) {
        self.next = (key + 1) % self.pacers.len().max(1);
    }

    /// Books `key`'s slot at `at` for a call of `tokens` tokens, as [`KeyPick::AllPaced`]
    /// reported them under the same lock: the caller waits until then and uses that key.
    /// Bookings line up in the order they were made. Hand the booking back with
    /// [`KeyPool::unbook`] if the call is not made with it.
    pub(crate) fn book(&mut self, key: usize, at: Instant, tokens: u64) -> Booking {
        self.next = (key + 1) % self.pacers.len();
        self.pacers[key].take_at(at, tokens)
    }

    /// Refunds `key`'s unused `booking` (the waiter gave up or was dropped), so later requests
    /// are not held back by a slot nobody uses.
    pub(crate) fn unbook(&mut self, key: usize, booking: Booking, now: Instant) {
        if let Some(p) = self.pacers.get_mut(key) {
            p.refund(booking, now);
        }
    }

    /// The key free soonest (first in rotation order on a tie) and when; the pool has keys.
    fn earliest(&self, now: Instant, tokens: u64) -> (usize, Instant) {
        let n = self.pacers.len();
        (0..n)
            .map(|step| (self.next + step) % n)
            .filter(|&i| self.is_active(i))
            .map(|i| {
                let cool = self.cooling_until(i, now).unwrap_or(now);
                (i, self.pacers[i].ready_at(now, tokens).max(cool))
            })
            .min_by_key(|&(_, at)| at)
            .unwrap_or((0, now))
    }

    /// Counts a request into this provider's queue unless `max` already wait.
    pub fn join_queue(&mut self, max: usize) -> bool {
        let room = self.waiting < max;
        if room {
            self.waiting += 1;
        }
        room
    }

    /// Counts a request out of the queue (once per successful [`KeyPool::join_queue`]).
    pub fn leave_queue(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// Requests waiting for a paced key of this provider.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Benches key `i` until `until` (a 429's Retry-After). A later cooldown is never shortened.
    pub fn cool_down(&mut self, i: usize, until: Instant) {
        self.extend_cooldown(i, until, false);
    }

    /// Benches key `i` until `until` because another instance got a 429 for it; returns
    /// whether that lengthened the cooldown. Adopted cooldowns are not published again.
    pub fn adopt_cooldown(&mut self, i: usize, until: Instant) -> bool {
        self.extend_cooldown(i, until, true)
    }

    fn extend_cooldown(&mut self, i: usize, until: Instant, adopted: bool) -> bool {
        let Some(slot) = self.cooldown_until.get_mut(i) else {
            return false;
        };
        let longer = slot.is_none_or(|t| t < until);
        if longer {
            *slot = Some(until);
            self.adopted[i] = adopted;
        }
        longer
    }

    /// Keys cooling down at `now` because of a 429 this instance received, with their end.
    pub fn local_cooldowns(&self, now: Instant) -> Vec<(usize, Instant)> {
        (0..self.cooldown_until.len())
            .filter(|&i| !self.adopted[i])
            .filter_map(|i| self.cooling_until(i, now).map(|t| (i, t)))
            .collect()
    }

    /// Whether some key (or no key at all, for keyless providers) can be used at `now`;
    /// pacing is momentary and does not count.
    pub fn any_available(&self, now: Instant) -> bool {
        self.cooldown_until.is_empty()
            || (0..self.cooldown_until.len())
                .any(|i| self.is_active(i) && self.cooling_until(i, now).is_none())
    }

    /// Sets key `i`'s state; false when there is no such key.
    pub fn set_state(&mut self, i: usize, state: KeyState) -> bool {
        let Some(slot) = self.states.get_mut(i) else {
            return false;
        };
        *slot = state;
        true
    }

    /// Key `i`'s state (active for a key that does not exist).
    pub fn state(&self, i: usize) -> KeyState {
        self.states.get(i).copied().unwrap_or_default()
    }

    fn is_active(&self, i: usize) -> bool {
        self.state(i) == KeyState::Active
    }

    fn any_active(&self) -> bool {
        self.states.contains(&KeyState::Active)
    }

    /// Counts a call made with key `i` until [`KeyPool::call_ended`].
    pub fn call_started(&mut self, i: usize) {
        if let Some(n) = self.in_flight.get_mut(i) {
            *n += 1;
        }
    }

    /// Counts a call made with key `i` out.
    pub fn call_ended(&mut self, i: usize) {
        if let Some(n) = self.in_flight.get_mut(i) {
            *n = n.saturating_sub(1);
        }
    }

    /// Calls made with key `i` still running.
    pub fn in_flight(&self, i: usize) -> u32 {
        self.in_flight.get(i).copied().unwrap_or(0)
    }

    /// How long until some key is not cooling down (zero when one is free now).
    pub(crate) fn free_in(&self, now: Instant) -> Duration {
        if self.any_available(now) {
            return Duration::ZERO;
        }
        (0..self.cooldown_until.len())
            .filter(|&i| self.is_active(i))
            .filter_map(|i| self.cooling_until(i, now))
            .map(|t| t.saturating_duration_since(now))
            .min()
            .unwrap_or_default()
    }

    /// When key `i` is free again, if it is cooling at `now`.
    pub fn cooling_until(&self, i: usize, now: Instant) -> Option<Instant> {
        self.cooldown_until
            .get(i)
            .copied()
            .flatten()
            .filter(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn rotates_skips_cooling_and_rejoins() {
        let mut p = KeyPool::new(3);
        let now = Instant::now();
        let order: Vec<_> = (0..4).map(|_| p.pick(now, 0)).collect();
        assert_eq!(
            order,
            [
                KeyPick::Key(0),
                KeyPick::Key(1),
                KeyPick::Key(2),
                KeyPick::Key(0)
            ]
        );
        p.cool_down(1, now + Duration::from_secs(5));
        assert_eq!(p.pick(now, 0), KeyPick::Key(2));
        assert_eq!(p.pick(now, 0), KeyPick::Key(0));
        assert_eq!(p.pick(now, 0), KeyPick::Key(2));
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        assert_eq!(p.pick(later, 0), KeyPick::Key(0));
        assert_eq!(p.pick(later, 0), KeyPick::Key(1));
    }

    #[tokio::test(start_paused = true)]
    async fn all_cooling_reports_earliest_and_never_shortens() {
        let mut p = KeyPool::new(2);
        let now = Instant::now();
        p.cool_down(0, now + Duration::from_secs(8));
        p.cool_down(0, now + Duration::from_secs(2));
        p.cool_down(1, now + Duration::from_secs(4));
        assert_eq!(
            p.pick(now, 0),
            KeyPick::AllCooling(now + Duration::from_secs(4))
        );
        assert_eq!(p.cooling_until(0, now), Some(now + Duration::from_secs(8)));
        assert_eq!(KeyPool::new(0).pick(now, 0), KeyPick::NoKeys);
    }

    #[tokio::test(start_paused = true)]
    async fn paced_keys_rotate_then_report_the_earliest_free_instant() {
        let s = Duration::from_secs(1);
        let mut p = KeyPool::with_limits([(Some(60), None), (Some(60), None)]);
        let t0 = Instant::now();
        assert_eq!(p.pick(t0, 0), KeyPick::Key(0));
        tokio::time::advance(s / 4).await;
        let t1 = Instant::now();
        assert_eq!(p.pick(t1, 0), KeyPick::Key(1));
        assert_eq!(p.pick(t1, 0), KeyPick::AllPaced { key: 0, at: t0 + s });
        tokio::time::advance(s * 3 / 4).await;
        assert_eq!(p.pick(Instant::now(), 0), KeyPick::Key(0));
        assert_eq!(
            p.pick(Instant::now(), 0),
            KeyPick::AllPaced { key: 1, at: t1 + s }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_keys_are_never_paced() {
        let now = Instant::now();
        let mut p = KeyPool::with_limits([(Some(60), None), (None, None)]);
        let picks: Vec<_> = (0..4).map(|_| p.pick(now, 1_000)).collect();
        assert_eq!(
            picks,
            [
                KeyPick::Key(0),
                KeyPick::Key(1),
                KeyPick::Key(1),
                KeyPick::Key(1)
            ]
        );
        assert_eq!(KeyPool::new(0).pick(now, 0), KeyPick::NoKeys);
    }

    /// Picks while every key is paced, and books the slot reported.
    fn book_next(p: &mut KeyPool, now: Instant, tokens: u64) -> (usize, Instant) {
        match p.pick(now, tokens) {
            KeyPick::AllPaced { key, at } => {
                p.book(key, at, tokens);
                (key, at)
            }
            other => panic!("expected every key paced, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reservations_line_up_across_keys() {
        let s = Duration::from_secs(1);
        let mut p = KeyPool::with_limits([(Some(60), None), (Some(60), None)]);
        let t0 = Instant::now();
        assert_eq!(p.pick(t0, 0), KeyPick::Key(0));
        assert_eq!(p.pick(t0, 0), KeyPick::Key(1));
        let booked: Vec<_> = (0..3).map(|_| book_next(&mut p, t0, 0)).collect();
        assert_eq!(booked, [(0, t0 + s), (1, t0 + s), (0, t0 + 2 * s)]);
        // a later arrival queues behind the bookings
        assert_eq!(
            p.pick(t0 + s, 0),
            KeyPick::AllPaced {
                key: 1,
                at: t0 + 2 * s
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cooling_key_is_not_reserved_before_its_cooldown_ends() {
        let s = Duration::from_secs(1);
        let mut p = KeyPool::with_limits([(Some(60), None), (None, Some(600))]);
        let t0 = Instant::now();
        p.cool_down(0, t0 + 10 * s);
        assert_eq!(p.pick(t0, 600), KeyPick::Key(1));
        // key 1 spent its minute of tokens: 100 more need 10 s, as long as key 0 cools
        assert_eq!(
            p.pick(t0, 100),
            KeyPick::AllPaced {
                key: 0,
                at: t0 + 10 * s
            }
        );
        assert_eq!(book_next(&mut p, t0, 50), (1, t0 + 5 * s));
        p.cool_down(1, t0 + 20 * s);
        assert_eq!(p.pick(t0, 1), KeyPick::AllCooling(t0 + 10 * s));
    }

    #[tokio::test(start_paused = true)]
    async fn drained_and_disabled_keys_get_no_calls_until_active_again() {
        let now = Instant::now();
        let mut p = KeyPool::new(3);
        assert!(p.set_state(1, KeyState::Drain));
        assert!(!p.set_state(7, KeyState::Drain));
        let picks: Vec<_> = (0..4).map(|_| p.pick(now, 0)).collect();
        assert_eq!(
            picks,
            [
                KeyPick::Key(0),
                KeyPick::Key(2),
                KeyPick::Key(0),
                KeyPick::Key(2)
            ]
        );
        p.set_state(0, KeyState::Disable);
        p.cool_down(2, now + Duration::from_secs(5));
        assert_eq!(
            p.pick(now, 0),
            KeyPick::AllCooling(now + Duration::from_secs(5))
        );
        assert!(!p.any_available(now));
        p.set_state(2, KeyState::Disable);
        assert_eq!(p.pick(now, 0), KeyPick::AllOff);
        assert_eq!(p.candidates(now), Err(KeyPick::AllOff));
        p.set_state(1, KeyState::Active);
        assert_eq!(p.pick(now, 0), KeyPick::Key(1));
        assert_eq!(p.candidates(now), Ok(vec![1]));
        p.call_started(1);
        p.call_started(1);
        p.call_ended(1);
        assert_eq!(
            (p.in_flight(1), p.state(1), p.state(0)),
            (1, KeyState::Active, KeyState::Disable)
        );
    }

    #[test]
    fn queue_is_bounded() {
        let mut p = KeyPool::new(1);
        assert!(p.join_queue(2));
        assert!(p.join_queue(2));
        assert!(!p.join_queue(2));
        assert_eq!(p.waiting(), 2);
        p.leave_queue();
        assert!(p.join_queue(2));
        for _ in 0..5 {
            p.leave_queue();
        }
        assert_eq!(p.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn adopted_cooldowns_are_not_published_again() {
        let s = Duration::from_secs(1);
        let mut p = KeyPool::new(3);
        let now = Instant::now();
        p.cool_down(0, now + 5 * s);
        assert!(p.adopt_cooldown(1, now + 7 * s));
        assert!(!p.adopt_cooldown(0, now + 4 * s), "never shortened");
        assert_eq!(p.local_cooldowns(now), [(0, now + 5 * s)]);
        // a longer remote cooldown replaces the local one, which then is not ours to publish
        assert!(p.adopt_cooldown(0, now + 9 * s));
        assert!(p.local_cooldowns(now).is_empty());
        assert_eq!(p.cooling_until(0, now), Some(now + 9 * s));
        p.cool_down(1, now + 8 * s);
        assert_eq!(p.local_cooldowns(now), [(1, now + 8 * s)]);
        assert!(p.local_cooldowns(now + 8 * s).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn background_picks_yield_to_queued_requests() {
        let mut p = KeyPool::with_limits([(Some(60), None)]);
        let now = Instant::now();
        assert_eq!(
            p.pick_background(now, 0),
            KeyPick::Key(0),
            "free and nobody waits"
        );
        // the next slot is a second away: an interactive request queues and books it
        let KeyPick::AllPaced { key, at } = p.pick(now, 0) else {
            panic!("paced")
        };
        assert!(p.join_queue(8));
        p.book(key, at, 0);
        let later = at + Duration::from_millis(1);
        // the booked slot is the interactive request's: the batch call is told to look again
        // after it, and booked nothing (the slot after is still free for the next request)
        let KeyPick::AllPaced { at: retry, .. } = p.pick_background(later, 0) else {
            panic!("a background pick must not take a slot while a request waits")
        };
        assert!(retry > at);
        p.leave_queue();
        assert_eq!(
            p.pick_background(retry, 0),
            KeyPick::Key(0),
            "with the queue empty the free slot is the batch call's"
        );
    }
}
