//! The one loop behind every wire's streamed answer: upstream SSE events in, under the idle
//! timeout, through the wire's translator, OpenAI chunk texts out.

use std::collections::VecDeque;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

use super::{EventStream, UpstreamError};

/// What a wire plugs into [`drive`]: its translation of upstream events into OpenAI chunks.
pub(super) trait Translator: Send + 'static {
    /// Turns one event's `data` into OpenAI chunk texts, appended to `out`; `Ok(true)` when the
    /// stream is complete and nothing more is to be read. On `Err`, nothing is appended.
    fn on_event(&mut self, data: &str, out: &mut VecDeque<String>) -> Result<bool, UpstreamError>;

    /// The upstream body ended before [`Translator::on_event`] said complete: the final chunks
    /// when that is a clean end on this wire, else why the stream counts as cut.
    fn on_end(&mut self, out: &mut VecDeque<String>) -> Result<(), UpstreamError>;
}

struct Driven<S, T> {
    events: S,
    translator: T,
    pending: VecDeque<String>,
    finished: bool,
}

/// The event stream of an upstream answer that came back 200. Each wait for the next event is
/// bounded by `idle`; blank events are skipped; a stream that fails yields one error and ends.
pub(super) fn drive(
    resp: reqwest::Response,
    idle: Duration,
    translator: impl Translator,
) -> EventStream {
    let state = Driven {
        events: resp.bytes_stream().eventsource(),
        translator,
        pending: VecDeque::new(),
        finished: false,
    };
    let stream = futures_util::stream::unfold(state, move |mut d| async move {
        loop {
            if let Some(chunk) = d.pending.pop_front() {
                return Some((Ok(chunk), d));
            }
            if d.finished {
                return None;
            }
            let result = match tokio::time::timeout(idle, d.events.next()).await {
                Err(_) => Err(UpstreamError::Timeout(idle)),
                Ok(None) => d.translator.on_end(&mut d.pending).map(|()| true),
                Ok(Some(Err(e))) => Err(UpstreamError::StreamCut(e.to_string())),
                Ok(Some(Ok(ev))) if ev.data.trim().is_empty() => continue,
                Ok(Some(Ok(ev))) => d.translator.on_event(&ev.data, &mut d.pending),
            };
            match result {
                Ok(done) => d.finished = done,
                Err(e) => {
                    d.finished = true;
                    return Some((Err(e), d));
                }
            }
        }
    });
    Box::pin(stream.fuse())
}
