/**
 * The fault matrix of chat-route: every provider adapter meets every way an upstream fails. Run on
 * `/v1/chat/completions` (test/chat-faults.test.ts) and `/v1/responses` (test/chat-responses-faults.test.ts).
 */
import { expect } from 'vitest';
import { anthropicEvents, type Behaviour, fixture, sseEvents, startFakeLLM } from './fake-llm.js';
import { type RuntimeHandle, type RuntimeName, startRuntime } from './runtimes.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

type FakeLLM = Awaited<ReturnType<typeof startFakeLLM>>;

const openAIEvents = fixture('openai-chat-stream.jsonl').trim().split('\n');
const geminiEvents = fixture('gemini-stream.jsonl').trim().split('\n');

export interface Adapter {
  /** The provider (and its TCP proxy). */
  provider: 'openai' | 'azure' | 'gemini' | 'anthropic';
  /** What the request names, and the upstream model the fake sees for it. */
  target: string;
  model: string;
  events: string[];
  /** How many of `events` a stream has sent once the model's output has begun (a cut after them is mid-stream). */
  head: number;
  /** The recorded non-streamed answer (a fixture's name). */
  completion: string;
  errorBody: unknown;
  /** Speaks OpenAI's Responses API itself (`/v1/responses` goes to the provider's own `/responses`). */
  native?: boolean;
}

export const ADAPTERS: Adapter[] = [
  {
    provider: 'openai',
    target: 'execution',
    model: 'gpt-4o-mini',
    events: openAIEvents,
    head: 2,
    completion: 'openai-chat.json',
    errorBody: { error: { message: 'The server had an error while processing your request', type: 'server_error', code: null } },
  },
  {
    provider: 'azure',
    target: 'azure/chat-deploy',
    model: 'chat-deploy',
    events: openAIEvents,
    head: 2,
    completion: 'openai-chat.json',
    errorBody: { error: { code: '429', message: 'Requests to the ChatCompletions_Create Operation have exceeded the rate limit' } },
  },
  {
    provider: 'gemini',
    target: 'fast',
    model: 'gemini-2.0-flash',
    events: geminiEvents,
    head: 2,
    completion: 'gemini-generate.json',
    errorBody: { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } },
  },
  {
    provider: 'anthropic',
    target: 'review',
    model: 'claude-sonnet-4-5',
    events: anthropicEvents('stream-text.sse'),
    head: 2,
    completion: 'anthropic/message.json',
    errorBody: JSON.parse(fixture('anthropic/error-529-overloaded.json')),
  },
];

/**
 * The adapters of `POST /v1/responses`: OpenAI speaks the Responses API natively (its events and
 * Response objects; the stream's first two events are held until the output begins, so a cut counts
 * as mid-stream only after the first text delta); the others are bridged through chat.
 */
export const RESPONSES_ADAPTERS: Adapter[] = ADAPTERS.map((adapter) =>
  adapter.provider === 'openai'
    ? {
        ...adapter,
        native: true,
        events: sseEvents('openai-responses-stream.sse'),
        head: 5,
        completion: 'openai-responses.json',
        errorBody: {
          type: 'error',
          sequence_number: 5,
          error: { type: 'server_error', code: 'server_error', message: 'The server had an error processing your request.', param: null },
        },
      }
    : adapter,
);

export type Expect = { fallback: true } | { sseError: RegExp } | { problem: number } | { clientGone: true };

export interface Case {
  name: string;
  stream: boolean;
  /** The fault, for the adapter's model (or `refused`: its provider's address takes no connection). */
  fault: (adapter: Adapter) => Behaviour | 'refused' | 'everything-hangs';
  expect: Expect;
}

export const SLOW = 6000;
export const CASES: Case[] = [
  { name: 'cut before the headers', stream: false, fault: () => ({ refuse: true }), expect: { fallback: true } },
  { name: 'cut before the headers', stream: true, fault: () => ({ refuse: true }), expect: { fallback: true } },
  {
    name: 'cut mid-body',
    stream: false,
    fault: (a) => ({
      status: 200,
      body: JSON.parse(fixture(a.completion)),
      cutAfterBytes: 40,
    }),
    expect: { fallback: true },
  },
  {
    name: 'cut mid-stream',
    stream: true,
    fault: (a) => ({ sse: a.events.slice(0, a.head), delayMs: 30, after: 'drop' }),
    expect: { sseError: /stream broke off/ },
  },
  {
    name: 'an error event mid-stream',
    stream: true,
    fault: (a) => ({ sse: [...a.events.slice(0, a.head), JSON.stringify(a.errorBody)], delayMs: 20 }),
    expect: { sseError: /stream broke off/ },
  },
  { name: 'stall before the first token', stream: true, fault: () => ({ hang: true }), expect: { fallback: true } },
  {
    name: 'stall mid-stream',
    stream: true,
    fault: (a) => ({ sse: a.events.slice(0, a.head), delayMs: 30, after: 'hang' }),
    expect: { sseError: /sent nothing for \d+ ms \(idle timeout/ },
  },
  {
    name: 'slow body after the headers',
    stream: true,
    fault: (a) => ({ sse: a.events, firstDelayMs: SLOW }),
    expect: { fallback: true },
  },
  {
    name: 'slow body after the headers',
    stream: false,
    fault: () => ({ status: 200, body: {}, bodyDelayMs: SLOW }),
    expect: { problem: 504 },
  },
  { name: 'malformed JSON', stream: false, fault: () => ({ status: 200, body: '{"choices": [ not json' }), expect: { fallback: true } },
  { name: 'malformed JSON', stream: true, fault: () => ({ sse: ['{"choices": [ not json'] }), expect: { fallback: true } },
  { name: '200 with an error body', stream: false, fault: (a) => ({ status: 200, body: a.errorBody }), expect: { fallback: true } },
  { name: '200 with an error body', stream: true, fault: (a) => ({ sse: [JSON.stringify(a.errorBody)] }), expect: { fallback: true } },
  { name: 'deadline reached', stream: false, fault: () => 'everything-hangs', expect: { problem: 504 } },
  { name: 'deadline reached', stream: true, fault: () => 'everything-hangs', expect: { problem: 504 } },
  { name: 'connection refused', stream: false, fault: () => 'refused', expect: { fallback: true } },
  { name: 'connection refused', stream: true, fault: () => 'refused', expect: { fallback: true } },
];

export interface FaultStack {
  llm: FakeLLM;
  app: RuntimeHandle;
  /** One TCP proxy per provider in front of the fake, so a case can cut or hang one provider's connections. */
  proxies: Map<Adapter['provider'], TcpProxy>;
  /** After a case: the gateway still answers, and nothing was left unhandled (in this process or the runtime's output). */
  stillHealthy(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The gateway as the matrix runs it: every provider configured, each behind its own TCP proxy to one
 * fake upstream; one retry as deployed (workerd may hand the retry a pooled connection a cut left
 * dead), short timeouts so that hangs and stalls are cases of seconds.
 */
export async function startFaultStack(runtime: RuntimeName, agentKey: string): Promise<FaultStack> {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  const llm = await startFakeLLM();
  const port = Number(new URL(llm.url).port);
  const proxies = new Map<Adapter['provider'], TcpProxy>();
  for (const provider of ['openai', 'azure', 'gemini', 'anthropic'] as const)
    proxies.set(provider, await startTcpProxy({ host: '127.0.0.1', port }));
  const at = (provider: Adapter['provider']) => `http://127.0.0.1:${proxies.get(provider)?.port}`;
  const app = await startRuntime(runtime, {
    MYCA_API_KEYS: `planner:agent:${agentKey}`,
    OPENAI_API_KEY: 'test-openai-key',
    OPENAI_BASE_URL: `${at('openai')}/v1`,
    AZURE_OPENAI_API_KEY: 'test-azure-key',
    AZURE_OPENAI_ENDPOINT: at('azure'),
    GEMINI_API_KEY: 'test-gemini-key',
    GEMINI_BASE_URL: at('gemini'),
    ANTHROPIC_API_KEY: 'test-anthropic-key',
    ANTHROPIC_BASE_URL: at('anthropic'),
    LLM_RETRIES: '1',
    LLM_BACKOFF_MS: '10',
    LLM_BREAKER_FAILURES: '1000',
    LLM_RATE_LIMIT_RPM: '0',
    LLM_FIRST_TOKEN_TIMEOUT_MS: '700',
    LLM_IDLE_TIMEOUT_MS: '400',
    LLM_DEADLINE_MS: '3000',
  });
  return {
    llm,
    app,
    proxies,
    stillHealthy: async () => {
      expect((await app.fetch('/health')).status).toBe(200);
      // A rejection nobody handles surfaces on the next turns of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(rejections).toEqual([]);
      expect(app.output()).not.toMatch(/Uncaught|Unhandled|unhandled promise rejection/i);
    },
    close: async () => {
      await app.close();
      for (const proxy of proxies.values()) await proxy.close();
      await llm.close();
      process.off('unhandledRejection', onRejection);
    },
  };
}
