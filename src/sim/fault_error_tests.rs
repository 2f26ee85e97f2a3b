//! Fault modes answered with an error, on every wire: any status in the wire's error shape,
//! 429 with hostile rate-limit hints, error bodies that echo the key or weigh a megabyte.

use serde_json::{json, Value};

use super::fault::Wire;
use super::fault_client::{client, error_message, per_wire, request, send, spawn_wire, KEY};
use super::Behavior;

per_wire!(
    status_is_sent_verbatim,
    wire_error_has_the_wire_shape,
    retry_after_raw_text,
    echo_key_quotes_the_whole_key,
    huge_error_body,
);

async fn status_is_sent_verbatim(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let body = json!({"error": {"message": "teapot", "anything": [1, 2]}});
    for stream in [false, true] {
        up.control().push_script([Behavior::Status {
            status: 418,
            body: body.clone(),
        }]);
        let resp = send(&c, &up, w, stream).await.expect("answer");
        assert_eq!(resp.status(), 418);
        assert_eq!(resp.json::<Value>().await.expect("json"), body);
    }
}

async fn wire_error_has_the_wire_shape(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    for (status, stream) in [
        (503, false),
        (503, true),
        (400, false),
        (429, true),
        (529, false),
    ] {
        up.control().push_script([Behavior::WireError { status }]);
        let resp = send(&c, &up, w, stream).await.expect("answer");
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let v: Value = resp.json().await.expect("json");
        assert!(!error_message(w, &v).is_empty());
        let kind = match w {
            Wire::OpenAi | Wire::Anthropic => &v["error"]["type"],
            Wire::Gemini => &v["error"]["status"],
        };
        let want = match (w, status) {
            (Wire::OpenAi | Wire::Anthropic, 400) => "invalid_request_error",
            (Wire::OpenAi, 429) => "requests",
            (Wire::OpenAi, _) => "server_error",
            (Wire::Anthropic, 429) => "rate_limit_error",
            (Wire::Anthropic, 529) => "overloaded_error",
            (Wire::Anthropic, _) => "api_error",
            (Wire::Gemini, 400) => "INVALID_ARGUMENT",
            (Wire::Gemini, 429) => "RESOURCE_EXHAUSTED",
            (Wire::Gemini, _) => "UNAVAILABLE",
        };
        assert_eq!(kind, want, "{status}: {v}");
        if w == Wire::Gemini {
            assert_eq!(v["error"]["code"], status);
        }
    }
    assert_eq!(up.control().rate_limited(), 1, "the 429 is counted");
    // An impossible status is answered as 500, not a panic.
    up.control()
        .push_script([Behavior::WireError { status: 42 }]);
    assert_eq!(send(&c, &up, w, false).await.expect("answer").status(), 500);
}

async fn retry_after_raw_text(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    for raw in [
        "1e20",
        "-1",
        "NaN",
        "abc",
        "5",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "",
    ] {
        up.control().push_script([Behavior::RateLimitedRaw {
            retry_after: Some(raw.into()),
            retry_after_ms: Some(raw.into()),
        }]);
        let resp = send(&c, &up, w, false).await.expect("answer");
        assert_eq!(resp.status(), 429);
        let headers = resp.headers().clone();
        let v: Value = resp.json().await.expect("json");
        error_message(w, &v);
        assert_eq!(headers["retry-after-ms"], raw);
        if w == Wire::Gemini {
            assert!(headers.get("retry-after").is_none());
            let info = &v["error"]["details"][0];
            assert_eq!(info["@type"], "type.googleapis.com/google.rpc.RetryInfo");
            assert_eq!(info["retryDelay"], raw);
        } else {
            assert_eq!(headers["retry-after"], raw);
        }
    }
    // Control characters cannot go in a header: they are dropped, not a panic.
    up.control().push_script([Behavior::RateLimitedRaw {
        retry_after: Some("5\r\nx-injected: 1".into()),
        retry_after_ms: None,
    }]);
    let resp = send(&c, &up, w, false).await.expect("answer");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("x-injected").is_none());
    assert!(resp.headers().get("retry-after-ms").is_none());
    if w != Wire::Gemini {
        assert_eq!(resp.headers()["retry-after"], "5x-injected: 1");
    }
    assert_eq!(up.control().rate_limited(), 8);
}

async fn echo_key_quotes_the_whole_key(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    up.control().set_behavior(Behavior::EchoKey { status: 401 });
    for stream in [false, true] {
        let resp = send(&c, &up, w, stream).await.expect("answer");
        assert_eq!(resp.status(), 401);
        let v: Value = resp.json().await.expect("json");
        let message = error_message(w, &v);
        assert!(message.contains(KEY), "{message}");
    }
    let kind = match w {
        Wire::OpenAi => "invalid_request_error",
        Wire::Anthropic => "authentication_error",
        Wire::Gemini => "UNAUTHENTICATED",
    };
    let resp = send(&c, &up, w, false).await.expect("answer");
    let v: Value = resp.json().await.expect("json");
    let field = if w == Wire::Gemini { "status" } else { "type" };
    assert_eq!(v["error"][field], kind, "{v}");
    if w == Wire::Gemini {
        // Gemini clients often pass the key in the query string; it is echoed too.
        let url = format!(
            "http://{}/v1beta/models/m1:generateContent?key=AIzaQUERYKEY",
            up.addr()
        );
        let body = json!({"contents": [{"parts": [{"text": "hi"}]}]});
        let v: Value = c
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("json");
        assert!(error_message(w, &v).contains("AIzaQUERYKEY"), "{v}");
    }
    // The status is the test's choice.
    up.control().set_behavior(Behavior::EchoKey { status: 403 });
    let resp = request(&c, &up, w, false).send().await.expect("answer");
    assert_eq!(resp.status(), 403);
}

async fn huge_error_body(w: Wire) {
    let up = spawn_wire(w).await;
    let c = client();
    let bytes = 1_000_000;
    up.control()
        .set_behavior(Behavior::HugeError { status: 500, bytes });
    let resp = send(&c, &up, w, false).await.expect("answer");
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.expect("one whole JSON document");
    let message = error_message(w, &v);
    assert_eq!(
        message.len(),
        bytes,
        "the message is exactly the size asked for"
    );
}
