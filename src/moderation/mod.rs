//! Moderation pre-check: a policy's moderation model is asked about a request before the model call; a flag refuses it or routes it with a named rule.
//!
//! A policy opts in with
//! `moderation: {model: provider/model, categories: [...], on_flag: refuse | {rule: NAME}, timeout_ms, on_error: open | closed}`.
//!
//! - **Which requests**: chat and legacy completions (so also the Responses and Messages APIs,
//!   which run as chat) under a policy with `moderation:`. Embeddings and `/v1/moderations`
//!   itself are not checked.
//! - **What is asked**: the request's text, as the input guardrails see it (every message's
//!   text joined), as one `input` to `POST /v1/moderations` of the moderation model. The call
//!   goes through [`crate::dispatch`] like any other: the provider's keys in rotation (never
//!   waiting for a paced one), its breaker, retries and the operator's overrides.
//! - **A flag**: a result flagging one of `categories` (any category when none are listed).
//!   `on_flag: refuse` answers 400 `content_policy_violation` naming the flagged categories;
//!   `on_flag: {rule: NAME}` routes the request with that rule of the policy instead of the
//!   first matching one (validated when the config loads).
//! - **Cache**: verdicts are kept in-process ([`cache::Moderator`]: moka, at most
//!   [`cache::CACHE_ENTRIES`], each for [`cache::CACHE_TTL`]) under the SHA-256 of the moderation model's id
//!   and the text; concurrent identical checks share one call; failures are never kept.
//! - **Failure**: `timeout_ms` bounds the whole check, retries included. A timeout or an
//!   upstream failure lets the request through unchecked with `on_error: open` (the default),
//!   or refuses it with 503 `moderation_unavailable` with `on_error: closed`: 503 because the
//!   router cannot serve the request right now for a reason on its side, not the client's
//!   (so not 4xx), that is temporary and worth retrying (SDKs retry 503), and not a bad answer
//!   from the model the client asked for (so not 502).
//! - **Accounting**: the ledger line carries `moderation` ([`ModerationRecord`]: model, result,
//!   flagged categories, whether the verdict was cached, what the call cost at the moderation
//!   model's price, what was done); a refusal ends as outcome `moderation_flagged` or
//!   `moderation_unavailable`; `switchyard_moderation_checks_total{model, result, cached}`
//!   counts checks.

pub(crate) mod cache;
pub(crate) mod input;
pub(crate) mod record;
pub(crate) mod settings;
mod verdict;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{Endpoint, Group, Member, Policy};
use crate::dispatch::{self, Op, Reply};
use crate::error::ApiError;
use crate::live::Live;
use crate::route::RoutePlan;
use crate::state::AppState;

use record::ModerationRecord;
use settings::{Moderation, OnError, OnFlag};
use verdict::Verdict;

/// What the check decided for the request.
pub(crate) struct Checked {
    pub record: ModerationRecord,
    /// `Ok(Some(rule))`: route with that rule; `Ok(None)`: go on as usual; `Err`: refuse.
    pub outcome: Result<Option<usize>, ApiError>,
}

/// Checks `text` under `policy`'s `settings` (see the module doc).
pub(crate) async fn check(
    state: &AppState,
    live: &Arc<Live>,
    policy: &Policy,
    settings: &Moderation,
    text: &str,
) -> Checked {
    let model = &live.config.models[settings.model];
    let key = cache_key(&model.id, text);
    let ask = async {
        match tokio::time::timeout(settings.timeout, ask(state, live, policy, settings, text)).await
        {
            Ok(result) => result.map(Arc::new),
            Err(_) => Err(format!(
                "no answer within {} ms",
                settings.timeout.as_millis()
            )),
        }
    };
    let verdict = state
        .moderator
        .verdicts
        .entry(key)
        .or_try_insert_with(ask)
        .await;
    let mut record = ModerationRecord {
        model: model.id.to_string(),
        ..ModerationRecord::default()
    };
    let outcome = match verdict {
        Err(reason) => {
            record.result = "error".into();
            tracing::warn!(model = %model.id, policy = %policy.name, %reason, "moderation check failed");
            match settings.on_error {
                OnError::Open => {
                    record.action = "failed_open".into();
                    Ok(None)
                }
                OnError::Closed => {
                    record.action = "failed_closed".into();
                    Err(ApiError::ModerationUnavailable {
                        reason: reason.to_string(),
                    })
                }
            }
        }
        Ok(entry) => {
            record.cached = !entry.is_fresh();
            if entry.is_fresh() && model.price.input_per_1m > 0.0 {
                record.cost_usd = model.price.cost(model.encoding.count(text), 0);
            }
            let hits = entry.value().hits(&settings.categories);
            record.result = if hits.is_empty() { "passed" } else { "flagged" }.into();
            record.categories.clone_from(&hits);
            match (hits.is_empty(), settings.on_flag) {
                (true, _) => {
                    record.action = "none".into();
                    Ok(None)
                }
                (false, OnFlag::Refuse) => {
                    record.action = "refused".into();
                    tracing::info!(model = %model.id, policy = %policy.name, categories = ?hits, "request refused by moderation");
                    Err(ApiError::ModerationFlagged {
                        policy: policy.name.to_string(),
                        categories: hits,
                    })
                }
                (false, OnFlag::Rule(rule)) => {
                    record.action = "routed".into();
                    Ok(Some(rule))
                }
            }
        }
    };
    crate::metrics::moderation_check(&record.model, &record.result, record.cached);
    Checked { record, outcome }
}

/// The cache key: SHA-256 of the moderation model's id and the text.
fn cache_key(model: &str, text: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(model.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    h.finalize().into()
}

/// One call to the moderation model through dispatch, read into a verdict.
async fn ask(
    state: &AppState,
    live: &Arc<Live>,
    policy: &Policy,
    settings: &Moderation,
    text: &str,
) -> Result<Verdict, String> {
    let model = &live.config.models[settings.model];
    let plan = RoutePlan {
        policy: policy.name.clone(),
        rule: Arc::from("moderation"),
        groups: vec![Group {
            members: vec![Member {
                model: settings.model,
                weight: 1,
            }],
        }],
        skipped: Vec::new(),
        unsupported: Vec::new(),
        trim_to: None,
    };
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.id.to_string()));
    body.insert("input".into(), Value::String(text.to_owned()));
    let op = Op {
        endpoint: Endpoint::Moderations,
        stream: false,
        max_wait: Duration::ZERO,
        tokens: 0,
        background: false,
    };
    let shared = state.shared.as_ref();
    match dispatch::dispatch(live, shared, &state.client, &plan, &body, op, None).await {
        Ok(d) => match d.reply {
            Reply::Full(full) => Verdict::parse(&full.body),
            Reply::Stream { .. } => Err("the moderation model answered with a stream".into()),
        },
        Err(failed) => Err(failed.error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_differ_by_model_and_text() {
        assert_eq!(cache_key("a/m", "hi"), cache_key("a/m", "hi"));
        assert_ne!(cache_key("a/m", "hi"), cache_key("b/m", "hi"));
        assert_ne!(cache_key("a/m", "hi"), cache_key("a/m", "hi!"));
        assert_ne!(cache_key("a/mh", "i"), cache_key("a/m", "hi"));
    }
}
