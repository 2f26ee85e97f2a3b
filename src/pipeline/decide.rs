//! The routing decision: resolve `model`, count the prompt once, classify, pick candidates.

use crate::classify::{Classification, PromptParts};
use crate::config::{Config, Endpoint, Target};
use crate::error::ApiError;
use crate::openai::ChatRequest;
use crate::route::{self, Facts, RoutePlan};
use crate::tokens::Encoding;

/// Text past this size is tokenized on the blocking pool so it cannot stall other requests.
const BLOCKING_TOKENIZE_BYTES: usize = 64 * 1024;

/// The routing decision made before any upstream is called.
#[derive(Debug)]
pub struct Decision {
    pub prompt_tokens: u64,
    pub classification: Option<Classification>,
    pub plan: RoutePlan,
}

/// What the request's `model` names.
pub(crate) fn resolve(config: &Config, req: &ChatRequest) -> Result<Target, ApiError> {
    config
        .resolve(&req.model)
        .ok_or_else(|| ApiError::ModelNotFound {
            model: req.model.clone(),
            valid: config.valid_names().join(", "),
        })
}

/// The policy whose rules (guardrails, budget action, pacing) apply to a target.
pub(crate) fn policy_index(config: &Config, target: Target) -> usize {
    match target {
        Target::Policy(p) => p,
        Target::Model(_) => config.default_policy,
    }
}

/// Counts the prompt's tokens once, on the blocking pool when the text is large.
pub(crate) async fn count_prompt(
    config: &Config,
    target: Target,
    req: &ChatRequest,
) -> Result<u64, ApiError> {
    let encoding = match target {
        Target::Model(m) => config.models[m].encoding,
        Target::Policy(_) => Encoding::O200k,
    };
    let chat = req.endpoint == Endpoint::Chat;
    let count = move |text: &str, n: usize| {
        if chat {
            encoding.count_chat(text, n)
        } else {
            encoding.count(text)
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
    Ok(counted + req.token_ids)
}

/// Classifies (policy targets, except embeddings) and picks the candidates.
pub(crate) fn plan(
    config: &Config,
    target: Target,
    req: &ChatRequest,
    prompt_tokens: u64,
    rule: Option<usize>,
) -> Result<Decision, ApiError> {
    let classification = match target {
        // embeddings and moderations are routed by alias and weights: there is no answer whose
        // difficulty matters
        Target::Policy(_)
            if matches!(req.endpoint, Endpoint::Embeddings | Endpoint::Moderations) =>
        {
            None
        }
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
        needed_tokens: prompt_tokens.saturating_add(req.max_tokens.unwrap_or(0)),
        needs: crate::capability::Needs::of(req.endpoint, &req.body),
        rule,
    };
    let plan = route::route(config, target, &facts)?;
    Ok(Decision {
        prompt_tokens,
        classification,
        plan,
    })
}

/// Counts tokens once, classifies (for policy routes) and picks the candidates, without
/// calling anything (the `classify` and `simulate` commands use it too).
pub(crate) async fn decide(config: &Config, req: &ChatRequest) -> Result<Decision, ApiError> {
    let target = resolve(config, req)?;
    let prompt_tokens = count_prompt(config, target, req).await?;
    let decision = plan(config, target, req, prompt_tokens, None)?;
    match decision.plan.trim_to {
        // offline, a prompt is not trimmed: it is reported as too long
        Some(largest) => Err(ApiError::ContextTooLong {
            needed: prompt_tokens.saturating_add(req.max_tokens.unwrap_or(0)),
            largest,
        }),
        None => Ok(decision),
    }
}
