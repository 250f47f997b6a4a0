import type { Clock } from '../services.js';
import type { KeyValueStore } from './index.js';

export interface MemoryEntry {
  value: string;
  /** Epoch ms, or null for no TTL. */
  expiresAt: number | null;
}

/** The in-memory store, with what a file-backed wrapper needs: its live entries, and a hook on change. */
export interface MemoryStore extends KeyValueStore {
  /** The entries that have not expired (a copy). */
  entries(): Array<[string, MemoryEntry]>;
}

/**
 * In-memory store for embedded mode and tests. Per process (per isolate in workerd): fine for what
 * the port holds, and the reason production uses Upstash. Embedded mode on Node keeps it in a file
 * across restarts (shared/runtime/file-kv.ts).
 */
export function createMemoryStore(
  clock: Clock = { now: () => Date.now() },
  options: { initial?: Iterable<[string, MemoryEntry]>; onChange?: () => void } = {},
): MemoryStore {
  const entries = new Map<string, MemoryEntry>(options.initial ?? []);
  const changed = options.onChange ?? (() => {});
  const live = (key: string): MemoryEntry | undefined => {
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
      changed();
    },
    setIfAbsent: async (key, value, options) => {
      if (live(key)) return false;
      entries.set(key, { value, expiresAt: expiry(options.ttlMs) });
      changed();
      return true;
    },
    del: async (key) => {
      if (entries.delete(key)) changed();
    },
    incr: async (key, options) => {
      const entry = live(key);
      const next = Number(entry?.value ?? 0) + (options?.by ?? 1);
      if (!Number.isFinite(next)) throw new Error(`value at ${key} is not a number`);
      entries.set(key, { value: String(next), expiresAt: entry ? entry.expiresAt : expiry(options?.ttlMs) });
      changed();
      return next;
    },
    addWithin: async (counters) => {
      // Plain loops, one clock read: this runs on every request of a key with limits (embedded mode).
      const now = clock.now();
      const current: number[] = [];
      for (let index = 0; index < counters.length; index++) {
        const counter = counters[index] as (typeof counters)[number];
        let entry = entries.get(counter.key);
        if (entry && entry.expiresAt !== null && entry.expiresAt <= now) {
          entries.delete(counter.key);
          entry = undefined;
        }
        const value = Number(entry?.value ?? 0);
        const total = value + counter.by;
        if (counter.max !== null && counter.by > 0 && total > counter.max) return { ok: false, index, total };
        current.push(value);
      }
      const totals: number[] = [];
      for (let index = 0; index < counters.length; index++) {
        const counter = counters[index] as (typeof counters)[number];
        const entry = entries.get(counter.key);
        const next = (current[index] as number) + counter.by;
        entries.set(counter.key, { value: String(next), expiresAt: entry ? entry.expiresAt : counter.ttlMs ? now + counter.ttlMs : null });
        totals.push(next);
      }
      return { ok: true, totals };
    },
    ping: async () => {},
    entries: () => {
      const now = clock.now();
      return [...entries]
        .filter(([, entry]) => entry.expiresAt === null || entry.expiresAt > now)
        .map(([key, entry]) => [key, { ...entry }]);
    },
  };
}
