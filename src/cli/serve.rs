//! `switchyard serve`: loads the config, opens the ledger and runs the server until a signal.

use std::path::Path;

use anyhow::Context;

use crate::config::{Config, KeyMode, Sources};
use crate::state::AppState;
use crate::usage::Ledger;

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let built = Sources::read(config_path)
        .and_then(|s| Config::build(&s, &env, KeyMode::Require).map(|c| (s, c)));
    let (sources, config) = match built {
        Ok(both) => both,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            anyhow::bail!(
                "{} configuration problem(s); nothing started",
                problems.len()
            );
        }
    };
    super::logging::init(config.server.log_format);
    crate::otel::init(tokio::runtime::Handle::current());
    crate::tokens::warm();
    let ledger = Ledger::open_with(&config.server.ledger)
        .with_context(|| format!("opening ledger {}", config.server.ledger.path.display()))?;
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        policy = %config.default_policy().name,
        providers = config.providers.len(),
        models = config.models.len(),
        version = %config.version,
        ledger = %config.server.ledger.path.display(),
        "switchyard is serving"
    );
    println!("switchyard listening on http://{}", listener.local_addr()?);
    let ledger_path = config.server.ledger.path.clone();
    for w in config.access.warnings() {
        tracing::warn!("{w}");
    }
    let state = AppState::new(config, ledger);
    state.set_source(config_path.to_owned());
    match state.rebuild_spend_at_start(&ledger_path).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(records = n, "budget spend rebuilt from the ledger"),
        Err(e) => tracing::warn!(error = %e, "cannot read the ledger to rebuild budget spend"),
    }
    if let Err(e) = crate::reload::spawn_triggers(state.clone(), &sources) {
        tracing::warn!(error = %e, "cannot watch config files; reload with SIGHUP or POST /admin/reload");
    }
    let served = crate::server::run(listener, state, shutdown_signal()).await;
    crate::otel::shutdown().await;
    served?;
    tracing::info!("stopped; ledger flushed");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing open requests");
}
