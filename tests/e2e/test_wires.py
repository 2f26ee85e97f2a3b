"""The official OpenAI Python SDK through `switchyard serve` to Anthropic- and Gemini-wire sims:
chat, streaming, a tool call round trip, embeddings (Gemini wire; a 400 unsupported_endpoint for
the Anthropic wire, which has no embeddings API) and cross-wire failover."""

import base64
import json
import struct

import openai
import pytest
from openai import OpenAI

WIRES = {"anthropic": "ant/claude-sim", "gemini": "gem/gemini-sim"}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the documentation",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "options": {"type": "object"}},
                "required": ["query"],
            },
        },
    }
]


@pytest.fixture()
def client(router):
    return OpenAI(base_url=router["url"] + "/v1", api_key="unused-by-open-mode", max_retries=0)


@pytest.mark.parametrize("model", WIRES.values(), ids=WIRES.keys())
def test_chat(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime"}],
    )
    reply = raw.parse()
    assert raw.headers["x-switchyard-model"] == model
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert model.split("/")[1] in choice.message.content
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


@pytest.mark.parametrize("model", WIRES.values(), ids=WIRES.keys())
def test_streamed_chat(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks = "", None, None, 0
    for chunk in stream:
        if chunk.choices:
            chunks += 1
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert chunks > 2, "the answer should arrive in several chunks"
    assert model.split("/")[1] in text and finish == "stop"
    assert usage is not None and usage.completion_tokens == len(text.split())


@pytest.mark.parametrize("model", WIRES.values(), ids=WIRES.keys())
def test_tool_call_round_trip(client, model):
    messages = [{"role": "user", "content": "Find the retry settings"}]
    first = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "search_docs" and call.id
    args = json.loads(call.function.arguments)
    assert isinstance(args, dict) and isinstance(args["query"], str)  # as the sims answer
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"hits": ["retry.attempts"]}'})
    second = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert not second.choices[0].message.tool_calls
    assert second.choices[0].message.content


def test_embeddings(client):
    raw = client.embeddings.with_raw_response.create(model="embed", input=["first text", "second text"])
    result = raw.parse()
    assert raw.headers["x-switchyard-model"] == "emb/emb-small"
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) > 0 for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0


def test_embeddings_dimensions_pass_through(client):
    result = client.embeddings.create(model="embed", input="hello", dimensions=5, encoding_format="float")
    assert len(result.data[0].embedding) == 5


def _f32(values):
    """Floats rounded to f32, as OpenAI's base64 format carries them."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_gemini_wire_embeddings_in_order(client):
    texts = ["first text", "second text", "third text"]
    raw = client.embeddings.with_raw_response.create(model="gem-embed", input=texts, encoding_format="float")
    result = raw.parse()
    assert raw.headers["x-switchyard-provider"] == "gem"
    assert raw.headers["x-switchyard-model"] == "gem/gemini-embed"
    assert result.object == "list" and result.model == "gemini-embed"
    assert [d.index for d in result.data] == [0, 1, 2]
    assert all(d.object == "embedding" and len(d.embedding) > 0 for d in result.data)
    # Gemini reports no usage for embeddings: the router fills in its own prompt count
    assert result.usage.prompt_tokens > 0 and result.usage.total_tokens == result.usage.prompt_tokens
    # the sim's vector depends on the text only, so each one must match its own single embedding
    for text, item in zip(texts, result.data):
        single = client.embeddings.create(model="gem-embed", input=text, encoding_format="float")
        assert len(single.data) == 1 and single.data[0].index == 0
        assert single.data[0].embedding == item.embedding, text
    assert result.data[0].embedding != result.data[1].embedding


@pytest.mark.parametrize("dims", [3, 7])
def test_gemini_wire_embeddings_dimensions(client, dims):
    raw = client.embeddings.with_raw_response.create(
        model="gem-embed", input=["a", "b"], dimensions=dims, encoding_format="float"
    )
    assert raw.headers["x-switchyard-provider"] == "gem"
    assert [len(d.embedding) for d in raw.parse().data] == [dims, dims]


def test_gemini_wire_embeddings_base64(client):
    texts = ["decode me", "and me"]
    floats = client.embeddings.create(model="gem-embed", input=texts, dimensions=6, encoding_format="float")
    raw = client.embeddings.with_raw_response.create(
        model="gem-embed", input=texts, dimensions=6, encoding_format="base64"
    )
    assert raw.headers["x-switchyard-provider"] == "gem"
    encoded = raw.parse()
    for f, b in zip(floats.data, encoded.data):
        assert isinstance(b.embedding, str)
        data = base64.b64decode(b.embedding, validate=True)
        assert len(data) == 4 * 6
        assert list(struct.unpack("<6f", data)) == _f32(f.embedding)
    # with no encoding_format the SDK asks for base64 and decodes it itself
    default = client.embeddings.create(model="gem-embed", input=texts, dimensions=6)
    assert [_f32(d.embedding) for d in default.data] == [_f32(d.embedding) for d in floats.data]


@pytest.mark.parametrize("model", ["ant-only", "ant/claude-sim"])
def test_anthropic_wire_has_no_embeddings(client, model):
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=model, input="hello", encoding_format="float")
    err = caught.value
    assert err.status_code == 400
    assert err.code == "unsupported_endpoint" and err.type == "invalid_request_error"
    assert err.param == "model"
    assert "/v1/embeddings" in err.message and model in err.message


def test_failover_to_the_anthropic_wire(client):
    raw = client.chat.completions.with_raw_response.create(
        model="failover", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-switchyard-model"] == "ant/claude-sim"
    assert raw.headers["x-switchyard-failovers"] == "1"
    assert "claude-sim" in raw.parse().choices[0].message.content


def test_streamed_failover_to_the_anthropic_wire(client):
    with client.chat.completions.with_streaming_response.create(
        model="failover", stream=True, messages=[{"role": "user", "content": "hi"}]
    ) as resp:
        assert resp.headers["x-switchyard-model"] == "ant/claude-sim"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert "claude-sim" in text
