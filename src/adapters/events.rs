//! Server-sent events read out of an upstream body: each event's `data`, as the `eventsource-stream` crate reads it, without its per-character parser.
//!
//! The rules (the WHATWG event-stream format, as that crate applies them, which the router
//! used before and its tests still hold this reader to):
//! - The body is UTF-8, decoded across chunk boundaries; a byte order mark at the very start
//!   is dropped. Bytes that are not UTF-8 hold back everything after them, and at the body's
//!   end they fail the stream (`UTF8 error: ...`).
//! - Lines end with `\r\n`, `\r` or `\n`; a line is only read once its end has arrived (so a
//!   `\r` last in what was read waits for the next byte, which may be its `\n`).
//! - `:` starts a comment; `name:value` (one space after the colon dropped) or a bare `name`
//!   is a field. `data` fields append their value and a newline to the event's data; every
//!   other field is ignored (the router reads only data).
//! - A blank line ends the event: an event with no data is dropped, else its data, less the
//!   last newline, is yielded. An event not ended by a blank line when the body ends is lost.
//!
//! Lines are found with one byte search each and read in place; the text not yet read is
//! moved down once per chunk, not once per line.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;

/// Why an event stream failed: the body was not UTF-8, or reading it failed.
#[derive(Debug)]
pub(super) enum EventsError<E> {
    Utf8(std::string::FromUtf8Error),
    Transport(E),
}

impl<E: fmt::Display> fmt::Display for EventsError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Utf8(e) => write!(f, "UTF8 error: {e}"),
            Self::Transport(e) => write!(f, "Transport error: {e}"),
        }
    }
}

/// The `data` of each event of `body`, in order.
pub(super) struct Events<S> {
    body: S,
    /// Bytes of an incomplete (or invalid) UTF-8 sequence, waiting for the next chunk.
    undecoded: Vec<u8>,
    /// Decoded text; lines before `read` are consumed.
    text: String,
    read: usize,
    /// The data of the event being read.
    data: String,
    started: bool,
    ended: bool,
}

impl<S> Events<S> {
    pub(super) fn new(body: S) -> Self {
        Self {
            body,
            undecoded: Vec::new(),
            text: String::new(),
            read: 0,
            data: String::new(),
            started: false,
            ended: false,
        }
    }

    /// The next whole event's data from the lines already decoded, if they hold one.
    fn next_event(&mut self) -> Option<String> {
        loop {
            let rest = &self.text.as_bytes()[self.read..];
            let end = line_end(rest)?;
            let after = match rest[end] {
                b'\r' => match rest.get(end + 1) {
                    // a `\r` last in the text may be the first half of `\r\n`
                    None => return None,
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                },
                _ => end + 1,
            };
            let line = &self.text[self.read..self.read + end];
            self.read += after;
            if line.is_empty() {
                if self.data.is_empty() {
                    continue;
                }
                let mut data = std::mem::take(&mut self.data);
                data.pop();
                return Some(data);
            }
            if line.starts_with(':') {
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            if name == "data" {
                // room for the newline too, so the usual one-line event allocates once
                self.data.reserve(value.len() + 1);
                self.data.push_str(value);
                self.data.push('\n');
            }
        }
    }

    /// Drops the lines already read from the text.
    fn compact(&mut self) {
        if self.read > 0 {
            self.text.drain(..self.read);
            self.read = 0;
        }
    }

    /// Decodes a chunk (with any bytes held back from the last one) onto the text.
    fn decode(&mut self, chunk: &[u8]) {
        let bytes: &[u8] = if self.undecoded.is_empty() {
            chunk
        } else {
            self.undecoded.extend_from_slice(chunk);
            &std::mem::take(&mut self.undecoded)
        };
        let valid = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                self.undecoded = rest.to_vec();
                // the prefix up to `valid_up_to` is UTF-8
                std::str::from_utf8(valid).unwrap_or_default()
            }
        };
        if valid.is_empty() {
            return;
        }
        let valid = if self.started {
            valid
        } else {
            self.started = true;
            valid.strip_prefix('\u{feff}').unwrap_or(valid)
        };
        self.compact();
        self.text.push_str(valid);
    }
}

/// Where the first `\n` or `\r` of `b` is (memchr's vectorised search).
fn line_end(b: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', b)
}

impl<S, B, E> Stream for Events<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    type Item = Result<String, EventsError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(data) = this.next_event() {
            return Poll::Ready(Some(Ok(data)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.decode(chunk.as_ref());
                    if let Some(data) = this.next_event() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(EventsError::Transport(e))))
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    let held = std::mem::take(&mut this.undecoded);
                    return Poll::Ready(match String::from_utf8(held) {
                        Err(e) => Some(Err(EventsError::Utf8(e))),
                        Ok(_) => None,
                    });
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// What a stream of `chunks` yields: each event's data, or the error's text.
    async fn ours(chunks: &[Vec<u8>]) -> Vec<Result<String, String>> {
        let body = futures_util::stream::iter(chunks.iter().cloned().map(Ok::<_, String>));
        Events::new(body)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    /// What `eventsource-stream`, the reader this one replaced, yields for the same chunks.
    async fn theirs(chunks: &[Vec<u8>]) -> Vec<Result<String, String>> {
        use eventsource_stream::Eventsource;
        let body = futures_util::stream::iter(chunks.iter().cloned().map(Ok::<_, String>));
        body.eventsource()
            .map(|r| r.map(|ev| ev.data).map_err(|e| e.to_string()))
            .collect()
            .await
    }

    #[test]
    fn finds_the_first_line_end_anywhere() {
        for len in 0..40 {
            for at in 0..=len {
                for end in [b'\n', b'\r'] {
                    let mut b = vec![b'a'; len];
                    if at < len {
                        b[at] = end;
                        b.extend_from_slice(b"\n\r");
                    }
                    let want = b.iter().position(|&c| c == b'\n' || c == b'\r');
                    assert_eq!(line_end(&b), want, "{len} {at}");
                }
            }
        }
        assert_eq!(line_end("é\u{2028}\u{85}x\r".as_bytes()), Some(8));
    }

    #[tokio::test]
    async fn reads_openai_chunks() {
        let body =
            b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: keep-alive\n\nevent: x\ndata: [DONE]\n\n";
        assert_eq!(
            ours(&[body.to_vec()]).await,
            vec![
                Ok("{\"a\":1}".into()),
                Ok("{\"b\":2}".into()),
                Ok("[DONE]".into())
            ]
        );
        // a byte order mark first is dropped (`eventsource-stream` panicked on one)
        let marked = ["\u{feff}".as_bytes(), b"data: x\n\n"].concat();
        assert_eq!(ours(&[marked]).await, vec![Ok("x".into())]);
    }

    #[tokio::test]
    async fn reads_what_eventsource_stream_reads_however_the_body_is_cut() {
        // pieces that make every kind of line, ending and encoding trouble
        let pieces: [&[u8]; 20] = [
            b"data",
            b"data:",
            b"data: ",
            b":",
            b" ",
            b"x",
            b"\n",
            b"\r",
            b"\r\n",
            b"\n\n",
            b"event: e",
            b"id: 1",
            b"retry: 5",
            "é".as_bytes(),
            "\u{feff}".as_bytes(),
            b"\xff",
            b"\xe2\x82",
            b"{\"c\":\"a:b\"}",
            b"dat",
            b"datax:y",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut events, mut errors) = (0, 0);
        for _ in 0..3000 {
            let mut body = Vec::new();
            for _ in 0..next(24) {
                body.extend_from_slice(pieces[next(pieces.len())]);
            }
            if body.starts_with("\u{feff}".as_bytes()) {
                continue;
            }
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let take = 1 + next(body.len() - at);
                chunks.push(body[at..at + take].to_vec());
                at += take;
            }
            let read = ours(&chunks).await;
            assert_eq!(
                read,
                theirs(&chunks).await,
                "{:?}",
                String::from_utf8_lossy(&body)
            );
            events += read.iter().filter(|r| r.is_ok()).count();
            errors += read.iter().filter(|r| r.is_err()).count();
        }
        assert!(
            events > 100 && errors > 100,
            "{events} events, {errors} errors"
        );
    }
}
