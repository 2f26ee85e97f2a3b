//! Stored responses: `previous_response_id` continues a conversation (without the earlier
//! `instructions`), `GET`/`DELETE /v1/responses/{id}` read and forget it, `store: false` keeps
//! nothing, and one tenant never reaches another's responses.

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, Harness, Upstream};
use crate::responses::{create, router, stream};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ALICE: &str = "sk-sy-alice-responses-0123456789abcdefgh";
const ALICE_TOO: &str = "sk-sy-alice-second-key-0123456789abcdef";
const BOB: &str = "sk-sy-bob-responses-0123456789abcdefghij";

async fn keyed() -> Harness {
    let keys = key_entry("alice", ALICE, "user: alice, team: red")
        + &key_entry("alice2", ALICE_TOO, "user: alice, team: red")
        + &key_entry("bob", BOB, "user: bob, team: red");
    Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(KEYS_AUTH)
        .keys(keys)
        .start()
        .await
}

async fn send(
    h: &Harness,
    method: reqwest::Method,
    key: Option<&str>,
    id: &str,
) -> (StatusCode, Value) {
    let mut req = h
        .client
        .request(method, h.url(&format!("/v1/responses/{id}")));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("router answers");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(h: &Harness, key: Option<&str>, id: &str) -> (StatusCode, Value) {
    send(h, reqwest::Method::GET, key, id).await
}

async fn delete(h: &Harness, key: Option<&str>, id: &str) -> (StatusCode, Value) {
    send(h, reqwest::Method::DELETE, key, id).await
}

#[tokio::test]
async fn previous_response_id_prepends_the_stored_conversation() {
    let h = router().await;
    let (status, _, first) = create(
        &h,
        None,
        &json!({"model": "oa/small", "instructions": "Old rules.", "input": "My name is Ada."}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let answer = first["output"][0]["content"][0]["text"].clone();
    let (status, _, second) = create(
        &h,
        None,
        &json!({"model": "oa/small", "instructions": "New rules.",
        "input": "What is my name?", "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], first["id"]);
    let sent = &h.sim("oa").recorded()[1].body["messages"];
    assert_eq!(
        *sent,
        json!([
            {"role": "system", "content": "New rules."},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "What is my name?"},
        ]),
        "earlier instructions are not inherited"
    );
    // a third turn, streamed, continues the whole chain
    let (_, _, ev) = stream(&h, &json!({"model": "oa/small", "input": "And again?", "previous_response_id": second["id"], "stream": true})).await;
    let third = ev.last().unwrap().1["response"].clone();
    assert_eq!(
        h.sim("oa").recorded()[2].body["messages"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // the streamed response was stored too
    let (_, _, _) = create(
        &h,
        None,
        &json!({"model": "oa/small", "input": "Last", "previous_response_id": third["id"]}),
    )
    .await;
    assert_eq!(
        h.sim("oa").recorded()[3].body["messages"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

#[tokio::test]
async fn a_stored_response_is_read_then_deleted() {
    let h = router().await;
    let (_, _, r) = create(&h, None, &json!({"model": "auto", "input": "Remember me"})).await;
    let id = r["id"].as_str().unwrap();
    let (status, got) = get(&h, None, id).await;
    assert_eq!(status, 200);
    assert_eq!(got, r, "GET returns the response as it was sent");
    let (status, gone) = delete(&h, None, id).await;
    assert_eq!(status, 200);
    assert_eq!(
        gone,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, e) = get(&h, None, id).await;
    assert_eq!(status, 404);
    assert_eq!(assert_openai_error(&e)["code"], "response_not_found");
    let (status, _) = delete(&h, None, id).await;
    assert_eq!(status, 404);
    let (status, _, e) = create(
        &h,
        None,
        &json!({"model": "auto", "input": "x", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 404, "{e}");
    let err = assert_openai_error(&e);
    assert_eq!(
        (&err["param"], &err["code"]),
        (
            &json!("previous_response_id"),
            &json!("previous_response_not_found")
        )
    );
}

#[tokio::test]
async fn store_false_keeps_nothing() {
    let h = router().await;
    let (status, _, r) = create(
        &h,
        None,
        &json!({"model": "auto", "input": "Forget me", "store": false}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(r["store"], false);
    let (status, _) = get(&h, None, r["id"].as_str().unwrap()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn another_tenant_gets_404_for_every_use_of_the_id() {
    let h = keyed().await;
    let (status, _, r) = create(
        &h,
        Some(ALICE),
        &json!({"model": "auto", "input": "Alice's secret"}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let id = r["id"].as_str().unwrap();
    let (status, e) = get(&h, Some(BOB), id).await;
    assert_eq!(status, 404, "{e}");
    let (status, _) = delete(&h, Some(BOB), id).await;
    assert_eq!(status, 404);
    let (status, _, _) = create(
        &h,
        Some(BOB),
        &json!({"model": "auto", "input": "x", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        h.calls("alpha"),
        1,
        "bob's continuation never went upstream"
    );
    // a key without access is refused before anything is looked up
    for key in [None, Some("sk-sy-unknown-key-0123456789abcdefghijk")] {
        let (status, e) = get(&h, key, id).await;
        assert_eq!(status, 401, "{e}");
        let (status, _, _) = create(
            &h,
            key,
            &json!({"model": "auto", "input": "x", "previous_response_id": id}),
        )
        .await;
        assert_eq!(status, 401);
    }
    // alice's other key reaches her response; it survived bob's delete
    let (status, got) = get(&h, Some(ALICE_TOO), id).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], id);
    let (status, _, _) = create(
        &h,
        Some(ALICE),
        &json!({"model": "auto", "input": "more", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        h.sim("alpha").recorded()[1].body["messages"][0]["content"],
        "Alice's secret"
    );
}
