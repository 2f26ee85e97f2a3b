//! `GET /v1/models` and `GET /v1/models/{id}`: concrete models and policy aliases, in OpenAI's
//! model-object shape, each with the endpoints it can reach.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::config::{Config, Endpoint, Target};
use crate::error::ApiError;
use crate::state::AppState;

/// OpenAI's model object, with what Switchyard adds about the name under `switchyard`.
#[derive(Debug, Serialize)]
struct ModelObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
    switchyard: Details<'a>,
}

/// What a name is to the router: a policy alias, or a concrete model with its price.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Details<'a> {
    Alias {
        policy: &'a str,
        endpoints: Vec<&'static str>,
    },
    Model {
        /// The concrete `provider/name` a bare upstream name stands for.
        #[serde(skip_serializing_if = "Option::is_none")]
        resolves_to: Option<&'a str>,
        context_window: u64,
        endpoints: &'a [Endpoint],
        input_per_1m: f64,
        output_per_1m: f64,
    },
}

/// The OpenAI list of every alias and concrete model (bare upstream names are not listed).
pub(crate) async fn list_models(State(state): State<Arc<AppState>>) -> Response {
    let live = state.live();
    let config = &live.config;
    let created = started_at(&state);
    let mut data: Vec<ModelObject<'_>> = config
        .valid_names()
        .into_iter()
        .filter_map(|name| model_object(config, name, created))
        .filter(|m| {
            !matches!(
                m.switchyard,
                Details::Model {
                    resolves_to: Some(_),
                    ..
                }
            )
        })
        .collect();
    data.dedup_by(|a, b| a.id == b.id);
    Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

/// One model object for any name a client may send as `model` (ids with `/` included);
/// a 404 `model_not_found` in OpenAI's error shape otherwise.
pub(crate) async fn retrieve_model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let live = state.live();
    let config = &live.config;
    match model_object(config, &id, started_at(&state)) {
        Some(object) => Json(object).into_response(),
        None => ApiError::ModelNotFound {
            model: id.clone(),
            valid: config.valid_names().join(", "),
        }
        .into_response(),
    }
}

/// When the router started, as the `created` of every model (the config has no dates).
fn started_at(state: &AppState) -> u64 {
    let up = state.started.elapsed().as_secs();
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_sub(up))
}

fn model_object<'a>(config: &'a Config, name: &'a str, created: u64) -> Option<ModelObject<'a>> {
    let (owned_by, switchyard) = match config.resolve(name)? {
        Target::Policy(p) => (
            "switchyard",
            Details::Alias {
                policy: &config.policies[p].name,
                endpoints: reachable(config, p),
            },
        ),
        Target::Model(m) => {
            let model = &config.models[m];
            (
                &*config.providers[model.provider].name,
                Details::Model {
                    resolves_to: (*model.id != *name).then_some(&*model.id),
                    context_window: model.context_window,
                    endpoints: &model.endpoints,
                    input_per_1m: model.price.input_per_1m,
                    output_per_1m: model.price.output_per_1m,
                },
            )
        }
    };
    Some(ModelObject {
        id: name,
        object: "model",
        created,
        owned_by,
        switchyard,
    })
}

/// The endpoints some model in a policy's rules can serve, i.e. what the alias can reach.
fn reachable(config: &Config, policy: usize) -> Vec<&'static str> {
    Endpoint::ALL
        .into_iter()
        .filter(|e| {
            config.policies[policy]
                .rules
                .iter()
                .flat_map(|r| r.route.iter().flat_map(|g| &g.members))
                .any(|m| config.models[m.model].endpoints.contains(e))
        })
        .map(Endpoint::as_str)
        .collect()
}
