//! Fault modes that bend an answer, on every wire: keep-alive blanks, no terminal event,
//! truncated, garbage, huge and trickling bodies.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::fault::Wire;
use super::fault_client::{
    client, content, data, is_blank, is_content, is_terminal, per_wire, send, spawn_wire,
    whole_text, Reader, WORDS,
};
use super::Behavior;

per_wire!(
    blanks_only,
    blanks_after_content,
    blanks_before_a_whole_answer,
    no_terminal_event,
    truncated_body,
    garbage_body,
    huge_answer,
    huge_stream,
    slow_trickle,
);

/// Reads a stream until `blanks` keep-alive blanks came after `contents` content chunks;
/// returns the events before those blanks (Anthropic's lead has a `ping` of its own).
async fn until_blanks(w: Wire, reader: &mut Reader, contents: usize, blanks: usize) -> Vec<String> {
    let mut before: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    while seen.len() < blanks {
        let event = reader.event().await.expect("the stream goes on");
        let sent = before.iter().filter(|e| is_content(w, e)).count();
        if sent == contents && is_blank(&event) {
            seen.push(event);
        } else {
            assert!(
                seen.is_empty(),
                "only blanks after the first blank: {event}"
            );
            before.push(event);
        }
    }
    // Both kinds of blank take turns.
    assert!(seen.iter().any(|e| e.starts_with(':')), "{seen:?}");
    assert!(seen.iter().any(|e| !e.starts_with(':')), "{seen:?}");
    before
}

async fn blanks_only(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let every = Duration::from_millis(5);
    up.control()
        .set_behavior(Behavior::Blanks { chunks: 0, every });
    let resp = send(&c, &up, w, true).await.expect("headers");
    assert_eq!(resp.status(), 200);
    let mut reader = Reader::new(resp);
    let before = until_blanks(w, &mut reader, 0, 6).await;
    assert!(!before.iter().any(|e| is_content(w, e)), "{before:?}");
    // Blanks go on until the sim is dropped, which cuts the stream.
    drop(up);
    let rest = tokio::time::timeout(Duration::from_secs(5), reader.rest())
        .await
        .expect("the stream ends with the sim");
    assert!(reader.failed);
    assert!(rest.iter().all(|e| is_blank(e)), "{rest:?}");
}

async fn blanks_after_content(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let every = Duration::from_millis(5);
    up.control()
        .set_behavior(Behavior::Blanks { chunks: 2, every });
    let mut reader = Reader::new(send(&c, &up, w, true).await.expect("headers"));
    let before = until_blanks(w, &mut reader, 2, 4).await;
    let texts: Vec<String> = before
        .iter()
        .map(|e| content(w, e))
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(texts.len(), 2, "{before:?}");
    assert!(
        texts[0].contains("[m1]"),
        "the answer's first words: {texts:?}"
    );
    assert!(!before.iter().any(|e| is_terminal(w, e)));
    drop(up);
    tokio::time::timeout(Duration::from_secs(5), reader.rest())
        .await
        .expect("the stream ends with the sim");
    assert!(reader.failed);
}

async fn blanks_before_a_whole_answer(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let every = Duration::from_millis(5);
    up.control()
        .set_behavior(Behavior::Blanks { chunks: 0, every });
    let resp = send(&c, &up, w, false).await.expect("headers");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let mut reader = Reader::new(resp);
    for _ in 0..3 {
        assert_eq!(&reader.frame().await.expect("a newline")[..], b"\n");
    }
    drop(up);
    while tokio::time::timeout(Duration::from_secs(5), reader.frame())
        .await
        .expect("the body ends with the sim")
        .is_some()
    {}
    assert!(reader.failed);
    assert!(reader.raw.iter().all(|b| *b == b'\n'));
}

async fn no_terminal_event(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().set_behavior(Behavior::NoTerminal);
    let mut reader = Reader::new(send(&c, &up, w, true).await.expect("headers"));
    let events = reader.rest().await;
    assert!(!reader.failed, "the stream ends cleanly");
    assert!(reader.leftover().is_empty());
    assert_eq!(events.iter().filter(|e| is_content(w, e)).count(), WORDS);
    assert!(!events.iter().any(|e| is_terminal(w, e)), "{events:?}");
    // The answer itself is complete: OpenAI sent its finish_reason, Anthropic its stop_reason.
    let finished = |key: &str| events.iter().any(|e| e.contains(key));
    match w {
        Wire::OpenAi => assert!(finished("\"finish_reason\":\"stop\"")),
        Wire::Anthropic => assert!(finished("\"stop_reason\":\"end_turn\"")),
        Wire::Gemini => assert!(!finished("finishReason")),
    }

    let resp = send(&c, &up, w, false).await.expect("answer");
    let v: Value = resp.json().await.expect("whole JSON");
    assert_eq!(whole_text(w, &v).split_whitespace().count(), WORDS);
    let finish = match w {
        Wire::OpenAi => v["choices"][0].get("finish_reason"),
        Wire::Anthropic => v.get("stop_reason"),
        Wire::Gemini => v["candidates"][0].get("finishReason"),
    };
    assert_eq!(finish.is_some(), w != Wire::Gemini, "{v}");
}

async fn truncated_body(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().set_behavior(Behavior::Truncated);
    let resp = send(&c, &up, w, false).await.expect("headers");
    assert_eq!(resp.status(), 200);
    let length: usize = resp.headers()["content-length"]
        .to_str()
        .ok()
        .and_then(|l| l.parse().ok())
        .expect("a content-length");
    let body = resp.bytes().await.expect("a clean end");
    assert_eq!(body.len(), length);
    assert!(body.starts_with(b"{"));
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "half a JSON document"
    );

    let mut reader = Reader::new(send(&c, &up, w, true).await.expect("headers"));
    let events = reader.rest().await;
    assert!(!reader.failed, "the stream ends cleanly");
    assert!(
        !reader.leftover().is_empty(),
        "it ends in the middle of an event"
    );
    let contents = events.iter().filter(|e| is_content(w, e)).count();
    assert!(contents < WORDS, "{contents}");
    assert!(!events.iter().any(|e| is_terminal(w, e)));
}

async fn garbage_body(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().set_behavior(Behavior::Malformed);
    let resp = send(&c, &up, w, false).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.expect("a clean end");
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    let mut reader = Reader::new(send(&c, &up, w, true).await.expect("headers"));
    let events = reader.rest().await;
    let first = data(&events[0]).expect("a data line");
    assert!(serde_json::from_str::<Value>(first).is_err(), "{first}");
}

async fn huge_answer(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let bytes = 1_500_000;
    up.control().set_behavior(Behavior::Huge { bytes });
    let resp = send(&c, &up, w, false).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("one whole JSON document");
    assert_eq!(whole_text(w, &v).len(), bytes);
}

async fn huge_stream(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let bytes = 200_000;
    up.control().set_behavior(Behavior::Huge { bytes });
    let mut reader = Reader::new(send(&c, &up, w, true).await.expect("headers"));
    let events = reader.rest().await;
    assert!(!reader.failed);
    let texts: Vec<String> = events
        .iter()
        .map(|e| content(w, e))
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(texts.len(), bytes.div_ceil(64 * 1024));
    assert_eq!(texts.iter().map(String::len).sum::<usize>(), bytes);
    assert!(events.iter().any(|e| is_terminal(w, e)));
}

async fn slow_trickle(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let every = Duration::from_millis(15);
    up.control().set_behavior(Behavior::Trickle { every });
    let start = Instant::now();
    let mut reader = Reader::new(send(&c, &up, w, true).await.expect("headers"));
    let events = reader.rest().await;
    assert!(!reader.failed);
    assert_eq!(events.iter().filter(|e| is_content(w, e)).count(), WORDS);
    assert!(events.iter().any(|e| is_terminal(w, e)));
    // A lower bound only: the sim waits `every` before each content chunk.
    assert!(start.elapsed() >= every * WORDS as u32);

    let start = Instant::now();
    let mut reader = Reader::new(send(&c, &up, w, false).await.expect("headers"));
    while reader.frame().await.is_some() {}
    assert!(!reader.failed);
    assert!(reader.frames > 1, "the body comes in pieces");
    let v: Value = serde_json::from_slice(&reader.raw).expect("whole JSON");
    assert_eq!(whole_text(w, &v).split_whitespace().count(), WORDS);
    assert!(start.elapsed() >= every * WORDS as u32);
}
