//! Operator controls (admin key required): force a model's breaker open or closed, and drain or
//! disable one upstream key (`POST /admin/breakers/{model}`, `POST /admin/keys/{provider}/{key}`).
//!
//! Both change this instance's runtime health ([`crate::dispatch::health::Health`]), which a
//! config reload carries over; with Redis configured they are first written there, and every
//! instance adopts them ([`crate::dispatch::sync`]); they are shown in `/health/detailed`, the dashboard and every
//! skipped candidate's note (the ledger's `trace`, error summaries). A key is named by its
//! environment variable (`OPENAI_KEY_1`), the identifier health and logs already use; the key
//! itself never appears.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{authorize, Role};
use crate::dispatch::breaker::Forced;
use crate::dispatch::health::breaker_event;
use crate::dispatch::keys::KeyState;
use crate::dispatch::sync;
use crate::error::ApiError;
use crate::lock::lock;
use crate::shared::Shared;
use crate::state::AppState;

/// `{"state": "open" | "closed" | "auto"}`.
#[derive(Deserialize)]
struct BreakerBody {
    state: BreakerChoice,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum BreakerChoice {
    Open,
    Closed,
    Auto,
}

/// `{"state": "drain" | "disable" | "active"}`.
#[derive(Deserialize)]
struct KeyBody {
    state: KeyState,
}

/// Reads the body as `T`, or the 400 naming what it must hold.
fn read<T: serde::de::DeserializeOwned>(body: &[u8], allowed: &str) -> Result<T, ApiError> {
    let object = crate::openai::json_object(body)?;
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|_| {
        ApiError::invalid(
            format!("The body must be {{\"state\": {allowed}}}."),
            Some("state"),
        )
    })
}

/// `POST /admin/breakers/{model}`: forces the model's breaker open or closed, or hands it back
/// to the automatic state machine (which restarts closed).
pub(crate) async fn breaker(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_breaker(&state, &model, &headers, &body)
        .await
        .map_or_else(IntoResponse::into_response, |v| {
            (StatusCode::OK, Json(v)).into_response()
        })
}

/// With Redis configured, writes an override for every instance before it is applied here;
/// says whose override it is.
async fn share(
    state: &AppState,
    name: impl FnOnce(&Shared) -> String,
    value: Option<&str>,
) -> Result<&'static str, ApiError> {
    let Some(shared) = &state.shared else {
        return Ok("instance");
    };
    sync::publish_override(shared, &name(shared), value)
        .await
        .map_err(|e| ApiError::OverrideNotShared {
            reason: e.to_string(),
        })?;
    Ok("fleet")
}

async fn set_breaker(
    state: &AppState,
    model: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let live = state.live();
    authorize(&live.config.access, Role::Admin, headers)?;
    let choice: BreakerChoice = read::<BreakerBody>(body, r#""open", "closed" or "auto""#)?.state;
    let m = live
        .config
        .models
        .iter()
        .position(|m| &*m.id == model)
        .ok_or_else(|| ApiError::NotFound {
            message: format!("No model `{model}` is configured (write provider/model)."),
            param: Some("model".into()),
            code: "model_not_found",
        })?;
    let forced = match choice {
        BreakerChoice::Open => Some(Forced::Open),
        BreakerChoice::Closed => Some(Forced::Closed),
        BreakerChoice::Auto => None,
    };
    let scope = share(
        state,
        |sh| sync::breaker_override(sh, model),
        forced.map(Forced::as_str),
    )
    .await?;
    let breaker = &live.health.breakers[m];
    let now_state = breaker_event(breaker, model, |b, now| {
        b.set_forced(forced, now);
        b.state(now)
    });
    tracing::warn!(%model, forced = forced.map_or("auto", Forced::as_str), "breaker override set by an operator");
    Ok(json!({"model": model, "forced": forced, "state": now_state.as_str(), "scope": scope}))
}

/// `POST /admin/keys/{provider}/{key}`: drains or disables one upstream key, or puts it back.
pub(crate) async fn key(
    State(state): State<Arc<AppState>>,
    Path((provider, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    set_key(&state, &provider, &key, &headers, &body)
        .await
        .map_or_else(IntoResponse::into_response, |v| {
            (StatusCode::OK, Json(v)).into_response()
        })
}

async fn set_key(
    state: &AppState,
    provider: &str,
    key: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let live = state.live();
    authorize(&live.config.access, Role::Admin, headers)?;
    let wanted: KeyState = read::<KeyBody>(body, r#""drain", "disable" or "active""#)?.state;
    let config = &live.config;
    let p = config
        .providers
        .iter()
        .position(|p| &*p.name == provider)
        .ok_or_else(|| ApiError::NotFound {
            message: format!("No provider `{provider}` is configured."),
            param: Some("provider".into()),
            code: "provider_not_found",
        })?;
    let k = config.providers[p]
        .keys
        .iter()
        .position(|k| k.env == key)
        .ok_or_else(|| ApiError::NotFound {
            message: format!(
                "Provider `{provider}` has no key `{key}` (name a key by its environment variable, as /health/detailed lists them)."
            ),
            param: Some("key".into()),
            code: "key_not_found",
        })?;
    let shared_value = (wanted != KeyState::Active).then_some(wanted.as_str());
    let scope = share(
        state,
        |sh| sync::key_override(sh, provider, key),
        shared_value,
    )
    .await?;
    let in_flight = {
        let mut pool = lock(&live.health.keys[p]);
        pool.set_state(k, wanted);
        pool.in_flight(k)
    };
    tracing::warn!(%provider, %key, state = wanted.as_str(), "key state set by an operator");
    Ok(
        json!({"provider": provider, "key": key, "state": wanted, "in_flight": in_flight, "scope": scope}),
    )
}
