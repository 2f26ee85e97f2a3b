//! The fault matrix: a policy whose first candidate misbehaves (every fault of the simulator, on
//! every wire, streamed and not) and whose second is healthy. Each request ends in an answer
//! from the healthy candidate when the fault comes before the first byte, else in a clean
//! error event; never a panic, a hang or an empty reply; the breaker reacts as documented.

use std::time::Duration;

use crate::common::{chat, chat_stream, header, policies, Harness, Upstream};
use serde_json::Value;
use switchyard::sim::Behavior;

/// What the client must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// 200 from the healthy candidate (the fault came before the first byte).
    Failover,
    /// 200 from the faulty candidate: the "fault" is one the router accepts.
    Faulty,
    /// A stream from the faulty candidate that ends with an error event, not `[DONE]`.
    ErrorEvent,
    /// The upstream's own 4xx, passed on.
    ClientError,
}

/// Whether the faulty candidate's breaker must count the fault (threshold 1: it opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Opens,
    StaysClosed,
}

struct Case {
    name: &'static str,
    fault: Behavior,
    whole: Seen,
    stream: Seen,
    /// For the whole answer and for the stream.
    breaker: (Breaker, Breaker),
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cases(wire: &str) -> Vec<Case> {
    use Breaker::{Opens, StaysClosed};
    use Seen::{ClientError, ErrorEvent, Failover, Faulty};
    let case = |name, fault, whole, stream, breaker| Case {
        name,
        fault,
        whole,
        stream,
        breaker: (breaker, breaker),
    };
    let retry = |text: &str| Behavior::RateLimitedRaw {
        retry_after: Some(if wire == "gemini" {
            format!("{text}s")
        } else {
            text.to_owned()
        }),
        retry_after_ms: None,
    };
    let gemini = wire == "gemini";
    vec![
        case(
            "status 500",
            Behavior::WireError { status: 500 },
            Failover,
            Failover,
            Opens,
        ),
        case(
            "status 503",
            Behavior::WireError { status: 503 },
            Failover,
            Failover,
            Opens,
        ),
        case(
            "status 400",
            Behavior::WireError { status: 400 },
            ClientError,
            ClientError,
            StaysClosed,
        ),
        case(
            "429 retry-after 1e20",
            retry("1e20"),
            Failover,
            Failover,
            StaysClosed,
        ),
        case(
            "429 retry-after -1",
            retry("-1"),
            Failover,
            Failover,
            StaysClosed,
        ),
        case(
            "429 retry-after NaN",
            retry("NaN"),
            Failover,
            Failover,
            StaysClosed,
        ),
        case(
            "429 retry-after abc",
            retry("abc"),
            Failover,
            Failover,
            StaysClosed,
        ),
        case("refuse", Behavior::Refuse, Failover, Failover, Opens),
        case(
            "reset before headers",
            Behavior::ResetBeforeHeaders,
            Failover,
            Failover,
            Opens,
        ),
        case(
            "reset after 3 chunks",
            Behavior::CutStreamAfter { chunks: 3 },
            Failover,
            ErrorEvent,
            Opens,
        ),
        case(
            "error event after 3 chunks",
            Behavior::ErrorMidStream { chunks: 3 },
            Failover,
            ErrorEvent,
            Opens,
        ),
        case(
            "stall before first byte",
            Behavior::Stall,
            Failover,
            Failover,
            Opens,
        ),
        case(
            "stall mid-stream",
            Behavior::StallMidStream { chunks: 3 },
            Failover,
            ErrorEvent,
            Opens,
        ),
        case(
            "blank keep-alives only",
            Behavior::Blanks {
                chunks: 0,
                every: ms(50),
            },
            Failover,
            Failover,
            Opens,
        ),
        case(
            "blanks after content",
            Behavior::Blanks {
                chunks: 3,
                every: ms(50),
            },
            Failover,
            ErrorEvent,
            Opens,
        ),
        Case {
            name: "no terminal event",
            fault: Behavior::NoTerminal,
            whole: Faulty,
            stream: if gemini { ErrorEvent } else { Faulty },
            breaker: (StaysClosed, if gemini { Opens } else { StaysClosed }),
        },
        case(
            "truncated",
            Behavior::Truncated,
            Failover,
            ErrorEvent,
            Opens,
        ),
        case("garbage", Behavior::Malformed, Failover, Failover, Opens),
        case(
            "huge answer",
            Behavior::Huge { bytes: 2 << 20 },
            Failover,
            ErrorEvent,
            Opens,
        ),
        case(
            "huge error body",
            Behavior::HugeError {
                status: 500,
                bytes: 1 << 20,
            },
            Failover,
            Failover,
            Opens,
        ),
        case(
            "slow trickle",
            Behavior::Trickle { every: ms(20) },
            Faulty,
            Faulty,
            StaysClosed,
        ),
        case(
            "error body echoing the key",
            Behavior::EchoKey {
                status: if gemini { 400 } else { 401 },
            },
            Failover,
            Failover,
            StaysClosed,
        ),
    ]
}

const KEY: &str = "sk-faulty-0123456789abcdefghijklmnop";

async fn router(wire: &'static str) -> Harness {
    let bad = Upstream::new("bad", &["m"])
        .wire(wire)
        .keys(&[KEY])
        .breaker(1, 60_000, 1)
        .first_byte_ms(1_500)
        .idle_ms(300)
        .extra("max_response_bytes: 1048576\n");
    Harness::builder(vec![bad, Upstream::new("good", &["g"])])
        .policy(policies::route_all("good/g", "[bad/m, good/g]"))
        .start()
        .await
}

/// Runs one case on a fresh router; the row of the table, or why it failed.
async fn run(wire: &'static str, case: &Case, stream: bool) -> Result<String, String> {
    let h = router(wire).await;
    h.sim("bad").set_behavior(case.fault.clone());
    let (want, want_breaker) = if stream {
        (case.stream, case.breaker.1)
    } else {
        (case.whole, case.breaker.0)
    };
    let request = async {
        if stream {
            let (status, headers, text) = h
                .stream_chat(chat_stream("auto", "hello there", false))
                .await;
            (
                status.as_u16(),
                header(&headers, "x-switchyard-model"),
                text,
            )
        } else {
            let (status, headers, v) = h.post_chat(chat("auto", "hello there")).await;
            (
                status.as_u16(),
                header(&headers, "x-switchyard-model"),
                v.to_string(),
            )
        }
    };
    let (status, model, body) = tokio::time::timeout(Duration::from_secs(20), request)
        .await
        .map_err(|_| "the request hung".to_owned())?;
    if body.is_empty() {
        return Err(format!("empty reply with status {status}"));
    }
    if body.contains(KEY) {
        return Err(format!("the key reached the client: {body:.300}"));
    }
    let seen = match (status, model.as_str()) {
        (200, "good/g") => Seen::Failover,
        (200, "bad/m") if stream && !body.contains("data: [DONE]") => {
            let last = body.trim_end().rsplit("data: ").next().unwrap_or_default();
            let event: Value = serde_json::from_str(last).unwrap_or_default();
            if event["error"]["code"].is_string() {
                Seen::ErrorEvent
            } else {
                return Err(format!(
                    "stream without [DONE] and without an error event: {body:.300}"
                ));
            }
        }
        (200, "bad/m") => Seen::Faulty,
        (400..=499, _) => {
            let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body:.300}"))?;
            if !v["error"]["message"].is_string() {
                return Err(format!("not an OpenAI error: {body:.300}"));
            }
            Seen::ClientError
        }
        _ => return Err(format!("status {status} from {model:?}: {body:.300}")),
    };
    let breaker = h.breaker_state("bad/m").await;
    let breaker_seen = if breaker == "open" {
        Breaker::Opens
    } else {
        Breaker::StaysClosed
    };
    let row = format!(
        "| {wire:9} | {:26} | {:6} | {status} {:13} | {breaker:9} |",
        case.name,
        if stream { "stream" } else { "whole" },
        format!("{seen:?}")
    );
    if seen != want || breaker_seen != want_breaker {
        return Err(format!("{row} expected {want:?}, breaker {want_breaker:?}"));
    }
    Ok(row)
}

async fn matrix(wire: &'static str) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for case in cases(wire) {
        for stream in [false, true] {
            match run(wire, &case, stream).await {
                Ok(row) => rows.push(row),
                Err(why) => failures.push(format!(
                    "{} ({}): {why}",
                    case.name,
                    if stream { "stream" } else { "whole" }
                )),
            }
        }
    }
    println!("| wire      | fault                      | mode   | client outcome    | breaker   |");
    println!("{}", rows.join("\n"));
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_the_openai_wire() {
    matrix("openai").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_the_anthropic_wire() {
    matrix("anthropic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_the_gemini_wire() {
    matrix("gemini").await;
}
