//! Runs one request (chat, legacy completions or embeddings) through every stage: parse,
//! classify, route, dispatch, relay, record.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::time::Instant;
use tracing::Instrument;

use crate::adapters::{EventStream, FullReply};
use crate::classify::{Classification, PromptParts};
use crate::config::{Config, Endpoint, Target};
use crate::dispatch::breaker::Breaker;
use crate::dispatch::{self, Op, Reply};
use crate::error::ApiError;
use crate::openai::ChatRequest;
use crate::route::{self, Facts, RoutePlan};
use crate::state::{AppState, Live};
use crate::tokens::{self, Encoding};
use crate::usage::recorder::ms;
use crate::usage::Recorder;

/// Text past this size is tokenized on the blocking pool so it cannot stall other requests.
const BLOCKING_TOKENIZE_BYTES: usize = 64 * 1024;

/// The routing decision made before any upstream is called.
pub struct Decision {
    pub target: Target,
    pub prompt_tokens: u64,
    pub classification: Option<Classification>,
    pub plan: RoutePlan,
}

/// Handles a request to `endpoint` end to end; every outcome leaves one ledger line.
/// A body that could not be read (e.g. over the size limit) arrives as `Err` and is recorded too.
pub async fn handle(
    state: &AppState,
    request_id: &str,
    endpoint: Endpoint,
    body: Result<Bytes, ApiError>,
) -> Response {
    let started = Instant::now();
    let live = state.live();
    let mut rec = Recorder::new(state.ledger.clone(), request_id, endpoint.as_str(), started);
    let mut headers = HeaderMap::new();
    put(&mut headers, "x-request-id", request_id);
    let span = tracing::info_span!("request", id = %request_id);
    let result = run(state, &live, endpoint, body, &mut rec, &mut headers)
        .instrument(span)
        .await;
    let overhead = rec.freeze_overhead();
    put(
        &mut headers,
        "x-switchyard-overhead-ms",
        &format!("{:.3}", ms(overhead)),
    );
    let resp = match result {
        Ok(Ready::Full(full)) => {
            // the completion text is only needed to count tokens the upstream did not report
            let text = full.view.usage.is_none().then(|| full.view.text());
            let body = if full.view.usage.is_none() {
                with_counted_usage(full.body, rec.record.prompt_tokens)
            } else {
                full.body
            };
            rec.finish(200, "ok", full.view.usage, text, None);
            let mut resp = (StatusCode::OK, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Ok(Ready::Stream {
            head,
            rest,
            breaker,
            include_usage,
        }) => {
            let body =
                crate::stream::relay(head, rest, include_usage, rec, breaker, state.drained());
            let mut resp = Response::new(Body::from_stream(body));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => {
            rec.finish(e.status_code().as_u16(), e.metric_label(), None, None, None);
            e.into_response()
        }
    };
    with_headers(resp, headers)
}

/// An upstream answer ready to be sent (and recorded) by [`handle`].
enum Ready {
    Full(FullReply),
    Stream {
        head: Vec<String>,
        rest: EventStream,
        breaker: Arc<Mutex<Breaker>>,
        include_usage: bool,
    },
}

async fn run(
    state: &AppState,
    live: &Arc<Live>,
    endpoint: Endpoint,
    body: Result<Bytes, ApiError>,
    rec: &mut Recorder,
    headers: &mut HeaderMap,
) -> Result<Ready, ApiError> {
    let req = ChatRequest::parse_for(endpoint, &body?)?;
    rec.record.requested_model = req.model.clone();
    rec.record.user = req.user.clone();
    rec.record.stream = req.stream;
    let decision = decide(&live.config, &req).await?;
    describe(live, &decision, rec, headers);
    let outcome = dispatch::dispatch(
        live,
        &state.client,
        &decision.plan,
        &req.body,
        Op {
            endpoint,
            stream: req.stream,
            max_wait: live
                .config
                .policies
                .iter()
                .find(|p| p.name == decision.plan.policy)
                .map_or(Duration::ZERO, |p| p.pacing.max_wait),
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
    Ok(match done.reply {
        Reply::Full(full) => Ready::Full(full),
        Reply::Stream { head, rest } => Ready::Stream {
            head,
            rest,
            breaker: done.breaker,
            include_usage: req.include_usage,
        },
    })
}

/// Counts tokens once, classifies (for policy routes) and picks the candidates.
pub async fn decide(config: &Config, req: &ChatRequest) -> Result<Decision, ApiError> {
    let target = config
        .resolve(&req.model)
        .ok_or_else(|| ApiError::ModelNotFound {
            model: req.model.clone(),
            valid: config.valid_names().join(", "),
        })?;
    let bpe = match target {
        Target::Model(m) => config.models[m].encoding.bpe(),
        Target::Policy(_) => Encoding::O200k.bpe(),
    };
    let chat = req.endpoint == Endpoint::Chat;
    let count = move |text: &str, n: usize| {
        if chat {
            tokens::count_chat(bpe, text, n)
        } else {
            tokens::count(bpe, text)
        }
    };
    let counted = if req.all_text.len() > BLOCKING_TOKENIZE_BYTES {
        let text = req.all_text.clone();
        let n = req.messages;
        tokio::task::spawn_blocking(move || count(&text, n))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    } else {
        count(&req.all_text, req.messages)
    };
    let prompt_tokens = counted + req.token_ids;
    let classification = match target {
        // embeddings are routed by alias and weights: there is no answer whose difficulty matters
        Target::Policy(_) if req.endpoint == Endpoint::Embeddings => None,
        Target::Policy(p) => {
            let parts = PromptParts {
                system: &req.system,
                last_user: &req.last_user,
                turns: req.messages,
            };
            Some(
                config.policies[p]
                    .classifier
                    .classify(&parts, u32::try_from(prompt_tokens).unwrap_or(u32::MAX)),
            )
        }
        Target::Model(_) => None,
    };
    let facts = Facts {
        endpoint: req.endpoint,
        requested: &req.model,
        user: req.user.as_deref(),
        has_tools: req.has_tools,
        has_images: req.has_images,
        last_user: &req.last_user,
        classification: classification.as_ref(),
        prompt_tokens,
        needed_tokens: prompt_tokens + req.max_tokens.unwrap_or(0),
    };
    let plan = route::route(config, target, &facts)?;
    Ok(Decision {
        target,
        prompt_tokens,
        classification,
        plan,
    })
}

/// Copies the decision into the ledger record and the response headers.
fn describe(live: &Live, d: &Decision, rec: &mut Recorder, headers: &mut HeaderMap) {
    let r = &mut rec.record;
    r.policy = Some(d.plan.policy.to_string());
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
    let baseline = &live.config.models[d.plan.baseline];
    r.baseline_model = Some(baseline.id.to_string());
    rec.baseline_price = Some(baseline.price);
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

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn with_headers(mut resp: Response, headers: HeaderMap) -> Response {
    resp.headers_mut().extend(headers);
    resp
}
