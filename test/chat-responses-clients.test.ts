/**
 * Contract tests of POST /v1/responses with the clients that call it by default, unchanged but for
 * the base URL and key: the Vercel AI SDK's default OpenAI provider (`createOpenAI(...)(model)`:
 * generateText, streamText, tools over several steps, generateObject, streamObject) and LangChain's
 * `ChatOpenAI({ useResponsesApi: true })`, against the gateway with the loopback provider, on both
 * runtimes and with a database (the AI SDK leaves `store` on and sends earlier turns as item_reference).
 * Each runs twice: with OpenAI's own Responses API upstream (native, the default) and bridged through
 * chat completions (`OPENAI_RESPONSES_API=bridge`, as for any provider without that API).
 */
import { createOpenAI } from '@ai-sdk/openai';
import { tool as langchainTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject, generateText, stepCountIs, streamObject, streamText, tool } from 'ai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { migratedDatabase } from './support/actions.js';
import type { TestDatabase } from './support/databases.js';
import { completionReply, fakeProviderEnv, fixture, nativeReply, nativeStream, startFakeLLM } from './support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from './support/runtimes.js';

const key = `myca_${'c4'.repeat(16)}`;
const ANSWER = 'Hello! How can I assist you today?';
const MODES = ['native', 'bridge'] as const;

describe.each(RUNTIMES.flatMap((runtime) => MODES.map((mode) => [runtime, mode] as const)))(
  'POST /v1/responses with the Vercel AI SDK and LangChain (%s, %s)',
  (runtime, mode) => {
    const native = mode === 'native';
    /** The upstream's answer: a function call, or a text (in the wire format of the mode). */
    const toolCall = (name: string, args: object, id = 'call_1') =>
      native
        ? nativeReply('gpt-4o-mini', { calls: [{ name, arguments: JSON.stringify(args), call_id: id }] })
        : completionReply('gpt-4o-mini', { tool_calls: [{ id, type: 'function', function: { name, arguments: JSON.stringify(args) } }] });
    const textReply = (content: string) => (native ? nativeReply('gpt-4o-mini', { content }) : completionReply('gpt-4o-mini', { content }));
    /** What a recorded stream says: the Responses fixture's answer (native) or the chat stream fixture's. */
    const STREAMED = native ? 'Hello! How can I assist you today?' : 'Hello there';
    let llm: Awaited<ReturnType<typeof startFakeLLM>>;
    let database: TestDatabase;
    let app: RuntimeHandle;
    let baseURL: string;

    beforeAll(async () => {
      llm = await startFakeLLM();
      database = await migratedDatabase();
      app = await startRuntime(runtime, {
        DATABASE_URL: database.url,
        MYCA_API_KEYS: `planner:agent:${key}`,
        ...fakeProviderEnv(llm.url),
        LLM_RETRIES: '0',
        LLM_RATE_LIMIT_RPM: '0',
        OPENAI_RESPONSES_API: mode,
      });
      baseURL = `${await app.url()}/v1`;
    });
    afterEach(() => llm.reset());
    afterAll(async () => {
      await app?.close();
      await llm?.close();
      await database?.drop();
    });

    /** What the AI SDK sent the gateway (request bodies, in order). */
    const sent: Array<Record<string, unknown>> = [];
    const recording: typeof fetch = async (input, init) => {
      if (typeof init?.body === 'string') sent.push(JSON.parse(init.body) as Record<string, unknown>);
      return fetch(input, init);
    };
    const provider = () => createOpenAI({ apiKey: key, baseURL, fetch: recording });
    /** The OpenAI calls the gateway made: all to /v1/responses (native) or all to chat completions (bridge). */
    const upstreamCalls = () => {
      const calls = llm.requests.filter((r) => !r.path.includes('gemini'));
      expect(calls.every((r) => r.path.endsWith(native ? '/v1/responses' : '/chat/completions'))).toBe(true);
      return calls;
    };

    it('AI SDK generateText: the default provider call answers through /v1/responses', async () => {
      const result = await generateText({ model: provider()('execution'), system: 'Be brief.', prompt: 'hi' });
      expect(result.text).toBe(ANSWER);
      expect(result.usage.totalTokens).toBe(29);
      expect(result.finishReason).toBe('stop');
      if (native) {
        // Passed on as the client wrote it, with store off upstream.
        expect(upstreamCalls().at(-1)?.body).toMatchObject({ input: sent.at(-1)?.input, store: false });
      } else
        expect(upstreamCalls().at(-1)?.body.messages).toEqual([
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'hi' },
        ]);
    });

    it('AI SDK streamText: text deltas, then finish with usage', async () => {
      const result = streamText({ model: provider()('execution'), prompt: 'hi' });
      let text = '';
      for await (const delta of result.textStream) text += delta;
      expect(text).toBe(STREAMED);
      expect((await result.usage).totalTokens).toBeGreaterThan(0);
      expect(await result.finishReason).toBe('stop');
    });

    it('AI SDK tools with steps: the call, the tool result sent back, the final answer (Gemini task too)', async () => {
      for (const [model, upstream] of [
        ['execution', 'gpt-4o-mini'],
        ['fast', 'gemini-2.0-flash'],
      ] as const) {
        llm.reset();
        if (upstream === 'gpt-4o-mini')
          llm.queue(upstream, toolCall('get_species', { genus: 'Pleurotus' }), textReply('Pleurotus ostreatus'));
        // Gemini: the recorded function call, then the recorded text answer.
        else
          llm.queue(
            upstream,
            { status: 200, body: JSON.parse(fixture('gemini-function-call.json')) },
            { status: 200, body: JSON.parse(fixture('gemini-generate.json')) },
          );
        const executed: unknown[] = [];
        const result = await generateText({
          model: provider()(model),
          prompt: 'which oyster mushroom?',
          tools: {
            get_species: tool({
              description: 'look up a species',
              inputSchema: z.object({ genus: z.string() }),
              execute: async (input) => {
                executed.push(input);
                return { species: 'ostreatus' };
              },
            }),
          },
          stopWhen: stepCountIs(3),
        });
        expect(result.steps.length, model).toBe(2);
        expect(executed, model).toEqual([{ genus: 'Pleurotus' }]);
        expect(result.text.length, model).toBeGreaterThan(0);
        if (upstream === 'gpt-4o-mini' && native) {
          // The call named by item_reference (store on) went upstream as the item itself, then its output.
          const input = upstreamCalls().at(-1)?.body.input as Array<Record<string, unknown>>;
          expect(input.some((item) => item.type === 'item_reference')).toBe(false);
          expect(input.at(-2)).toMatchObject({ type: 'function_call', call_id: 'call_1', name: 'get_species' });
          expect(input.at(-1)).toMatchObject({ type: 'function_call_output', call_id: 'call_1' });
          expect(JSON.parse(String(input.at(-1)?.output))).toEqual({ species: 'ostreatus' });
        } else if (upstream === 'gpt-4o-mini') {
          const messages = upstreamCalls().at(-1)?.body.messages as Array<Record<string, unknown>>;
          expect(messages.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'get_species' } }] });
          expect(messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_1' });
          expect(JSON.parse(String(messages.at(-1)?.content))).toEqual({ species: 'ostreatus' });
        }
      }
    });

    it('AI SDK generateObject: json_schema out, a typed object back', async () => {
      llm.queue('gpt-4o-mini', textReply('{"genus":"Pleurotus","edible":true}'));
      const { object } = await generateObject({
        model: provider()('execution'),
        schema: z.object({ genus: z.string(), edible: z.boolean() }),
        prompt: 'an oyster mushroom',
      });
      expect(object).toEqual({ genus: 'Pleurotus', edible: true });
      if (native) expect(upstreamCalls().at(-1)?.body.text).toMatchObject({ format: { type: 'json_schema' } });
      else expect(upstreamCalls().at(-1)?.body.response_format).toMatchObject({ type: 'json_schema' });
    });

    it('AI SDK streamObject: the JSON streamed through Responses events, parsed at the end', async () => {
      const json = '{"genus":"Pleurotus","edible":true}';
      const chunk = (delta: object, finish: string | null = null) =>
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          created: 1,
          model: 'gpt-4o-mini',
          choices: [{ index: 0, delta, finish_reason: finish }],
        });
      llm.queue('gpt-4o-mini', {
        sse: native
          ? nativeStream(json)
          : [
              chunk({ role: 'assistant', content: json.slice(0, 12) }),
              chunk({ content: json.slice(12) }),
              chunk({}, 'stop'),
              JSON.stringify({
                id: 'chatcmpl-1',
                object: 'chat.completion.chunk',
                created: 1,
                model: 'gpt-4o-mini',
                choices: [],
                usage: { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 },
              }),
              '[DONE]',
            ],
      });
      const result = streamObject({
        model: provider()('execution'),
        schema: z.object({ genus: z.string(), edible: z.boolean() }),
        prompt: 'an oyster',
      });
      const partials: unknown[] = [];
      for await (const partial of result.partialObjectStream) partials.push(partial);
      expect(await result.object).toEqual({ genus: 'Pleurotus', edible: true });
      expect(partials.length).toBeGreaterThan(0);
      expect((await result.usage).totalTokens).toBe(14);
    });

    it('AI SDK: a later turn that names the earlier answer by item_reference gets it from the stored response', async () => {
      const first = await generateText({ model: provider()('execution'), prompt: 'name a mushroom' });
      await generateText({
        model: provider()('execution'),
        messages: [{ role: 'user', content: 'name a mushroom' }, ...first.response.messages, { role: 'user', content: 'another' }],
      });
      // The SDK (store on, its default) named the earlier answer by id, not by its text.
      expect(sent.at(-1)?.input).toContainEqual({ type: 'item_reference', id: expect.stringMatching(/^msg_/) });
      if (native) {
        const input = upstreamCalls().at(-1)?.body.input as Array<Record<string, unknown>>;
        expect(input.some((item) => item.type === 'item_reference')).toBe(false);
        expect(input.find((item) => item.role === 'assistant')).toMatchObject({
          type: 'message',
          content: [{ type: 'output_text', text: ANSWER }],
        });
      } else
        expect(upstreamCalls().at(-1)?.body.messages).toEqual([
          { role: 'user', content: 'name a mushroom' },
          { role: 'assistant', content: ANSWER },
          { role: 'user', content: 'another' },
        ]);
    });

    const langchain = () =>
      new ChatOpenAI({ model: 'execution', apiKey: key, configuration: { baseURL }, useResponsesApi: true, maxRetries: 0 });

    it('LangChain ChatOpenAI({ useResponsesApi: true }): invoke, stream, tools, structured output', async () => {
      const answer = await langchain().invoke('hi');
      expect(answer.text).toBe(ANSWER);
      expect(answer.usage_metadata?.total_tokens).toBe(29);

      let streamed = '';
      for await (const chunk of await langchain().stream('hi')) streamed += chunk.text;
      expect(streamed).toBe(STREAMED);

      llm.queue('gpt-4o-mini', toolCall('get_species', { genus: 'Pleurotus' }));
      const getSpecies = langchainTool(async ({ genus }: { genus: string }) => `${genus} ostreatus`, {
        name: 'get_species',
        description: 'look up a species',
        schema: z.object({ genus: z.string() }),
      });
      const called = await langchain().bindTools([getSpecies]).invoke('which oyster?');
      expect(called.tool_calls).toMatchObject([{ name: 'get_species', args: { genus: 'Pleurotus' }, id: 'call_1' }]);

      llm.queue('gpt-4o-mini', textReply('{"genus":"Pleurotus"}'));
      const structured = await langchain()
        .withStructuredOutput(z.object({ genus: z.string() }), { name: 'genus' })
        .invoke('an oyster mushroom');
      expect(structured).toEqual({ genus: 'Pleurotus' });
    });
  },
);
