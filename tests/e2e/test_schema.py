"""What `switchyard serve` answers — chat, legacy completions, embeddings, moderations, models, errors and the
Responses API, whole and streamed, on every wire — validated against OpenAI's published OpenAPI
specification, read at test time from ../shared/spec/openai-openapi.yaml (see its README there).

The file still uses OpenAPI 3.0's `nullable: true`; it is read as "or null" before validating
with JSON Schema 2020-12. Where the spec's types differ from what OpenAI's own API sends (legacy
completion chunks carry `finish_reason: null`), the real API is matched: those chunks are not
validated here."""

import json
import warnings
from functools import lru_cache

import pytest
import yaml
from jsonschema import Draft202012Validator
from openai import DefaultHttpxClient

from conftest import ROOT

SPEC = ROOT.parent / "shared" / "spec" / "openai-openapi.yaml"

if not SPEC.exists():
    message = f"OpenAI's OpenAPI spec is missing at {SPEC}: the schema tests did NOT run"
    warnings.warn(message)
    pytest.skip(message, allow_module_level=True)

WIRES = ["mock/mock-small", "ant/claude-sim", "gem/gemini-sim"]


def _or_null(node):
    """OpenAPI 3.0 `nullable: true` as JSON Schema's "or null", everywhere in the tree."""
    if isinstance(node, list):
        return [_or_null(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _or_null(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        elif "type" not in node:
            return {"anyOf": [node, {"type": "null"}]}
    return node


@lru_cache(maxsize=1)
def _components():
    spec = yaml.safe_load(SPEC.read_text())
    return _or_null(spec["components"])


@lru_cache(maxsize=None)
def _validator(name):
    components = _components()
    assert name in components["schemas"], f"the spec has no schema {name}"
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def check(name, instance):
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message[:300]}" for e in errors[:5]
    ) + f"\n{json.dumps(instance)[:2000]}"


@lru_cache(maxsize=1)
def _event_schemas():
    """`response.*` event type -> the schema of that event, from ResponseStreamEvent's members."""
    schemas = _components()["schemas"]
    out = {}
    for member in schemas["ResponseStreamEvent"]["anyOf"]:
        name = member["$ref"].rsplit("/", 1)[-1]
        kind = schemas[name].get("properties", {}).get("type", {}).get("enum", [None])[0]
        if kind:
            out[kind] = name
    return out


@pytest.fixture(scope="module")
def http(router):
    client = DefaultHttpxClient(base_url=router["url"], timeout=30)
    yield client
    client.close()


def _post(http, path, body):
    r = http.post(path, json=body)
    return r.status_code, r


def _sse(text):
    """(event name or None, JSON data) for every SSE event but `[DONE]`."""
    out = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        event = next((l[6:].strip() for l in lines if l.startswith("event:")), None)
        data = "\n".join(l[5:].strip() for l in lines if l.startswith("data:"))
        if data and data != "[DONE]":
            out.append((event, json.loads(data)))
    return out


@pytest.mark.parametrize("model", WIRES)
def test_chat_whole_and_streamed(http, model):
    body = {"model": model, "messages": [{"role": "user", "content": "Name a prime"}]}
    status, r = _post(http, "/v1/chat/completions", body)
    assert status == 200, r.text
    check("CreateChatCompletionResponse", r.json())
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    status, r = _post(http, "/v1/chat/completions", {**body, "tools": tools})
    assert status == 200, r.text
    check("CreateChatCompletionResponse", r.json())
    status, r = _post(http, "/v1/chat/completions", {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert status == 200
    chunks = _sse(r.text)
    assert len(chunks) > 2
    for _, chunk in chunks:
        check("CreateChatCompletionStreamResponse", chunk)


def test_completions_and_embeddings(http):
    status, r = _post(http, "/v1/completions", {"model": "mock/mock-small", "prompt": "Say hi", "max_tokens": 5})
    assert status == 200, r.text
    check("CreateCompletionResponse", r.json())
    for model in ["embed", "gem-embed"]:
        status, r = _post(http, "/v1/embeddings", {"model": model, "input": ["a", "b"], "encoding_format": "float"})
        assert status == 200, r.text
        check("CreateEmbeddingResponse", r.json())


def test_moderations(http):
    for body in [
        {"model": "emb/emb-mod", "input": "how to kill a process"},
        {"model": "emb/emb-mod", "input": ["a flower", "a hateful remark"]},
        {"model": "emb/emb-mod", "input": [{"type": "text", "text": "gore"}]},
    ]:
        status, r = _post(http, "/v1/moderations", body)
        assert status == 200, r.text
        check("CreateModerationResponse", r.json())


def test_models(http):
    r = http.get("/v1/models")
    assert r.status_code == 200
    check("ListModelsResponse", r.json())
    for model in ["auto", "mock/mock-small", "gem/gemini-sim"]:
        r = http.get(f"/v1/models/{model}")
        assert r.status_code == 200, r.text
        check("Model", r.json())


def test_errors(http):
    cases = [
        ("/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404),
        ("/v1/chat/completions", {"model": "auto", "messages": []}, 400),
        ("/v1/responses", {"model": "auto", "input": "x", "tools": [{"type": "web_search"}]}, 400),
        ("/v1/embeddings", {"model": "ant-only", "input": "x"}, 400),
    ]
    for path, body, want in cases:
        status, r = _post(http, path, body)
        assert status == want, r.text
        check("ErrorResponse", r.json())
    for r in [http.get("/v1/models/no/such"), http.get("/v1/responses/resp_missing"), http.get("/v1/nowhere")]:
        assert r.status_code == 404
        check("ErrorResponse", r.json())


@pytest.mark.parametrize("model", WIRES + ["nat/nat-model"])
def test_responses_whole_and_streamed(http, model):
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    bodies = [
        {"model": model, "instructions": "Be brief.", "input": "What is the capital of France?", "metadata": {"k": "v"}},
        {"model": model, "input": "Weather in Paris?", "tools": tools},
        {"model": model, "input": "Tell me a story", "max_output_tokens": 3},
    ]
    for body in bodies:
        status, r = _post(http, "/v1/responses", body)
        assert status == 200, r.text
        check("Response", r.json())
        got = http.get(f"/v1/responses/{r.json()['id']}")
        check("Response", got.json())
        items = http.get(f"/v1/responses/{r.json()['id']}/input_items")
        assert items.status_code == 200, items.text
        check("ResponseItemList", items.json())
        status, r = _post(http, "/v1/responses", {**body, "stream": True})
        assert status == 200
        events = _sse(r.text)
        kinds = _event_schemas()
        for i, (name, event) in enumerate(events):
            assert name == event["type"], event
            assert event["sequence_number"] == i
            assert event["type"] in kinds, f"no schema for {event['type']}"
            check(kinds[event["type"]], event)
        assert events[-1][0] in ("response.completed", "response.incomplete")


def test_failures_before_and_after_the_first_byte(http):
    # every candidate fails before the first byte: an ErrorResponse
    status, r = _post(http, "/v1/responses", {"model": "down/down-model", "input": "x", "stream": True})
    assert status >= 500, r.text
    check("ErrorResponse", r.json())
    # the stream is cut after its first chunks: response.failed and error, each valid
    status, r = _post(http, "/v1/responses", {"model": "cut/cut-model", "input": "Tell me a story", "stream": True})
    assert status == 200
    events = _sse(r.text)
    assert [e["type"] for _, e in events[-2:]] == ["response.failed", "error"], r.text
    kinds = _event_schemas()
    for _, event in events:
        check(kinds[event["type"]], event)
