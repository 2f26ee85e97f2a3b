//! The response cache: answers to deterministic requests, kept in-process and shared through Redis.
//!
//! [`decide`] says whether a request may use the cache and under which [`CacheKey`];
//! [`ResponseCache`] stores [`Entry`]s (moka in-process, Redis as a shared second level);
//! [`StreamTap`] collects a streamed answer while it is relayed, and [`replay`] sends it again
//! as a stream.

mod bounds;
mod decision;
mod entry;
mod key;
mod replay;
mod store;
mod tap;

pub use decision::{decide, Decision};
pub use entry::{Entry, Stored};
pub use key::CacheKey;
pub use replay::replay;
pub use store::ResponseCache;
pub use tap::StreamTap;
