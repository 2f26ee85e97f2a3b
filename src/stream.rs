//! Relays an upstream event stream to the client as SSE and reports a summary when it ends.
//!
//! The relay applies output guardrails, drops the usage the router asked for on the client's
//! behalf, and ends a stream that breaks mid-way with an error event instead of a silent
//! `[DONE]`, unless its policy has `stream_resume` on: then a [`Resumer`] continues the answer
//! on the next candidate and the relay splices the continuation in ([`crate::resume`]). It knows nothing of the ledger, budgets or the cache: whatever it observed (usage,
//! text, time to first token, the chunks if asked to keep them, how it ended) goes to the
//! [`StreamEnd`] handler exactly once, also when the client goes away.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::time::Instant;

use crate::adapters::{EventStream, UpstreamError};
use crate::guardrails::StreamRedactor;
use crate::openai::{Chunk, ErrorBody, Usage};
use crate::resume::splice::{Identity, Splice};
use crate::resume::{Record, Resumer};
use crate::sse;

/// Completion text kept for local counting when the upstream reports no usage.
const MAX_TEXT: usize = 4 * 1024 * 1024;

/// Events already at hand are sent together up to this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

/// How a relayed stream ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The upstream finished; `[DONE]` was sent.
    Completed,
    /// The upstream broke after the first byte; an error event was sent.
    Interrupted,
    /// The shutdown grace period ended the stream; an error event was sent.
    Shutdown,
    /// The client went away.
    ClientGone,
}

/// What a relay observed, handed to its [`StreamEnd`] once.
#[derive(Debug)]
pub(crate) struct Summary {
    pub ending: Ending,
    /// The last usage the upstream reported.
    pub usage: Option<Usage>,
    /// The completion text (up to 4 MiB), for counting when no usage was reported.
    pub text: String,
    /// Time from the request's start to the first content.
    pub ttft: Option<Duration>,
    /// Output guardrail replacements made.
    pub redactions: u32,
    /// Every upstream payload as sent (usage included), when asked for with
    /// [`Options::keep_up_to`] and the whole stream fitted; for a completed stream only.
    pub kept: Option<Vec<String>>,
    /// A resume tried after the upstream broke ([`Options::resumer`]).
    pub resume: Option<Record>,
}

/// Receives a relay's [`Summary`] when the stream ends, however it ends.
pub(crate) trait StreamEnd: Send + 'static {
    fn ended(self, summary: Summary);
}

/// How to relay one stream.
pub(crate) struct Options {
    /// Whether the client asked for the usage chunk (the router always asks upstream for it).
    pub include_usage: bool,
    /// Output guardrails, when the policy has any.
    pub redactor: Option<StreamRedactor>,
    /// Keep every payload for the summary while they total at most this many bytes.
    pub keep_up_to: Option<usize>,
    /// When the request started, for time to first token.
    pub started: Instant,
    /// Continues the stream on another candidate if it breaks after content (`stream_resume`).
    pub resumer: Option<Box<Resumer>>,
}

/// Payloads kept for the summary, given up once they outgrow their cap.
struct Kept {
    chunks: Vec<String>,
    bytes: usize,
    cap: usize,
}

impl Kept {
    /// Adds one payload; false once over the cap (the caller then drops the whole record).
    fn push(&mut self, data: &str) -> bool {
        self.bytes += data.len();
        if self.bytes > self.cap {
            return false;
        }
        self.chunks.push(data.to_owned());
        true
    }
}

struct Relay<E: StreamEnd> {
    head: VecDeque<Chunk>,
    rest: EventStream,
    include_usage: bool,
    redactor: Option<StreamRedactor>,
    kept: Option<Kept>,
    started: Instant,
    usage: Option<Usage>,
    text: String,
    ttft: Option<Duration>,
    chunks: usize,
    resumer: Option<Box<Resumer>>,
    /// The first chunk's naming fields, for a continuation to take (only with a resumer).
    identity: Option<Identity>,
    /// Rewrites a continuation's chunks, once the stream was resumed.
    splice: Option<Splice>,
    /// Tool calls were streamed: such a stream is never resumed.
    tool_calls: bool,
    /// A `finish_reason` was relayed: the answer is whole, nothing to resume.
    finished: bool,
    /// An upstream failure read while a batch was being sent, handled on the next poll.
    broken: Option<UpstreamError>,
    /// `Some` until the summary is handed over.
    end: Option<E>,
    /// Resolves when the shutdown grace period is over.
    drained: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl<E: StreamEnd> Drop for Relay<E> {
    fn drop(&mut self) {
        self.report(Ending::ClientGone);
    }
}

impl<E: StreamEnd> Relay<E> {
    /// Takes in what a chunk says; says whether to forward it to the client.
    fn inspect(&mut self, chunk: &Chunk) -> bool {
        let Some(facts) = chunk.facts() else {
            return true;
        };
        if let Some(u) = facts.usage {
            self.usage = Some(u);
        }
        self.tool_calls |= facts.tool_calls;
        self.finished |= facts.finished;
        if let Some(t) = chunk.text() {
            if self.ttft.is_none() {
                self.ttft = Some(self.started.elapsed());
            }
            if self.text.len() < MAX_TEXT {
                self.text.push_str(t);
            }
        }
        // the final usage-only chunk goes to clients that asked for it
        !(!facts.has_choices && facts.usage.is_some() && !self.include_usage)
    }

    /// Redacts (when guardrails apply), keeps and frames one upstream payload onto `out`;
    /// nothing when the redactor holds all of it back for now.
    fn forward(&mut self, data: &str, out: &mut Vec<u8>) {
        match self.redactor.as_mut().map(|r| r.push(data)) {
            Some(outs) => outs.iter().for_each(|d| self.emit(d, out)),
            None => self.emit(data, out),
        }
    }

    /// Appends one payload as an SSE event, and to what is kept.
    fn emit(&mut self, data: &str, out: &mut Vec<u8>) {
        self.keep(data);
        // usage was asked upstream for the ledger; a client that did not ask gets chunks
        // without the `"usage":null` that asking adds
        if self.include_usage {
            sse::write_event(out, data);
        } else {
            sse::write_event(out, &sse::without_null_usage(data));
        }
    }

    fn keep(&mut self, data: &str) {
        if self.kept.as_mut().is_some_and(|k| !k.push(data)) {
            self.kept = None;
        }
    }

    /// Releases text the redactor still holds onto `out`.
    fn release(&mut self, out: &mut Vec<u8>) {
        let held = match &mut self.redactor {
            Some(r) => r.finish(),
            None => Vec::new(),
        };
        for d in &held {
            self.emit(d, out);
        }
    }

    /// Hands the summary over, once.
    fn report(&mut self, ending: Ending) {
        let Some(end) = self.end.take() else { return };
        let resume = self.resumer.take().and_then(|r| r.into_record());
        let kept = match ending {
            // a resumed stream is not stored: its parts came from different models
            Ending::Completed if resume.is_none() => self.kept.take().map(|k| k.chunks),
            _ => None,
        };
        end.ended(Summary {
            ending,
            usage: self.usage,
            text: std::mem::take(&mut self.text),
            ttft: self.ttft,
            redactions: self.redactor.as_ref().map_or(0, StreamRedactor::redactions),
            kept,
            resume,
        });
    }

    /// A chunk as relayed: the upstream's, or a continuation's rewritten to continue the
    /// stream (None: nothing of it is left to send).
    fn take(&mut self, chunk: Chunk) -> Option<Chunk> {
        if self.resumer.is_some() && self.identity.is_none() {
            self.identity = Identity::of(chunk.data());
        }
        match &mut self.splice {
            Some(splice) => splice.rewrite(chunk.data()).map(Chunk::read),
            None => Some(chunk),
        }
    }

    /// After the upstream broke: carries on with a continuation when the stream may be
    /// resumed (content was sent, no tool calls, its text whole, not resumed before).
    async fn resume(&mut self, e: &UpstreamError) -> bool {
        let resumable = !self.tool_calls
            && !self.finished
            && !self.text.is_empty()
            && self.text.len() < MAX_TEXT;
        let Some(resumer) = self.resumer.as_mut().filter(|_| resumable) else {
            return false;
        };
        let Some(c) = resumer.resume(&self.text, self.usage, e).await else {
            return false;
        };
        let identity = self.identity.take().unwrap_or_default();
        self.splice = Some(Splice::new(identity, c.skip, c.first));
        self.usage = None;
        self.head = c.head.into();
        self.rest = c.rest;
        true
    }

    /// Ends the stream: after `out` (events not yet sent), releases held text, appends
    /// `last`, reports `ending`.
    fn close(&mut self, ending: Ending, mut out: Vec<u8>, last: &[u8]) -> Bytes {
        self.release(&mut out);
        out.extend_from_slice(last);
        self.report(ending);
        out.into()
    }
}

/// The client-facing SSE body for a committed stream. `head` are chunks already received.
pub(crate) fn relay<E: StreamEnd>(
    head: Vec<Chunk>,
    rest: EventStream,
    options: Options,
    drained: impl Future<Output = ()> + Send + 'static,
    end: E,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let state = Relay {
        head: head.into(),
        rest,
        include_usage: options.include_usage,
        redactor: options.redactor,
        kept: options.keep_up_to.map(|cap| Kept {
            chunks: Vec::new(),
            bytes: 0,
            cap,
        }),
        started: options.started,
        usage: None,
        text: String::new(),
        ttft: None,
        chunks: 0,
        resumer: options.resumer,
        identity: None,
        splice: None,
        tool_calls: false,
        finished: false,
        broken: None,
        end: Some(end),
        drained: Box::pin(drained),
    };
    futures_util::stream::unfold(state, |mut st| async move {
        st.end.as_ref()?;
        // what is already at hand (the held head, or a last chunk, the usage and the end that
        // came in one read) goes out as one write; nothing ever waits for more to batch
        let mut out = Vec::new();
        loop {
            let next = if let Some(e) = st.broken.take() {
                Some(Err(e))
            } else if let Some(c) = st.head.pop_front() {
                Some(Ok(c))
            } else if !out.is_empty() {
                match st.rest.next().now_or_never() {
                    Some(next) => next,
                    None => return Some((Ok(out.into()), st)),
                }
            } else {
                tokio::select! {
                    biased;
                    () = &mut st.drained => {
                        let event = shutdown_event(st.chunks);
                        return Some((Ok(st.close(Ending::Shutdown, out, &event)), st));
                    }
                    next = st.rest.next() => next,
                }
            };
            match next {
                Some(Ok(chunk)) => {
                    let Some(chunk) = st.take(chunk) else {
                        continue;
                    };
                    if st.inspect(&chunk) {
                        st.chunks += 1;
                        st.forward(chunk.data(), &mut out);
                        if out.len() >= BATCH_BYTES {
                            return Some((Ok(out.into()), st));
                        }
                    } else {
                        // the usage chunk this client skipped is kept for replays that ask for it
                        st.keep(chunk.data());
                    }
                }
                None => return Some((Ok(st.close(Ending::Completed, out, sse::DONE)), st)),
                // what was read before the failure goes out first: a resume may take a while
                Some(Err(e)) if !out.is_empty() => {
                    st.broken = Some(e);
                    return Some((Ok(out.into()), st));
                }
                Some(Err(e)) => {
                    if st.resume(&e).await {
                        continue;
                    }
                    tracing::warn!(error = %e, chunks = st.chunks, "upstream stream broke after the first byte");
                    let event = error_event(&e, st.chunks);
                    return Some((Ok(st.close(Ending::Interrupted, out, &event)), st));
                }
            }
        }
    })
}

/// The event that ends a stream still open when the shutdown grace period is over.
fn shutdown_event(chunks: usize) -> Bytes {
    let body = ErrorBody::new(
        format!("The router is shutting down; the stream was ended after {chunks} chunks and the answer is incomplete. Retry the request."),
        "server_error",
        None,
        Some("server_shutting_down"),
    );
    sse::event(&body.to_json())
}

/// The event that ends a broken stream; OpenAI's SDKs raise it as an `APIError`.
fn error_event(e: &UpstreamError, chunks: usize) -> Bytes {
    sse::event(&error_body(e, chunks).to_json())
}

/// The body of [`error_event`].
pub(crate) fn error_body(e: &UpstreamError, chunks: usize) -> ErrorBody {
    ErrorBody::new(
        format!(
            "The upstream stream failed after {chunks} chunks ({e}); the answer is incomplete."
        ),
        "upstream_error",
        None,
        Some("stream_interrupted"),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Keeps the summary for the test to read.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Option<Summary>>>);

    impl StreamEnd for Seen {
        fn ended(self, summary: Summary) {
            *self.0.lock().unwrap() = Some(summary);
        }
    }

    fn chunk(text: &str) -> Chunk {
        Chunk::read(format!(
            r#"{{"choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#
        ))
    }

    fn options() -> Options {
        Options {
            include_usage: false,
            redactor: None,
            keep_up_to: None,
            started: Instant::now(),
            resumer: None,
        }
    }

    fn events(frame: &Bytes) -> usize {
        String::from_utf8_lossy(frame).matches("data: ").count()
    }

    #[tokio::test]
    async fn events_at_hand_go_out_as_one_write() {
        let seen = Seen::default();
        let rest: EventStream =
            Box::pin(futures_util::stream::iter([Ok(chunk("b")), Ok(chunk("c"))]));
        let body = relay(
            vec![chunk("a")],
            rest,
            options(),
            std::future::pending(),
            seen.clone(),
        );
        let frames: Vec<Bytes> = body.map(|f| f.unwrap()).collect().await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(events(&frames[0]), 4, "three chunks and [DONE]");
        let summary = seen.0.lock().unwrap().take().unwrap();
        assert_eq!(summary.text, "abc");
        assert!(matches!(summary.ending, Ending::Completed));
    }

    #[tokio::test]
    async fn an_event_is_never_held_back_for_the_next_one() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Chunk, UpstreamError>>();
        let rest: EventStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
        let mut body = Box::pin(relay(
            Vec::new(),
            rest,
            options(),
            std::future::pending(),
            Seen::default(),
        ));
        tx.send(Ok(chunk("a"))).unwrap();
        let first = body.next().await.unwrap().unwrap();
        assert_eq!(
            events(&first),
            1,
            "sent while the upstream has nothing more"
        );
        tx.send(Ok(chunk("b"))).unwrap();
        drop(tx);
        let last = body.next().await.unwrap().unwrap();
        assert_eq!(events(&last), 2, "the chunk and [DONE]");
        assert!(body.next().await.is_none());
    }

    #[tokio::test]
    async fn what_came_before_a_failure_goes_out_before_its_error_event() {
        let seen = Seen::default();
        let cut = UpstreamError::StreamCut("reset".into());
        let rest: EventStream = Box::pin(futures_util::stream::iter([Ok(chunk("a")), Err(cut)]));
        let body = relay(
            Vec::new(),
            rest,
            options(),
            std::future::pending(),
            seen.clone(),
        );
        let frames: Vec<Bytes> = body.map(|f| f.unwrap()).collect().await;
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(String::from_utf8_lossy(&frames[0]).contains("\"a\""));
        assert!(String::from_utf8_lossy(&frames[1]).contains("stream_interrupted"));
        let summary = seen.0.lock().unwrap().take().unwrap();
        assert!(matches!(summary.ending, Ending::Interrupted));
        assert_eq!(summary.text, "a");
    }
}
