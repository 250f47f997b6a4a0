import type { KeyValueStore } from './index.js';

/** After a refused flush, the next try waits this long (the store is down; do not hammer it). */
const RETRY_MS = 1000;
/** A timer or a store answer this much overdue is taken as lost. */
const STALE_MS = 5000;

interface Entry {
  /** The store's total after the last flush (every instance's hits). */
  global: number;
  /** Hits sent to the store and not answered yet. */
  inflight: number;
  /** Hits not sent yet. */
  pending: number;
  lastFlush: number;
  expiresAt: number;
  /** A flush of hits that arrived too soon after the last one. */
  timer: ReturnType<typeof setTimeout> | undefined;
  timerDue: number;
  /** The store refused the last flush: wait before trying again. */
  failedAt: number;
  /** Bumped when an answer is given up on, so that a late one is ignored. */
  generation: number;
}

/**
 * Fixed-window counters shared through the key-value store, counted here between flushes: a hit
 * costs no store round trip (with Upstash, an HTTP request); this process adds its hits to the
 * store at most every `flushMs` per key and learns the total of every instance from the answer.
 * The total a caller sees is exact for this process's own hits and about `flushMs` behind for
 * other instances' (a timer sends hits that arrive between flushes) — so a limit can be overshot by
 * what the other instances do in that time. When the store is down, hits keep counting here and are
 * sent when it answers again.
 */
export class SharedCounter {
  private readonly entries = new Map<string, Entry>();
  private hits = 0;

  constructor(
    private readonly kv: KeyValueStore,
    private readonly flushMs = 250,
  ) {}

  /** Counts `by` hits (default one) on `key` (one window's key) and returns the best-known total of that window, these included. */
  hit(key: string, ttlMs: number, now = Date.now(), by = 1): number {
    if (++this.hits % 1024 === 0) this.forgetExpired(now);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        global: 0,
        inflight: 0,
        pending: 0,
        lastFlush: 0,
        expiresAt: now + ttlMs,
        timer: undefined,
        timerDue: 0,
        failedAt: 0,
        generation: 0,
      };
      this.entries.set(key, entry);
    }
    entry.pending += by;
    const total = entry.global + entry.inflight + entry.pending;
    this.sendOrSchedule(key, entry, ttlMs, now);
    return total;
  }

  /** The best-known total of `key` without counting a hit (0 for a key this process has not counted). */
  total(key: string): number {
    const entry = this.entries.get(key);
    return entry ? entry.global + entry.inflight + entry.pending : 0;
  }

  /** Sends the pending hits now if allowed, else once `flushMs` has passed (a timer, so no hit waits for a next one). */
  private sendOrSchedule(key: string, entry: Entry, ttlMs: number, now: number): void {
    if (entry.pending === 0) return;
    // A timer or an answer that is long overdue was lost (on Workers, the request that set it may
    // have ended): forget it, so this process never stops sending its hits.
    if (entry.timer && now < entry.timerDue + STALE_MS) return;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.inflight > 0 && now - entry.lastFlush > STALE_MS) {
      entry.generation++;
      entry.pending += entry.inflight;
      entry.inflight = 0;
    }
    const wait =
      entry.inflight > 0 ? this.flushMs : Math.max(entry.lastFlush + this.flushMs, entry.failedAt ? entry.failedAt + RETRY_MS : 0) - now;
    if (wait <= 0) {
      this.flush(key, entry, ttlMs, now);
      return;
    }
    entry.timerDue = now + wait;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.sendOrSchedule(key, entry, ttlMs, Date.now());
    }, wait);
    (entry.timer as { unref?: () => void }).unref?.();
  }

  private flush(key: string, entry: Entry, ttlMs: number, now: number): void {
    const by = entry.pending;
    const generation = entry.generation;
    entry.pending = 0;
    entry.inflight = by;
    entry.lastFlush = now;
    this.kv.incr(key, { by, ttlMs }).then(
      (total) => {
        if (generation !== entry.generation) return;
        entry.global = total;
        entry.inflight = 0;
        entry.failedAt = 0;
        this.sendOrSchedule(key, entry, ttlMs, Date.now());
      },
      () => {
        if (generation !== entry.generation) return;
        entry.pending += entry.inflight;
        entry.inflight = 0;
        entry.failedAt = Date.now();
        this.sendOrSchedule(key, entry, ttlMs, Date.now());
      },
    );
  }

  private forgetExpired(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) continue;
      clearTimeout(entry.timer);
      this.entries.delete(key);
    }
  }
}

const counters = new WeakMap<KeyValueStore, SharedCounter>();

/** The process's (or isolate's) counter over `kv`. */
export function sharedCounter(kv: KeyValueStore): SharedCounter {
  let counter = counters.get(kv);
  if (!counter) {
    counter = new SharedCounter(kv);
    counters.set(kv, counter);
  }
  return counter;
}
