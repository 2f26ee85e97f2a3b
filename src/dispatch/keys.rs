//! Round-robin rotation over a provider's keys, with a cooldown for keys answered with 429.

use tokio::time::Instant;

/// Which key serves the next call. Pure: times are passed in.
#[derive(Debug, Clone)]
pub struct KeyPool {
    cooldown_until: Vec<Option<Instant>>,
    next: usize,
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
}

impl KeyPool {
    pub fn new(keys: usize) -> Self {
        Self {
            cooldown_until: vec![None; keys],
            next: 0,
        }
    }

    /// The next key in round-robin order that is not cooling down at `now`.
    pub fn pick(&mut self, now: Instant) -> KeyPick {
        let n = self.cooldown_until.len();
        if n == 0 {
            return KeyPick::NoKeys;
        }
        for step in 0..n {
            let i = (self.next + step) % n;
            match self.cooldown_until[i] {
                Some(until) if until > now => continue,
                _ => {
                    self.cooldown_until[i] = None;
                    self.next = (i + 1) % n;
                    return KeyPick::Key(i);
                }
            }
        }
        KeyPick::AllCooling(
            self.cooldown_until
                .iter()
                .flatten()
                .copied()
                .min()
                .unwrap_or(now),
        )
    }

    /// Benches key `i` until `until` (a 429's Retry-After). A later cooldown is never shortened.
    pub fn cool_down(&mut self, i: usize, until: Instant) {
        if let Some(slot) = self.cooldown_until.get_mut(i) {
            if slot.is_none_or(|t| t < until) {
                *slot = Some(until);
            }
        }
    }

    /// Whether some key (or no key at all, for keyless providers) can be used at `now`.
    pub fn any_available(&self, now: Instant) -> bool {
        self.cooldown_until.is_empty()
            || self
                .cooldown_until
                .iter()
                .any(|t| t.is_none_or(|t| t <= now))
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
        let order: Vec<_> = (0..4).map(|_| p.pick(now)).collect();
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
        assert_eq!(p.pick(now), KeyPick::Key(2));
        assert_eq!(p.pick(now), KeyPick::Key(0));
        assert_eq!(p.pick(now), KeyPick::Key(2));
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        assert_eq!(p.pick(later), KeyPick::Key(0));
        assert_eq!(p.pick(later), KeyPick::Key(1));
    }

    #[tokio::test(start_paused = true)]
    async fn all_cooling_reports_earliest_and_never_shortens() {
        let mut p = KeyPool::new(2);
        let now = Instant::now();
        p.cool_down(0, now + Duration::from_secs(8));
        p.cool_down(0, now + Duration::from_secs(2));
        p.cool_down(1, now + Duration::from_secs(4));
        assert_eq!(
            p.pick(now),
            KeyPick::AllCooling(now + Duration::from_secs(4))
        );
        assert_eq!(p.cooling_until(0, now), Some(now + Duration::from_secs(8)));
        assert_eq!(KeyPool::new(0).pick(now), KeyPick::NoKeys);
    }
}
