//! Serves a response-cache hit: the stored answer (replayed as SSE for a streaming request),
//! marked in headers and recorded in the ledger with what it saved.

use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{put, Ready};
use crate::cache::{Entry, Stored};
use crate::config::Config;
use crate::error::ApiError;
use crate::openai::ChatRequest;
use crate::usage::Recorder;

/// Turns a hit into a ready answer, noting which model made it.
pub(super) fn ready(
    config: &Config,
    entry: Arc<Entry>,
    req: &ChatRequest,
    rec: &mut Recorder,
    headers: &mut HeaderMap,
) -> Ready {
    rec.record.model = Some(entry.model.clone());
    rec.record.provider = Some(entry.provider.clone());
    put(headers, "x-switchyard-model", &entry.model);
    put(headers, "x-switchyard-provider", &entry.provider);
    let answer_price = config.resolve(&entry.model).and_then(|t| match t {
        crate::config::Target::Model(m) => Some(config.models[m].price),
        crate::config::Target::Policy(_) => None,
    });
    Ready::Cached {
        entry,
        stream: req.stream,
        include_usage: req.include_usage,
        answer_price,
    }
}

/// The response for a hit; writes its ledger line.
pub(super) fn respond(
    rec: Recorder,
    entry: &Entry,
    stream: bool,
    include_usage: bool,
    answer_price: Option<crate::config::Price>,
) -> Response {
    rec.finish_cache_hit(entry.usage, answer_price);
    match (&entry.reply, stream) {
        (Stored::Full(body), false) => super::json_response(body.clone()),
        _ => match crate::cache::replay(entry, include_usage) {
            Some(frames) => super::sse_response(Body::from_stream(frames)),
            // keys differ for streamed and whole answers, so this cannot happen
            None => ApiError::Internal("cached answer has the wrong shape".into()).into_response(),
        },
    }
}
