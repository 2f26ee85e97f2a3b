//! Collects a streamed answer while it is relayed, so a completed stream can be cached.

use super::entry::{chunk_cost, Stored};

/// Gathers SSE data payloads as they pass; gives up once they outgrow the per-entry cap, so a
/// long stream costs no more memory than an entry the cache would accept.
#[derive(Debug)]
pub struct StreamTap {
    chunks: Vec<String>,
    bytes: usize,
    cap: usize,
    over: bool,
}

impl StreamTap {
    /// A tap keeping at most `cap` bytes (counted as [`super::Entry::size`] counts chunks).
    pub fn new(cap: usize) -> Self {
        Self {
            chunks: Vec::new(),
            bytes: 0,
            cap,
            over: false,
        }
    }

    /// Records one data payload as upstream sent it (usage included; `[DONE]` is ignored).
    pub fn push(&mut self, data: &str) {
        if self.over || data == "[DONE]" {
            return;
        }
        self.bytes += chunk_cost(data.len());
        if self.bytes > self.cap {
            self.over = true;
            self.chunks = Vec::new();
        } else {
            self.chunks.push(data.to_owned());
        }
    }

    /// The answer to store: only a stream that `completed` normally and stayed under the cap
    /// (a broken or cut-short stream must never be replayed as if whole).
    pub fn finish(self, completed: bool) -> Option<Stored> {
        (completed && !self.over && !self.chunks.is_empty()).then_some(Stored::Chunks(self.chunks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_completed_stream_without_done() {
        let mut tap = StreamTap::new(1024);
        for d in ["{\"a\":1}", "{\"b\":2}", "[DONE]"] {
            tap.push(d);
        }
        assert_eq!(
            tap.finish(true),
            Some(Stored::Chunks(vec!["{\"a\":1}".into(), "{\"b\":2}".into()]))
        );
    }

    #[test]
    fn an_interrupted_or_empty_stream_is_not_stored() {
        let mut tap = StreamTap::new(1024);
        tap.push("{}");
        assert_eq!(tap.finish(false), None);
        assert_eq!(StreamTap::new(1024).finish(true), None);
    }

    #[test]
    fn gives_up_past_the_cap_and_stays_given_up() {
        let mut tap = StreamTap::new(chunk_cost(10) * 2);
        tap.push("0123456789");
        tap.push("0123456789");
        tap.push("x");
        assert!(tap.over && tap.chunks.is_empty());
        tap.push("y");
        assert_eq!(tap.finish(true), None);
    }
}
