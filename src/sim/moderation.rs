//! The sim's `/v1/moderations`: OpenAI's response shape, flagging inputs that contain one of
//! the sim's flag words (`SimSettings::flag_words`) in that word's category.
//!
//! Every category OpenAI defines is present in `categories`, `category_scores` and
//! `category_applied_input_types`; a flagged category scores 0.97, the others 0.0001. Errors
//! and the fault modes that need no answer apply as on embeddings (the gate is shared), and
//! `Stall` holds the answer until the sim is dropped.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::moderation::settings::CATEGORIES;

use super::conn::Conn;
use super::handler::{json_response, AppState};
use super::legacy::gate_stalling;

pub(super) async fn moderations(
    State(app): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match gate_stalling(&app, &conn, &headers, &body, "input").await {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let inputs: Vec<String> = match &req["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        // multi-modal parts: the text parts, together, make one input
        Value::Array(parts) => vec![parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")],
        _ => vec![String::new()],
    };
    let results: Vec<Value> = inputs
        .iter()
        .map(|text| result(&app.settings.flag_words, text))
        .collect();
    let id = format!("modr-sim-{}", app.control.next_id());
    let body = json!({"id": id, "model": req["model"], "results": results});
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// One input's result: the categories of the flag words it contains.
fn result(words: &[(String, String)], text: &str) -> Value {
    let lower = text.to_lowercase();
    let hit: Vec<&str> = words
        .iter()
        .filter(|(w, _)| !w.is_empty() && lower.contains(&w.to_lowercase()))
        .map(|(_, c)| c.as_str())
        .collect();
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    for c in CATEGORIES {
        let flagged = hit.contains(&c);
        categories.insert(c.into(), Value::Bool(flagged));
        scores.insert(c.into(), json!(if flagged { 0.97 } else { 0.0001 }));
        applied.insert(c.into(), json!(["text"]));
    }
    json!({"flagged": !hit.is_empty(), "categories": categories,
           "category_scores": scores, "category_applied_input_types": applied})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_categories_of_the_words_it_finds() {
        let words = vec![
            ("kill".to_owned(), "violence".to_owned()),
            ("hateful".to_owned(), "hate".to_owned()),
        ];
        let r = result(&words, "A HATEFUL plan to kill time");
        assert_eq!(r["flagged"], true);
        assert_eq!(r["categories"]["violence"], true);
        assert_eq!(r["categories"]["hate"], true);
        assert_eq!(r["categories"]["sexual"], false);
        assert_eq!(r["categories"].as_object().unwrap().len(), 13);
        let clean = result(&words, "a kind word");
        assert_eq!(clean["flagged"], false);
    }
}
