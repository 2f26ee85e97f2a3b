//! Serves the apps until shutdown: header reads and idle keep-alive connections are bounded,
//! open requests and streams get a grace period, then a hard deadline after which whatever is
//! still open is closed and the process exits, having flushed the ledger.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::poll_again::poll_again;
use super::{app, ops_app};
use crate::state::AppState;

/// The longest a shutdown waits for budget settlements still in flight.
const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// Starts the state's background tasks and serves [`app`] on `listener` (and the ops app on
/// `ops_listen`, when configured) until `shutdown` resolves. Then it stops accepting, lets
/// open requests finish for the grace period (streams still open after it end with an error
/// event), closes what is left after the shutdown deadline, and flushes the ledger; every
/// request cut short still leaves its ledger line.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.start_background();
    if let Some(batches) = state.batches() {
        crate::batch::runner::resume(batches, &state);
    }
    let settings = state.live().config.server.clone();
    let ops = match &settings.ops_listen {
        Some(addr) => {
            let l = TcpListener::bind(addr).await?;
            let bound = l.local_addr()?;
            state.set_ops_addr(bound);
            tracing::info!(%bound, "operational endpoints listening without a key");
            Some(l)
        }
        None => None,
    };
    let near = tokio::spawn(keep_a_timer_near());
    let builder = builder(settings.header_timeout);
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    let main = app(Arc::clone(&state));
    let ops_router = ops_app(Arc::clone(&state));
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        let (accepted, router) = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => (a, &main),
            a = accept(ops.as_ref()) => (a, &ops_router),
        };
        match accepted {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let svc = TowerToHyperService::new(router.clone());
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .into_owned();
                let watched = graceful.watch(conn);
                conns.spawn(poll_again(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                }));
            }
            // e.g. too many open files: keep serving the connections already open
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop((listener, ops));
    near.abort();
    close(
        &state,
        graceful,
        conns,
        settings.shutdown_grace,
        settings.shutdown_deadline,
    )
    .await;
    Ok(())
}

/// HTTP/1.1 and HTTP/2 with bounded header reads; on HTTP/1.1 the same bound closes a
/// keep-alive connection that sends no next request.
fn builder(header_timeout: Duration) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    b.http2().timer(TokioTimer::new());
    b
}

/// Keeps a timer due within [`NEAR`], so the runtime's timer driver always plans to wake that
/// soon. A timer set for earlier than the driver's planned wake-up makes Tokio wake the driver
/// at once (an eventfd write, then an `epoll_wait` that returns empty) to plan again; every
/// request sets such timers (the next header read's 10 s bound, the upstream's first byte),
/// each due sooner than whatever the driver last planned for. With this one always nearer,
/// they never do. It costs one wake-up per [`NEAR`].
async fn keep_a_timer_near() {
    let mut tick = tokio::time::interval(NEAR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// How far ahead [`keep_a_timer_near`] keeps its timer: shorter than any per-request timeout.
const NEAR: Duration = Duration::from_secs(1);

/// The next connection on `listener`, or never when there is none.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// The shutdown after accepting stopped: grace, deadline, settlements, ledger.
async fn close(
    state: &Arc<AppState>,
    graceful: GracefulShutdown,
    mut conns: JoinSet<()>,
    grace: Duration,
    deadline: Duration,
) {
    let timer = Arc::clone(state);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!("shutdown grace period over; ending open streams");
        timer.end_grace();
    });
    if tokio::time::timeout(grace + deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = conns.len(),
            "connections still open after the shutdown deadline; closing them"
        );
    }
    // aborting drops each request still running, which writes its ledger line
    conns.shutdown().await;
    // batch lines running finish and are journaled, so a restart does not run them again
    if let Some(batches) = state.batches() {
        batches.stop(deadline).await;
    }
    // budget settlements of the last requests, and spend queued during a Redis outage, land
    // before exit so shared spend loses nothing
    let left = state.limiter.settling.wait(SETTLE_GRACE).await;
    if left > 0 {
        tracing::warn!(
            left,
            "budget settlements still running at exit; their holds will lapse"
        );
    }
    state.limiter.flush_pending().await;
    state.ledger.flush().await;
    // the Postgres sink copies the last lines if it can do so quickly; whatever it cannot
    // stays in the ledger file and is copied at the next start
    if let Some(pg) = state.postgres() {
        let until = tokio::time::Instant::now() + PG_CATCH_UP;
        while !pg.caught_up() && tokio::time::Instant::now() < until {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// How long shutdown waits for the Postgres sink to copy the last ledger lines.
const PG_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(3);
