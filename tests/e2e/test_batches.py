"""Batch jobs with the official OpenAI Python SDK against the real `switchyard serve` binary:
`files.create(purpose="batch")`, `batches.create`, polling `batches.retrieve`, then
`files.content` of the output and error files; the objects checked against OpenAI's
published schema (when the spec is present)."""

import json
import time

import openai
import pytest
from openai import DefaultHttpxClient, OpenAI

TERMINAL = {"completed", "failed", "cancelled", "expired"}


def _server(tmp_path, auth="auth:\n  mode: open\n"):
    return f"{auth}batches:\n  dir: {tmp_path / 'batches'}\n  concurrency: 2\n"


def _line(custom_id, url, body):
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


def _chat(text):
    return {"model": "auto", "messages": [{"role": "user", "content": text}]}


def _poll(client, batch_id, within=60):
    deadline = time.monotonic() + within
    while True:
        b = client.batches.retrieve(batch_id)
        if b.status in TERMINAL:
            return b
        assert time.monotonic() < deadline, f"batch {batch_id} still {b.status}"
        time.sleep(0.1)


def _lines(client, file_id):
    return [json.loads(l) for l in client.files.content(file_id).text.splitlines() if l]


def test_chat_batch_round_trip(serve_with, tmp_path):
    srv = serve_with(_server(tmp_path))
    client = OpenAI(base_url=srv["url"] + "/v1", api_key="unused-in-open-mode", max_retries=0)
    rows = [_line(f"req-{i}", "/v1/chat/completions", _chat(f"Say {i}")) for i in range(4)]
    rows.insert(2, _line("broken", "/v1/chat/completions", {"model": "auto"}))
    f = client.files.create(file=("requests.jsonl", "\n".join(rows).encode()), purpose="batch")
    assert f.id.startswith("file-") and f.purpose == "batch" and f.bytes > 0
    assert client.files.retrieve(f.id).filename == "requests.jsonl"

    created = client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "nightly"},
    )
    assert created.status == "validating" and created.metadata == {"job": "nightly"}
    b = _poll(client, created.id)
    assert b.status == "completed", b
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (5, 4, 1)

    out = _lines(client, b.output_file_id)
    assert [l["custom_id"] for l in out] == [f"req-{i}" for i in range(4)]
    for l in out:
        assert l["response"]["status_code"] == 200 and l["error"] is None
        assert l["response"]["body"]["choices"][0]["message"]["content"]
    errors = _lines(client, b.error_file_id)
    assert [l["custom_id"] for l in errors] == ["broken"]
    assert errors[0]["response"]["status_code"] == 400
    assert errors[0]["response"]["body"]["error"]["type"] == "invalid_request_error"

    assert created.id in [x.id for x in client.batches.list()]
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(b.id)

    # every line left one ledger line, tagged with the batch
    ledger = [json.loads(l) for l in (srv["cfg"] / "ledger.jsonl").read_text().splitlines()]
    assert sum(1 for r in ledger if r.get("batch_id") == b.id) == 5


def test_embeddings_batch(serve_with, tmp_path):
    srv = serve_with(_server(tmp_path))
    client = OpenAI(base_url=srv["url"] + "/v1", api_key="unused-in-open-mode", max_retries=0)
    rows = [_line(f"e{i}", "/v1/embeddings", {"model": "embed", "input": f"text {i}"}) for i in range(3)]
    f = client.files.create(file=("emb.jsonl", "\n".join(rows).encode()), purpose="batch")
    b = client.batches.create(input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h")
    b = _poll(client, b.id)
    assert b.status == "completed" and b.error_file_id is None
    out = _lines(client, b.output_file_id)
    assert [l["custom_id"] for l in out] == ["e0", "e1", "e2"]
    assert all(l["response"]["body"]["data"][0]["embedding"] for l in out)


def test_bad_file_is_a_400(serve_with, tmp_path):
    srv = serve_with(_server(tmp_path))
    client = OpenAI(base_url=srv["url"] + "/v1", api_key="unused-in-open-mode", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.files.create(file=("bad.jsonl", b'{"custom_id": "a"}\n'), purpose="batch")
    assert e.value.code == "invalid_file" and "line 1" in e.value.message


def test_another_key_cannot_see_a_batch(serve_with, tmp_path):
    srv = serve_with(
        _server(tmp_path, auth="auth:\n  mode: keys\n"),
        keys=[{"user": "alice"}, {"user": "bob"}],
    )
    alice, bob = (
        OpenAI(base_url=srv["url"] + "/v1", api_key=k, max_retries=0) for k in srv["keys"]
    )
    rows = _line("only", "/v1/chat/completions", _chat("hello"))
    f = alice.files.create(file=("a.jsonl", rows.encode()), purpose="batch")
    b = alice.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    b = _poll(alice, b.id)
    assert b.status == "completed"
    with pytest.raises(openai.NotFoundError):
        bob.batches.retrieve(b.id)
    with pytest.raises(openai.NotFoundError):
        bob.files.content(b.output_file_id)


def test_objects_match_openais_schema(serve_with, tmp_path):
    check = pytest.importorskip("test_schema").check
    srv = serve_with(_server(tmp_path))
    http = DefaultHttpxClient(base_url=srv["url"], timeout=30)
    client = OpenAI(base_url=srv["url"] + "/v1", api_key="unused-in-open-mode", max_retries=0)
    f = client.files.create(
        file=("s.jsonl", _line("s", "/v1/chat/completions", _chat("hi")).encode()), purpose="batch"
    )
    check("OpenAIFile", http.get(f"/v1/files/{f.id}").json())
    created = http.post(
        "/v1/batches",
        json={"input_file_id": f.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    ).json()
    check("Batch", created)
    b = _poll(client, created["id"])
    check("Batch", http.get(f"/v1/batches/{b.id}").json())
    check("ListBatchesResponse", http.get("/v1/batches").json())
    check("OpenAIFile", http.get(f"/v1/files/{b.output_file_id}").json())
    http.close()
