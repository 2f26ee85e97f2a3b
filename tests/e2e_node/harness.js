// Starts simulated providers (OpenAI, Anthropic and Gemini wires, one failing) and the real
// `switchyard serve` binary, each reporting its URL on its first stdout line.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = process.env.SWITCHYARD_BIN ?? join(ROOT, 'target', 'debug', 'switchyard');

// name: [sim args, provider file lines after base_url]
const PROVIDERS = {
  ant: [['--wire', 'anthropic', '--models', 'claude-sim'],
    'wire: anthropic\nkeys: [{env: ANT_KEY}]\nmodels:\n  - {name: claude-sim, input_per_1m: 3.0, output_per_1m: 15.0}\n'],
  gem: [['--wire', 'gemini', '--models', 'gemini-sim,gemini-embed'],
    'wire: gemini\nkeys: [{env: GEM_KEY}]\nmodels:\n  - {name: gemini-sim, input_per_1m: 1.25, output_per_1m: 5.0}\n'
    + '  - {name: gemini-embed, input_per_1m: 0.15, output_per_1m: 0.0, endpoints: [embeddings]}\n'],
  oai: [['--models', 'oai-mini'],
    'keys: [{env: OAI_KEY}]\nmodels:\n  - {name: oai-mini, input_per_1m: 0.15, output_per_1m: 0.6}\n'],
  cut: [['--models', 'cut-model', '--fault', 'cut_after:3'],
    'keys: [{env: OAI_KEY}]\nretry: {attempts: 1}\nmodels:\n  - {name: cut-model, input_per_1m: 1.0, output_per_1m: 1.0}\n'],
  emb: [['--models', 'emb-small'],
    'keys: [{env: OAI_KEY}]\nmodels:\n  - {name: emb-small, input_per_1m: 0.02, output_per_1m: 0.0, endpoints: [embeddings]}\n'],
  down: [['--models', 'down-model', '--fail-status', '500'],
    'keys: [{env: OAI_KEY}]\nretry: {attempts: 1}\nmodels:\n  - {name: down-model, input_per_1m: 1.0, output_per_1m: 1.0}\n'],
};

const POLICY = `name: default
aliases: [auto, embed, gem-embed, ant-only, failover]
baseline: ant/claude-sim
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
    route: [down/down-model, gem/gemini-sim]
  - name: rest
    route: [ant/claude-sim]
`;

/** Runs the binary and resolves with [process, URL] once it prints `<prefix> URL`. */
function start(args, prefix, env = process.env) {
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'ignore'], env });
  return new Promise((ok, fail) => {
    const lines = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => fail(new Error(`${args[0]} did not start in time`)), 10_000);
    proc.on('error', fail);
    lines.once('line', (line) => {
      clearTimeout(timer);
      if (!line.startsWith(prefix)) {
        proc.kill();
        fail(new Error(`${args[0]} did not start: ${line}`));
      } else {
        ok([proc, line.trim().split(' ').pop()]);
      }
    });
  });
}

/** Starts everything; returns the router's base URL and a stop function. */
export async function startRouter() {
  const procs = [];
  const stop = () => procs.reverse().forEach((p) => p.kill());
  try {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
    mkdirSync(join(dir, 'providers'));
    mkdirSync(join(dir, 'policies'));
    for (const [name, [args, body]] of Object.entries(PROVIDERS)) {
      const [sim, url] = await start(['sim', '--name', name, ...args], 'sim listening on');
      procs.push(sim);
      writeFileSync(join(dir, 'providers', `${name}.yaml`), `name: ${name}\nbase_url: ${url}\n${body}`);
    }
    writeFileSync(join(dir, 'policies', 'default.yaml'), POLICY);
    writeFileSync(join(dir, 'switchyard.yaml'), `listen: 127.0.0.1:0\nledger: ${join(dir, 'ledger.jsonl')}\nauth:\n  mode: open\n`);
    const env = { ...process.env, ANT_KEY: 'sk-ant-e2e', GEM_KEY: 'gem-e2e', OAI_KEY: 'sk-e2e' };
    const [serve, url] = await start(['serve', '--config', join(dir, 'switchyard.yaml')], 'switchyard listening on', env);
    procs.push(serve);
    return { url, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
