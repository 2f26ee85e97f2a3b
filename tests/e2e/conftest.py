"""Starts a simulated provider and the real `switchyard serve` binary for the SDK tests."""

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SWITCHYARD_BIN", ROOT / "target" / "debug" / "switchyard"))


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
def router(tmp_path_factory):
    sim, sim_url = _start(["sim", "--name", "mock", "--models", "mock-small,mock-large"], "sim listening on")
    cfg = tmp_path_factory.mktemp("cfg")
    (cfg / "providers").mkdir()
    (cfg / "policies").mkdir()
    (cfg / "providers" / "mock.yaml").write_text(textwrap.dedent(f"""
        name: mock
        base_url: {sim_url}
        keys: [{{env: MOCK_KEY}}]
        models:
          - {{name: mock-small, input_per_1m: 0.1, output_per_1m: 0.4}}
          - {{name: mock-large, input_per_1m: 2.0, output_per_1m: 8.0}}
    """))
    (cfg / "policies" / "default.yaml").write_text(textwrap.dedent("""
        name: default
        aliases: [auto]
        baseline: mock/mock-large
        rules:
          - name: simple
            when: {complexity: simple}
            route: [mock/mock-small]
          - name: rest
            route: [mock/mock-large]
    """))
    (cfg / "switchyard.yaml").write_text(f"listen: 127.0.0.1:0\nledger: {cfg / 'ledger.jsonl'}\n")
    env = dict(os.environ, MOCK_KEY="sk-e2e-secret-value")
    serve, url = _start(["serve", "--config", str(cfg / "switchyard.yaml")], "switchyard listening on", env)
    yield {"url": url, "ledger": cfg / "ledger.jsonl"}
    serve.terminate()
    serve.wait(timeout=10)
    sim.terminate()
    sim.wait(timeout=10)
