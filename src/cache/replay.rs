//! Sends a cached streamed answer again as SSE, shaped for the client that asks this time.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::Stream;

use super::entry::Stored;
use crate::openai::ChunkView;
use crate::sse;

/// The SSE body replaying a stored answer: every stored chunk as `data: …`, then
/// `data: [DONE]`. Chunks are stored as upstream sent them, with usage; a client that did not
/// ask for usage gets neither the usage-only chunk nor `"usage":null`, as the live relay does.
/// `None` for a non-streamed body, which a streaming request cannot be answered with.
pub fn replay(
    reply: &Stored,
    include_usage: bool,
) -> Option<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static> {
    let frames = frames(reply, include_usage)?;
    Some(futures_util::stream::iter(frames.into_iter().map(Ok)))
}

fn frames(reply: &Stored, include_usage: bool) -> Option<Vec<Bytes>> {
    let Stored::Chunks(chunks) = reply else {
        return None;
    };
    let mut out: Vec<Bytes> = chunks
        .iter()
        .filter(|c| include_usage || !usage_only(c))
        .map(|c| {
            if include_usage {
                sse::event(c)
            } else {
                sse::event(&sse::without_null_usage(c))
            }
        })
        .collect();
    out.push(Bytes::from_static(sse::DONE));
    Some(out)
}

/// The final chunk that carries only usage (`"choices":[]`); a chunk whose bytes cannot carry
/// usage is not parsed.
fn usage_only(data: &str) -> bool {
    sse::may_carry_usage(data)
        && serde_json::from_str::<ChunkView>(data)
            .is_ok_and(|c| c.choices.is_empty() && c.usage.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const CONTENT: &str =
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}"#;
    const USAGE: &str =
        r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;

    fn text(frames: &[Bytes]) -> Vec<&str> {
        frames
            .iter()
            .map(|b| std::str::from_utf8(b).expect("utf-8"))
            .collect()
    }

    #[tokio::test]
    async fn replays_every_chunk_then_done_for_a_client_that_asked_for_usage() {
        let e = Stored::Chunks(vec![CONTENT.into(), USAGE.into()]);
        let got: Vec<Bytes> = replay(&e, true)
            .expect("chunks")
            .map(std::result::Result::unwrap_or_default)
            .collect()
            .await;
        assert_eq!(
            text(&got),
            [
                format!("data: {CONTENT}\n\n").as_str(),
                &format!("data: {USAGE}\n\n"),
                "data: [DONE]\n\n"
            ]
        );
    }

    #[test]
    fn drops_usage_for_a_client_that_did_not_ask() {
        let e = Stored::Chunks(vec![CONTENT.into(), USAGE.into()]);
        let got = frames(&e, false).expect("chunks");
        let plain = r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}"#;
        assert_eq!(
            text(&got),
            [format!("data: {plain}\n\n").as_str(), "data: [DONE]\n\n"]
        );
    }

    #[test]
    fn a_usage_chunk_written_oddly_is_still_dropped() {
        for usage in [
            "{\"id\":\"c1\",\"choices\":[],\n\"usage\" :\n{\"prompt_tokens\":3}}",
            r#"{"id":"c1","choices":[],"us\u0061ge":{"prompt_tokens":3}}"#,
        ] {
            let e = Stored::Chunks(vec![CONTENT.into(), usage.into()]);
            assert_eq!(frames(&e, false).expect("chunks").len(), 2, "{usage}");
            assert_eq!(frames(&e, true).expect("chunks").len(), 3, "{usage}");
        }
    }

    #[test]
    fn a_full_body_is_not_replayed_as_a_stream() {
        let e = Stored::Full(Bytes::from_static(b"{}"));
        assert!(frames(&e, true).is_none());
    }
}
