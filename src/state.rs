//! Shared application state: the live config (swapped atomically), the HTTP client, the ledger.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::dispatch::health::Health;
use crate::usage::Ledger;

/// A config together with the runtime health built for it; a request keeps the `Arc<Live>` it
/// started with, so a reload never changes the rules under a request in flight.
#[derive(Debug)]
pub struct Live {
    pub config: Config,
    pub health: Health,
}

/// Everything handlers share.
#[derive(Debug)]
pub struct AppState {
    live: ArcSwap<Live>,
    /// One pooled client for every upstream, so connections are reused across requests.
    pub client: reqwest::Client,
    pub ledger: Ledger,
    pub started: std::time::Instant,
}

impl AppState {
    pub fn new(config: Config, ledger: Ledger) -> Arc<Self> {
        let health = Health::new(&config, None);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(512)
            .tcp_nodelay(true)
            // the router retries and fails over itself, with its own accounting
            .retry(reqwest::retry::never())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Arc::new(Self {
            live: ArcSwap::from_pointee(Live { config, health }),
            client,
            ledger,
            started: std::time::Instant::now(),
        })
    }

    /// The config and health a new request should use.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Swaps in a new config, carrying over health of unchanged providers.
    pub fn replace_config(&self, config: Config) {
        let old = self.live.load_full();
        let health = Health::new(&config, Some((&old.config, &old.health)));
        self.live.store(Arc::new(Live { config, health }));
    }
}
