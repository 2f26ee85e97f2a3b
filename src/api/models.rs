//! `GET /v1/models`: concrete models and policy aliases, in OpenAI's list shape, each with the
//! endpoints it can reach.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::config::Target;
use crate::state::AppState;

pub(crate) async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live();
    let config = &live.config;
    let created = state.started.elapsed().as_secs();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_sub(created));
    let mut data: Vec<Value> = config
        .valid_names()
        .into_iter()
        .filter_map(|name| match config.resolve(name)? {
            Target::Policy(p) => Some(json!({
                "id": name, "object": "model", "created": created, "owned_by": "switchyard",
                "switchyard": {"kind": "alias", "policy": &*config.policies[p].name,
                               "endpoints": reachable(config, p)},
            })),
            Target::Model(m) if *config.models[m].id == *name => {
                let model = &config.models[m];
                Some(json!({
                    "id": name, "object": "model", "created": created,
                    "owned_by": &*config.providers[model.provider].name,
                    "switchyard": {"kind": "model", "context_window": model.context_window,
                                   "endpoints": model.endpoints,
                                   "input_per_1m": model.price.input_per_1m, "output_per_1m": model.price.output_per_1m},
                }))
            }
            Target::Model(_) => None,
        })
        .collect();
    data.dedup_by(|a, b| a["id"] == b["id"]);
    Json(json!({"object": "list", "data": data}))
}

/// The endpoints some model in a policy's rules can serve, i.e. what the alias can reach.
fn reachable(config: &crate::config::Config, policy: usize) -> Vec<&'static str> {
    crate::config::Endpoint::ALL
        .into_iter()
        .filter(|e| {
            config.policies[policy]
                .rules
                .iter()
                .flat_map(|r| r.route.iter().flat_map(|g| &g.members))
                .any(|m| config.models[m.model].endpoints.contains(e))
        })
        .map(super::super::config::raw::Endpoint::as_str)
        .collect()
}
