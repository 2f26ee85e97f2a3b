//! What each request used and cost: the ledger record, its cost and saving arithmetic.

pub(crate) mod ledger;
mod line;
mod outcome;
pub(crate) mod postgres;
mod resume;
mod tail;

use crate::tokens::Encoding;
use serde::Serialize;

use crate::classify::Complexity;
use crate::config::{Endpoint, Price};

pub use outcome::Outcome;
pub use resume::ResumeNote;
pub(crate) use tail::lines_since;

pub use ledger::Ledger;

/// One ledger line. Costs are in USD at full precision; `saving_usd` is the baseline's cost
/// for the same tokens minus the actual cost (negative when the chosen model is dearer).
/// Every field has a default when read, so ledgers from older or newer versions still load.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct UsageRecord {
    pub ts: String,
    pub request_id: String,
    pub endpoint: Endpoint,
    /// The virtual key's user (or, in open mode, the request's `user` field).
    pub user: Option<String>,
    pub team: Option<String>,
    /// The virtual key's id (its loggable name, never the key).
    pub key_id: Option<String>,
    pub requested_model: String,
    pub policy: Option<String>,
    pub rule: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub complexity: Option<Complexity>,
    pub score: Option<f64>,
    /// The classifier's confidence in `complexity` (0.5..1).
    pub confidence: Option<f64>,
    pub stream: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (part of `prompt_tokens`).
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (part of `prompt_tokens`).
    pub cache_write_tokens: u64,
    /// True when tokens were counted locally because the upstream reported no usage.
    pub tokens_estimated: bool,
    /// False when no upstream answered: the tokens are the prompt's size, and nothing is billed.
    pub billed: bool,
    pub cost_usd: f64,
    pub baseline_model: Option<String>,
    pub baseline_cost_usd: f64,
    pub saving_usd: f64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub overhead_ms: f64,
    pub attempts: u32,
    pub failovers: u32,
    /// Served from the response cache: nothing was billed (`cost_usd` 0, so `saving_usd` is
    /// the baseline's price), and `cache_saving_usd` is what the cached answer cost when made.
    pub cache_hit: bool,
    pub cache_saving_usd: f64,
    /// Routed to the cheapest candidates because a budget was spent (policy `degrade`).
    pub degraded: bool,
    /// Output guardrail replacements made in the answer.
    pub redactions: u32,
    #[serde(default = "default_status")]
    pub status: u16,
    /// How the request ended (`ok` when absent, as in the earliest ledgers).
    pub outcome: Outcome,
    /// The batch job this request was a line of (absent for interactive requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Requests that shared this one's upstream embeddings call (embeddings micro-batching);
    /// absent when it went alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Present when the stream broke after its first byte and was resumed (or resuming failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeNote>,
    /// One note per candidate that did not answer (`openai/gpt-4.1: 500, 500`,
    /// `anthropic/claude: skipped: breaker forced open by an operator`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
    /// The policy's moderation pre-check, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<crate::moderation::record::ModerationRecord>,
    /// Messages dropped by `on_context_overflow: trim` (oldest turns) so the prompt fit.
    #[serde(skip_serializing_if = "is_zero")]
    pub trimmed_messages: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn default_status() -> u16 {
    200
}

/// What a finished request is charged: nothing, its model's price, or (a cache hit) nothing
/// while recording what the cached answer would have cost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Billing {
    /// No upstream answered (refused or failed requests): tokens are the prompt's size.
    #[default]
    Unbilled,
    /// An upstream answered: priced at the chosen model's price.
    Billed,
    /// Served from the response cache: free, saving the baseline's price; `answer_price` is
    /// what the model that made the answer charges.
    CacheHit { answer_price: Option<Price> },
}

/// A finished request whose arithmetic is still to do: in the ledger's writer, off the request
/// path, unless budgets need the cost sooner.
pub struct Pending {
    pub record: UsageRecord,
    pub price: Option<Price>,
    pub baseline_price: Option<Price>,
    /// Upstream usage, when it reported any.
    pub reported: Option<crate::openai::Usage>,
    /// Completion text and encoding to count when the upstream reported no usage.
    pub uncounted: Option<(String, Encoding)>,
    pub billing: Billing,
    /// When the request finished; formatted into `ts` by the writer.
    pub at: std::time::SystemTime,
    /// Already priced (its cost was needed on the request path): written as it is.
    pub done: bool,
}

impl Pending {
    /// A record with nothing to price (tests, refusals before routing).
    pub fn unbilled(record: UsageRecord) -> Self {
        Self {
            record,
            price: None,
            baseline_price: None,
            reported: None,
            uncounted: None,
            billing: Billing::Unbilled,
            at: std::time::SystemTime::now(),
            done: false,
        }
    }

    /// A record [`Pending::finish`] already priced.
    pub fn finished(record: UsageRecord) -> Self {
        Self {
            done: true,
            ..Self::unbilled(record)
        }
    }

    /// Whether pricing must count completion text with the tokenizer (no usage reported).
    pub fn needs_counting(&self) -> bool {
        !self.done
            && self.billing == Billing::Billed
            && self.reported.is_none()
            && self.uncounted.is_some()
    }

    /// Fills the timestamp, tokens (reported, else counted), cost, baseline cost and saving.
    pub fn finish(self) -> UsageRecord {
        let mut r = self.record;
        if self.done {
            if r.ts.is_empty() {
                r.ts = humantime::format_rfc3339_millis(self.at).to_string();
            }
            return r;
        }
        r.ts = humantime::format_rfc3339_millis(self.at).to_string();
        match self.billing {
            Billing::Unbilled => {
                r.completion_tokens = 0;
                return r;
            }
            Billing::CacheHit { answer_price } => {
                r.cache_hit = true;
                if let Some(u) = self.reported {
                    r.prompt_tokens = u.prompt_tokens;
                    r.completion_tokens = u.completion_tokens;
                }
                let cost = |p: Price| p.cost(r.prompt_tokens, r.completion_tokens);
                r.baseline_cost_usd = round_usd(self.baseline_price.map_or(0.0, cost));
                r.saving_usd = r.baseline_cost_usd;
                r.cache_saving_usd = round_usd(answer_price.map_or(0.0, cost));
                return r;
            }
            Billing::Billed => r.billed = true,
        }
        if let Some(u) = self.reported {
            r.prompt_tokens = u.prompt_tokens;
            r.completion_tokens = u.completion_tokens;
            r.cached_tokens = u.cached();
            r.cache_write_tokens = u.cache_writes();
        } else {
            r.tokens_estimated = true;
            if let Some((text, enc)) = &self.uncounted {
                r.completion_tokens = enc.count(text);
            }
        }
        let cost = |p: Price| {
            p.cost_cached(
                r.prompt_tokens,
                r.cached_tokens,
                r.cache_write_tokens,
                r.completion_tokens,
            )
        };
        // a resumed stream's first part was priced at its own model's price
        let (first_in, first_out, first_cost) = r
            .resume
            .as_ref()
            .map_or((0, 0, 0.0), ResumeNote::first_part);
        let own = |p: Price| {
            p.cost_cached(
                r.prompt_tokens.saturating_sub(first_in),
                r.cached_tokens,
                r.cache_write_tokens,
                r.completion_tokens.saturating_sub(first_out),
            )
        };
        r.cost_usd = round_usd(self.price.map_or(0.0, own) + first_cost);
        r.baseline_cost_usd = round_usd(self.baseline_price.map_or(0.0, cost));
        r.saving_usd = if self.price.is_some() {
            round_usd(r.baseline_cost_usd - r.cost_usd)
        } else {
            0.0
        };
        r
    }
}

/// Dollars rounded to 1e-10 (far below any price per token), so ledger lines and logs carry
/// `2.4e-7`, never `2.4000000000000003e-7`.
pub(crate) fn round_usd(v: f64) -> f64 {
    (v * 1e10).round() / 1e10
}

/// Milliseconds with microsecond precision.
pub(crate) fn ms(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::Usage;

    #[test]
    fn cost_baseline_and_saving_per_million_tokens() {
        let p = Pending {
            record: UsageRecord::default(),
            price: Some(Price::new(0.40, 1.60)),
            baseline_price: Some(Price::new(2.00, 8.00)),
            reported: Some(Usage {
                prompt_tokens: 1_000,
                completion_tokens: 500,
                ..Default::default()
            }),
            uncounted: None,
            billing: Billing::Billed,
            at: std::time::SystemTime::now(),
            done: false,
        };
        let r = p.finish();
        // 1000*0.40/1e6 + 500*1.60/1e6 = 0.0004 + 0.0008
        assert!((r.cost_usd - 0.0012).abs() < 1e-12);
        // 1000*2/1e6 + 500*8/1e6 = 0.002 + 0.004
        assert!((r.baseline_cost_usd - 0.006).abs() < 1e-12);
        assert!((r.saving_usd - 0.0048).abs() < 1e-12);
        assert!(!r.tokens_estimated);
    }

    #[test]
    fn cache_reads_and_writes_are_priced_apart() {
        let price = Price {
            input_per_1m: 3.0,
            output_per_1m: 15.0,
            cached_input_per_1m: Some(0.3),
            cache_write_per_1m: Some(3.75),
        };
        let usage = Usage {
            prompt_tokens: 10_000,
            completion_tokens: 1_000,
            prompt_tokens_details: Some(crate::openai::PromptDetails {
                cached_tokens: 6_000,
                cache_creation_tokens: 2_000,
            }),
        };
        let mut p = Pending::unbilled(UsageRecord::default());
        (p.price, p.baseline_price, p.reported, p.billing) = (
            Some(price),
            Some(Price::new(3.0, 15.0)),
            Some(usage),
            Billing::Billed,
        );
        let r = p.finish();
        assert_eq!((r.cached_tokens, r.cache_write_tokens), (6_000, 2_000));
        // 2000 fresh * 3 + 6000 cached * 0.3 + 2000 written * 3.75 + 1000 out * 15, per 1M
        let expected = (2_000.0 * 3.0 + 6_000.0 * 0.3 + 2_000.0 * 3.75 + 1_000.0 * 15.0) / 1e6;
        assert!((r.cost_usd - expected).abs() < 1e-12, "{}", r.cost_usd);
        // a baseline without cache prices pays the input price for every prompt token
        assert!((r.baseline_cost_usd - (10_000.0 * 3.0 + 1_000.0 * 15.0) / 1e6).abs() < 1e-12);
    }

    #[test]
    fn counts_completion_when_usage_is_missing() {
        let record = UsageRecord {
            prompt_tokens: 10,
            ..Default::default()
        };
        let p = Pending {
            record,
            price: Some(Price::new(1.0, 1.0)),
            baseline_price: None,
            reported: None,
            uncounted: Some(("hello world".into(), Encoding::O200k)),
            billing: Billing::Billed,
            at: std::time::SystemTime::now(),
            done: false,
        };
        let r = p.finish();
        assert!(r.tokens_estimated);
        assert_eq!(r.completion_tokens, 2);
        assert_eq!(r.prompt_tokens, 10);
        assert!(
            (r.saving_usd + r.cost_usd).abs() < 1e-12,
            "no baseline price: baseline cost 0"
        );
    }

    #[test]
    fn unanswered_requests_cost_nothing_but_keep_prompt_size() {
        let record = UsageRecord {
            prompt_tokens: 10,
            ..Default::default()
        };
        let p = Pending {
            record,
            price: Some(Price::new(1.0, 1.0)),
            baseline_price: Some(Price::new(5.0, 5.0)),
            reported: None,
            uncounted: None,
            billing: Billing::Unbilled,
            at: std::time::SystemTime::now(),
            done: false,
        };
        let r = p.finish();
        assert_eq!(
            (
                r.prompt_tokens,
                r.cost_usd,
                r.baseline_cost_usd,
                r.saving_usd
            ),
            (10, 0.0, 0.0, 0.0)
        );
    }
}
