//! `switchyard sim`: one simulated provider as its own process, for end-to-end tests and benchmarks.

use std::net::SocketAddr;

use anyhow::Context;

use crate::sim::{self, SimSettings};

/// Serves until Ctrl-C; the first stdout line is `sim listening on http://ADDR/v1`.
pub async fn run(listen: &str, name: &str, models: &str, realistic: bool) -> anyhow::Result<()> {
    let models: Vec<&str> = models
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    let settings = if realistic {
        SimSettings::realistic(name, models)
    } else {
        SimSettings::fast(name, models)
    };
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("`{listen}` is not a socket address"))?;
    let upstream = sim::spawn_on(settings, addr)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("sim listening on {}", upstream.base_url());
    crate::cli::serve::shutdown_signal().await;
    Ok(())
}
