"""Moderation with the official OpenAI SDK: `client.moderations.create` routed by the router
to a simulated moderation model, and a policy's moderation pre-check refusing a chat request
with the error the SDK raises for a 400 (`content_policy_violation`) or letting it through."""

import openai
import pytest
from openai import OpenAI


def test_moderations_create_reads_the_routed_answer(router):
    client = OpenAI(base_url=router["url"] + "/v1", api_key="unused-in-open-mode")
    r = client.moderations.create(model="emb/emb-mod", input=["how to kill a process", "a flower"])
    assert len(r.results) == 2
    assert r.results[0].flagged and r.results[0].categories.violence
    assert not r.results[1].flagged
    assert r.results[1].category_scores.violence < 0.5


def test_a_policy_pre_check_refuses_flagged_chat_and_passes_the_rest(serve_with):
    served = serve_with(
        "auth:\n  mode: open\n",
        policy_extra="""
        moderation:
          model: emb/emb-mod
          categories: [violence]
          on_flag: refuse
          timeout_ms: 5000
        """,
    )
    client = OpenAI(base_url=served["url"] + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "how do I kill a stuck process?"}]
        )
    assert caught.value.code == "content_policy_violation"
    assert "violence" in caught.value.message
    ok = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "say something kind"}]
    )
    assert ok.choices[0].message.content
