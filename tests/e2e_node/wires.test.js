// The official openai npm package through `switchyard serve` to Anthropic- and Gemini-wire sims:
// chat, streaming, a tool call round trip, embeddings (Gemini wire; a 400 unsupported_endpoint for
// the Anthropic wire, which has no embeddings API) and cross-wire failover.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { startRouter } from './harness.js';

const WIRES = { anthropic: 'ant/claude-sim', gemini: 'gem/gemini-sim' };
const TOOLS = [{
  type: 'function',
  function: {
    name: 'search_docs',
    description: 'Search the documentation',
    parameters: {
      type: 'object',
      properties: { query: { type: 'string' }, options: { type: 'object' } },
      required: ['query'],
    },
  },
}];

let router;
let client;
before(async () => {
  router = await startRouter();
  client = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'unused-by-open-mode', maxRetries: 0 });
});
after(() => router?.stop());

for (const [wire, model] of Object.entries(WIRES)) {
  const tag = model.split('/')[1];
  describe(`${wire} wire`, () => {
    test('chat', async () => {
      const { data, response } = await client.chat.completions.create({
        model,
        messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name a prime' }],
      }).withResponse();
      assert.equal(response.headers.get('x-switchyard-model'), model);
      const choice = data.choices[0];
      assert.equal(choice.finish_reason, 'stop');
      assert.equal(choice.message.role, 'assistant');
      assert.ok(choice.message.content.includes(tag), choice.message.content);
      assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
    });

    test('streamed chat', async () => {
      const stream = await client.chat.completions.create({
        model,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Tell me a story' }],
      });
      let text = '';
      let finish = null;
      let usage = null;
      let chunks = 0;
      for await (const chunk of stream) {
        if (chunk.choices.length) {
          chunks += 1;
          text += chunk.choices[0].delta.content ?? '';
          finish = chunk.choices[0].finish_reason ?? finish;
        }
        if (chunk.usage) usage = chunk.usage;
      }
      assert.ok(chunks > 2, 'the answer should arrive in several chunks');
      assert.ok(text.includes(tag), text);
      assert.equal(finish, 'stop');
      assert.equal(usage?.completion_tokens, text.trim().split(/\s+/).length);
    });

    test('tool call round trip', async () => {
      const messages = [{ role: 'user', content: 'Find the retry settings' }];
      const first = await client.chat.completions.create({ model, messages, tools: TOOLS });
      const choice = first.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.tool_calls.length, 1);
      const [call] = choice.message.tool_calls;
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'search_docs');
      assert.ok(call.id);
      assert.equal(typeof JSON.parse(call.function.arguments).query, 'string');
      messages.push(choice.message);
      messages.push({ role: 'tool', tool_call_id: call.id, content: '{"hits": ["retry.attempts"]}' });
      const second = await client.chat.completions.create({ model, messages, tools: TOOLS });
      assert.equal(second.choices[0].finish_reason, 'stop');
      assert.ok(!second.choices[0].message.tool_calls?.length);
      assert.ok(second.choices[0].message.content);
    });
  });
}

test('embeddings', async () => {
  const { data, response } = await client.embeddings.create({
    model: 'embed', input: ['first text', 'second text'], encoding_format: 'float',
  }).withResponse();
  assert.equal(response.headers.get('x-switchyard-model'), 'emb/emb-small');
  assert.deepEqual(data.data.map((d) => d.index), [0, 1]);
  assert.ok(data.data.every((d) => d.embedding.length > 0));
  assert.notDeepEqual(data.data[0].embedding, data.data[1].embedding);
  assert.ok(data.usage.prompt_tokens > 0);
});

/** Floats rounded to f32, as OpenAI's base64 format carries them. */
const f32 = (values) => Array.from(Float32Array.from(values));

describe('gemini wire embeddings', () => {
  test('a list comes back in order, each vector matching its own single embedding', async () => {
    const texts = ['first text', 'second text', 'third text'];
    const { data, response } = await client.embeddings.create({
      model: 'gem-embed', input: texts, encoding_format: 'float',
    }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'gem');
    assert.equal(response.headers.get('x-switchyard-model'), 'gem/gemini-embed');
    assert.equal(data.object, 'list');
    assert.equal(data.model, 'gemini-embed');
    assert.deepEqual(data.data.map((d) => d.index), [0, 1, 2]);
    assert.ok(data.data.every((d) => d.object === 'embedding' && d.embedding.length > 0));
    assert.notDeepEqual(data.data[0].embedding, data.data[1].embedding);
    // Gemini reports no usage for embeddings: the router fills in its own prompt count
    assert.ok(data.usage.prompt_tokens > 0);
    assert.equal(data.usage.total_tokens, data.usage.prompt_tokens);
    // the sim's vector depends on the text only
    for (const [i, text] of texts.entries()) {
      const single = await client.embeddings.create({ model: 'gem-embed', input: text, encoding_format: 'float' });
      assert.equal(single.data.length, 1);
      assert.equal(single.data[0].index, 0);
      assert.deepEqual(single.data[0].embedding, data.data[i].embedding, text);
    }
  });

  for (const dimensions of [3, 7]) {
    test(`dimensions: ${dimensions}`, async () => {
      const { data, response } = await client.embeddings.create({
        model: 'gem-embed', input: ['a', 'b'], dimensions, encoding_format: 'float',
      }).withResponse();
      assert.equal(response.headers.get('x-switchyard-provider'), 'gem');
      assert.deepEqual(data.data.map((d) => d.embedding.length), [dimensions, dimensions]);
    });
  }

  test('base64 decodes to the same floats', async () => {
    const request = { model: 'gem-embed', input: ['decode me', 'and me'], dimensions: 6 };
    const floats = await client.embeddings.create({ ...request, encoding_format: 'float' });
    const { data: encoded, response } = await client.embeddings.create({
      ...request, encoding_format: 'base64',
    }).withResponse();
    assert.equal(response.headers.get('x-switchyard-provider'), 'gem');
    encoded.data.forEach((d, i) => {
      assert.equal(typeof d.embedding, 'string');
      const bytes = Buffer.from(d.embedding, 'base64');
      assert.equal(bytes.length, 4 * 6);
      const decoded = Array.from({ length: 6 }, (_, j) => bytes.readFloatLE(4 * j));
      assert.deepEqual(decoded, f32(floats.data[i].embedding));
    });
    // with no encoding_format the SDK asks for base64 and decodes it itself
    const implicit = await client.embeddings.create(request);
    assert.deepEqual(implicit.data.map((d) => f32(d.embedding)), floats.data.map((d) => f32(d.embedding)));
  });
});

for (const model of ['ant-only', 'ant/claude-sim']) {
  test(`anthropic wire has no embeddings: ${model} is a 400 unsupported_endpoint`, async () => {
    await assert.rejects(
      client.embeddings.create({ model, input: 'hello', encoding_format: 'float' }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.status, 400);
        assert.equal(err.code, 'unsupported_endpoint');
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.param, 'model');
        assert.ok(err.message.includes('/v1/embeddings') && err.message.includes(model), err.message);
        return true;
      },
    );
  });
}

test('failover from a failing provider to the Gemini wire', async () => {
  const { data, response } = await client.chat.completions.create({
    model: 'failover', messages: [{ role: 'user', content: 'hi' }],
  }).withResponse();
  assert.equal(response.headers.get('x-switchyard-model'), 'gem/gemini-sim');
  assert.equal(response.headers.get('x-switchyard-failovers'), '1');
  assert.ok(data.choices[0].message.content.includes('gemini-sim'));
});

test('streamed failover to the Gemini wire', async () => {
  const { data: stream, response } = await client.chat.completions.create({
    model: 'failover', stream: true, messages: [{ role: 'user', content: 'hi' }],
  }).withResponse();
  assert.equal(response.headers.get('x-switchyard-model'), 'gem/gemini-sim');
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  assert.ok(text.includes('gemini-sim'), text);
});
