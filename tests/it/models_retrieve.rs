//! `GET /v1/models/{id}`: every alias and concrete model (ids with `/`, bare upstream names) as
//! an OpenAI model object, the same object `/v1/models` lists; anything else a 404 in OpenAI's
//! error shape.

use crate::common::{assert_openai_error, Harness, Upstream};
use serde_json::{json, Value};

const POLICY: &str = r#"
name: p
aliases: [auto, cheap]
baseline: up/big
rules:
  - name: text
    route: [up/small, up/big]
"#;

async fn router() -> Harness {
    Harness::builder(vec![
        Upstream::new("up", &["small", "big"]).price("big", 10.0, 20.0)
    ])
    .policy(POLICY)
    .start()
    .await
}

fn listed(list: &Value, id: &str) -> Value {
    list["data"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {list}"))
}

#[tokio::test]
async fn concrete_models_and_aliases_are_retrieved_as_listed() {
    let h = router().await;
    let (_, list) = h.get("/v1/models").await;
    for (path, id) in [
        ("/v1/models/up/big", "up/big"),
        ("/v1/models/auto", "auto"),
        ("/v1/models/cheap", "cheap"),
        ("/models/up/small", "up/small"),
    ] {
        let (status, got) = h.get(path).await;
        assert_eq!(status, 200, "{path}: {got}");
        assert_eq!(got["object"], "model");
        assert_eq!(got["id"], id);
        assert!(got["created"].as_u64().is_some_and(|c| c > 1_700_000_000));
        assert_eq!(got, listed(&list, id), "{path} differs from the list");
    }
    let (_, big) = h.get("/v1/models/up/big").await;
    assert_eq!(big["owned_by"], "up");
    assert_eq!(big["switchyard"]["kind"], "model");
    assert_eq!(big["switchyard"]["input_per_1m"], 10.0);
    let (_, auto) = h.get("/v1/models/auto").await;
    assert_eq!(
        (&auto["owned_by"], &auto["switchyard"]["kind"]),
        (&json!("switchyard"), &json!("alias"))
    );
    assert_eq!(auto["switchyard"]["policy"], "p");
}

#[tokio::test]
async fn a_bare_upstream_name_says_what_it_resolves_to() {
    let h = router().await;
    let (status, got) = h.get("/v1/models/big").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], "big");
    assert_eq!(got["switchyard"]["resolves_to"], "up/big");
    let (_, list) = h.get("/v1/models").await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != "big"),
        "bare names are not listed: {list}"
    );
}

#[tokio::test]
async fn unknown_ids_are_openai_shaped_404s() {
    let h = router().await;
    for path in [
        "/v1/models/nope",
        "/v1/models/up/nope",
        "/v1/models/up/big/extra",
    ] {
        let (status, body) = h.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        let err = assert_openai_error(&body);
        assert_eq!(err["code"], "model_not_found", "{path}");
        assert_eq!(err["param"], "model");
        assert_eq!(err["type"], "invalid_request_error");
    }
}
