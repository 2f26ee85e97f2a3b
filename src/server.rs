//! The HTTP server: routes, body limit, and a run loop with graceful shutdown, testable on port 0.

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::api;
use crate::openai::ErrorBody;
use crate::state::AppState;

/// The router's HTTP app. Paths are served with and without the `/v1` prefix, since clients
/// differ in whether their base URL includes it.
pub fn app(state: Arc<AppState>) -> Router {
    let limit = state.live().config.server.max_body_bytes;
    crate::metrics::handle();
    let v1 = Router::new()
        .route("/chat/completions", post(api::chat::chat_completions))
        .route("/completions", post(api::chat::completions))
        .route("/embeddings", post(api::chat::embeddings))
        .route("/models", get(api::models::list_models));
    Router::new()
        .nest("/v1", v1.clone())
        .merge(v1)
        .route("/health", get(api::health::health))
        .route("/admin/reload", post(api::admin::reload))
        .route("/metrics", get(api::metrics::prometheus))
        .route("/metrics/json", get(api::metrics::as_json))
        .route(
            "/metrics/circuit-breakers",
            get(api::metrics::circuit_breakers),
        )
        .route("/dashboard", get(api::dashboard::page))
        .route("/dashboard/", get(api::dashboard::page))
        .route("/dashboard/app.js", get(api::dashboard::script))
        .route("/dashboard/style.css", get(api::dashboard::style))
        .route("/health/live", get(api::health::live))
        .route("/health/ready", get(api::health::ready))
        .route("/health/detailed", get(api::health::detailed))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The longest a shutdown waits for budget settlements still in flight.
const SETTLE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts the state's background tasks, serves `app` on `listener` until `shutdown` resolves,
/// then lets open requests finish and flushes the ledger.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.start_background();
    let router = app(state.clone());
    let grace = state.live().config.server.shutdown_grace;
    let timer = state.clone();
    let signal = async move {
        shutdown.await;
        // stop accepting now; after the grace period, end whatever streams are still open
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!("shutdown grace period over; ending open streams");
            timer.end_grace();
        });
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(signal)
        .await?;
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
    Ok(())
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let message = format!(
        "Unknown path {}: Switchyard serves /v1/chat/completions and /v1/models",
        uri.path()
    );
    ErrorBody::new(message, "invalid_request_error", None, Some("unknown_url"))
        .into_response(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> Response {
    ErrorBody::new(
        "Method not allowed for this path",
        "invalid_request_error",
        None,
        Some("method_not_allowed"),
    )
    .into_response(StatusCode::METHOD_NOT_ALLOWED)
}
