//! One config together with the runtime health built for it: what a request reads from start to end.

use crate::config::Config;
use crate::dispatch::health::Health;

/// A config and its breakers and key pools. A request keeps the `Arc<Live>` it started with,
/// so a reload never changes the rules under a request in flight; health of unchanged
/// providers is carried into the next `Live` (see [`Health::new`]).
#[derive(Debug)]
pub struct Live {
    pub config: Config,
    pub health: Health,
}
