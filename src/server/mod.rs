//! The HTTP server: the client-facing routes, the operational routes (behind the ops key, or
//! on `ops_listen`), and [`run`], which serves them until shutdown.

pub(crate) mod poll_again;
mod serve;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use serve::run;

use crate::api;
use crate::auth::{authorize, Role};
use crate::openai::ErrorBody;
use crate::state::AppState;

/// The router's HTTP app. Paths are served with and without the `/v1` prefix, since clients
/// differ in whether their base URL includes it. The operational endpoints need the ops (or
/// admin) key unless the router runs open; `/health`, `/health/live` and `/health/ready`
/// stay open for probes.
pub fn app(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    let file_limit = state
        .live()
        .config
        .server
        .batches
        .as_ref()
        .map_or(limit, |b| b.max_file_bytes);
    crate::metrics::handle();
    let guarded = ops_routes().route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        require_ops,
    ));
    Router::new()
        .merge(client_routes("/v1", file_limit))
        .merge(client_routes("", file_limit))
        .merge(guarded)
        .merge(dashboard_page())
        .route("/health", get(api::health::health))
        .route("/health/live", get(api::health::live))
        .route("/health/ready", get(api::health::ready))
        .route("/admin/reload", post(api::admin::reload))
        .route("/admin/breakers/{*model}", post(api::operator::breaker))
        .route("/admin/keys/{provider}/{key}", post(api::operator::key))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The client-facing API under `prefix` (`/v1`, or none). Registered once per prefix rather
/// than nested: a nested router rebuilds every request's URI to strip the prefix.
fn client_routes(prefix: &str, file_limit: usize) -> Router<Arc<AppState>> {
    let at = |path: &str| format!("{prefix}{path}");
    Router::new()
        .route(&at("/chat/completions"), post(api::chat::chat_completions))
        .route(&at("/completions"), post(api::chat::completions))
        .route(&at("/embeddings"), post(api::chat::embeddings))
        .route(&at("/moderations"), post(api::chat::moderations))
        .route(&at("/models"), get(api::models::list_models))
        .route(&at("/models/{*id}"), get(api::models::retrieve_model))
        .route(&at("/responses"), post(api::responses::create))
        .route(
            &at("/responses/{id}"),
            get(api::responses::retrieve).delete(api::responses::delete),
        )
        .route(
            &at("/responses/{id}/input_items"),
            get(api::responses::input_items),
        )
        .route(&at("/messages"), post(api::messages::create))
        .route(
            &at("/messages/count_tokens"),
            post(api::messages::count_tokens),
        )
        .route(
            &at("/files"),
            post(api::files::upload).layer(DefaultBodyLimit::max(file_limit)),
        )
        .route(&at("/files/{id}"), get(api::files::retrieve))
        .route(&at("/files/{id}/content"), get(api::files::content))
        .route(
            &at("/batches"),
            post(api::batches::create).get(api::batches::list),
        )
        .route(&at("/batches/{id}"), get(api::batches::retrieve))
        .route(&at("/batches/{id}/cancel"), post(api::batches::cancel))
}

/// The operational endpoints alone and without a key, for `ops_listen`.
pub(crate) fn ops_app(state: Arc<AppState>) -> Router {
    crate::metrics::handle();
    ops_routes()
        .merge(dashboard_page())
        .route("/health", get(api::health::health))
        .route("/health/live", get(api::health::live))
        .route("/health/ready", get(api::health::ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// What shows providers, key variable names, the ledger path and spend.
fn ops_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/metrics", get(api::metrics::prometheus))
        .route("/metrics/json", get(api::metrics::as_json))
        .route(
            "/metrics/circuit-breakers",
            get(api::metrics::circuit_breakers),
        )
        .route("/health/detailed", get(api::health::detailed))
}

/// The dashboard's page and assets: static, no data (the page fetches it from the ops routes).
fn dashboard_page() -> Router<Arc<AppState>> {
    Router::new()
        .route("/dashboard", get(api::dashboard::page))
        .route("/dashboard/", get(api::dashboard::page))
        .route("/dashboard/app.js", get(api::dashboard::script))
        .route("/dashboard/style.css", get(api::dashboard::style))
}

async fn require_ops(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match authorize(&state.live().config.access, Role::Ops, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
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
