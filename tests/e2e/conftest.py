"""Starts simulated providers (OpenAI, Anthropic and Gemini wires, one failing) and the real
`switchyard serve` binary for the SDK tests."""

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SWITCHYARD_BIN", ROOT / "target" / "debug" / "switchyard"))

PROVIDERS = {
    # name: (sim args, provider file body after base_url)
    "mock": (
        ["--models", "mock-small,mock-large"],
        """
        keys: [{env: MOCK_KEY}]
        models:
          - {name: mock-small, input_per_1m: 0.1, output_per_1m: 0.4}
          - {name: mock-large, input_per_1m: 2.0, output_per_1m: 8.0}
        """,
    ),
    "ant": (
        ["--wire", "anthropic", "--models", "claude-sim"],
        """
        wire: anthropic
        keys: [{env: ANT_KEY}]
        models:
          - {name: claude-sim, input_per_1m: 3.0, output_per_1m: 15.0}
        """,
    ),
    "gem": (
        ["--wire", "gemini", "--models", "gemini-sim,gemini-embed"],
        """
        wire: gemini
        keys: [{env: GEM_KEY}]
        models:
          - {name: gemini-sim, input_per_1m: 1.25, output_per_1m: 5.0}
          - {name: gemini-embed, input_per_1m: 0.15, output_per_1m: 0.0, endpoints: [embeddings]}
        """,
    ),
    "emb": (
        ["--models", "emb-small,emb-mod"],
        """
        keys: [{env: MOCK_KEY}]
        models:
          - {name: emb-small, input_per_1m: 0.02, output_per_1m: 0.0, endpoints: [embeddings]}
          - {name: emb-mod, input_per_1m: 0.0, output_per_1m: 0.0, endpoints: [moderations]}
        """,
    ),
    # serves the Responses API natively: Responses requests routed here pass through
    "nat": (
        ["--models", "nat-model"],
        """
        keys: [{env: MOCK_KEY}]
        models:
          - {name: nat-model, input_per_1m: 0.5, output_per_1m: 1.5, endpoints: [chat, responses]}
        """,
    ),
    # every stream is cut after 3 content chunks: a stream that breaks after its first byte
    "cut": (
        ["--models", "cut-model", "--fault", "cut_after:3"],
        """
        keys: [{env: MOCK_KEY}]
        retry: {attempts: 1}
        models:
          - {name: cut-model, input_per_1m: 1.0, output_per_1m: 1.0}
        """,
    ),
    # every call fails with a 500: the first candidate of the `failover` alias
    "down": (
        ["--models", "down-model", "--fail-status", "500"],
        """
        keys: [{env: MOCK_KEY}]
        retry: {attempts: 1}
        models:
          - {name: down-model, input_per_1m: 1.0, output_per_1m: 1.0}
        """,
    ),
}

POLICY = """
name: default
aliases: [auto, embed, gem-embed, ant-only, failover]
baseline: mock/mock-large
rules:
  - name: gemini-vectors
    when: {model: [gem-embed], endpoint: embeddings}
    route: [gem/gemini-embed]
  - name: anthropic-only
    when: {model: [ant-only]}
    route: [ant/claude-sim]
  - name: vectors
    when: {endpoint: embeddings}
    route: [emb/emb-small]
  - name: failover
    when: {model: [failover]}
    route: [down/down-model, ant/claude-sim]
  - name: simple
    when: {complexity: simple}
    route: [mock/mock-small]
  - name: rest
    route: [mock/mock-large]
"""


def _start(args, prefix, env=None):
    """Runs the binary and waits for its `... listening on URL` line on stdout."""
    proc = subprocess.Popen(
        [str(BIN), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    line = proc.stdout.readline().strip()
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1]


@pytest.fixture(scope="session")
def sims():
    """One simulated upstream per entry of PROVIDERS, shared by every router of the session:
    {name: provider file text}."""
    procs, files = [], {}
    try:
        for name, (args, body) in PROVIDERS.items():
            sim, sim_url = _start(["sim", "--name", name, *args], "sim listening on")
            procs.append(sim)
            files[name] = f"name: {name}\nbase_url: {sim_url}\n" + textwrap.dedent(body).lstrip()
        yield files
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)


def _write_config(cfg, sims, server_text, policy_text=POLICY):
    """A config dir: every simulated provider, one policy and a server file whose `listen` and
    `ledger` are set here and whose other settings are `server_text`."""
    (cfg / "providers").mkdir()
    (cfg / "policies").mkdir()
    for name, text in sims.items():
        (cfg / "providers" / f"{name}.yaml").write_text(text)
    (cfg / "policies" / "default.yaml").write_text(policy_text)
    head = f"listen: 127.0.0.1:0\nledger: {cfg / 'ledger.jsonl'}\n"
    (cfg / "switchyard.yaml").write_text(head + textwrap.dedent(server_text).lstrip())
    return cfg / "switchyard.yaml"


SERVER_ENV = {"MOCK_KEY": "sk-e2e-secret-value", "ANT_KEY": "sk-ant-e2e", "GEM_KEY": "gem-e2e"}


@pytest.fixture(scope="session")
def router(tmp_path_factory, sims):
    cfg = tmp_path_factory.mktemp("cfg")
    config = _write_config(cfg, sims, "auth:\n  mode: open\n")
    env = dict(os.environ, **SERVER_ENV)
    serve, url = _start(["serve", "--config", str(config)], "switchyard listening on", env)
    try:
        yield {"url": url, "ledger": cfg / "ledger.jsonl"}
    finally:
        serve.terminate()
        serve.wait(timeout=10)


@pytest.fixture()
def serve_with(tmp_path, sims):
    """Starts a fresh `switchyard serve` on a config dir of its own, for tests of auth, limits,
    budgets and guardrails:

        serve_with(server_text, policy_extra="", keys=[{"user": "alice", "tier": "tiny"}], env={})

    `server_text` is the server file after `listen`/`ledger` (e.g. `auth: {mode: keys}` and
    `tiers:`); `policy_extra` is appended to the default policy (e.g. `guardrails:`); each
    entry of `keys` is created with `switchyard keys create` before the server starts; `env`
    is added to the server's environment. Returns {"url", "cfg", "keys": [key, ...]}."""
    procs = []
    n = 0

    def start(server_text, policy_extra="", keys=(), env=None):
        nonlocal n
        n += 1
        cfg = tmp_path / f"cfg{n}"
        cfg.mkdir()
        config = _write_config(cfg, sims, server_text, POLICY + textwrap.dedent(policy_extra))
        created = []
        for k in keys:
            args = [str(BIN), "keys", "create", "-c", str(config)]
            for flag, value in k.items():
                args += [f"--{flag}", value]
            out = subprocess.run(args, capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            created.append(out.stdout.strip())
        full_env = dict(os.environ, **SERVER_ENV, **(env or {}))
        proc, url = _start(["serve", "--config", str(config)], "switchyard listening on", full_env)
        procs.append(proc)
        return {"url": url, "cfg": cfg, "keys": created}

    try:
        yield start
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)
