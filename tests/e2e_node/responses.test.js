// The official openai npm package's Responses API (`responses.create`, `responses.stream`, a
// function-call round trip, `previous_response_id`, retrieve and delete) and `models.retrieve`
// through `switchyard serve`, with OpenAI-, Anthropic- and Gemini-wire sims behind it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { startRouter } from './harness.js';

const WIRES = { openai: 'oai/oai-mini', anthropic: 'ant/claude-sim', gemini: 'gem/gemini-sim' };
const TOOLS = [{
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, query: { type: 'string' } } },
  strict: false,
}];

let router;
let client;
before(async () => {
  router = await startRouter();
  client = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'unused-by-open-mode', maxRetries: 0 });
});
after(() => router?.stop());

for (const [wire, model] of Object.entries(WIRES)) {
  const tag = `[${model.split('/')[1]}]`;
  describe(`responses on the ${wire} wire`, () => {
    test('create', async () => {
      const { data, response } = await client.responses.create({
        model, instructions: 'Be brief.', input: 'What is the capital of France?',
      }).withResponse();
      assert.equal(response.headers.get('x-switchyard-model'), model);
      assert.equal(data.object, 'response');
      assert.equal(data.status, 'completed');
      assert.ok(data.output_text.startsWith(tag), data.output_text);
      assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
    });

    test('stream', async () => {
      const stream = client.responses.stream({ model, input: 'Tell me a story' });
      const kinds = [];
      let text = '';
      for await (const event of stream) {
        kinds.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
      }
      const final = await stream.finalResponse();
      assert.deepEqual(kinds.slice(0, 2), ['response.created', 'response.in_progress']);
      assert.equal(kinds.at(-1), 'response.completed');
      assert.equal(final.output_text, text);
      assert.ok(text.startsWith(tag), text);
      assert.ok(final.usage.output_tokens > 0);
    });

    test('function call round trip', async () => {
      const input = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await client.responses.create({ model, input, tools: TOOLS });
      const calls = first.output.filter((o) => o.type === 'function_call');
      assert.equal(calls.length, 1);
      const [call] = calls;
      assert.equal(call.name, 'get_weather');
      assert.equal(typeof JSON.parse(call.arguments), 'object');
      const second = await client.responses.create({
        model,
        tools: TOOLS,
        input: [...input, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c": 21}' }],
      });
      assert.equal(second.status, 'completed');
      assert.ok(second.output_text.startsWith(tag), JSON.stringify(second.output));
    });

    test('previous_response_id', async () => {
      const first = await client.responses.create({ model, input: 'My name is Ada.' });
      const second = await client.responses.create({ model, input: 'What is my name?', previous_response_id: first.id });
      assert.equal(second.previous_response_id, first.id);
      assert.ok(second.usage.input_tokens > first.usage.input_tokens, 'the first turn was sent again');
    });
  });
}

test('retrieve and delete a stored response', async () => {
  const r = await client.responses.create({ model: 'auto', input: 'Remember this' });
  const got = await client.responses.retrieve(r.id);
  assert.equal(got.id, r.id);
  assert.equal(got.output_text, r.output_text);
  await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), OpenAI.NotFoundError);
});

test('a built-in tool is a BadRequestError naming it', async () => {
  await assert.rejects(
    client.responses.create({ model: 'auto', input: 'x', tools: [{ type: 'web_search' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'tools[0].type' && e.message.includes('web_search'),
  );
});

test('models.retrieve', async () => {
  const auto = await client.models.retrieve('auto');
  assert.equal(auto.id, 'auto');
  assert.equal(auto.object, 'model');
  const concrete = await client.models.retrieve('gem/gemini-sim');
  assert.equal(concrete.id, 'gem/gemini-sim');
  assert.equal(concrete.owned_by, 'gem');
  await assert.rejects(client.models.retrieve('no/such-model'), (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});

test('a stream cut mid-way ends with response.failed, then the SDK raises the error event', async () => {
  const stream = client.responses.stream({ model: 'cut/cut-model', input: 'Tell me a story' });
  const kinds = [];
  await assert.rejects(
    (async () => {
      for await (const event of stream) kinds.push(event.type);
    })(),
    (e) => e instanceof OpenAI.APIError && /stream/.test(e.message),
  );
  assert.deepEqual(kinds.slice(0, 2), ['response.created', 'response.in_progress']);
  assert.equal(kinds.at(-1), 'response.failed');
});
