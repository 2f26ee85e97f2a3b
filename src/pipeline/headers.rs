//! Every `x-switchyard-*` and `x-ratelimit-*` response header, built once from the request's context.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::context::{CacheIntent, RequestCtx};
use crate::limits::Quotas;

/// Header names, built at compile time: `HeaderName::from_static` at run time re-validates
/// the name on every call.
mod name {
    use axum::http::HeaderName;

    macro_rules! names {
        ($($id:ident = $text:literal),* $(,)?) => {
            $(pub(super) const $id: HeaderName = HeaderName::from_static($text);)*
        };
    }
    names! {
        REQUEST_ID = "x-request-id",
        OVERHEAD = "x-switchyard-overhead-ms",
        CACHE = "x-switchyard-cache",
        POLICY = "x-switchyard-policy",
        RULE = "x-switchyard-rule",
        COMPLEXITY = "x-switchyard-complexity",
        PROMPT_TOKENS = "x-switchyard-prompt-tokens",
        ATTEMPTS = "x-switchyard-attempts",
        FAILOVERS = "x-switchyard-failovers",
        MODEL = "x-switchyard-model",
        PROVIDER = "x-switchyard-provider",
        SKIPPED = "x-switchyard-skipped",
        TRIMMED = "x-switchyard-trimmed",
        LIMIT_REQUESTS = "x-ratelimit-limit-requests",
        REMAINING_REQUESTS = "x-ratelimit-remaining-requests",
        RESET_REQUESTS = "x-ratelimit-reset-requests",
        LIMIT_TOKENS = "x-ratelimit-limit-tokens",
        REMAINING_TOKENS = "x-ratelimit-remaining-tokens",
        RESET_TOKENS = "x-ratelimit-reset-tokens",
    }
}

/// The headers of the response to `ctx`, whatever it is (answer, stream, cache hit or error):
/// what is known about the request by the time the response starts.
pub(crate) fn build(ctx: &RequestCtx, overhead: Duration) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(32);
    put(&mut h, name::REQUEST_ID, &ctx.id);
    put(&mut h, name::OVERHEAD, &millis_text(overhead));
    ratelimit(&ctx.quotas, &mut h);
    if let Some(label) = ctx.cache.label() {
        h.insert(name::CACHE, HeaderValue::from_static(label));
    }
    if let Some(d) = &ctx.decision {
        let complexity = d
            .classification
            .as_ref()
            .map_or("unclassified", |c| c.complexity.as_str());
        put(&mut h, name::POLICY, &d.plan.policy);
        put(&mut h, name::RULE, &d.plan.rule);
        h.insert(name::COMPLEXITY, HeaderValue::from_static(complexity));
        h.insert(name::PROMPT_TOKENS, HeaderValue::from(d.prompt_tokens));
        h.insert(name::ATTEMPTS, HeaderValue::from(ctx.trace.attempts));
        h.insert(name::FAILOVERS, HeaderValue::from(ctx.trace.failovers));
        if !d.plan.unsupported.is_empty() {
            let skipped = d.plan.unsupported_summary(&ctx.live.config);
            put(&mut h, name::SKIPPED, &skipped);
        }
        if ctx.trimmed > 0 {
            h.insert(name::TRIMMED, HeaderValue::from(ctx.trimmed));
        }
    }
    match (&ctx.cache, ctx.chosen()) {
        (CacheIntent::Hit(e), _) => {
            put(&mut h, name::MODEL, &e.model);
            put(&mut h, name::PROVIDER, &e.provider);
        }
        (_, Some((model, provider))) => {
            put(&mut h, name::MODEL, &model.id);
            put(&mut h, name::PROVIDER, &provider.name);
        }
        _ => {}
    }
    h
}

fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// OpenAI's rate-limit headers for the tightest request and token limits that apply.
fn ratelimit(q: &Quotas, headers: &mut HeaderMap) {
    let kinds = [
        (
            q.requests,
            [
                name::LIMIT_REQUESTS,
                name::REMAINING_REQUESTS,
                name::RESET_REQUESTS,
            ],
        ),
        (
            q.tokens,
            [
                name::LIMIT_TOKENS,
                name::REMAINING_TOKENS,
                name::RESET_TOKENS,
            ],
        ),
    ];
    for (quota, [limit, remaining, reset]) in kinds {
        let Some(quota) = quota else { continue };
        headers.insert(limit, HeaderValue::from(quota.limit));
        headers.insert(remaining, HeaderValue::from(quota.remaining));
        put(headers, reset, &reset_text(quota.reset));
    }
}

/// Milliseconds with three decimals (`0.250`), from whole microseconds: the text
/// `format!("{:.3}", usage::ms(d))` gives, without formatting a float.
fn millis_text(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
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
    use super::{millis_text, reset_text};
    use std::time::Duration;

    #[test]
    fn overhead_reads_as_milliseconds_with_three_decimals() {
        for us in [0, 1, 250, 999, 1000, 1001, 12_345, 999_999, 86_400_000_123] {
            let d = Duration::from_micros(us);
            assert_eq!(
                millis_text(d),
                format!("{:.3}", crate::usage::ms(d)),
                "{us}"
            );
        }
        assert_eq!(millis_text(Duration::from_nanos(1_999)), "0.001");
    }

    #[test]
    fn resets_read_like_openai() {
        assert_eq!(reset_text(Duration::from_millis(20)), "20ms");
        assert_eq!(reset_text(Duration::from_secs(1)), "1s");
        assert_eq!(reset_text(Duration::from_millis(8640)), "8.64s");
        assert_eq!(reset_text(Duration::from_secs(360)), "6m0s");
        assert_eq!(reset_text(Duration::from_secs(3723)), "1h2m3s");
    }
}
