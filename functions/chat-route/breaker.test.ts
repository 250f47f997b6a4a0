import { describe, expect, inject, it } from 'vitest';
import type { KeyValueStore } from '../../shared/kv/index.js';
import { createMemoryStore } from '../../shared/kv/memory.js';
import { createUpstashStore } from '../../shared/kv/upstash.js';
import { randomHex } from '../../shared/telemetry/correlation.js';
import { CircuitBreaker, CLOSED_CACHE_MS } from './breaker.js';

const stores: Array<[string, () => KeyValueStore]> = [
  ['memory', () => createMemoryStore()],
  ['upstash (real Redis)', () => createUpstashStore({ url: inject('upstashUrl'), token: inject('upstashToken') })],
];

describe.each(stores)('CircuitBreaker over %s', (_name, make) => {
  const config = { failures: 3, window_ms: 5000, cooldown_ms: 150 };

  it('opens after N failures, lets one probe through after the cool-down, and closes on its success', async () => {
    const kv = make();
    const breaker = new CircuitBreaker(kv, config, `myca:test:${randomHex(4)}`);
    const label = 'planning/openai/gpt-4o';
    expect(await breaker.state(label)).toBe('closed');
    expect(await breaker.failure(label, 'closed')).toBe(false);
    expect(await breaker.failure(label, 'closed')).toBe(false);
    expect(await breaker.failure(label, 'closed')).toBe(true);
    expect(await breaker.state(label)).toBe('open');

    await new Promise((resolve) => setTimeout(resolve, 200));
    const [first, second] = await Promise.all([breaker.state(label), breaker.state(label)]);
    expect([first, second].sort()).toEqual(['open', 'probe']);
    await breaker.success(label, 'probe');
    expect(await breaker.state(label)).toBe('closed');
  });

  it('opens again when the probe fails; instances sharing the store agree', async () => {
    const kv = make();
    const prefix = `myca:test:${randomHex(4)}`;
    const a = new CircuitBreaker(kv, config, prefix);
    const b = new CircuitBreaker(kv, config, prefix);
    const label = 'fast/gemini/gemini-2.0-flash';
    for (let i = 0; i < 3; i++) await a.failure(label, 'closed');
    expect(await b.state(label)).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await b.state(label)).toBe('probe');
    await b.failure(label, 'probe');
    expect(await a.state(label)).toBe('open');
  });
});

describe('CircuitBreaker read cache', () => {
  const config = { failures: 1, window_ms: 5000, cooldown_ms: 60_000 };

  it('trusts a closed breaker for CLOSED_CACHE_MS, sees one another instance opened after that, and never caches past a local failure', async () => {
    const url = inject('upstashUrl');
    const token = inject('upstashToken');
    const prefix = `myca:test:${randomHex(4)}`;
    const label = 'fast/gemini/gemini-2.0-flash';
    // Two instances: two stores over the same Redis.
    const here = new CircuitBreaker(createUpstashStore({ url, token }), config, prefix);
    const there = new CircuitBreaker(createUpstashStore({ url, token }), config, prefix);
    expect(await here.state(label)).toBe('closed');
    expect(await there.failure(label, 'closed')).toBe(true); // opened elsewhere
    expect(await here.state(label)).toBe('closed'); // still trusted here
    await new Promise((resolve) => setTimeout(resolve, CLOSED_CACHE_MS + 50));
    expect(await here.state(label)).toBe('open');

    const local = new CircuitBreaker(createMemoryStore(), config, prefix);
    expect(await local.state(label)).toBe('closed');
    expect(await local.failure(label, 'closed')).toBe(true);
    expect(await local.state(label)).toBe('open'); // its own failure is seen at once
  });

  it('knownClosed is true exactly while state() would answer closed from the read cache', async () => {
    const breaker = new CircuitBreaker(createMemoryStore(), config, `myca:test:${randomHex(4)}`);
    const label = 'planning/openai/gpt-4o';
    expect(breaker.knownClosed(label)).toBe(false); // never asked: the store must be
    expect(await breaker.state(label)).toBe('closed');
    expect(breaker.knownClosed(label)).toBe(true);
    expect(breaker.knownClosed('other/label')).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, CLOSED_CACHE_MS + 50));
    expect(breaker.knownClosed(label)).toBe(false);
    expect(await breaker.state(label)).toBe('closed');
    expect(breaker.knownClosed(label)).toBe(true);
    // A local failure (here it opens the breaker) ends the trust at once.
    expect(await breaker.failure(label, 'closed')).toBe(true);
    expect(breaker.knownClosed(label)).toBe(false);
    expect(await breaker.state(label)).toBe('open');
    expect(breaker.knownClosed(label)).toBe(false);
  });
});
