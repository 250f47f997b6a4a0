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
    entries: () => {
      const now = clock.now();
      return [...entries]
        .filter(([, entry]) => entry.expiresAt === null || entry.expiresAt > now)
        .map(([key, entry]) => [key, { ...entry }]);
    },
  };
}
