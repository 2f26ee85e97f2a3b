//! The response cache: answers to deterministic requests, kept in-process and shared through Redis.
//!
//! [`decide`] says whether a request may use the cache and under which [`CacheKey`];
//! [`ResponseCache`] stores [`Entry`]s (moka in-process, Redis as a shared second level);
//! [`replay`] sends a stored stream again.

mod bounds;
mod decision;
mod entry;
mod key;
mod replay;
mod store;

pub(crate) use decision::Decision;
pub use entry::{Entry, Stored};
pub use key::{CacheKey, Partition};
pub use replay::replay;
pub use store::ResponseCache;
