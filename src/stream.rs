//! Relays an upstream event stream to the client as SSE, tapping usage and time to first token,
//! and ends a stream that breaks mid-way with an error event instead of a silent `[DONE]`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::json;

use crate::adapters::{EventStream, UpstreamError};
use crate::cache::{Stored, StreamTap};
use crate::dispatch::breaker::Breaker;
use crate::dispatch::health::breaker_event;
use crate::guardrails::StreamRedactor;
use crate::openai::{ChunkView, Usage};
use crate::usage::Recorder;

/// What OpenAI adds to every chunk when usage is asked for.
pub(crate) const USAGE_NULL: &str = ",\"usage\":null";

/// Completion text kept for local counting when the upstream reports no usage.
const MAX_TEXT: usize = 4 * 1024 * 1024;

/// Stores a completed stream (its chunks and usage) in the response cache.
pub type StoreStream = Box<dyn FnOnce(Stored, Option<Usage>) + Send>;

/// Optional work on the relayed chunks: output guardrails, and collecting the answer for the
/// response cache (the store runs once with it when the stream ends normally).
#[derive(Default)]
pub struct Extras {
    pub redactor: Option<StreamRedactor>,
    pub tap: Option<(StreamTap, StoreStream)>,
}

struct Relay {
    head: VecDeque<String>,
    extras: Extras,
    rest: EventStream,
    /// Whether the client asked for the usage chunk (the router always asks upstream for it).
    include_usage: bool,
    recorder: Option<Recorder>,
    breaker: Arc<Mutex<Breaker>>,
    usage: Option<Usage>,
    text: String,
    ttft: Option<Duration>,
    chunks: usize,
    done: bool,
    /// Resolves when the shutdown grace period is over.
    drained: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        crate::metrics::in_flight("streams", -1.0);
        if let Some(rec) = self.recorder.take() {
            rec.finish(
                499,
                "client_disconnected",
                self.usage,
                Some(std::mem::take(&mut self.text)),
                self.ttft,
            );
        }
    }
}

impl Relay {
    /// Reads a chunk; says whether to forward it to the client.
    fn inspect(&mut self, data: &str) -> bool {
        let Ok(chunk) = serde_json::from_str::<ChunkView>(data) else {
            return true;
        };
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for c in &chunk.choices {
            if let Some(t) = c.text() {
                if self.ttft.is_none() && !t.is_empty() {
                    self.ttft = self.recorder.as_ref().map(|r| r.started.elapsed());
                }
                if self.text.len() < MAX_TEXT {
                    self.text.push_str(t);
                }
            }
        }
        // the final usage-only chunk goes to clients that asked for it
        !(chunk.choices.is_empty() && chunk.usage.is_some() && !self.include_usage)
    }

    /// Redacts (when guardrails apply), feeds the cache tap and frames one upstream payload;
    /// empty when the redactor holds all of it back for now.
    fn forward(&mut self, data: String) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(data.len() + 8);
        match self.extras.redactor.as_mut().map(|r| r.push(&data)) {
            Some(outs) => outs.iter().for_each(|d| self.emit(d, &mut bytes)),
            None => self.emit(&data, &mut bytes),
        }
        bytes
    }

    /// Appends one payload as an SSE event, and to the cache tap.
    fn emit(&mut self, data: &str, out: &mut Vec<u8>) {
        if let Some((tap, _)) = &mut self.extras.tap {
            tap.push(data);
        }
        out.extend_from_slice(b"data: ");
        // usage was asked upstream for the ledger; a client that did not ask gets chunks
        // without the `"usage":null` that asking adds
        if !self.include_usage && data.contains(USAGE_NULL) {
            out.extend_from_slice(data.replace(USAGE_NULL, "").as_bytes());
        } else {
            out.extend_from_slice(data.as_bytes());
        }
        out.extend_from_slice(b"\n\n");
    }

    /// Releases text the redactor still holds, and stores a completed answer in the cache.
    fn close(&mut self, completed: bool) -> Vec<u8> {
        let held = match &mut self.extras.redactor {
            Some(r) => r.finish(),
            None => Vec::new(),
        };
        let mut bytes = Vec::new();
        held.iter().for_each(|d| self.emit(d, &mut bytes));
        if let Some(r) = &self.extras.redactor {
            if let Some(rec) = &mut self.recorder {
                rec.record.redactions = r.redactions();
            }
        }
        if let Some((tap, store)) = self.extras.tap.take() {
            if let Some(stored) = tap.finish(completed) {
                store(stored, self.usage);
            }
        }
        bytes
    }

    fn finish(&mut self, status: u16, outcome: &str) {
        self.done = true;
        if let Some(rec) = self.recorder.take() {
            rec.finish(
                status,
                outcome,
                self.usage,
                Some(std::mem::take(&mut self.text)),
                self.ttft,
            );
        }
    }
}

/// The client-facing SSE body for a committed stream. `head` are chunks already received.
pub fn relay(
    head: Vec<String>,
    rest: EventStream,
    include_usage: bool,
    recorder: Recorder,
    breaker: Arc<Mutex<Breaker>>,
    drained: impl Future<Output = ()> + Send + 'static,
    extras: Extras,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    crate::metrics::in_flight("streams", 1.0);
    let state = Relay {
        head: head.into(),
        extras,
        rest,
        include_usage,
        recorder: Some(recorder),
        breaker,
        usage: None,
        text: String::new(),
        ttft: None,
        chunks: 0,
        done: false,
        drained: Box::pin(drained),
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let next = match st.head.pop_front() {
                Some(d) => Some(Ok(d)),
                None => tokio::select! {
                    biased;
                    () = &mut st.drained => {
                        let mut bytes = st.close(false);
                        st.finish(200, "shutdown");
                        bytes.extend_from_slice(&shutdown_event(st.chunks));
                        return Some((Ok(bytes.into()), st));
                    }
                    next = st.rest.next() => next,
                },
            };
            match next {
                Some(Ok(data)) => {
                    if st.inspect(&data) {
                        st.chunks += 1;
                        let bytes = st.forward(data);
                        if !bytes.is_empty() {
                            return Some((Ok(bytes.into()), st));
                        }
                    } else if let Some((tap, _)) = &mut st.extras.tap {
                        // the usage chunk this client skipped is kept for hits that ask for it
                        tap.push(&data);
                    }
                }
                None => {
                    let mut bytes = st.close(true);
                    st.finish(200, "ok");
                    bytes.extend_from_slice(b"data: [DONE]\n\n");
                    return Some((Ok(bytes.into()), st));
                }
                Some(Err(e)) => {
                    let model = st
                        .recorder
                        .as_ref()
                        .and_then(|r| r.record.model.clone())
                        .unwrap_or_default();
                    breaker_event(&st.breaker, &model, |b, now| b.on_failure(now));
                    tracing::warn!(error = %e, chunks = st.chunks, "upstream stream broke after the first byte");
                    let mut bytes = st.close(false);
                    st.finish(200, "stream_interrupted");
                    bytes.extend_from_slice(&error_event(&e, st.chunks));
                    return Some((Ok(bytes.into()), st));
                }
            }
        }
    })
}

/// One SSE event carrying `data`.
pub(crate) fn sse(data: &str) -> Bytes {
    let mut b = Vec::with_capacity(data.len() + 8);
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(data.as_bytes());
    b.extend_from_slice(b"\n\n");
    b.into()
}

/// The event that ends a stream still open when the shutdown grace period is over.
fn shutdown_event(chunks: usize) -> Bytes {
    let body = json!({"error": {
        "message": format!("The router is shutting down; the stream was ended after {chunks} chunks and the answer is incomplete. Retry the request."),
        "type": "server_error",
        "param": null,
        "code": "server_shutting_down",
    }});
    sse(&body.to_string())
}

/// The event that ends a broken stream; OpenAI's SDKs raise it as an `APIError`.
fn error_event(e: &UpstreamError, chunks: usize) -> Bytes {
    let body = json!({"error": {
        "message": format!("The upstream stream failed after {chunks} chunks ({e}); the answer is incomplete."),
        "type": "upstream_error",
        "param": null,
        "code": "stream_interrupted",
    }});
    sse(&body.to_string())
}
