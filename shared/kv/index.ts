/**
 * The key-value port. Holds only what may be lost (rate-limit counters, breaker state, latency
 * statistics, caches): adapters are the Upstash REST client and an in-memory map.
 */
export interface KeyValueStore {
  /** `upstash` or `memory`, for /ready and logs. */
  readonly kind: 'upstash' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { ttlMs?: number }): Promise<void>;
  /** Sets the key only when it does not exist; true when this call set it (a one-holder token). */
  setIfAbsent(key: string, value: string, options: { ttlMs: number }): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Atomically adds `by` and returns the new value; sets the TTL when the key is new. */
  incr(key: string, options?: { by?: number; ttlMs?: number }): Promise<number>;
  /**
   * Adds `by` to every counter at once, atomically, only when none would pass its `max` (exact
   * across instances: one store operation decides). Counters are created with their TTL. Returns the
   * new totals, or the index of the first counter that would pass its limit (nothing is added then).
   */
  addWithin(counters: ReadonlyArray<BoundedAdd>): Promise<{ ok: true; totals: number[] } | { ok: false; index: number; total: number }>;
  ping(): Promise<void>;
}

/** One counter of {@link KeyValueStore.addWithin}: `max` null adds without a limit. */
export interface BoundedAdd {
  key: string;
  by: number;
  max: number | null;
  ttlMs: number;
}
