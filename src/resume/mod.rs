//! Continues a streamed answer whose upstream broke after its first byte on the next candidate,
//! on the same SSE stream (`stream_resume: on` in a policy).
//!
//! When a relayed stream fails after content reached the client (a cut connection, a stall past
//! the provider's `idle_ms`, an upstream error event), the relay asks its [`Resumer`] for a
//! continuation. The resumer counts the failure against the broken model's breaker (as a failed
//! attempt before the first byte would be), then dispatches the original request plus the text
//! streamed so far as a partial assistant turn ([`prompt`]) over the same route plan without the
//! broken model and those that already failed, with the usual key rotation, pacing, retries,
//! breakers and failover. The new stream's chunks go through a [`splice::Splice`] so the client
//! sees one stream: the first `id` and `model`, no second role chunk, one `finish_reason`, one
//! usage adding both parts; the relay never re-sends what it sent.
//!
//! Not resumed: streams that carried tool calls, requests with `n > 1`, streams that had sent
//! no content (those fail over before the first byte), a second break (one resume a stream).
//! What happened is kept in a [`Record`] for the ledger line (both attempts, both parts' tokens
//! and cost) and counted in `switchyard_stream_resumes_total`.

pub(crate) mod prompt;
pub(crate) mod splice;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::adapters::http::Client;
use crate::adapters::{EventStream, UpstreamError};
use crate::config::{Endpoint, Policy};
use crate::dispatch::health::breaker_event;
use crate::dispatch::{self, Bodies, CandidateNote, Op, Reply, Trace, TryNote};
use crate::live::Live;
use crate::openai::Usage;
use crate::route::RoutePlan;
use prompt::Partial;

/// A stream that can be resumed: what a continuation request needs, kept from dispatch.
pub(crate) struct Resumer {
    live: Arc<Live>,
    shared: Option<Arc<crate::shared::Shared>>,
    client: Client,
    plan: RoutePlan,
    body: Map<String, Value>,
    op: Op,
    /// The model whose stream is relayed.
    model: usize,
    /// Models already tried for this request, never asked to continue it.
    tried: Vec<Arc<str>>,
    /// The router's count of the prompt, the first part's prompt tokens when it reported none.
    prompt_tokens: u64,
    record: Option<Record>,
}

/// What the relay needs to carry on: the new stream and how to splice it in.
pub(crate) struct Continuation {
    /// Chunks already received from the new upstream.
    pub head: Vec<crate::openai::Chunk>,
    pub rest: EventStream,
    /// Whitespace characters the client already has, to drop from the continuation's start.
    pub skip: usize,
    /// The first part's usage, added to the continuation's.
    pub first: Usage,
}

/// A resume, as the ledger line records it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// The model whose stream broke.
    pub from: usize,
    /// Characters of text the client had when it broke.
    pub at_chars: usize,
    /// Why it broke (`stream_cut`, `timeout`, ...).
    pub error: String,
    /// The first part's tokens (reported by its upstream, else counted by the router).
    pub first: Usage,
    /// Whether the first part's tokens were counted by the router.
    pub first_estimated: bool,
    /// The model that continued, or None when no candidate could.
    pub to: Option<usize>,
    /// The continuation's dispatch.
    pub trace: Trace,
}

impl Resumer {
    /// A resumer for a stream of `model` answering `body`, when the policy turns resuming on
    /// and the request can be resumed (a chat stream asking for one choice).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prepare(
        live: &Arc<Live>,
        policy: Option<&Policy>,
        shared: Option<&Arc<crate::shared::Shared>>,
        client: &Client,
        plan: &RoutePlan,
        body: &Map<String, Value>,
        op: Op,
        model: usize,
        trace: &Trace,
        prompt_tokens: u64,
    ) -> Option<Self> {
        let one_choice = body.get("n").and_then(Value::as_u64).is_none_or(|n| n <= 1);
        // the matching rule's setting, else the policy's
        let on = policy.is_some_and(|p| {
            p.rules
                .iter()
                .find(|r| r.name == plan.rule)
                .and_then(|r| r.stream_resume)
                .unwrap_or(p.stream_resume)
        });
        if !(on && op.stream && op.endpoint == Endpoint::Chat && one_choice) {
            return None;
        }
        Some(Self {
            live: Arc::clone(live),
            shared: shared.cloned(),
            client: client.clone(),
            plan: plan.clone(),
            body: body.clone(),
            op,
            model,
            tried: trace
                .notes
                .iter()
                .filter(|n| n.attempted())
                .map(|n| n.model.clone())
                .collect(),
            prompt_tokens,
            record: None,
        })
    }

    /// Asks the next candidate to continue after `text` (all the stream said so far), once;
    /// `reported` is the usage the broken stream reported, if any. None when this stream was
    /// resumed before or no candidate answers (the relay then ends it with its error event).
    pub(crate) async fn resume(
        &mut self,
        text: &str,
        reported: Option<Usage>,
        error: &UpstreamError,
    ) -> Option<Continuation> {
        if self.record.is_some() {
            return None;
        }
        let config = &self.live.config;
        let broken = &config.models[self.model];
        // a provider that dies mid-stream is as unhealthy as one that fails before it
        breaker_event(
            &self.live.health.breakers[self.model],
            &broken.id,
            |b, now| {
                b.on_failure(now);
            },
        );
        let first = reported.unwrap_or_else(|| Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: broken.encoding.count(text),
            ..Usage::default()
        });
        let partial = Partial::of(text);
        let spent = first.completion_tokens;
        let prefilled = prompt::prefilled(&self.body, &partial, spent);
        let instructed = prompt::instructed(&self.body, &partial, spent);
        self.tried.push(broken.id.clone());
        let plan = without(&self.plan, &self.tried, config);
        let bodies = Bodies {
            default: &instructed,
            prefill: Some(&prefilled),
        };
        let result = dispatch::dispatch_bodies(
            &self.live,
            self.shared.as_ref(),
            &self.client,
            &plan,
            bodies,
            self.op,
            None,
        )
        .await;
        let mut record = Record {
            from: self.model,
            at_chars: text.chars().count(),
            error: error.label(),
            first,
            first_estimated: reported.is_none(),
            to: None,
            trace: Trace::default(),
        };
        let outcome = match result {
            Ok(d) => {
                record.trace = d.trace;
                match d.reply {
                    Reply::Stream { head, rest } => {
                        record.to = Some(d.model);
                        Some(Continuation {
                            head,
                            rest,
                            skip: partial.trailing,
                            first,
                        })
                    }
                    Reply::Full(_) => None,
                }
            }
            Err(f) => {
                tracing::warn!(error = %f.error, "no candidate could continue the broken stream");
                record.trace = f.trace;
                None
            }
        };
        let label = if outcome.is_some() {
            "resumed"
        } else {
            "failed"
        };
        tracing::info!(model = %broken.id, outcome = label, at_chars = record.at_chars, "stream broke after its first byte; resuming");
        crate::metrics::stream_resume(&broken.id, label);
        self.record = Some(record);
        outcome
    }

    /// What happened, once a resume was tried.
    pub(crate) fn into_record(self) -> Option<Record> {
        self.record
    }
}

impl Record {
    /// The broken attempt and the continuation's, as trace notes and counts: the broken model
    /// as a candidate that did not answer, then the continuation's own notes.
    pub(crate) fn merge_into(&self, live: &Live, trace: &mut Trace) {
        trace.attempts += self.trace.attempts;
        trace.failovers += 1 + self.trace.failovers;
        trace.notes.push(CandidateNote {
            model: live.config.models[self.from].id.clone(),
            tries: vec![TryNote::Failed(format!(
                "{} after {} chars",
                self.error, self.at_chars
            ))],
        });
        trace.notes.extend(self.trace.notes.iter().cloned());
    }
}

/// `plan` without the models in `tried`.
fn without(plan: &RoutePlan, tried: &[Arc<str>], config: &crate::config::Config) -> RoutePlan {
    let mut plan = plan.clone();
    for group in &mut plan.groups {
        group
            .members
            .retain(|m| !tried.contains(&config.models[m.model].id));
    }
    plan.groups.retain(|g| !g.members.is_empty());
    plan.unsupported.clear();
    plan
}
