//! The in-process cache of moderation verdicts, one per app state.

use std::sync::Arc;
use std::time::Duration;

use super::verdict::Verdict;

/// Most verdicts kept.
pub(crate) const CACHE_ENTRIES: u64 = 10_000;
/// How long a verdict is kept.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(600);

/// The in-process verdict cache (bounded in entries and age); one per `AppState`, so
/// routers in one process (tests) never share verdicts.
pub(crate) struct Moderator {
    pub(super) verdicts: moka::future::Cache<[u8; 32], Arc<Verdict>>,
}

impl Moderator {
    pub(crate) fn new() -> Self {
        Self {
            verdicts: moka::future::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }
}
