//! Fault modes that break the connection, on every wire: refuse, reset before headers, cut
//! after N chunks, stall before the first byte and stall mid-stream.

use std::time::Duration;

use super::fault::Wire;
use super::fault_client::{
    client, is_content, is_terminal, per_wire, pooled_client, request, send, spawn_wire, Reader,
    KEY,
};
use super::Behavior;

per_wire!(
    refuse,
    refuse_on_open_connection,
    reset_before_headers,
    cut_after_chunks,
    stall_before_first_byte,
    stall_mid_stream,
);

/// Waits (bounded) until the sim has seen `n` calls: the request has been read.
async fn calls_reach(up: &super::SimUpstream, n: usize) {
    for _ in 0..1000 {
        if up.control().calls() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the sim never saw {n} call(s)");
}

async fn refuse(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().push_script([Behavior::Refuse]);
    let err = send(&c, &up, w, false).await.expect_err("refused");
    assert!(!err.is_timeout(), "{err}");
    let recorded = up.control().recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].behavior, Behavior::Refuse);
    assert!(
        recorded[0].model.is_empty() && recorded[0].key.is_none(),
        "nothing was read"
    );

    // The script is used up: the next connection is served.
    assert_eq!(send(&c, &up, w, false).await.expect("served").status(), 200);

    // As the default, every new connection is refused, streaming or not.
    up.control().set_behavior(Behavior::Refuse);
    for stream in [false, true] {
        assert!(send(&c, &up, w, stream).await.is_err());
    }
    assert_eq!(up.control().calls(), 4);
}

async fn refuse_on_open_connection(w: Wire) {
    let up = spawn_wire(w).await;
    let c = pooled_client();
    let ok = request(&c, &up, w, false).send().await.expect("served");
    ok.bytes().await.expect("whole answer");
    // The pooled connection is already open: the request on it is read, then reset.
    up.control().set_behavior(Behavior::Refuse);
    assert!(request(&c, &up, w, false).send().await.is_err());
    let last = up.control().recorded().pop().expect("recorded");
    assert_eq!(
        (last.model.as_str(), last.behavior),
        ("m1", Behavior::Refuse)
    );
}

async fn reset_before_headers(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().set_behavior(Behavior::ResetBeforeHeaders);
    for stream in [false, true] {
        let err = send(&c, &up, w, stream).await.expect_err("reset");
        assert!(!err.is_timeout(), "{err}");
    }
    // Both requests were read whole before the reset.
    let recorded = up.control().recorded();
    assert_eq!(recorded.len(), 2);
    for (call, stream) in recorded.iter().zip([false, true]) {
        assert_eq!(call.model, "m1");
        assert_eq!(call.key.as_deref(), Some(KEY));
        assert_eq!(call.stream, stream);
    }
    up.control().set_behavior(Behavior::Ok);
    assert_eq!(send(&c, &up, w, true).await.expect("served").status(), 200);
}

async fn cut_after_chunks(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control()
        .set_behavior(Behavior::CutStreamAfter { chunks: 2 });
    let resp = send(&c, &up, w, true).await.expect("headers");
    assert_eq!(resp.status(), 200);
    let mut reader = Reader::new(resp);
    let events = reader.rest().await;
    assert!(
        reader.failed,
        "a cut stream ends with an error, not cleanly"
    );
    assert_eq!(events.iter().filter(|e| is_content(w, e)).count(), 2);
    assert!(!events.iter().any(|e| is_terminal(w, e)), "{events:?}");

    let resp = send(&c, &up, w, false).await.expect("headers");
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "the whole answer is cut too");
}

async fn stall_before_first_byte(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().set_behavior(Behavior::Stall);
    let pending = tokio::spawn(request(&c, &up, w, true).send());
    calls_reach(&up, 1).await;
    // Nothing comes while the sim runs...
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished(), "a stalled request gets no answer");
    // ...and the request ends once it is dropped: an error status, never a 200.
    drop(up);
    let outcome = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("released by the sim's shutdown")
        .expect("task");
    if let Ok(resp) = outcome {
        assert!(resp.status().is_server_error(), "{}", resp.status());
    }
}

async fn stall_mid_stream(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control()
        .set_behavior(Behavior::StallMidStream { chunks: 2 });
    let resp = send(&c, &up, w, true).await.expect("headers");
    assert_eq!(resp.status(), 200);
    let mut reader = Reader::new(resp);
    let mut events: Vec<String> = Vec::new();
    while events.iter().filter(|e| is_content(w, e)).count() < 2 {
        events.push(reader.event().await.expect("two content chunks come"));
    }
    // Then nothing more, and the connection stays open...
    let next = tokio::time::timeout(Duration::from_millis(100), reader.event()).await;
    assert!(next.is_err(), "nothing after the stall: {next:?}");
    // ...until the sim is dropped, which cuts it.
    drop(up);
    let rest = tokio::time::timeout(Duration::from_secs(5), reader.rest())
        .await
        .expect("the cut ends the stream");
    assert!(rest.is_empty() && reader.failed, "{rest:?}");
    assert!(!events.iter().any(|e| is_terminal(w, e)));

    // Non-streaming: the headers and the first bytes, then the same stall.
    let up = spawn_wire(w).await;
    let c = client();
    up.control()
        .set_behavior(Behavior::StallMidStream { chunks: 2 });
    let resp = send(&c, &up, w, false).await.expect("headers");
    assert_eq!(resp.status(), 200);
    let mut reader = Reader::new(resp);
    let first = reader.frame().await.expect("the first bytes");
    assert!(!first.is_empty());
    let next = tokio::time::timeout(Duration::from_millis(100), reader.frame()).await;
    assert!(next.is_err(), "nothing after the first bytes");
    drop(up);
    tokio::time::timeout(Duration::from_secs(5), reader.frame())
        .await
        .expect("the cut ends the body");
    assert!(reader.failed);
    assert!(serde_json::from_slice::<serde_json::Value>(&reader.raw).is_err());
}
