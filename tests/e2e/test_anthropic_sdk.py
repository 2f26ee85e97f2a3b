"""The official Anthropic Python SDK through `switchyard serve` (`/v1/messages`), routed to
OpenAI-, Anthropic- and Gemini-wire sims: create, stream, a tool round trip, count_tokens and
error classes."""

import time

import anthropic
import pytest
from anthropic import Anthropic

WIRES = {"openai": "mock/mock-small", "anthropic": "ant/claude-sim", "gemini": "gem/gemini-sim"}

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture(scope="module", autouse=True)
def settled_ledger(router):
    """Lets this module's last ledger lines (written off the request path) land before the next
    module, whose tests read the shared router's newest line."""
    yield
    count, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and time.monotonic() - stable_since < 0.5:
        now = len(router["ledger"].read_text().splitlines())
        if now != count:
            count, stable_since = now, time.monotonic()
        time.sleep(0.05)


@pytest.fixture()
def client(router):
    # the SDK adds /v1/messages itself
    return Anthropic(base_url=router["url"], api_key="unused-in-open-mode", max_retries=0)


@pytest.mark.parametrize("model", WIRES.values(), ids=WIRES.keys())
def test_messages_create(client, model):
    raw = client.messages.with_raw_response.create(
        model=model,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Name a prime number"}],
    )
    assert raw.headers["x-switchyard-model"] == model
    msg = raw.parse()
    assert isinstance(msg, anthropic.types.Message)
    assert msg.role == "assistant"
    assert msg.stop_reason == "end_turn"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


@pytest.mark.parametrize("model", WIRES.values(), ids=WIRES.keys())
def test_messages_stream(client, model):
    with client.messages.stream(
        model=model,
        max_tokens=100,
        messages=[{"role": "user", "content": "Write a haiku about routers"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", WIRES.values(), ids=WIRES.keys())
def test_tool_round_trip(client, model):
    question = {"role": "user", "content": "What is the weather in Oslo?"}
    first = client.messages.create(model=model, max_tokens=200, tools=TOOLS, messages=[question])
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert isinstance(call.input, dict)
    second = client.messages.create(
        model=model,
        max_tokens=200,
        tools=TOOLS,
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "-3 C"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    # streamed, the SDK assembles the call's input from input_json_delta events
    with client.messages.stream(model=model, max_tokens=200, tools=TOOLS, messages=[question]) as s:
        final = s.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.name == "get_weather" and isinstance(streamed.input, dict)


def test_count_tokens(client):
    short = client.messages.count_tokens(
        model="ant/claude-sim", messages=[{"role": "user", "content": "hi"}]
    )
    long = client.messages.count_tokens(
        model="ant/claude-sim", messages=[{"role": "user", "content": "hi " * 300}]
    )
    assert 0 < short.input_tokens < long.input_tokens


def test_error_classes(client, router, serve_with):
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.body["type"] == "error"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="auto",
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "document", "source": {}}]}],
        )
    guarded = serve_with("auth:\n  mode: keys\n", keys=[{"user": "ann"}])
    bad = Anthropic(base_url=guarded["url"], api_key="sk-sy-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="auto", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    good = Anthropic(base_url=guarded["url"], api_key=guarded["keys"][0], max_retries=0)
    msg = good.messages.create(model="auto", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text
