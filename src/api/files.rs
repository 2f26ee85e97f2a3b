//! `POST /v1/files` (a batch input file, multipart), `GET /v1/files/{id}` and
//! `GET /v1/files/{id}/content`: OpenAI's Files API for batch input and output files.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

use crate::batch::multipart;
use crate::error::ApiError;
use crate::state::AppState;

use super::batches::{caller, respond};

pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(store(&state, &headers, body).await)
}

async fn store(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (svc, tenant) = caller(state, headers)?;
    let body = body.map_err(|r| super::body_error(r, svc.max_file_bytes()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multipart::boundary(content_type).ok_or_else(|| {
        ApiError::invalid(
            "Upload the file as multipart/form-data with the fields `file` and `purpose`.",
            None,
        )
    })?;
    let parts = multipart::parse(&body, &boundary).map_err(|m| ApiError::invalid(m, None))?;
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let purpose = field("purpose")
        .map(|p| String::from_utf8_lossy(&p.data).trim().to_owned())
        .ok_or_else(|| ApiError::invalid("`purpose` is required.", Some("purpose")))?;
    let file =
        field("file").ok_or_else(|| ApiError::invalid("`file` is required.", Some("file")))?;
    let filename = file
        .filename
        .clone()
        .unwrap_or_else(|| "batch.jsonl".into());
    let object = svc
        .upload(&tenant, filename, &purpose, file.data.clone())
        .await?;
    Ok(Json(object).into_response())
}

pub(crate) async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    respond(
        caller(&state, &headers)
            .and_then(|(svc, tenant)| svc.file(&tenant, &id))
            .map(|f| Json(f).into_response()),
    )
}

pub(crate) async fn content(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let read = async {
        let (svc, tenant) = caller(&state, &headers)?;
        svc.content(&tenant, &id).await
    };
    respond(read.await.map(|bytes| {
        let mut resp = bytes.into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        resp
    }))
}
