//! Embeddings micro-batching: concurrent small `/v1/embeddings` requests to one model are sent
//! upstream as one call and each gets its own answer back.
//!
//! A model with `batch_window_ms` set batches its embeddings attempts. The first request of a
//! batch opens it and a timer of that window; requests with the same options ([`merge::shape`])
//! arriving meanwhile join it, up to `max_batch_inputs` texts (the request that would overflow
//! it closes it and opens the next; a request that fills it exactly closes it at once; one that
//! alone reaches the limit is sent on its own). A closed batch makes ONE call through the same
//! path as any attempt ([`super::call_once`]: key, pacing for the batch's total tokens,
//! breaker, adapter, metrics), in a task of its own so a member that goes away cannot cancel it
//! for the others. Its outcome is shared out: the answer split per member
//! ([`merge::split`]), a failure given to every member as it is.
//!
//! Each member stays in its own retry and failover loop: a retry is a new attempt that may
//! join a new batch, so no input is ever sent twice for one attempt. A batch of several
//! members refused with a client error (a 4xx other than 401/403/429: one member's input may
//! be at fault) sends each member once more on its own, so one bad input cannot fail the rest.

pub(crate) mod merge;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{call_once, Attempt, BatchNote, Called, Op, Reply, Trace};
use crate::adapters::http::Client;
use crate::adapters::{FullReply, UpstreamError};
use crate::config::{Batching, Endpoint};
use crate::live::Live;
use crate::lock::lock;
use crate::shared::Shared;

/// The open batches of one config, by model and options.
#[derive(Default)]
pub(crate) struct Coalescer {
    open: Mutex<HashMap<(usize, String), Open>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("open", &lock(&self.open).len())
            .field("next_id", &self.next_id)
            .finish()
    }
}

/// A batch still taking members.
struct Open {
    id: u64,
    inputs: usize,
    members: Vec<Member>,
    runner: Runner,
}

/// One request waiting in a batch.
struct Member {
    body: Map<String, Value>,
    inputs: usize,
    /// Its prompt tokens as the router counted them: its pacing share and usage weight.
    tokens: u64,
    reply: oneshot::Sender<Share>,
}

/// What the batch's one call needs, taken from the request that opened it.
struct Runner {
    live: Arc<Live>,
    fleet: Option<Arc<Shared>>,
    client: Client,
    model: usize,
    op: Op,
}

/// A member's part of the batch's outcome.
struct Share {
    called: Called,
    /// Whether the call was made (not skipped before sending).
    attempted: bool,
    requests: usize,
    inputs: usize,
}

/// Runs this attempt of an embeddings request through model `m`'s batching, when the model
/// batches and the request can share a call; `None` sends it the ordinary way.
pub(super) async fn join(
    live: &Arc<Live>,
    fleet: Option<&Arc<Shared>>,
    client: &Client,
    m: usize,
    body: &Map<String, Value>,
    op: Op,
    trace: &mut Trace,
) -> Option<Called> {
    if op.endpoint != Endpoint::Embeddings || op.stream {
        return None;
    }
    let batching = live.config.models[m].batching?;
    let shape = merge::shape(body)?;
    if shape.inputs >= batching.max_inputs {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    let joined = Instant::now();
    let member = Member {
        body: body.clone(),
        inputs: shape.inputs,
        tokens: op.tokens,
        reply: tx,
    };
    let runner = || Runner {
        live: Arc::clone(live),
        fleet: fleet.cloned(),
        client: client.clone(),
        model: m,
        op,
    };
    live.health
        .batches
        .enter(batching, (m, shape.options), member, runner);
    let share = rx.await;
    trace.waited += joined.elapsed();
    let Ok(share) = share else {
        return Some(Called::Failed(UpstreamError::Malformed(
            "the coalesced embeddings call ended without an answer".into(),
        )));
    };
    if share.attempted {
        trace.attempts += 1;
    }
    if share.requests > 1 {
        if let Called::Failed(e) = &share.called {
            if is_client_error(e) {
                tracing::debug!(model = %live.config.models[m].id, error = %e, "a coalesced batch was refused; sending this member on its own");
                return Some(
                    call_once(live, fleet, client, m, body, op, trace, Attempt::default()).await,
                );
            }
        }
        trace.batch = Some(BatchNote {
            requests: u32::try_from(share.requests).unwrap_or(u32::MAX),
            inputs: u32::try_from(share.inputs).unwrap_or(u32::MAX),
        });
    }
    Some(share.called)
}

/// A refusal that may be about one member's input rather than the batch.
fn is_client_error(e: &UpstreamError) -> bool {
    matches!(e, UpstreamError::Status { status, .. } if status.is_client_error())
        && !e.is_retryable()
        && !e.is_key_rejected()
}

impl Coalescer {
    /// Adds `member` to the open batch for `key`, or opens one (with its window timer).
    fn enter(
        &self,
        batching: Batching,
        key: (usize, String),
        member: Member,
        runner: impl FnOnce() -> Runner,
    ) {
        let mut open = lock(&self.open);
        let mut closed = None;
        if let Some(b) = open.get_mut(&key) {
            if b.inputs + member.inputs <= batching.max_inputs {
                b.inputs += member.inputs;
                b.members.push(member);
                if b.inputs >= batching.max_inputs {
                    closed = open.remove(&key);
                }
                drop(open);
                if let Some(b) = closed {
                    tokio::spawn(run(b));
                }
                return;
            }
            // it would overflow: the open batch goes now, this member opens the next
            closed = open.remove(&key);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let runner = runner();
        let live = Arc::clone(&runner.live);
        open.insert(
            key.clone(),
            Open {
                id,
                inputs: member.inputs,
                members: vec![member],
                runner,
            },
        );
        drop(open);
        if let Some(b) = closed {
            tokio::spawn(run(b));
        }
        tokio::spawn(async move {
            tokio::time::sleep(batching.window).await;
            let due = live.health.batches.close(&key, id);
            if let Some(b) = due {
                run(b).await;
            }
        });
    }

    /// Takes batch `id` out of the open ones, unless it already went (filled up).
    fn close(&self, key: &(usize, String), id: u64) -> Option<Open> {
        let mut open = lock(&self.open);
        if open.get(key).is_some_and(|b| b.id == id) {
            open.remove(key)
        } else {
            None
        }
    }
}

/// Makes a closed batch's one call and shares its outcome out.
async fn run(batch: Open) {
    let Open {
        inputs,
        members,
        runner,
        ..
    } = batch;
    let Runner {
        live,
        fleet,
        client,
        model,
        op,
    } = runner;
    let requests = members.len();
    let tokens: Vec<u64> = members.iter().map(|m| m.tokens).collect();
    let op = Op {
        tokens: tokens.iter().sum(),
        ..op
    };
    let mut trace = Trace::default();
    if requests == 1 {
        // nobody joined: the request goes as it came, its answer untouched
        let Some(m) = members.into_iter().next() else {
            return;
        };
        let called = call_once(
            &live,
            fleet.as_ref(),
            &client,
            model,
            &m.body,
            op,
            &mut trace,
            Attempt::default(),
        )
        .await;
        let _ = m.reply.send(Share {
            called,
            attempted: trace.attempts > 0,
            requests,
            inputs,
        });
        return;
    }
    let merged = merge::merge(members.iter().map(|m| &m.body));
    let called = call_once(
        &live,
        fleet.as_ref(),
        &client,
        model,
        &merged,
        op,
        &mut trace,
        Attempt::default(),
    )
    .await;
    let attempted = trace.attempts > 0;
    if attempted {
        crate::metrics::embedding_batch(&live.config.models[model].id, requests);
    }
    let counts: Vec<usize> = members.iter().map(|m| m.inputs).collect();
    let outcomes: Vec<Called> = match called {
        Called::Answered(Reply::Full(full)) => match merge::split(&full.body, &counts, &tokens) {
            Ok(parts) => parts
                .into_iter()
                .map(|p| {
                    Called::Answered(Reply::Full(FullReply {
                        body: p.body,
                        usage: p.usage,
                        uncounted: None,
                    }))
                })
                .collect(),
            Err(e) => every(requests, &Called::Failed(UpstreamError::Malformed(e))),
        },
        Called::Answered(Reply::Stream { .. }) => every(
            requests,
            &Called::Failed(UpstreamError::Malformed(
                "an embeddings call answered with a stream".into(),
            )),
        ),
        other => every(requests, &other),
    };
    for (member, called) in members.into_iter().zip(outcomes) {
        // a member that went away meanwhile needs nothing
        let _ = member.reply.send(Share {
            called,
            attempted,
            requests,
            inputs,
        });
    }
}

/// The same unanswered outcome for each of `n` members.
fn every(n: usize, called: &Called) -> Vec<Called> {
    (0..n)
        .map(|_| match called {
            Called::Skipped(s) => Called::Skipped(*s),
            Called::Unsupported(u) => Called::Unsupported(u.clone()),
            Called::Failed(e) => Called::Failed(e.clone()),
            Called::Answered(_) => Called::Failed(UpstreamError::Malformed(
                "an answer cannot be shared unsplit".into(),
            )),
        })
        .collect()
}
