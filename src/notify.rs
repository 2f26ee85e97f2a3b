//! Budget alerts: a log event, a metric and an optional webhook POST when a budget crosses its
//! warning threshold or runs out; the same webhook hears of provider keys near their quota.

use std::time::Duration;

use serde::Serialize;

use crate::adapters::http::Client;

/// One budget alert, as logged and as POSTed to the webhook.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BudgetAlert {
    /// `budget_warning` or `budget_exceeded`.
    pub event: &'static str,
    /// `user`, `team` or `global`.
    pub scope: &'static str,
    pub name: String,
    /// `daily` or `monthly`.
    pub period: &'static str,
    pub limit_usd: f64,
    pub spent_usd: f64,
    /// The warning fraction in force (e.g. 0.8).
    pub threshold: f64,
    /// The day (`2026-11-23`) or month (`2026-11`) the spend belongs to, UTC.
    pub period_id: String,
}

/// Logs and counts the alert, and POSTs it to `webhook` in the background (5 s timeout; a
/// failed delivery is logged, never retried in a loop, never blocks a request).
pub(crate) fn budget_alert(client: &Client, webhook: Option<&reqwest::Url>, alert: BudgetAlert) {
    let kind = if alert.event == "budget_exceeded" {
        "exceeded"
    } else {
        "warning"
    };
    crate::metrics::budget_event(alert.scope, alert.period, kind);
    tracing::warn!(
        event = alert.event,
        scope = alert.scope,
        name = %alert.name,
        period = alert.period,
        limit_usd = alert.limit_usd,
        spent_usd = alert.spent_usd,
        period_id = %alert.period_id,
        "budget {kind}"
    );
    deliver(client, webhook, alert);
}

/// A provider key past [`crate::dispatch::headroom::WARN_AT`] of one of its limits, as POSTed
/// to the budget webhook (`event: quota_warning`). Names the key by its env var, never its value.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QuotaAlert {
    /// Always `quota_warning`.
    pub event: &'static str,
    pub provider: String,
    /// The env var holding the key.
    pub key_id: String,
    /// `requests` or `tokens`.
    pub measure: &'static str,
    /// `declared` (the router's count against the file's rpm/tpm) or `provider` (its headers).
    pub source: &'static str,
    pub used: u64,
    pub limit: u64,
    /// Fraction of the limit used (0.9 or more).
    pub fraction: f64,
    /// The warning fraction (0.9).
    pub threshold: f64,
}

/// Logs the quota warning and POSTs it to `webhook` in the background, like a budget alert
/// (the caller counts it in the metrics).
pub(crate) fn quota_alert(client: &Client, webhook: Option<&reqwest::Url>, alert: QuotaAlert) {
    tracing::warn!(
        event = alert.event,
        provider = %alert.provider,
        key_id = %alert.key_id,
        measure = alert.measure,
        source = alert.source,
        used = alert.used,
        limit = alert.limit,
        "provider key past {:.0}% of its {} limit",
        alert.threshold * 100.0,
        alert.measure
    );
    deliver(client, webhook, alert);
}

/// POSTs `alert` to `webhook` in the background (5 s timeout, one try, failures logged).
fn deliver(
    client: &Client,
    webhook: Option<&reqwest::Url>,
    alert: impl Serialize + Send + 'static,
) {
    let Some(url) = webhook else { return };
    let Ok(uri) = axum::http::Uri::try_from(url.as_str()) else {
        tracing::warn!("budget webhook URL cannot be sent to");
        return;
    };
    let body = match serde_json::to_vec(&alert) {
        Ok(body) => body,
        Err(e) => return tracing::warn!(error = %e, "budget alert cannot be encoded"),
    };
    let client = client.clone();
    tokio::spawn(async move {
        let sent = tokio::time::timeout(Duration::from_secs(5), async {
            let mut r = client.post(uri).json(body).send().await?;
            // the answer is read to its end so the connection goes back to the pool
            while r.chunk().await?.is_some() {}
            Ok::<_, crate::adapters::http::Error>(r.status())
        })
        .await;
        match sent {
            Ok(Ok(status)) if status.is_success() => {}
            Ok(Ok(status)) => tracing::warn!(%status, "budget webhook refused the alert"),
            Ok(Err(e)) => tracing::warn!(error = %e, "budget webhook unreachable"),
            Err(_) => tracing::warn!("budget webhook unreachable: timed out after 5s"),
        }
    });
}
