//! How the response cache is bounded: entry weights, age-based expiry and the real tally.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use super::entry::Entry;
use super::key::CacheKey;

/// Real entries and bytes held (moka's weighted size is padded, see [`weight`]).
#[derive(Debug, Default)]
pub(super) struct Tally {
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl Tally {
    pub(super) fn add(&self, bytes: u64) {
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(super) fn remove(&self, bytes: u64) {
        let sub = |by: u64| move |v: u64| Some(v.saturating_sub(by));
        let _ = self
            .entries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub(1));
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub(bytes));
    }

    pub(super) fn get(&self) -> (u64, u64) {
        (
            self.entries.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Expires an entry `ttl` after it was first answered, not after it reached this instance:
/// an entry filled from Redis keeps the age it had there.
pub(super) struct FromCreation(pub(super) Duration);

impl Expiry<CacheKey, Arc<Entry>> for FromCreation {
    fn expire_after_create(&self, _: &CacheKey, v: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(v.remaining(self.0))
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        v: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.remaining(self.0))
    }
}

/// The unit moka's capacity and weights count in. moka sizes its frequency sketch by the
/// capacity (one u64 per unit, rounded up to a power of two): counted in bytes, a 64 MiB cache
/// got a 512 MiB sketch, whose pages became resident one by one as keys were seen, so RSS
/// climbed for as long as new prompts came in (the soak benchmark's slope). In 256-byte units
/// the sketch of a 64 MiB cache is 2 MiB.
pub(super) const UNIT: u64 = 256;

/// moka's capacity for `max_bytes`: whole units, rounded down so the byte bound holds.
pub(super) fn capacity(max_bytes: u64) -> u64 {
    (max_bytes / UNIT).max(1)
}

/// moka has one capacity, so both bounds are folded into it: the capacity is `max_bytes` in
/// units and every entry weighs at least `floor = ceil(capacity / max_entries)` units. Then
/// n entries weigh at least n × floor, so n ≤ max_entries, and at least their real size
/// rounded up to whole units, so bytes ≤ max_bytes. One cache with a padded weigher is simpler
/// than two caches kept in step; the price is that small entries count as `floor` units,
/// which only matters when the count bound binds first.
pub(super) fn weight(size: u64, floor: u64) -> u32 {
    u32::try_from(size.div_ceil(UNIT).max(floor)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_fold_both_bounds() {
        assert_eq!(weight(10, 100), 100);
        assert_eq!(weight(1000 * UNIT, 100), 1000);
        assert_eq!(weight(1000 * UNIT + 1, 100), 1001, "sizes round up");
        assert_eq!(weight(u64::MAX, 1), u32::MAX);
        assert_eq!(capacity(64 << 20), 262_144);
        assert_eq!(capacity(UNIT - 1), 1);
    }

    #[test]
    fn the_tally_never_goes_below_zero() {
        let t = Tally::default();
        t.add(10);
        t.remove(25);
        t.remove(1);
        assert_eq!(t.get(), (0, 0));
    }
}
