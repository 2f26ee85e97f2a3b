//! Shared integration-test harness: simulated upstreams, a config rendered around their URLs,
//! a ledger in a temp dir and the router served on 127.0.0.1:0.

pub mod browser;
mod builder;
mod harness;
mod own_process;
pub mod policies;
mod poll;
pub mod process;
mod upstream;
mod wire;

pub use builder::HarnessBuilder;
pub use harness::Harness;
pub use own_process::own_process;
pub use poll::wait_until;
pub use upstream::Upstream;
pub use wire::*;
