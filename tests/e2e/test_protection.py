"""Every refusal of the protection layer (auth, rate limits, budgets, guardrails, admin) is an
OpenAI-shaped error that the official Python SDK turns into the right exception, with the
right status, `type`, `code`, message and headers. Each test runs its own `switchyard serve`."""

import re
from datetime import datetime, timezone

import openai
import pytest
from openai import DefaultHttpxClient, OpenAI

KEYS_TINY = """
auth: {mode: keys}
tiers:
  tiny: {rpm: 2}
"""


def _client(router, key):
    return OpenAI(base_url=router["url"] + "/v1", api_key=key, max_retries=0)


def _chat(client, content="What is the capital of France?", **kw):
    return client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": content}], **kw
    )


def test_missing_key_is_authentication_error(serve_with):
    router = serve_with(KEYS_TINY, keys=[{"user": "alice", "tier": "tiny"}])

    # the SDK always sends `Authorization: Bearer <api_key>`; strip it with a request hook
    def drop_auth(request):
        request.headers.pop("Authorization", None)

    # (openai 3 runs on httpx2, not httpx; DefaultHttpxClient is its public client class)
    with DefaultHttpxClient(event_hooks={"request": [drop_auth]}) as http:
        client = OpenAI(
            base_url=router["url"] + "/v1", api_key="sk-sy-never-sent", max_retries=0, http_client=http
        )
        with pytest.raises(openai.AuthenticationError) as e:
            _chat(client)
    err = e.value
    assert err.status_code == 401
    assert err.code == "missing_api_key" and err.body["code"] == "missing_api_key"
    assert err.type == "invalid_request_error"
    assert "API key" in err.body["message"]
    assert "sk-sy-never-sent" not in err.response.text


def test_unknown_key_is_authentication_error_without_echo(serve_with):
    router = serve_with(KEYS_TINY, keys=[{"user": "alice", "tier": "tiny"}])
    bogus = "sk-sy-thisKeyWasNeverIssuedByTheRouter0000000"
    with pytest.raises(openai.AuthenticationError) as e:
        _chat(_client(router, bogus))
    err = e.value
    assert err.status_code == 401
    assert err.code == "invalid_api_key" and err.body["code"] == "invalid_api_key"
    assert bogus not in err.response.text
    assert "sk-sy-" not in err.response.text
    # a near miss of a real key is refused the same way and not echoed either
    near = router["keys"][0][:-1] + ("A" if router["keys"][0][-1] != "A" else "B")
    with pytest.raises(openai.AuthenticationError) as e:
        _chat(_client(router, near))
    assert e.value.code == "invalid_api_key" and near not in e.value.response.text


def test_valid_key_then_rate_limit(serve_with):
    router = serve_with(KEYS_TINY, keys=[{"user": "alice", "tier": "tiny"}])
    (key,) = router["keys"]
    assert re.fullmatch(r"sk-sy-[A-Za-z0-9]{40}", key)
    assert key not in (router["cfg"] / "keys.yaml").read_text()
    client = _client(router, key)
    for i, remaining in enumerate(["1", "0"]):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"Define entropy, take {i}."}]
        )
        assert raw.status_code == 200
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == remaining
        assert raw.headers["x-ratelimit-reset-requests"]
    with pytest.raises(openai.RateLimitError) as e:
        _chat(client, "Define entropy, take 3.")
    err = e.value
    assert err.status_code == 429
    assert err.code == "rate_limit_exceeded" and err.body["code"] == "rate_limit_exceeded"
    headers = err.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"]
    assert "limit 2" in err.body["message"] and key not in err.response.text


def test_spent_budget_is_rate_limit_error_naming_the_budget(serve_with):
    router = serve_with(
        """
        auth: {mode: keys}
        tiers:
          broke: {daily_usd: 0}
        """,
        keys=[{"user": "bob", "tier": "broke"}],
    )
    with pytest.raises(openai.RateLimitError) as e:
        _chat(_client(router, router["keys"][0]), "Summarise the French revolution.")
    err = e.value
    assert err.status_code == 429
    assert err.type == "budget_exceeded" and err.body["type"] == "budget_exceeded"
    assert err.code == "budget_exceeded" and err.body["code"] == "budget_exceeded"
    message = err.body["message"]
    assert "daily" in message and "`bob`" in message
    # it resets at the next UTC midnight, and Retry-After counts down to it
    m = re.search(r"resets at (\S+?)\.?$", message)
    assert m, message
    resets = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    now = datetime.now(timezone.utc)
    assert resets.time().isoformat() == "00:00:00" and 0 < (resets - now).total_seconds() <= 86_400
    retry = int(err.response.headers["retry-after"])
    assert abs(retry - (resets - now).total_seconds()) < 120


def test_guardrail_is_bad_request_naming_the_rule(serve_with):
    router = serve_with(
        "auth: {mode: open}\n",
        policy_extra="""
        guardrails:
          input:
            - {name: no-secrets, pattern: "TOP SECRET"}
        """,
    )
    client = _client(router, "unused-by-open-mode")
    with pytest.raises(openai.BadRequestError) as e:
        _chat(client, "Please summarise this top secret memo.")
    err = e.value
    assert err.status_code == 400
    assert err.code == "content_policy_violation" and err.body["code"] == "content_policy_violation"
    assert "no-secrets" in err.body["message"]
    # text without the pattern passes
    assert _chat(client, "Please summarise this public memo.").choices[0].message.content


def test_admin_reload_needs_the_admin_key(serve_with):
    admin = "sy-admin-e2e-0123456789"
    router = serve_with(
        "auth: {mode: keys, admin_key_env: SWITCHYARD_ADMIN_KEY}\n",
        env={"SWITCHYARD_ADMIN_KEY": admin},
    )
    url = router["url"] + "/admin/reload"
    http = DefaultHttpxClient(timeout=10)
    for headers in [{}, {"Authorization": "Bearer wrong-admin-key"}]:
        r = http.post(url, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert set(error) >= {"message", "type", "param", "code"}
        assert error["code"] == "invalid_api_key" and "admin" in error["message"].lower()
        assert "wrong-admin-key" not in r.text and admin not in r.text
    r = http.post(url, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    # the admin key is not a virtual key: it does not open /v1
    with pytest.raises(openai.AuthenticationError):
        _chat(_client(router, admin))
