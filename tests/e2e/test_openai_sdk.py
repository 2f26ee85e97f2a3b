"""The official OpenAI Python SDK against the real `switchyard serve` binary, base_url only."""

import json
import time

import openai
import pytest
from openai import OpenAI


@pytest.fixture()
def client(router):
    return OpenAI(base_url=router["url"] + "/v1", api_key="unused-by-open-mode", max_retries=0)


def test_chat_completion_routes_and_reports(client):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    reply = raw.parse()
    assert raw.headers["x-switchyard-model"] == "mock/mock-small"
    assert raw.headers["x-switchyard-complexity"] == "simple"
    assert raw.headers["x-switchyard-rule"] == "simple"
    assert reply.choices[0].message.content.startswith("[mock-small]")
    assert reply.usage.completion_tokens > 0


def test_streamed_completion_with_usage(client):
    stream = client.chat.completions.create(
        model="mock/mock-large",
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text.startswith("[mock-large]")
    assert usage is not None and usage.completion_tokens == len(text.split())


def test_errors_are_sdk_exceptions(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert "auto" in str(e.value) and e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="auto", messages=[])
    assert e.value.body["param"] == "messages"


def _ledger(router):
    path = router["ledger"]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_ledger_has_the_requests_and_no_secret(client, router):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Define entropy."}])
    request_id = raw.headers["x-request-id"]
    # other tests share this router and their lines may land later: find this request's own
    deadline = time.monotonic() + 10
    mine = []
    while not mine and time.monotonic() < deadline:
        mine = [line for line in _ledger(router) if line.get("request_id") == request_id]
        time.sleep(0.05)
    assert mine, f"no ledger line for {request_id}"
    last = mine[0]
    assert last["requested_model"] == "auto" and last["model"] == "mock/mock-small"
    assert last["cost_usd"] > 0 and last["saving_usd"] > 0 and last["outcome"] == "ok"
    assert "sk-e2e-secret-value" not in router["ledger"].read_text()
