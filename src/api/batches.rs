//! `POST /v1/batches`, `GET /v1/batches` (paged), `GET /v1/batches/{id}` and
//! `POST /v1/batches/{id}/cancel`: OpenAI's Batch API over [`crate::batch`].

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

use crate::auth::Tenant;
use crate::batch::{Batches, CreateBatch};
use crate::error::ApiError;
use crate::state::AppState;

/// The batch service and the caller's tenant (401 without a valid key; 404 when the server
/// file enables no batches).
pub(crate) fn caller<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
) -> Result<(&'a Arc<Batches>, Tenant), ApiError> {
    let tenant = crate::auth::authenticate(&state.live().config.access, headers)?;
    let svc = state.batches().ok_or_else(|| ApiError::NotFound {
        message: "Batches are not enabled on this router: the operator sets `batches: {dir: …}` in the server file.".into(),
        param: None,
        code: "batches_disabled",
    })?;
    Ok((svc, tenant))
}

/// The answer, or its OpenAI-shaped error.
pub(crate) fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let made = async {
        let (svc, tenant) = caller(&state, &headers)?;
        let body = body.map_err(|r| super::body_error(r, state.max_body_bytes))?;
        let req: CreateBatch = serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("Invalid batch request: {e}"), None))?;
        crate::batch::runner::create(svc, &state, &tenant, req).await
    };
    respond(made.await.map(|job| Json(job).into_response()))
}

pub(crate) async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let found = caller(&state, &headers).and_then(|(svc, tenant)| svc.job(&tenant, &id));
    respond(found.map(|job| Json(job).into_response()))
}

pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let cancelled = async {
        let (svc, tenant) = caller(&state, &headers)?;
        svc.cancel(&tenant, &id).await
    };
    respond(cancelled.await.map(|job| Json(job).into_response()))
}

/// `GET /v1/batches` query: `after` (a batch id) and `limit` (1 to 100, default 20).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let listed = caller(&state, &headers).and_then(|(svc, tenant)| {
        let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text(), None))?;
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid(
                "`limit` must be between 1 and 100.",
                Some("limit"),
            ));
        }
        Ok(svc.list(&tenant, q.after.as_deref(), limit))
    });
    respond(listed.map(|page| Json(page).into_response()))
}
