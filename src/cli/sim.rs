//! `switchyard sim`: one simulated provider as its own process, for end-to-end tests and benchmarks.

use std::net::SocketAddr;

use anyhow::Context;

use crate::demo::SimWire;
use crate::sim::SimSettings;

/// What `switchyard sim` runs.
#[derive(Debug)]
pub struct Options<'a> {
    pub listen: &'a str,
    pub name: &'a str,
    /// Comma-separated model ids.
    pub models: &'a str,
    pub realistic: bool,
    pub wire: SimWire,
    /// Answer every call with this HTTP status (and the wire's error body).
    pub fail_status: Option<u16>,
}

/// Serves until Ctrl-C; the first stdout line is `sim listening on BASE_URL`, where BASE_URL is
/// what a provider file's `base_url` must be (`http://ADDR/v1`, or `http://ADDR/v1beta` for
/// Gemini).
pub async fn run(o: Options<'_>) -> anyhow::Result<()> {
    let models: Vec<&str> = o
        .models
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    let settings = if o.realistic {
        SimSettings::realistic(o.name, models)
    } else {
        SimSettings::fast(o.name, models)
    };
    let addr: SocketAddr = o
        .listen
        .parse()
        .with_context(|| format!("`{}` is not a socket address", o.listen))?;
    let upstream = o
        .wire
        .spawn_on(settings, addr)
        .await
        .with_context(|| format!("binding {}", o.listen))?;
    if let Some(status) = o.fail_status {
        upstream.control().set_behavior(o.wire.outage(status));
    }
    println!("sim listening on {}", o.wire.base_url(&upstream));
    crate::cli::serve::shutdown_signal().await;
    Ok(())
}
