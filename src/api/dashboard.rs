//! `/dashboard`: the live operator page and its script and stylesheet, embedded in the binary.
//!
//! The page is static; its script polls `/metrics/json`, `/metrics/circuit-breakers` and
//! `/health` every two seconds and draws everything client-side, so serving it costs the router
//! nothing beyond three file writes and works offline (no CDN, no external fonts).

use axum::http::header;
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/style.css");

/// Serves `body` with `content_type`; `no-cache` so a new binary's page is picked up at once.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /dashboard`: the page shell; everything in it is filled in by `app.js`.
pub(crate) async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /dashboard/app.js`: polls the metrics endpoints and renders numbers and charts.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /dashboard/style.css`: the page's theme.
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
