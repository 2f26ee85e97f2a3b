//! Runs one request (chat, legacy completions or embeddings) through every stage: authenticate,
//! parse, guard, count, limit, cache, classify and route, reserve budget, dispatch, relay, record.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::time::Instant;
use tracing::Instrument;

mod budget;
mod cached;
mod decide;
mod protect;

pub use decide::{count_prompt, decide, plan, policy_index, resolve, Decision};

use crate::adapters::{EventStream, FullReply};
use crate::cache::{Decision as CacheDecision, Stored};
use crate::config::{Endpoint, Target};
use crate::dispatch::breaker::Breaker;
use crate::dispatch::{self, Op, Reply};
use crate::error::ApiError;
use crate::openai::ChatRequest;
use crate::state::{AppState, Live};
use crate::stream::{Extras, StoreStream};
use crate::usage::recorder::ms;
use crate::usage::Recorder;

/// Handles a request to `endpoint` end to end; every outcome leaves one ledger line.
/// A body that could not be read (e.g. over the size limit) arrives as `Err` and is recorded too.
pub async fn handle(
    state: &AppState,
    request_id: &str,
    endpoint: Endpoint,
    client_headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    let started = Instant::now();
    let live = state.live();
    let mut rec = Recorder::new(state.ledger.clone(), request_id, endpoint.as_str(), started);
    let mut headers = HeaderMap::new();
    put(&mut headers, "x-request-id", request_id);
    let span = tracing::info_span!("request", id = %request_id);
    let result = run(
        state,
        &live,
        endpoint,
        client_headers,
        body,
        &mut rec,
        &mut headers,
    )
    .instrument(span)
    .await;
    let overhead = rec.freeze_overhead();
    put(
        &mut headers,
        "x-switchyard-overhead-ms",
        &format!("{:.3}", ms(overhead)),
    );
    let resp = match result {
        Ok(Ready::Cached {
            entry,
            stream,
            include_usage,
            answer_price,
        }) => cached::respond(rec, &entry, stream, include_usage, answer_price),
        Ok(Ready::Full(full)) => {
            // the completion text is only needed to count tokens the upstream did not report
            let text = full.view.usage.is_none().then(|| full.view.text());
            rec.finish(200, "ok", full.view.usage, text, None);
            json_response(full.body)
        }
        Ok(Ready::Stream {
            head,
            rest,
            breaker,
            include_usage,
            extras,
        }) => {
            let body = crate::stream::relay(
                head,
                rest,
                include_usage,
                rec,
                breaker,
                state.drained(),
                extras,
            );
            sse_response(Body::from_stream(body))
        }
        Err(e) => {
            rec.finish(e.status_code().as_u16(), e.metric_label(), None, None, None);
            e.into_response()
        }
    };
    with_headers(resp, headers)
}

/// An answer ready to be sent (and recorded) by [`handle`].
enum Ready {
    Full(FullReply),
    Stream {
        head: Vec<String>,
        rest: EventStream,
        breaker: Arc<Mutex<Breaker>>,
        include_usage: bool,
        extras: Extras,
    },
    /// A response-cache hit; nothing was sent upstream.
    Cached {
        entry: Arc<crate::cache::Entry>,
        stream: bool,
        include_usage: bool,
        /// What the answering model charges, to record what the hit saved.
        answer_price: Option<crate::config::Price>,
    },
}

async fn run(
    state: &AppState,
    live: &Arc<Live>,
    endpoint: Endpoint,
    client_headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
    rec: &mut Recorder,
    headers: &mut HeaderMap,
) -> Result<Ready, ApiError> {
    let config = &live.config;
    let tenant = crate::auth::authenticate(&config.access, client_headers)?;
    rec.record.key_id = tenant.key_id.as_deref().map(str::to_owned);
    rec.record.team = tenant.team.as_deref().map(str::to_owned);
    rec.record.user = tenant.user.as_deref().map(str::to_owned);
    let req = ChatRequest::parse_for(endpoint, &body?)?;
    rec.record.requested_model = req.model.clone();
    if rec.record.user.is_none() {
        rec.record.user = req.user.clone();
    }
    rec.record.stream = req.stream;
    let target = resolve(config, &req)?;
    let policy = &config.policies[policy_index(config, target)];
    if let Err(rule) = policy.guardrails.check_input(&req.all_text) {
        tracing::info!(rule = %rule.name, policy = %policy.name, "request blocked by a guardrail");
        return Err(ApiError::ContentPolicy {
            rule: rule.name.clone(),
            policy: policy.name.to_string(),
        });
    }
    let prompt_tokens = count_prompt(config, target, &req).await?;
    rec.record.prompt_tokens = prompt_tokens;
    // known before routing, so refusals and cache hits are priced against the baseline too
    let baseline = &config.models[policy.baseline];
    rec.baseline_price = Some(baseline.price);
    rec.record.baseline_model = Some(baseline.id.to_string());
    rec.record.policy = Some(policy.name.to_string());
    let subject = protect::subject(config, &tenant);
    protect::admit(state, &subject, prompt_tokens, headers).await?;
    let route_id = match target {
        Target::Policy(p) => &*config.policies[p].name,
        Target::Model(m) => &*config.models[m].id,
    };
    let store_key = match state.cache.decide(&req, route_id, client_headers) {
        CacheDecision::Bypass(_) => {
            put(headers, "x-switchyard-cache", "bypass");
            None
        }
        CacheDecision::Use { key, read, write } => {
            if read {
                if let Some(entry) = state.cache.get(&key).await {
                    put(headers, "x-switchyard-cache", "hit");
                    return Ok(cached::ready(config, entry, &req, rec, headers));
                }
            }
            put(headers, "x-switchyard-cache", "miss");
            write.then_some(key)
        }
    };
    let mut decision = plan(config, target, &req, prompt_tokens)?;
    let hold = protect::reserve(state, config, policy, &subject, &req, &mut decision, rec).await?;
    protect::settle_after(state, subject, hold, rec);
    describe(&decision, rec, headers);
    let outcome = dispatch::dispatch(
        live,
        &state.client,
        &decision.plan,
        &req.body,
        Op {
            endpoint,
            stream: req.stream,
            max_wait: policy.pacing.max_wait,
            tokens: decision
                .prompt_tokens
                .saturating_add(req.max_tokens.unwrap_or(0)),
        },
    )
    .await;
    let (trace, chosen) = match &outcome {
        Ok(d) => (&d.trace, Some(d.model)),
        Err(f) => (&f.trace, f.model),
    };
    rec.waited = trace.waited;
    rec.record.attempts = trace.attempts;
    rec.record.failovers = trace.failovers;
    put(
        headers,
        "x-switchyard-attempts",
        &trace.attempts.to_string(),
    );
    put(
        headers,
        "x-switchyard-failovers",
        &trace.failovers.to_string(),
    );
    if let Some(m) = chosen {
        let model = &live.config.models[m];
        let provider = &live.config.providers[model.provider];
        rec.record.model = Some(model.id.to_string());
        rec.record.provider = Some(provider.name.to_string());
        rec.price = Some(model.price);
        rec.encoding = model.encoding;
        put(headers, "x-switchyard-model", &model.id);
        put(headers, "x-switchyard-provider", &provider.name);
    }
    let done = outcome.map_err(|f| f.error)?;
    rec.answered = true;
    let answered_by = |m: usize| {
        let model = &live.config.models[m];
        (
            model.id.to_string(),
            live.config.providers[model.provider].name.to_string(),
        )
    };
    Ok(match done.reply {
        Reply::Full(mut full) => {
            if full.view.usage.is_none() {
                full.body = with_counted_usage(full.body, rec.record.prompt_tokens);
            }
            if let Some((body, n)) = policy.guardrails.redact_body(&full.body) {
                full.body = body.into();
                rec.record.redactions = n;
            }
            if let Some(key) = store_key {
                let (model, provider) = answered_by(done.model);
                state.cache.store_later(
                    key,
                    Stored::Full(full.body.clone()),
                    model,
                    provider,
                    full.view.usage,
                );
            }
            Ready::Full(full)
        }
        Reply::Stream { head, rest } => {
            let tap = store_key.map(|key| {
                let (model, provider) = answered_by(done.model);
                let cache = state.cache.clone();
                let store: StoreStream = Box::new(move |stored, usage| {
                    cache.store_later(key, stored, model, provider, usage);
                });
                (state.cache.tap(), store)
            });
            Ready::Stream {
                head,
                rest,
                breaker: done.breaker,
                include_usage: req.include_usage,
                extras: Extras {
                    redactor: policy.guardrails.stream_redactor(),
                    tap,
                },
            }
        }
    })
}

/// Copies the decision into the ledger record and the response headers.
fn describe(d: &Decision, rec: &mut Recorder, headers: &mut HeaderMap) {
    let r = &mut rec.record;
    r.rule = Some(d.plan.rule.to_string());
    r.prompt_tokens = d.prompt_tokens;
    let complexity = d
        .classification
        .as_ref()
        .map_or("unclassified", |c| c.complexity.as_str());
    if let Some(c) = &d.classification {
        r.complexity = Some(c.complexity.as_str().to_owned());
        r.score = Some(c.score);
    }
    put(headers, "x-switchyard-policy", &d.plan.policy);
    put(headers, "x-switchyard-rule", &d.plan.rule);
    put(headers, "x-switchyard-complexity", complexity);
    put(
        headers,
        "x-switchyard-prompt-tokens",
        &d.prompt_tokens.to_string(),
    );
}

/// Adds the router's own prompt count as `usage` to an embeddings answer whose upstream reports
/// none (Gemini), since OpenAI's clients expect it; other answers are returned as they came.
fn with_counted_usage(body: Bytes, prompt_tokens: u64) -> Bytes {
    let Ok(serde_json::Value::Object(mut v)) = serde_json::from_slice(&body) else {
        return body;
    };
    if v.get("object").and_then(|o| o.as_str()) != Some("list") || v.contains_key("usage") {
        return body;
    }
    v.insert(
        "usage".into(),
        serde_json::json!({"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}),
    );
    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body)
}

/// A 200 carrying a JSON answer as it is.
fn json_response(body: Bytes) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A 200 event stream.
fn sse_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub(crate) fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn with_headers(mut resp: Response, headers: HeaderMap) -> Response {
    resp.headers_mut().extend(headers);
    resp
}
