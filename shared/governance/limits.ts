import type { BoundedAdd, KeyValueStore } from '../kv/index.js';
import type { KeyPolicy } from './keys.js';

/** Budgets are counted in whole nano-dollars (the store adds integers; 2^53 nano-USD is 9 million USD). */
export const NANO_USD = 1_000_000_000;
export const toNano = (usd: number): number => Math.ceil(usd * NANO_USD - 1e-6);

export interface Windows {
  minuteStart: number;
  minuteEnd: number;
  /** Start and end of the budget period (UTC day or month), when the key has a budget. */
  periodStart: number;
  periodEnd: number;
}

/**
 * The last windows worked out, per budget period: every call in the same minute gets the same ones
 * (a UTC day or month starts on a minute), so the dates are worked out once a minute, not per request.
 */
const lastWindows = new Map<KeyPolicy['budget_period'], Readonly<Windows>>();

/** The fixed windows `now` falls in: the minute of the RPM and TPM limits, and the UTC day or month of the budget. */
export function windowsAt(now: number, period: KeyPolicy['budget_period']): Readonly<Windows> {
  const minuteStart = Math.floor(now / 60_000) * 60_000;
  const last = lastWindows.get(period);
  if (last?.minuteStart === minuteStart) return last;
  const windows = Object.freeze(computeWindows(now, minuteStart, period));
  lastWindows.set(period, windows);
  return windows;
}

function computeWindows(now: number, minuteStart: number, period: KeyPolicy['budget_period']): Windows {
  const date = new Date(now);
  const periodStart =
    period === 'month'
      ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
      : Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const periodEnd =
    period === 'month'
      ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
      : Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  return { minuteStart, minuteEnd: minuteStart + 60_000, periodStart, periodEnd };
}

export interface CounterKeys {
  requests: string;
  tokens: string;
  spend: string;
}

/** Keys' counter names of the current windows, by key id (the same strings each request: no new ones to build and hash). */
const lastKeys = new Map<string, { windows: Readonly<Windows>; keys: Readonly<CounterKeys> }>();
/** Key ids whose names are kept at most; past it the map starts over. */
const MAX_KEYS = 10_000;

/** The store keys of one key's counters in these windows (a new window is a new key; old ones expire). */
export function counterKeys(id: string, windows: Readonly<Windows>): Readonly<CounterKeys> {
  const last = lastKeys.get(id);
  if (last && last.windows.minuteStart === windows.minuteStart && last.windows.periodStart === windows.periodStart) return last.keys;
  const keys = Object.freeze({
    requests: `myca:gov:rpm:${id}:${windows.minuteStart}`,
    tokens: `myca:gov:tpm:${id}:${windows.minuteStart}`,
    spend: `myca:gov:usd:${id}:${windows.periodStart}`,
  });
  if (lastKeys.size >= MAX_KEYS) lastKeys.clear();
  lastKeys.set(id, { windows, keys });
  return keys;
}

/** What a key used in its current windows (for GET /v1/keys/:id and a spend page). */
export interface KeyUsage {
  requests_this_minute: number;
  tokens_this_minute: number;
  /** Spend counted against the budget this period (settled calls plus what calls in flight hold). */
  budget_used_usd: number | null;
  budget_resets_at: string | null;
  minute_resets_at: string;
}

export async function readUsage(kv: KeyValueStore, policy: KeyPolicy, now: number): Promise<KeyUsage> {
  const windows = windowsAt(now, policy.budget_period);
  const keys = counterKeys(policy.id, windows);
  const [requests, tokens, spend] = await Promise.all([
    kv.get(keys.requests),
    kv.get(keys.tokens),
    policy.budget_usd !== null ? kv.get(keys.spend) : null,
  ]);
  return {
    requests_this_minute: Number(requests ?? 0),
    tokens_this_minute: Number(tokens ?? 0),
    budget_used_usd: policy.budget_usd !== null ? Number(spend ?? 0) / NANO_USD : null,
    budget_resets_at: policy.budget_usd !== null ? new Date(windows.periodEnd).toISOString() : null,
    minute_resets_at: new Date(windows.minuteEnd).toISOString(),
  };
}

/** How long settled differences wait to share one store call (Node). */
const SETTLE_LINGER_MS = 20;

/**
 * Adds the settled differences (real usage minus reservation) of many calls in one store operation
 * every {@link SETTLE_LINGER_MS} (Node): most are give-backs, so waiting only keeps a limit a little
 * stricter for that long; a call that used more than it reserved is counted that much later.
 */
export class SettleBatcher {
  private pending = new Map<string, BoundedAdd>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly kv: KeyValueStore,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(counters: ReadonlyArray<BoundedAdd>): void {
    for (const counter of counters) {
      // The pending entries are the batcher's own (made here): added to in place.
      const known = this.pending.get(counter.key);
      if (known) known.by += counter.by;
      else this.pending.set(counter.key, { key: counter.key, by: counter.by, max: null, ttlMs: counter.ttlMs });
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), SETTLE_LINGER_MS);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const counters = [...this.pending.values()].filter((counter) => counter.by !== 0);
    this.pending = new Map();
    if (counters.length === 0) return Promise.resolve();
    return this.kv.addWithin(counters).then(() => undefined, this.onError);
  }
}

const batchers = new WeakMap<KeyValueStore, SettleBatcher>();

export function settleBatcher(kv: KeyValueStore, onError: (error: unknown) => void): SettleBatcher {
  let batcher = batchers.get(kv);
  if (!batcher) {
    batcher = new SettleBatcher(kv, onError);
    batchers.set(kv, batcher);
  }
  return batcher;
}
