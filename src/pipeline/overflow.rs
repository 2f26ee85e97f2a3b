//! `on_context_overflow: trim`: drops the oldest turns of a chat request ([`crate::trim`])
//! until its prompt, counted with the router's counter, plus its `max_tokens` fits the largest
//! candidate's context window, then routes the trimmed request afresh.

use std::sync::Arc;

use serde_json::Value;

use super::context::RequestCtx;
use super::decide::{count_prompt, plan, Decision};
use crate::config::Target;
use crate::error::ApiError;
use crate::openai::ChatRequest;
use crate::tokens::{Encoding, PER_MESSAGE};

/// A message's tokens as the trimming estimate counts them: its text parts and tool calls.
fn message_tokens(encoding: Encoding, message: &Value) -> u64 {
    let mut text = String::new();
    match message.get("content") {
        Some(Value::String(s)) => text.push_str(s),
        Some(Value::Array(parts)) => {
            for t in parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
            {
                text.push_str(t);
            }
        }
        _ => {}
    }
    if let Some(calls) = message.get("tool_calls") {
        text.push_str(&calls.to_string());
    }
    encoding.count(&text) + PER_MESSAGE
}

/// Trims `req` to fit `window` and routes it; the request, its prompt count and the number
/// of dropped messages in `ctx` are replaced. A 400 `context_length_exceeded` when even the
/// protected messages (instructions and the last turn) do not fit.
pub(super) async fn trim_and_route(
    ctx: &mut RequestCtx,
    req: &mut ChatRequest,
    target: Target,
    window: u64,
) -> Result<Decision, ApiError> {
    let live = Arc::clone(&ctx.live);
    let config = &live.config;
    let encoding = match target {
        Target::Model(m) => config.models[m].encoding,
        Target::Policy(_) => Encoding::O200k,
    };
    let reserve = req.max_tokens.unwrap_or(0);
    let too_long = ApiError::ContextTooLong {
        needed: ctx.prompt_tokens.saturating_add(reserve),
        largest: window,
    };
    let messages: Vec<Value> = match req.body.get("messages") {
        Some(Value::Array(m)) => m.clone(),
        _ => return Err(too_long),
    };
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m.get("role").and_then(Value::as_str).unwrap_or_default())
        .collect();
    let costs: Vec<u64> = messages
        .iter()
        .map(|m| message_tokens(encoding, m))
        .collect();
    let fixed = ctx
        .prompt_tokens
        .saturating_sub(costs.iter().sum())
        .saturating_add(reserve);
    // the estimate may fall short of the exact count: then one more turn goes, and so on
    for extra in 0..=messages.len() {
        let Some(dropped) = crate::trim::oldest_turns(&roles, &costs, fixed, window, extra) else {
            break;
        };
        let mut gone = vec![false; messages.len()];
        for &i in &dropped {
            gone[i] = true;
        }
        let kept: Vec<Value> = messages
            .iter()
            .zip(&gone)
            .filter(|(_, g)| !**g)
            .map(|(m, _)| m.clone())
            .collect();
        let mut body = req.body.clone();
        body.insert("messages".into(), Value::Array(kept));
        // a client's own body would carry the untrimmed conversation to a native candidate
        body.remove(crate::adapters::responses::RESPONSES_NATIVE);
        body.remove(crate::messages::ANTHROPIC_NATIVE);
        let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
        let trimmed = ChatRequest::parse_for(req.endpoint, &bytes)?;
        let tokens = count_prompt(config, target, &trimmed).await?;
        if tokens.saturating_add(reserve) > window {
            continue;
        }
        let decision = plan(config, target, &trimmed, tokens, ctx.moderation_rule)?;
        if decision.plan.trim_to.is_some() {
            break;
        }
        tracing::info!(
            dropped = dropped.len(),
            tokens,
            window,
            "trimmed the oldest turns to fit the context window"
        );
        *req = trimmed;
        ctx.prompt_tokens = tokens;
        ctx.trimmed = dropped.len();
        return Ok(decision);
    }
    Err(too_long)
}
