//! Waiting for something a test can observe, with a deadline, instead of sleeping a guess.

use std::time::{Duration, Instant};

/// How often [`wait_until`] looks again.
const EVERY: Duration = Duration::from_millis(10);

/// Calls `check` every 10 ms until it returns true; panics with `what` once `within` has passed.
///
/// Why: a fixed sleep is either too short on a loaded machine (a flaky test) or longer than
/// needed on an idle one (a slow suite). Polling the state the test waits for (a breaker turning
/// half-open, a key's cooldown ending) is neither; the deadline only turns a hang into a
/// failure that says what never happened, so make it generous.
pub async fn wait_until(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "waited {within:?} and this never happened: {what}"
        );
        tokio::time::sleep(EVERY).await;
    }
}
