//! Exponential backoff with full jitter between retries of one candidate.

use std::time::Duration;

use rand::Rng;

use crate::config::RetrySettings;

/// The sleep before retry number `retry` (0-based): uniform in `[0, min(max, base * 2^retry)]`,
/// so many clients retrying at once spread out instead of stampeding.
pub(crate) fn backoff(settings: &RetrySettings, retry: u32, rng: &mut impl Rng) -> Duration {
    let cap = ceiling(settings, retry);
    if cap.is_zero() {
        return cap;
    }
    Duration::from_micros(rng.random_range(0..=cap.as_micros() as u64))
}

/// The upper bound of the jitter window for retry number `retry`.
pub(crate) fn ceiling(settings: &RetrySettings, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
    settings
        .backoff_base
        .saturating_mul(factor)
        .min(settings.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grows_exponentially_within_cap_and_jitters() {
        let s = RetrySettings {
            attempts: 5,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            cooldown: Duration::ZERO,
            max_retry_after: Duration::ZERO,
            auth_cooldown: Duration::ZERO,
        };
        assert_eq!(ceiling(&s, 0), Duration::from_millis(100));
        assert_eq!(ceiling(&s, 2), Duration::from_millis(400));
        assert_eq!(ceiling(&s, 10), Duration::from_millis(1000));
        assert_eq!(ceiling(&s, 40), Duration::from_millis(1000));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws: Vec<_> = (0..200).map(|_| backoff(&s, 3, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(800)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(200)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(600)));
    }
}
