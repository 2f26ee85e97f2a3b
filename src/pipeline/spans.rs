//! The finish step's OpenTelemetry half: a traced request's context -> its spans, once.

use std::time::{Duration, SystemTime};

use crate::config::Endpoint;
use crate::openai::Usage;
use crate::otel::{Finished, RouteFacts, StreamFacts};
use crate::usage::UsageRecord;

use super::context::{CacheIntent, RequestCtx};

/// Emits the request's spans when it is traced (nothing to do otherwise): `record` is its
/// ledger line, `usage` what the upstream reported, `answer_model` the model its answer named.
pub(super) fn emit(
    ctx: &RequestCtx,
    record: &UsageRecord,
    usage: Option<Usage>,
    ttft: Option<Duration>,
    answer_model: Option<&str>,
) {
    let Some(trace) = &ctx.otel else { return };
    if !trace.span.sampled {
        return;
    }
    let decision = ctx.decision.as_ref();
    let route = decision.map(|d| {
        let c = d.classification.as_ref();
        RouteFacts {
            policy: &d.plan.policy,
            rule: &d.plan.rule,
            complexity: c.map(|c| c.complexity.as_str()),
            score: c.map(|c| c.score),
            candidates: d.plan.groups.iter().map(|g| g.members.len()).sum(),
        }
    });
    let cache_hit = matches!(ctx.cache, CacheIntent::Hit(_));
    let attempts = &ctx.trace.spans;
    let streamed = ctx.request.stream && ctx.answered && !cache_hit;
    let answered = ctx.answered || cache_hit;
    Finished {
        trace,
        request_id: &ctx.id,
        operation: match ctx.endpoint {
            Endpoint::Chat | Endpoint::Responses | Endpoint::Messages => "chat",
            Endpoint::Completions => "text_completion",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Moderations => "moderation",
        },
        requested_model: &ctx.request.requested_model,
        status: record.status,
        outcome: record.outcome.as_str(),
        route,
        attempts,
        // the body's `model`, else (a stream) the name the answering upstream was asked for,
        // else (a cache hit) the model that made the cached answer
        response_model: answer_model
            .or(attempts
                .last()
                .filter(|a| ctx.answered && a.error.is_none())
                .map(|a| &*a.model))
            .or(record.model.as_deref().filter(|_| cache_hit)),
        input_tokens: answered.then(|| usage.map_or(ctx.prompt_tokens, |u| u.prompt_tokens)),
        output_tokens: usage.filter(|_| answered).map(|u| u.completion_tokens),
        cache_hit,
        stream: streamed.then(|| StreamFacts {
            start: attempts.last().map_or(trace.start, |a| a.end),
            ttft,
        }),
        end: SystemTime::now(),
    }
    .emit();
}

/// The `model` an answer body names, read only for a traced request.
pub(super) fn answer_model(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        model: Option<String>,
    }
    serde_json::from_slice::<Named>(body).ok()?.model
}
