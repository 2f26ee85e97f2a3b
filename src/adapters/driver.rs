//! The one loop behind every wire's streamed answer: upstream SSE events in, under the idle
//! timeout, through the wire's translator, OpenAI chunk texts out.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::events::Events;
use super::{EventStream, UpstreamError};
use crate::config::Provider;
use crate::openai::Chunk;
use crate::scrub::Scrubber;

/// What a wire plugs into [`drive`]: its translation of upstream events into OpenAI chunks.
pub(super) trait Translator: Send + 'static {
    /// Turns one event's `data` into OpenAI chunk texts, appended to `out`; `Ok(true)` when the
    /// stream is complete and nothing more is to be read. On `Err`, nothing is appended.
    fn on_event(&mut self, data: &str, out: &mut Out) -> Result<bool, UpstreamError>;

    /// The upstream body ended before [`Translator::on_event`] said complete: the final chunks
    /// when that is a clean end on this wire, else why the stream counts as cut.
    fn on_end(&mut self, out: &mut Out) -> Result<(), UpstreamError>;
}

/// The chunks a translator has made and not yet handed on. A chunk text it built is read
/// here; one it already parsed (the OpenAI wire's own) comes with what that parse found.
#[derive(Default)]
pub(super) struct Out(VecDeque<Chunk>);

impl Out {
    /// A chunk text the translator built or relays unread.
    pub(super) fn push_back(&mut self, data: String) {
        self.0.push_back(Chunk::read(data));
    }

    /// A chunk the translator has read already.
    pub(super) fn push_read(&mut self, chunk: Chunk) {
        self.0.push_back(chunk);
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The chunks' texts, for tests to look at.
    #[cfg(test)]
    pub(super) fn texts(&self) -> Vec<&str> {
        self.0.iter().map(Chunk::data).collect()
    }

    fn pop_front(&mut self) -> Option<Chunk> {
        self.0.pop_front()
    }

    /// The chunks' texts, in order.
    pub(super) fn into_texts(self) -> Vec<String> {
        self.0.into_iter().map(Chunk::into_data).collect()
    }
}

impl Extend<String> for Out {
    fn extend<I: IntoIterator<Item = String>>(&mut self, texts: I) {
        texts.into_iter().for_each(|t| self.push_back(t));
    }
}

struct Driven<S, T> {
    events: S,
    translator: T,
    pending: Out,
    finished: bool,
    /// When the stream last made progress (an event that produced chunks).
    progress: Instant,
    /// The whole stream's deadline, when the provider sets one.
    deadline: Option<Instant>,
    /// Payload bytes read so far, against the provider's `max_response_bytes`.
    bytes: usize,
    limits: Limits,
}

/// How one wire's stream is read: the provider's limits and its scrubber.
pub(super) struct Limits {
    /// Longest time without progress: blank events and comments do not count.
    pub idle: Duration,
    pub deadline: Option<Duration>,
    pub max_bytes: usize,
    pub scrubber: Scrubber,
}

impl Limits {
    pub(super) fn of(provider: &Provider) -> Self {
        Self {
            idle: provider.idle_timeout,
            deadline: provider.stream_deadline,
            max_bytes: provider.max_response_bytes,
            scrubber: provider.scrubber.clone(),
        }
    }
}

/// The event stream of an upstream answer that came back 200. The wait for progress is
/// bounded by `idle` (blank events and comments do not reset it) and the whole stream by the
/// deadline and `max_bytes`; a stream that fails yields one error (its upstream text scrubbed
/// of secrets) and ends.
pub(super) fn drive(
    resp: super::http::Response,
    limits: Limits,
    translator: impl Translator,
) -> EventStream {
    let now = Instant::now();
    let state = Driven {
        events: Events::new(Box::pin(resp.bytes_stream())),
        translator,
        pending: Out::default(),
        finished: false,
        progress: now,
        deadline: limits.deadline.map(|d| now + d),
        bytes: 0,
        limits,
    };
    let stream = futures_util::stream::unfold(state, |mut d| async move {
        loop {
            if let Some(chunk) = d.pending.pop_front() {
                return Some((Ok(chunk), d));
            }
            if d.finished {
                return None;
            }
            let idle_until = d.progress + d.limits.idle;
            let until = d.deadline.map_or(idle_until, |t| t.min(idle_until));
            let result = match tokio::time::timeout_at(until, d.events.next()).await {
                Err(_) if d.deadline.is_some_and(|t| t <= idle_until) => {
                    Err(UpstreamError::StreamCut("stream_deadline_ms passed".into()))
                }
                Err(_) => Err(UpstreamError::Timeout(d.limits.idle)),
                Ok(None) => d.translator.on_end(&mut d.pending).map(|()| true),
                Ok(Some(Err(e))) => Err(UpstreamError::StreamCut(e.to_string())),
                Ok(Some(Ok(data))) if data.trim().is_empty() => continue,
                Ok(Some(Ok(data))) => {
                    d.bytes += data.len();
                    if d.bytes > d.limits.max_bytes {
                        Err(UpstreamError::TooLarge(d.limits.max_bytes))
                    } else {
                        let before = d.pending.len();
                        let r = d.translator.on_event(&data, &mut d.pending);
                        if d.pending.len() > before {
                            d.progress = Instant::now();
                        }
                        r
                    }
                }
            };
            match result {
                Ok(done) => d.finished = done,
                Err(e) => {
                    d.finished = true;
                    let e = scrubbed(e, &d.limits.scrubber);
                    return Some((Err(e), d));
                }
            }
        }
    });
    Box::pin(stream.fuse())
}

/// The error with any upstream text in it cleaned of secrets.
fn scrubbed(e: UpstreamError, scrubber: &Scrubber) -> UpstreamError {
    match e {
        UpstreamError::StreamCut(m) => UpstreamError::StreamCut(scrubber.clean(&m).into_owned()),
        UpstreamError::Malformed(m) => UpstreamError::Malformed(scrubber.clean(&m).into_owned()),
        other => other,
    }
}
