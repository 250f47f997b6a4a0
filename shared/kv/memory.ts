import type { Clock } from '../services.js';
import type { KeyValueStore } from './index.js';

interface Entry {
  value: string;
  expiresAt: number | null;
}

/**
 * In-memory store for embedded mode and tests. Per process (per isolate in workerd): fine for what
 * the port holds, and the reason production uses Upstash.
 */
export function createMemoryStore(clock: Clock = { now: () => Date.now() }): KeyValueStore {
  const entries = new Map<string, Entry>();
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= clock.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const expiry = (ttlMs?: number) => (ttlMs ? clock.now() + ttlMs : null);
  return {
    kind: 'memory',
    get: async (key) => live(key)?.value ?? null,
    set: async (key, value, options) => {
      entries.set(key, { value, expiresAt: expiry(options?.ttlMs) });
    },
    setIfAbsent: async (key, value, options) => {
      if (live(key)) return false;
      entries.set(key, { value, expiresAt: expiry(options.ttlMs) });
      return true;
    },
    del: async (key) => {
      entries.delete(key);
    },
    incr: async (key, options) => {
      const entry = live(key);
      const next = Number(entry?.value ?? 0) + (options?.by ?? 1);
      if (!Number.isFinite(next)) throw new Error(`value at ${key} is not a number`);
      entries.set(key, { value: String(next), expiresAt: entry ? entry.expiresAt : expiry(options?.ttlMs) });
      return next;
    },
    addWithin: async (counters) => {
      const current = counters.map((counter) => Number(live(counter.key)?.value ?? 0));
      for (const [index, counter] of counters.entries()) {
        const total = (current[index] ?? 0) + counter.by;
        if (counter.max !== null && counter.by > 0 && total > counter.max) return { ok: false, index, total };
      }
      const totals = counters.map((counter, index) => {
        const entry = live(counter.key);
        const next = (current[index] ?? 0) + counter.by;
        entries.set(counter.key, { value: String(next), expiresAt: entry ? entry.expiresAt : expiry(counter.ttlMs) });
        return next;
      });
      return { ok: true, totals };
    },
    ping: async () => {},
  };
}
