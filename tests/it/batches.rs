//! Batch jobs: a JSONL file of requests uploaded, run in the background through the pipeline,
//! polled to completion, its output and error files read back in input order; bad files are
//! refused, cancelling stops the job, tenants see only their own, a restart resumes without
//! running a finished line again, and interactive requests get paced slots first.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::sim::Behavior;

use crate::common::policies::{self, key_entry, KEYS_AUTH};
use crate::common::{assert_openai_error, chat, wait_until, Harness, Upstream};

const ALICE: &str = "sk-sy-alice-batches-0123456789abcdefghij";
const BOB: &str = "sk-sy-bob-batches-0123456789abcdefghijkl";

/// The server file's `batches:` block over `dir`, running `concurrency` lines at once.
fn batches_block(dir: &std::path::Path, concurrency: usize) -> String {
    format!(
        "batches:\n  dir: {}\n  concurrency: {concurrency}\n",
        dir.display()
    )
}

async fn router(dir: &std::path::Path, concurrency: usize, upstream: Upstream) -> Harness {
    Harness::builder(vec![upstream])
        .policy(policies::ALPHA)
        .server(batches_block(dir, concurrency))
        .start()
        .await
}

/// One input line for `/v1/chat/completions`.
fn line(custom_id: &str, body: &Value) -> String {
    json!({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})
        .to_string()
}

/// `POST /v1/files` as the SDKs send it (multipart/form-data).
async fn upload(h: &Harness, key: Option<&str>, purpose: &str, file: &str) -> (StatusCode, Value) {
    let boundary = "sYbOuNdArY42";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n\
--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
Content-Type: application/octet-stream\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let mut req = h
        .client
        .post(h.url("/v1/files"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("router answers");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(h: &Harness, key: Option<&str>, path: &str, body: &Value) -> (StatusCode, Value) {
    let (status, _, v) = h
        .post_as(key, path, serde_json::to_vec(body).unwrap())
        .await;
    (status, v)
}

/// Uploads `lines` and creates a chat batch of them; the Batch object.
async fn start_batch(h: &Harness, key: Option<&str>, lines: &[String]) -> Value {
    let (status, file) = upload(h, key, "batch", &lines.join("\n")).await;
    assert_eq!(status, 200, "{file}");
    let create = json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
        "completion_window": "24h", "metadata": {"purpose": "test"}});
    let (status, batch) = post(h, key, "/v1/batches", &create).await;
    assert_eq!(status, 200, "{batch}");
    batch
}

async fn get_batch(h: &Harness, key: Option<&str>, id: &str) -> Value {
    let (status, b) = h.get_as(key, &format!("/v1/batches/{id}")).await;
    assert_eq!(status, 200, "{b}");
    b
}

/// Polls the batch until `done(batch)` holds (30 s at most); the batch then.
async fn poll(h: &Harness, key: Option<&str>, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    wait_until(
        &format!("batch {id} progressed"),
        Duration::from_secs(30),
        async || {
            last = get_batch(h, key, id).await;
            done(&last)
        },
    )
    .await;
    last
}

fn ended(b: &Value) -> bool {
    ["completed", "failed", "cancelled", "expired"].contains(&b["status"].as_str().unwrap_or(""))
}

/// The JSON lines of file `id`.
async fn content(h: &Harness, key: Option<&str>, id: &Value) -> Vec<Value> {
    let mut req = h
        .client
        .get(h.url(&format!("/v1/files/{}/content", id.as_str().unwrap())));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn custom_ids(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect()
}

/// The user prompts the sim received, in order.
fn prompts(h: &Harness) -> Vec<String> {
    h.sim("alpha")
        .recorded()
        .iter()
        .map(|c| {
            c.body["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_batch_runs_to_completion_with_outputs_in_order_and_an_error_file() {
    let dir = tempfile::tempdir().unwrap();
    let h = router(dir.path(), 1, Upstream::new("alpha", &["a-1"])).await;
    // lines run one at a time, so the fourth line is the sim's third call: it fails
    h.sim("alpha").push_script([
        Behavior::Ok,
        Behavior::Ok,
        Behavior::WireError { status: 500 },
    ]);
    let lines = vec![
        line("one", &chat("auto", "first")),
        line("bad", &json!({"model": "auto"})),
        line("three", &chat("auto", "third")),
        line("down", &chat("auto", "fourth")),
        line("five", &chat("auto", "fifth")),
    ];
    let created = start_batch(&h, None, &lines).await;
    assert_eq!(created["object"], "batch");
    assert_eq!(created["status"], "validating");
    assert_eq!(created["metadata"], json!({"purpose": "test"}));
    assert_eq!(
        created["expires_at"].as_u64().unwrap() - created["created_at"].as_u64().unwrap(),
        86_400
    );
    let id = created["id"].as_str().unwrap();
    let done = poll(&h, None, id, ended).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["request_counts"],
        json!({"total": 5, "completed": 3, "failed": 2})
    );
    for at in ["in_progress_at", "finalizing_at", "completed_at"] {
        assert!(done[at].as_u64().is_some(), "{at} missing: {done}");
    }

    let out = content(&h, None, &done["output_file_id"]).await;
    assert_eq!(custom_ids(&out), ["one", "three", "five"]);
    for l in &out {
        assert_eq!(l["response"]["status_code"], 200);
        assert_eq!(l["response"]["body"]["object"], "chat.completion");
        assert_eq!(l["error"], Value::Null);
        assert_eq!(l["id"], l["response"]["request_id"]);
    }
    let errors = content(&h, None, &done["error_file_id"]).await;
    assert_eq!(custom_ids(&errors), ["bad", "down"]);
    assert_eq!(errors[0]["response"]["status_code"], 400);
    assert_eq!(errors[0]["response"]["body"]["error"]["param"], "messages");
    assert_eq!(errors[1]["response"]["status_code"], 502);
    assert_openai_error(&errors[1]["response"]["body"]);

    let (status, f) = h
        .get(&format!(
            "/v1/files/{}",
            done["output_file_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&f["object"], &f["purpose"]),
        (&json!("file"), &json!("batch_output"))
    );
    assert_eq!(prompts(&h), ["first", "third", "fourth", "fifth"]);

    // every line left one ordinary ledger line, tagged with the batch
    let ledger = h.ledger_lines().await;
    let tagged: Vec<_> = ledger
        .iter()
        .filter(|r| r.batch_id.as_deref() == Some(id))
        .collect();
    assert_eq!(tagged.len(), 5, "{ledger:?}");
    let mut ids: Vec<&str> = tagged.iter().map(|r| r.request_id.as_str()).collect();
    ids.sort_unstable();
    let mut written: Vec<&str> = out
        .iter()
        .chain(&errors)
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    written.sort_unstable();
    assert_eq!(
        ids, written,
        "the output lines' ids are the ledger's request ids"
    );
    assert_eq!(tagged.iter().filter(|r| r.billed).count(), 3);

    // listed newest first, paged like OpenAI's list
    let second = start_batch(&h, None, &lines[..1]).await;
    let (_, page) = h.get("/v1/batches?limit=1").await;
    assert_eq!(page["object"], "list");
    assert_eq!(page["data"][0]["id"], second["id"]);
    assert_eq!(page["has_more"], true);
    let after = page["last_id"].as_str().unwrap();
    let (_, rest) = h.get(&format!("/v1/batches?limit=10&after={after}")).await;
    assert_eq!(rest["data"][0]["id"], id);
    assert_eq!(rest["has_more"], false);
    poll(&h, None, second["id"].as_str().unwrap(), ended).await;
}

#[tokio::test]
async fn bad_files_and_requests_are_refused_in_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let h = router(dir.path(), 2, Upstream::new("alpha", &["a-1"])).await;
    let good = line("a", &chat("auto", "hi"));
    let cases = [
        ("batch", "not json".to_owned(), "line 1"),
        ("batch", format!("{good}\n{good}"), "line 2"),
        ("batch", String::new(), "no requests"),
        ("fine-tune", good.clone(), "purpose"),
    ];
    for (purpose, file, says) in cases {
        let (status, e) = upload(&h, None, purpose, &file).await;
        assert_eq!(status, 400, "{file}: {e}");
        let err = assert_openai_error(&e);
        assert!(err["message"].as_str().unwrap().contains(says), "{e}");
    }
    let (status, _, e) = h.post_raw("/v1/files", b"{}".to_vec()).await;
    assert_eq!(status, 400);
    assert_openai_error(&e);

    let (_, file) = upload(&h, None, "batch", &good).await;
    let bad_creates = [
        (
            json!({"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
            "input_file_id",
        ),
        (
            json!({"input_file_id": file["id"], "endpoint": "/v1/images/generations", "completion_window": "24h"}),
            "endpoint",
        ),
        (
            json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions", "completion_window": "1h"}),
            "completion_window",
        ),
    ];
    for (body, param) in bad_creates {
        let (status, e) = post(&h, None, "/v1/batches", &body).await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(assert_openai_error(&e)["param"], param);
    }
    // lines for another endpoint than the batch's: the batch fails validation, naming them
    let create = json!({"input_file_id": file["id"], "endpoint": "/v1/embeddings", "completion_window": "24h"});
    let (status, b) = post(&h, None, "/v1/batches", &create).await;
    assert_eq!(status, 200);
    let failed = poll(&h, None, b["id"].as_str().unwrap(), ended).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["errors"]["data"][0]["line"], 1);
    assert_eq!(failed["errors"]["data"][0]["code"], "mismatched_endpoint");
    assert_eq!(h.calls("alpha"), 0);
    let (status, e) = h.get("/v1/batches/batch_missing").await;
    assert_eq!(status, 404);
    assert_openai_error(&e);
}

/// One key at 60 rpm: a line a second, slow enough to act while a job runs.
fn paced(rpm: u32) -> Upstream {
    Upstream::new("alpha", &["a-1"])
        .keys(&["sk-a"])
        .key_limits(Some(rpm), None)
}

#[tokio::test]
async fn cancelling_stops_the_lines_not_yet_started() {
    let dir = tempfile::tempdir().unwrap();
    let h = router(dir.path(), 1, paced(60)).await;
    let lines: Vec<String> = (0..6)
        .map(|i| line(&format!("c{i}"), &chat("auto", &format!("p{i}"))))
        .collect();
    let b = start_batch(&h, None, &lines).await;
    let id = b["id"].as_str().unwrap();
    poll(&h, None, id, |b| {
        b["request_counts"]["completed"].as_u64() >= Some(1)
    })
    .await;
    let (status, c) = post(&h, None, &format!("/v1/batches/{id}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "{c}");
    assert!(
        ["cancelling", "cancelled"].contains(&c["status"].as_str().unwrap()),
        "{c}"
    );
    assert!(c["cancelling_at"].as_u64().is_some());
    let done = poll(&h, None, id, ended).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let ran = done["request_counts"]["completed"].as_u64().unwrap() as usize;
    assert!(ran < 6, "every line ran: {done}");
    assert_eq!(
        h.calls("alpha"),
        ran,
        "no line started after the cancel finished"
    );
    let out = content(&h, None, &done["output_file_id"]).await;
    assert_eq!(out.len(), ran, "the partial results are in the output file");
    let (status, e) = post(&h, None, &format!("/v1/batches/{id}/cancel"), &json!({})).await;
    assert_eq!(
        status, 400,
        "a cancelled batch cannot be cancelled again: {e}"
    );
}

#[tokio::test]
async fn files_and_batches_belong_to_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let keys = key_entry("alice-key", ALICE, "user: alice, team: red")
        + &key_entry("bob-key", BOB, "user: bob, team: red");
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(format!("{KEYS_AUTH}{}", batches_block(dir.path(), 2)))
        .keys(keys)
        .start()
        .await;
    let (status, e) = upload(&h, None, "batch", &line("x", &chat("auto", "hi"))).await;
    assert_eq!(status, 401, "{e}");
    let b = start_batch(&h, Some(ALICE), &[line("x", &chat("auto", "hi"))]).await;
    let id = b["id"].as_str().unwrap();
    let input = b["input_file_id"].as_str().unwrap();
    let done = poll(&h, Some(ALICE), id, ended).await;
    assert_eq!(done["status"], "completed");
    let output = done["output_file_id"].as_str().unwrap();
    for path in [
        format!("/v1/batches/{id}"),
        format!("/v1/files/{input}"),
        format!("/v1/files/{input}/content"),
        format!("/v1/files/{output}/content"),
    ] {
        let (status, e) = h.get_as(Some(BOB), &path).await;
        assert_eq!(status, 404, "{path}: {e}");
        assert_openai_error(&e);
    }
    let (status, _) = post(
        &h,
        Some(BOB),
        &format!("/v1/batches/{id}/cancel"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (_, page) = h.get_as(Some(BOB), "/v1/batches").await;
    assert_eq!(page["data"], json!([]));
    let create = json!({"input_file_id": input, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let (status, _) = post(&h, Some(BOB), "/v1/batches", &create).await;
    assert_eq!(status, 400, "another tenant's file cannot be batched");
    // the line ran as alice's key
    let ledger = h.ledger_lines().await;
    let line = ledger
        .iter()
        .find(|r| r.batch_id.as_deref() == Some(id))
        .unwrap();
    assert_eq!(
        (line.user.as_deref(), line.key_id.as_deref()),
        (Some("alice"), Some("alice-key"))
    );
}

#[tokio::test]
async fn a_restart_resumes_the_job_without_running_a_finished_line_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = router(dir.path(), 1, paced(60)).await;
    let lines: Vec<String> = (0..4)
        .map(|i| line(&format!("r{i}"), &chat("auto", &format!("q{i}"))))
        .collect();
    let b = start_batch(&h, None, &lines).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let before = poll(&h, None, &id, |b| {
        b["request_counts"]["completed"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(before["status"], "in_progress", "{before}");
    let again = h.restarted().await;
    let ran_before = h.calls("alpha");
    assert!(
        ran_before < 4,
        "the job ended before the restart: {ran_before} lines"
    );
    let done = poll(&again, None, &id, ended).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["request_counts"],
        json!({"total": 4, "completed": 4, "failed": 0})
    );
    let out = content(&again, None, &done["output_file_id"]).await;
    assert_eq!(custom_ids(&out), ["r0", "r1", "r2", "r3"]);
    assert_eq!(
        prompts(&h),
        ["q0", "q1", "q2", "q3"],
        "each line reached the upstream exactly once"
    );
}

#[tokio::test]
async fn interactive_requests_take_paced_slots_before_batch_lines() {
    let dir = tempfile::tempdir().unwrap();
    // one key, a slot every 2 s; interactive requests may wait for one
    let h = Arc::new(
        Harness::builder(vec![paced(30)])
            .policy(format!(
                "pacing: {{on_busy: wait, max_wait_ms: 60000}}\n{}",
                policies::ALPHA
            ))
            .server(batches_block(dir.path(), 3))
            .start()
            .await,
    );
    let lines: Vec<String> = (0..3)
        .map(|i| line(&format!("b{i}"), &chat("auto", &format!("batch {i}"))))
        .collect();
    let b = start_batch(&h, None, &lines).await;
    // the first line took the free slot; the other two wait for the next ones
    h.wait_calls("alpha", 1).await;
    let (status, _, _) = h.post_chat(chat("auto", "interactive")).await;
    assert_eq!(status, 200);
    let done = poll(&h, None, b["id"].as_str().unwrap(), ended).await;
    assert_eq!(done["request_counts"]["completed"], 3);
    let order = prompts(&h);
    assert_eq!(
        order.iter().position(|p| p == "interactive"),
        Some(1),
        "the interactive request got the next slot, ahead of the waiting batch lines: {order:?}"
    );
}

#[tokio::test]
async fn without_a_batches_block_the_endpoints_say_so() {
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .start()
        .await;
    let (status, e) = upload(&h, None, "batch", &line("a", &chat("auto", "hi"))).await;
    assert_eq!(status, 404, "{e}");
    assert_eq!(assert_openai_error(&e)["code"], "batches_disabled");
    let (status, e) = h.get("/v1/batches").await;
    assert_eq!(status, 404);
    assert_eq!(assert_openai_error(&e)["code"], "batches_disabled");
}

#[tokio::test]
async fn uploads_are_bounded_by_max_file_bytes_not_max_body_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"])])
        .policy(policies::ALPHA)
        .server(format!(
            "max_body_bytes: 2048\n{}  max_file_bytes: 65536\n",
            batches_block(dir.path(), 1)
        ))
        .start()
        .await;
    let many = |n: usize| -> String {
        (0..n)
            .map(|i| line(&format!("l{i}"), &chat("auto", "hello there")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (status, f) = upload(&h, None, "batch", &many(100)).await;
    assert_eq!(
        status, 200,
        "a file over max_body_bytes but within max_file_bytes: {f}"
    );
    assert!(f["bytes"].as_u64().unwrap() > 2048);
    let (status, e) = upload(&h, None, "batch", &many(1000)).await;
    assert_eq!(status, 413, "{e}");
    assert_openai_error(&e);
}
