//! Runs one request (chat, legacy completions or embeddings) through its phases and sends the
//! answer: a JSON body, a relayed stream, a cache hit or an OpenAI-shaped error.
//!
//! [`handle`] builds the request's [`context::RequestCtx`] (with the config snapshot it keeps
//! throughout), runs [`phases::run`] over it, builds every response header from it once
//! ([`headers`]), and ends it in the one finish step ([`finish`]), directly or, for a stream,
//! through the relay's summary.

mod budget;
mod context;
mod decide;
mod finish;
mod headers;
mod overflow;
mod phases;
mod spans;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tracing::Instrument;

pub(crate) use decide::{decide, Decision};

use crate::cache::Stored;
use crate::config::Endpoint;
use crate::error::ApiError;
use crate::openai::json_response;
use crate::state::AppState;
use context::{CacheIntent, RequestCtx};
use finish::{Ending, LedgerGuard};
use phases::Ready;

/// Handles a request to `endpoint` end to end; every outcome leaves one ledger line.
/// A body that could not be read (e.g. over the size limit) arrives as `Err` and is recorded too.
pub(crate) async fn handle(
    state: &Arc<AppState>,
    request_id: String,
    endpoint: Endpoint,
    client_headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    handle_on(state, request_id, endpoint, endpoint, client_headers, body).await
}

/// [`handle`] for a request that arrived on `surface` (`/v1/responses`, `/v1/messages`) and is
/// routed as `endpoint` (chat): the ledger line and metrics name the surface.
pub(crate) async fn handle_on(
    state: &Arc<AppState>,
    request_id: String,
    endpoint: Endpoint,
    surface: Endpoint,
    client_headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    let mut ctx = RequestCtx::new(Arc::clone(state), request_id, endpoint);
    ctx.surface = surface;
    serve(state, ctx, client_headers, body).await
}

/// Runs one line of a batch job as `tenant` (the job's owner, already authenticated when the
/// job was created), tagged with the batch id in its ledger line and yielding pacing slots to
/// interactive requests; the response is what a client sending the line would have got.
pub(crate) async fn handle_batch_line(
    state: &Arc<AppState>,
    request_id: String,
    endpoint: Endpoint,
    tenant: crate::auth::Tenant,
    batch: Arc<str>,
    body: Bytes,
) -> Response {
    let mut ctx = RequestCtx::new(Arc::clone(state), request_id, endpoint);
    ctx.tenant = tenant;
    ctx.batch = Some(batch);
    serve(state, ctx, &HeaderMap::new(), Ok(body)).await
}

async fn serve(
    state: &Arc<AppState>,
    ctx: RequestCtx,
    client_headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    let span = tracing::info_span!("request", id = %ctx.id);
    let mut guard = LedgerGuard::new(ctx);
    guard.ctx().otel = crate::otel::begin(client_headers);
    // boxed once here: the phases' state (~14 KB) would otherwise be copied with every
    // future that wraps this one on its way to hyper (about six moves per request)
    let result = Box::pin(phases::run(guard.ctx(), client_headers, body).instrument(span)).await;
    let ctx = guard.ctx();
    let overhead = ctx.freeze_overhead();
    let headers = headers::build(ctx, overhead);
    let resp = match result {
        Ok(Ready::Full(full)) => {
            let body = full.body.clone();
            guard.finish(Ending::Answered {
                usage: full.usage,
                uncounted: full.uncounted,
                body: full.body,
            });
            json_response(StatusCode::OK, body)
        }
        Ok(Ready::Stream { head, rest, resume }) => {
            let mut options = stream_options(ctx);
            options.resumer = resume;
            let drained = state.drained();
            crate::metrics::in_flight("streams", 1.0);
            let body = crate::stream::relay(head, rest, options, drained, guard);
            crate::sse::response(Body::from_stream(body))
        }
        Ok(Ready::Cached(entry)) => {
            let stream = ctx.request.stream;
            let include_usage = ctx.request.include_usage;
            guard.finish(Ending::CacheHit);
            cached_response(&entry.reply, stream, include_usage)
        }
        Err(e) => {
            guard.finish(Ending::Failed {
                status: e.status_code().as_u16(),
                outcome: e.outcome(),
            });
            e.into_response()
        }
    };
    with_headers(resp, headers)
}

/// The response-cache key the router uses for `body` sent to `endpoint` by the virtual key of
/// `user` (`None` in open mode), so tests can look entries up.
pub fn cache_key(
    state: &AppState,
    endpoint: Endpoint,
    body: &[u8],
    user: Option<&str>,
) -> Option<crate::cache::CacheKey> {
    let live = state.live();
    let config = &live.config;
    let req = crate::openai::ChatRequest::parse_for(endpoint, body).ok()?;
    let target = decide::resolve(config, &req).ok()?;
    let policy = &config.policies[decide::policy_index(config, target)];
    let route = match target {
        crate::config::Target::Policy(p) => &*config.policies[p].name,
        crate::config::Target::Model(m) => &*config.models[m].id,
    };
    let scope = phases::cache_scope(config.server.cache.scope, user, None);
    let partition = crate::cache::Partition {
        route,
        scope: &scope,
        policy: policy.fingerprint,
    };
    Some(crate::cache::CacheKey::for_request(&req, &partition))
}

/// How to relay this request's stream: its guardrails, and whether to keep it for the cache.
fn stream_options(ctx: &RequestCtx) -> crate::stream::Options {
    let keep = matches!(ctx.cache, CacheIntent::Miss { store: Some(_) });
    crate::stream::Options {
        include_usage: ctx.request.include_usage,
        redactor: ctx.policy().and_then(|p| p.guardrails.stream_redactor()),
        keep_up_to: keep.then(|| ctx.state.cache.entry_cap()),
        started: ctx.started,
        resumer: None,
    }
}

/// A cached answer as JSON, or replayed as SSE for a streaming request.
fn cached_response(reply: &Stored, stream: bool, include_usage: bool) -> Response {
    match (reply, stream) {
        (Stored::Full(body), false) => json_response(StatusCode::OK, body.clone()),
        _ => match crate::cache::replay(reply, include_usage) {
            Some(frames) => crate::sse::response(Body::from_stream(frames)),
            // keys differ for streamed and whole answers, so this cannot happen
            None => ApiError::Internal("cached answer has the wrong shape".into()).into_response(),
        },
    }
}

/// `resp` with the request's headers: the response's own few (content type) move into the
/// larger map rather than the other way round.
fn with_headers(mut resp: Response, headers: HeaderMap) -> Response {
    let own = std::mem::replace(resp.headers_mut(), headers);
    resp.headers_mut().extend(own);
    resp
}
