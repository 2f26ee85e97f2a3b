//! Every `x-switchyard-*` and `x-ratelimit-*` response header, built once from the request's context.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::context::{CacheIntent, RequestCtx};
use crate::limits::{Quota, Quotas};

/// The headers of the response to `ctx`, whatever it is (answer, stream, cache hit or error):
/// what is known about the request by the time the response starts.
pub(crate) fn build(ctx: &RequestCtx, overhead: Duration) -> HeaderMap {
    let mut h = HeaderMap::new();
    put(&mut h, "x-request-id", &ctx.id);
    put(
        &mut h,
        "x-switchyard-overhead-ms",
        &format!("{:.3}", crate::usage::ms(overhead)),
    );
    ratelimit(&ctx.quotas, &mut h);
    if let Some(label) = ctx.cache.label() {
        put(&mut h, "x-switchyard-cache", label);
    }
    if let Some(d) = &ctx.decision {
        let complexity = d
            .classification
            .as_ref()
            .map_or("unclassified", |c| c.complexity.as_str());
        put(&mut h, "x-switchyard-policy", &d.plan.policy);
        put(&mut h, "x-switchyard-rule", &d.plan.rule);
        put(&mut h, "x-switchyard-complexity", complexity);
        put(
            &mut h,
            "x-switchyard-prompt-tokens",
            &d.prompt_tokens.to_string(),
        );
        put(
            &mut h,
            "x-switchyard-attempts",
            &ctx.trace.attempts.to_string(),
        );
        put(
            &mut h,
            "x-switchyard-failovers",
            &ctx.trace.failovers.to_string(),
        );
        if !d.plan.unsupported.is_empty() {
            let skipped = d.plan.unsupported_summary(&ctx.live.config);
            put(&mut h, "x-switchyard-skipped", &skipped);
        }
    }
    match (&ctx.cache, ctx.chosen()) {
        (CacheIntent::Hit(e), _) => {
            put(&mut h, "x-switchyard-model", &e.model);
            put(&mut h, "x-switchyard-provider", &e.provider);
        }
        (_, Some((model, provider))) => {
            put(&mut h, "x-switchyard-model", &model.id);
            put(&mut h, "x-switchyard-provider", &provider.name);
        }
        _ => {}
    }
    h
}

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// OpenAI's rate-limit headers for the tightest request and token limits that apply.
fn ratelimit(q: &Quotas, headers: &mut HeaderMap) {
    let kinds: [(Option<Quota>, [&'static str; 3]); 2] = [
        (
            q.requests,
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ],
        ),
        (
            q.tokens,
            [
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ],
        ),
    ];
    for (quota, [limit, remaining, reset]) in kinds {
        let Some(quota) = quota else { continue };
        put(headers, limit, &quota.limit.to_string());
        put(headers, remaining, &quota.remaining.to_string());
        put(headers, reset, &reset_text(quota.reset));
    }
}

/// A duration as OpenAI writes resets: `20ms`, `1s`, `6m0s`, `1h2m3s` (seconds may carry a
/// fraction, e.g. `8.64s`).
pub(super) fn reset_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let secs = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        let s = format!("{:.3}", rest as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::reset_text;
    use std::time::Duration;

    #[test]
    fn resets_read_like_openai() {
        assert_eq!(reset_text(Duration::from_millis(20)), "20ms");
        assert_eq!(reset_text(Duration::from_secs(1)), "1s");
        assert_eq!(reset_text(Duration::from_millis(8640)), "8.64s");
        assert_eq!(reset_text(Duration::from_secs(360)), "6m0s");
        assert_eq!(reset_text(Duration::from_secs(3723)), "1h2m3s");
    }
}
