"""`stream_resume: on` through the real binary: an OpenAI-wire provider cuts every stream halfway,
an Anthropic-wire provider serving the same model continues it (native prefill), and the
official OpenAI SDK reads one answer: one id, one finish_reason, one usage, the same text as the
uncut answer."""

import json
import os
import time

import pytest
from openai import OpenAI

from conftest import SERVER_ENV, _start, _write_config

# both sims serve a model named `story`: same prompt, same answer, so the second continues the first
SIMS = {
    "half": (
        ["--models", "story", "--fault", "cut_after:8"],
        "keys: [{env: MOCK_KEY}]\nretry: {attempts: 1}\n"
        "models:\n  - {name: story, input_per_1m: 3.0, output_per_1m: 15.0}\n",
    ),
    "rest": (
        ["--wire", "anthropic", "--models", "story"],
        "wire: anthropic\nkeys: [{env: ANT_KEY}]\n"
        "models:\n  - {name: story, input_per_1m: 3.0, output_per_1m: 15.0}\n",
    ),
}

POLICY = """
name: default
aliases: [story]
baseline: rest/story
stream_resume: on
rules:
  - name: story
    route: [half/story, rest/story]
"""

QUESTION = [{"role": "user", "content": "Tell me about routing"}]


@pytest.fixture(scope="module")
def resuming(tmp_path_factory):
    procs, files = [], {}
    try:
        for name, (args, body) in SIMS.items():
            sim, url = _start(["sim", "--name", name, *args], "sim listening on")
            procs.append(sim)
            files[name] = f"name: {name}\nbase_url: {url}\n{body}"
        cfg = tmp_path_factory.mktemp("resume")
        config = _write_config(cfg, files, "auth:\n  mode: open\n", POLICY)
        env = dict(os.environ, **SERVER_ENV)
        serve, url = _start(["serve", "--config", str(config)], "switchyard listening on", env)
        procs.append(serve)
        yield {"client": OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0), "ledger": cfg / "ledger.jsonl"}
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)


def test_sdk_reads_a_stream_cut_halfway_as_one_answer(resuming):
    client = resuming["client"]
    uncut = client.chat.completions.create(model="rest/story", messages=QUESTION)
    whole = uncut.choices[0].message.content

    stream = client.chat.completions.create(
        model="story", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    assert len({c.model for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    roles = [c for c in chunks if c.choices and c.choices[0].delta.role]
    assert len(roles) == 1
    usages = [c.usage for c in chunks if c.usage]
    assert len(usages) == 1 and chunks[-1].usage == usages[0]

    # the SDK's own accumulator builds the same single answer
    with client.chat.completions.stream(model="story", messages=QUESTION) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == whole
    assert final.choices[0].finish_reason == "stop"

    lines = []
    for _ in range(100):  # the ledger is written off the request path: poll, bounded
        lines = [json.loads(l) for l in resuming["ledger"].read_text().splitlines()]
        if len(lines) >= 3:
            break
        time.sleep(0.05)
    resumed = [l for l in lines if l.get("resume")]
    assert len(resumed) == 2
    note = resumed[0]["resume"]
    assert (note["from_model"], note["to_model"]) == ("half/story", "rest/story")
    assert resumed[0]["outcome"] == "ok" and resumed[0]["attempts"] == 2
    # the client's one usage is the ledger's: both parts added
    assert usages[0].completion_tokens == resumed[0]["completion_tokens"] > note["first_completion_tokens"]
    assert usages[0].prompt_tokens == resumed[0]["prompt_tokens"] > note["first_prompt_tokens"]
