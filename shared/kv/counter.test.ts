import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFakeLLM } from '../../test/support/fake-llm.js';
import { RUNTIMES, type RuntimeHandle, startRuntime } from '../../test/support/runtimes.js';
import { randomHex } from '../telemetry/correlation.js';
import { SharedCounter } from './counter.js';
import type { KeyValueStore } from './index.js';
import { createMemoryStore } from './memory.js';
import { createUpstashStore } from './upstash.js';

const upstash = () => createUpstashStore({ url: inject('upstashUrl'), token: inject('upstashToken') });
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('SharedCounter', () => {
  it('counts several hits at once and tells its total without counting (memory store)', () => {
    const counter = new SharedCounter(createMemoryStore(), 100);
    expect(counter.total('tokens')).toBe(0);
    expect(counter.hit('tokens', 60_000, Date.now(), 250)).toBe(250);
    expect(counter.hit('tokens', 60_000, Date.now(), 50)).toBe(300);
    expect(counter.total('tokens')).toBe(300);
  });

  it('counts its own hits exactly, sends them within flushMs, and learns the other instances’ (real Redis)', async () => {
    const key = `myca:test:rl:${randomHex(6)}`;
    const here = new SharedCounter(upstash(), 100);
    const there = new SharedCounter(upstash(), 100);
    expect([1, 2, 3].map(() => here.hit(key, 60_000))).toEqual([1, 2, 3]);
    for (let i = 0; i < 5; i++) there.hit(key, 60_000);
    // Without further hits, both flush what they hold within about flushMs.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(Number(await upstash().get(key))).toBe(8);
    // Here learns the others' hits from its next flush's answer.
    here.hit(key, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(here.hit(key, 60_000)).toBe(10);
  });

  it('keeps counting here while the store is down, and sends the hits once it is back', async () => {
    const memory = createMemoryStore();
    let down = true;
    const flaky: KeyValueStore = {
      ...memory,
      incr: (key, options) => (down ? Promise.reject(new Error('down')) : memory.incr(key, options)),
    };
    const counter = new SharedCounter(flaky, 0);
    for (let i = 1; i <= 4; i++) {
      expect(counter.hit('k', 60_000)).toBe(i);
      await settle();
    }
    down = false;
    counter.hit('k', 60_000);
    // The retry waits a second after the last refusal.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(Number(await memory.get('k'))).toBe(5);
  });
});

describe.each(RUNTIMES)('the per-key rate limit of chat-route on %s', (runtime) => {
  let app: RuntimeHandle;
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  const key = `myca_${'c3'.repeat(16)}`;
  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime(runtime, {
      MYCA_API_KEYS: `limited:agent:${key}`,
      OPENAI_API_KEY: 'test-openai-key',
      OPENAI_BASE_URL: `${llm.url}/v1`,
      LLM_RATE_LIMIT_RPM: '3',
    });
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it('answers 429 with Retry-After once a key made more requests this minute than allowed', async () => {
    const ask = () =>
      app.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'planning', messages: [{ role: 'user', content: 'hi' }] }),
      });
    // Stay inside one one-minute window: start over at the next one when this one is nearly over.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await ask()).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { code: string }).code).toBe('RATE_LIMITED');
  });
});
