"""The official OpenAI Python SDK through `switchyard serve` to Anthropic- and Gemini-wire sims:
chat, streaming, a tool call round trip, embeddings and cross-wire failover."""

import json

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
