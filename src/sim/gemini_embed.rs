//! The sim's Gemini embeddings (`:embedContent`, `:batchEmbedContents`): a deterministic vector
//! per text (from its hash), `outputDimensionality` long (default 16). Status, RateLimited,
//! Stall, Malformed and the fault modes that need no answer apply; the others answer normally.

use axum::response::Response;
use serde_json::{json, Value};

use super::conn::Conn;
use super::fault::{self, Wire};
use super::gemini::{
    error_body, json_resp, key_refusal, rate_limited, respond, text_of, GeminiSim,
};
use super::Behavior;

/// Why an embedding call is refused before failure injection (auth, shape, model).
fn validate_embed(
    app: &GeminiSim,
    key: Option<&str>,
    model: &str,
    requests: &[Value],
) -> Option<Behavior> {
    let fail = |code: u16, status: &str, msg: String| {
        Some(Behavior::Status {
            status: code,
            body: error_body(code, status, &msg),
        })
    };
    if let Some(refused) = key_refusal(app, key) {
        return Some(refused);
    }
    if requests.is_empty() {
        return fail(
            400,
            "INVALID_ARGUMENT",
            "* BatchEmbedContentsRequest.requests: requests is empty".into(),
        );
    }
    for (i, r) in requests.iter().enumerate() {
        if text_of(&r["content"]).is_empty() {
            return fail(
                400,
                "INVALID_ARGUMENT",
                format!("* requests[{i}].content: content has no text parts"),
            );
        }
        if r.get("model")
            .is_some_and(|m| m != &json!(format!("models/{model}")))
        {
            return fail(
                400,
                "INVALID_ARGUMENT",
                format!("* requests[{i}].model: model must match the URL's models/{model}"),
            );
        }
        if r.get("outputDimensionality")
            .is_some_and(|d| d.as_u64().is_none_or(|d| d == 0))
        {
            return fail(
                400,
                "INVALID_ARGUMENT",
                format!("* requests[{i}].outputDimensionality: must be positive"),
            );
        }
    }
    if !app.settings.models.iter().any(|m| m == model) {
        let msg = format!("models/{model} is not found for API version v1beta, or is not supported for embedContent.");
        return fail(404, "NOT_FOUND", msg);
    }
    None
}

/// A unit-free vector in [-1, 1) per text, the same for the same text and length.
fn vector(text: &str, dims: usize) -> Vec<f64> {
    let seed = super::gemini::fnv(text.as_bytes());
    (0..dims as u64)
        .map(|d| {
            let mut x = seed ^ d.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            f64::from((x >> 40) as u32) / f64::from(1u32 << 23) - 1.0
        })
        .collect()
}

/// `embedContent` (`{"embedding":{"values"}}`) or `batchEmbedContents` (`{"embeddings":[…]}`).
pub(super) async fn embed(
    app: &GeminiSim,
    conn: &Conn,
    model: &str,
    batch: bool,
    key: Option<String>,
    raw: &[u8],
) -> Response {
    let body: Value = serde_json::from_slice(raw).unwrap_or_default();
    let requests = if batch {
        body["requests"].as_array().cloned().unwrap_or_default()
    } else {
        vec![body.clone()]
    };
    let forced = if body.is_null() {
        Some(Behavior::Status {
            status: 400,
            body: error_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
        })
    } else {
        validate_embed(app, key.as_deref(), model, &requests)
    };
    let behavior = app
        .control
        .register(key.clone(), model.to_owned(), false, body, forced);
    app.pause_first_byte().await;
    let early = fault::early(Wire::Gemini, &behavior, key.as_deref(), conn, &app.shutdown);
    if let Some(resp) = early {
        return resp;
    }
    let embeddings: Vec<Value> = requests
        .iter()
        .map(|r| {
            let dims = r["outputDimensionality"].as_u64().unwrap_or(16).min(4096) as usize;
            json!({"values": vector(&text_of(&r["content"]), dims)})
        })
        .collect();
    let answer = if batch {
        json!({"embeddings": embeddings})
    } else {
        json!({"embedding": embeddings[0]})
    };
    match behavior {
        Behavior::Status { status, body } => json_resp(status, &body),
        Behavior::RateLimited { retry_after_secs } => rate_limited(retry_after_secs),
        Behavior::Stall => {
            let mut s = app.shutdown.clone();
            let _ = s.changed().await;
            json_resp(
                503,
                &error_body(503, "UNAVAILABLE", "simulated upstream shut down"),
            )
        }
        Behavior::Malformed => {
            let full = answer.to_string();
            respond(200, "application/json", full[..full.len() / 2].to_owned())
        }
        _ => json_resp(200, &answer),
    }
}
