import { describe, expect, inject, it } from 'vitest';
import { randomHex } from '../telemetry/correlation.js';
import type { KeyValueStore } from './index.js';
import { createMemoryStore } from './memory.js';
import { createUpstashStore } from './upstash.js';

const stores: Array<[string, () => KeyValueStore]> = [
  ['memory', () => createMemoryStore()],
  // The real Redis of this machine, through the project's Upstash REST server and the real client.
  ['upstash', () => createUpstashStore({ url: inject('upstashUrl'), token: inject('upstashToken') })],
  // addWithin calls of one event-loop turn in one pipeline request (Node).
  ['upstash, batched', () => createUpstashStore({ url: inject('upstashUrl'), token: inject('upstashToken'), batch: true })],
];

/** Long enough that a loaded machine's round trips stay inside it (the tests were flaky at 60–150 ms). */
const TTL = 1000;
const until = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

describe.each(stores)('key-value store: %s', (_name, make) => {
  const key = () => `myca:test:${randomHex(6)}`;

  it('gets, sets and deletes strings', async () => {
    const kv = make();
    const k = key();
    expect(await kv.get(k)).toBeNull();
    await kv.set(k, 'value with "quotes" and ünïcode');
    expect(await kv.get(k)).toBe('value with "quotes" and ünïcode');
    await kv.set(k, '42');
    expect(await kv.get(k)).toBe('42');
    await kv.del(k);
    expect(await kv.get(k)).toBeNull();
  });

  it('expires keys after their TTL', async () => {
    const kv = make();
    const k = key();
    // TTLs long enough for a loaded machine's round trips; the waits run from before the write.
    const written = Date.now();
    await kv.set(k, 'short', { ttlMs: TTL });
    expect(await kv.get(k)).toBe('short');
    await until(written + TTL + 400);
    expect(await kv.get(k)).toBeNull();
  });

  it('increments atomically and sets the TTL only when the key is new', async () => {
    const kv = make();
    const k = key();
    const started = Date.now();
    const values = await Promise.all(Array.from({ length: 20 }, () => kv.incr(k, { ttlMs: TTL })));
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await kv.incr(k, { by: 5, ttlMs: 10_000 })).toBe(25);
    await until(started + TTL + 400);
    // The first TTL held: a later incr with another TTL did not extend the window.
    expect(await kv.get(k)).toBeNull();
  });

  it('gives a set-if-absent token to exactly one of many callers until it expires', async () => {
    const kv = make();
    const k = key();
    const started = Date.now();
    const won = await Promise.all(Array.from({ length: 10 }, (_, i) => kv.setIfAbsent(k, String(i), { ttlMs: TTL })));
    expect(won.filter(Boolean)).toHaveLength(1);
    await until(started + TTL + 400);
    expect(await kv.setIfAbsent(k, 'again', { ttlMs: 100 })).toBe(true);
  });

  it('adds to several counters at once only when none would pass its limit, exactly under concurrency', async () => {
    const kv = make();
    const [r, t] = [key(), key()];
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        kv.addWithin([
          { key: r, by: 1, max: 100, ttlMs: 10_000 },
          { key: t, by: 7, max: 70, ttlMs: 10_000 },
        ]),
      ),
    );
    expect(answers.filter((answer) => answer.ok)).toHaveLength(10);
    expect(answers.find((answer) => !answer.ok)).toEqual({ ok: false, index: 1, total: 77 });
    // Nothing was added by the refused ones; giving back (max null, negative) always works.
    expect([await kv.get(r), await kv.get(t)]).toEqual(['10', '70']);
    expect(await kv.addWithin([{ key: t, by: -20, max: null, ttlMs: 10_000 }])).toEqual({ ok: true, totals: [50] });
  });

  it('addWithin gives a new counter its TTL and leaves an existing counter’s TTL as it is', async () => {
    const kv = make();
    const k = key();
    const started = Date.now();
    expect(await kv.addWithin([{ key: k, by: 1, max: null, ttlMs: TTL }])).toEqual({ ok: true, totals: [1] });
    expect(await kv.addWithin([{ key: k, by: 1, max: 5, ttlMs: 60_000 }])).toEqual({ ok: true, totals: [2] });
    expect(await kv.get(k)).toBe('2');
    await until(started + TTL + 400);
    expect(await kv.get(k)).toBeNull();
  });

  it('answers ping', async () => {
    await expect(make().ping()).resolves.toBeUndefined();
  });
});

describe('upstash store against a wrong token', () => {
  it('fails ping clearly', async () => {
    const kv = createUpstashStore({ url: inject('upstashUrl'), token: 'wrong' });
    await expect(kv.ping()).rejects.toThrow(/Unauthorized/i);
  });
});
