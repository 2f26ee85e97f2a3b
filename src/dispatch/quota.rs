//! Upstream quota headroom for operators: the warning when a key passes 90% of a limit (log,
//! metric, budget webhook), the per-key gauges refreshed at scrape time, and the
//! `/health/detailed` view the dashboard draws its headroom bars from.

use serde_json::{json, Value};
use tokio::time::Instant;

use super::headroom::{Reading, WARN_AT};
use crate::adapters::http::Client;
use crate::live::Live;
use crate::lock::lock;
use crate::notify::{quota_alert, QuotaAlert};

/// After a call with key `key` of provider `provider`: warns if the key just crossed the line.
pub(super) fn check(live: &Live, client: &Client, provider: usize, key: usize) {
    let crossing = lock(&live.health.headroom[provider]).check(key, Instant::now());
    let Some(c) = crossing else { return };
    let p = &live.config.providers[provider];
    let key_id = p.keys.get(key).map_or("", |k| k.env.as_str());
    crate::metrics::quota_warning(&p.name, key_id, c.peak.measure.as_str());
    quota_alert(
        client,
        live.config.access.budgets.webhook.as_ref(),
        QuotaAlert {
            event: "quota_warning",
            provider: p.name.to_string(),
            key_id: key_id.to_owned(),
            measure: c.peak.measure.as_str(),
            source: c.peak.source.as_str(),
            used: c.peak.used,
            limit: c.peak.limit,
            fraction: c.peak.fraction,
            threshold: WARN_AT,
        },
    );
}

/// Every key of every provider, read at `now`: `(provider, key id, reading)`.
fn readings(live: &Live, now: Instant) -> Vec<(&str, &str, Reading)> {
    let mut out = Vec::new();
    for (pi, p) in live.config.providers.iter().enumerate() {
        let headroom = lock(&live.health.headroom[pi]);
        for (ki, k) in p.keys.iter().enumerate() {
            if let Some(r) = headroom.read(ki, now) {
                out.push((&*p.name, k.env.as_str(), r));
            }
        }
    }
    out
}

/// Sets the headroom gauges of every key (called before `/metrics` renders).
pub(crate) fn export(live: &Live) {
    for (provider, key, r) in readings(live, Instant::now()) {
        let (p_requests, p_tokens) = r.reported.map_or((None, None), |p| {
            let used = |l: Option<u64>, left: Option<u64>| Some(l?.saturating_sub(left?));
            (
                used(p.limit_requests, p.remaining_requests).zip(p.limit_requests),
                used(p.limit_tokens, p.remaining_tokens).zip(p.limit_tokens),
            )
        });
        crate::metrics::key_headroom(
            provider,
            key,
            crate::metrics::KeyQuota {
                requests: (r.requests, r.rpm.map(u64::from)),
                tokens: (r.tokens, r.tpm.map(u64::from)),
                provider_requests: p_requests,
                provider_tokens: p_tokens,
                fraction: r.peak.map_or(0.0, |p| p.fraction),
            },
        );
    }
}

/// `/health/detailed`'s `quota_headroom`: one entry per provider key.
pub(crate) fn view(live: &Live) -> Value {
    let keys: Vec<Value> = readings(live, Instant::now())
        .into_iter()
        .map(|(provider, key, r)| {
            let reported = r.reported.map(|p| {
                json!({"limit_requests": p.limit_requests, "remaining_requests": p.remaining_requests,
                       "limit_tokens": p.limit_tokens, "remaining_tokens": p.remaining_tokens,
                       "age_s": r.reported_age_s})
            });
            let peak = r.peak.map(|p| {
                json!({"measure": p.measure.as_str(), "source": p.source.as_str(),
                       "used": p.used, "limit": p.limit, "fraction": p.fraction})
            });
            json!({"provider": provider, "key_id": key,
                   "requests_used": r.requests, "rpm": r.rpm,
                   "tokens_used": r.tokens, "tpm": r.tpm,
                   "provider_reported": reported, "peak": peak,
                   "warning": r.peak.is_some_and(|p| p.fraction >= WARN_AT)})
        })
        .collect();
    json!({"warn_at": WARN_AT, "window": "current minute", "keys": keys})
}
