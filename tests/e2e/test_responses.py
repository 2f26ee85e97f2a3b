"""The official OpenAI Python SDK's Responses API and models.retrieve against the real
`switchyard serve` binary, with OpenAI-, Anthropic- and Gemini-wire simulators behind it."""

import json
import time

import openai
import pytest
from openai import OpenAI

WIRES = ["mock/mock-small", "ant/claude-sim", "gem/gemini-sim"]
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "query": {"type": "string"}},
        },
    }
]


@pytest.fixture()
def client(router):
    return OpenAI(base_url=router["url"] + "/v1", api_key="unused-by-open-mode", max_retries=0)


def _tag(model):
    return "[" + model.split("/")[1] + "]"


@pytest.mark.parametrize("model", WIRES)
def test_create(client, model):
    raw = client.responses.with_raw_response.create(
        model=model, instructions="Be brief.", input="What is the capital of France?"
    )
    assert raw.headers["x-switchyard-model"] == model
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text.startswith(_tag(model)), r.output_text
    assert r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


@pytest.mark.parametrize("model", WIRES)
def test_stream(client, model):
    kinds, deltas = [], []
    with client.responses.stream(model=model, input="Tell me a story") as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert len(deltas) > 1
    assert final.output_text == "".join(deltas)
    assert final.output_text.startswith(_tag(model))
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", WIRES)
def test_function_call_round_trip(client, model):
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.responses.create(model=model, input=question, tools=TOOLS)
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1, first.output
    call = calls[0]
    assert call.name == "get_weather"
    assert isinstance(json.loads(call.arguments), dict)
    second = client.responses.create(
        model=model,
        tools=TOOLS,
        input=question
        + first.output
        + [{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}],
    )
    assert second.status == "completed"
    assert second.output_text.startswith(_tag(model)), second.output


def test_streamed_function_call(client):
    with client.responses.stream(model="mock/mock-small", input="Weather in Oslo?", tools=TOOLS) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert isinstance(json.loads(call.arguments), dict)


@pytest.mark.parametrize("model", WIRES)
def test_previous_response_id(client, model):
    first = client.responses.create(model=model, input="My name is Ada.")
    second = client.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.output_text.startswith(_tag(model))
    # the whole conversation was sent: the prompt grew by the first turn
    assert second.usage.input_tokens > first.usage.input_tokens


def test_retrieve_and_delete(client):
    r = client.responses.create(model="auto", input="Remember this")
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text
    client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="auto", input="x", previous_response_id=r.id)
    assert e.value.body["code"] == "previous_response_not_found"


def test_unsupported_tool_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="auto", input="x", tools=[{"type": "web_search"}])
    assert e.value.body["param"] == "tools[0].type"
    assert "web_search" in e.value.body["message"]


def test_models_retrieve(client):
    auto = client.models.retrieve("auto")
    assert auto.id == "auto" and auto.object == "model" and auto.owned_by == "switchyard"
    concrete = client.models.retrieve("ant/claude-sim")
    assert concrete.id == "ant/claude-sim" and concrete.owned_by == "ant"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("no/such-model")
    assert e.value.body["code"] == "model_not_found"


def test_a_stream_cut_mid_way_ends_failed(client):
    with client.responses.stream(model="cut/cut-model", input="Tell me a story") as stream:
        events = list(stream)
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    assert [e.type for e in events[-2:]] == ["response.failed", "error"]
    failed, error = events[-2], events[-1]
    assert failed.response.status == "failed" and failed.response.error.code == "server_error"
    assert error.code == "stream_interrupted" and error.message


@pytest.mark.parametrize("model", WIRES)
def test_function_output_continues_a_stored_response(client, model):
    """The agent loop most clients run: only the tool's output is sent, the call itself comes
    from the stored response that `previous_response_id` names."""
    first = client.responses.create(model=model, input="What is the weather in Rome?", tools=TOOLS)
    call = next(o for o in first.output if o.type == "function_call")
    second = client.responses.create(
        model=model,
        tools=TOOLS,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 25}'}],
    )
    assert second.status == "completed"
    assert second.output_text.startswith(_tag(model)), second.output


def _ledger_line(router, request_id):
    """This request's ledger line (written off the request path: polled, bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        path = router["ledger"]
        lines = path.read_text().splitlines() if path.exists() else []
        mine = [json.loads(l) for l in lines if request_id in l]
        if mine:
            return mine[0]
        time.sleep(0.05)
    raise AssertionError(f"no ledger line for {request_id}")


def test_native_passthrough_whole_and_streamed(client, router):
    """`nat/nat-model` declares `endpoints: [chat, responses]`: the SDK's Responses calls reach
    its `/v1/responses` natively, whole and streamed, and continue with previous_response_id."""
    model = "nat/nat-model"
    raw = client.responses.with_raw_response.create(model=model, instructions="Be brief.", input="Name a colour.")
    assert raw.headers["x-switchyard-model"] == model
    r = raw.parse()
    assert r.object == "response" and r.status == "completed"
    assert r.output_text.startswith("[nat-model]"), r.output_text
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    line = _ledger_line(router, raw.headers["x-request-id"])
    assert line["endpoint"] == "responses" and line["model"] == model
    assert (line["prompt_tokens"], line["completion_tokens"]) == (r.usage.input_tokens, r.usage.output_tokens)
    assert client.responses.retrieve(r.id).output_text == r.output_text

    kinds, deltas = [], []
    with client.responses.stream(model=model, input="Tell me a story", previous_response_id=r.id) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == "".join(deltas) and len(deltas) > 1
    assert final.usage.input_tokens > r.usage.input_tokens, "the stored turn was sent along"
    items = client.responses.input_items.list(final.id, order="asc")
    texts = [i.content[0].text for i in items.data]
    assert texts[0] == "Name a colour." and texts[-1] == "Tell me a story"
