import type { RoutingConfig } from '../../shared/config/index.js';
import type { KeyValueStore } from '../../shared/kv/index.js';

export type BreakerState = 'closed' | 'open' | 'probe';

/**
 * How long this process trusts a breaker it saw closed before asking the store again. Most requests
 * then learn "closed" without a store round trip (with Upstash, an HTTP request); the price is that
 * a breaker another instance opened is seen here up to this much later. A failure seen here always
 * asks the store.
 */
export const CLOSED_CACHE_MS = 1000;
const closedUntil = new WeakMap<KeyValueStore, Map<string, number>>();

interface BreakerKeys {
  failures: string;
  open: string;
  half: string;
  probe: string;
}
/** The store keys of each prefix and label, made once (labels come from the configuration: few). */
const keyNames = new Map<string, Map<string, BreakerKeys>>();
const MAX_LABELS = 10_000;

/**
 * A circuit breaker per provider+model, kept in the key-value store so that stateless instances
 * agree. Closed: failures are counted in a window; `failures` of them open it. Open: attempts are
 * skipped for `cooldown_ms`. Then half-open: one caller takes the probe token; its success closes
 * the breaker, its failure opens it again. Other callers keep skipping while the probe runs.
 */
export class CircuitBreaker {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly config: RoutingConfig['breaker'],
    private readonly prefix = 'myca:cb',
  ) {}

  private keys(label: string): BreakerKeys {
    let byLabel = keyNames.get(this.prefix);
    if (!byLabel) {
      byLabel = new Map();
      keyNames.set(this.prefix, byLabel);
    }
    let keys = byLabel.get(label);
    if (!keys) {
      const base = `${this.prefix}:${label}`;
      keys = { failures: `${base}:failures`, open: `${base}:open`, half: `${base}:half`, probe: `${base}:probe` };
      if (byLabel.size >= MAX_LABELS) byLabel.clear();
      byLabel.set(label, keys);
    }
    return keys;
  }

  /**
   * True when this process saw the breaker closed less than {@link CLOSED_CACHE_MS} ago: {@link state}
   * would answer `closed` without asking the store. Lets the attempt loop skip a promise per attempt.
   */
  knownClosed(label: string): boolean {
    return (this.closedCache().get(this.keys(label).open) ?? 0) > Date.now();
  }

  private closedCache(): Map<string, number> {
    let cache = closedUntil.get(this.kv);
    if (!cache) {
      cache = new Map();
      closedUntil.set(this.kv, cache);
    }
    return cache;
  }

  /** Whether an attempt may run now. `probe` means this caller is the half-open probe. */
  async state(label: string): Promise<BreakerState> {
    const keys = this.keys(label);
    const cache = this.closedCache();
    const now = Date.now();
    if ((cache.get(keys.open) ?? 0) > now) return 'closed';
    const [open, half] = await Promise.all([this.kv.get(keys.open), this.kv.get(keys.half)]);
    if (open) return 'open';
    if (!half) {
      cache.set(keys.open, now + CLOSED_CACHE_MS);
      return 'closed';
    }
    // The probe token expires by itself, so a probe that died does not keep the breaker stuck.
    return (await this.kv.setIfAbsent(keys.probe, '1', { ttlMs: Math.max(1000, this.config.cooldown_ms) })) ? 'probe' : 'open';
  }

  async success(label: string, state: BreakerState): Promise<void> {
    if (state !== 'probe') return;
    const keys = this.keys(label);
    await Promise.all([this.kv.del(keys.half), this.kv.del(keys.failures), this.kv.del(keys.probe)]);
  }

  /** Counts a failure; returns true when this failure opened the breaker. */
  async failure(label: string, state: BreakerState): Promise<boolean> {
    const keys = this.keys(label);
    this.closedCache().delete(keys.open);
    if (state === 'probe') {
      await this.open(label);
      await this.kv.del(keys.probe);
      return true;
    }
    const count = await this.kv.incr(keys.failures, { ttlMs: this.config.window_ms });
    if (count < this.config.failures) return false;
    await this.open(label);
    return true;
  }

  /**
   * How long until the first of these open breakers lets a probe through (for `retry-after`), or
   * undefined when none is open with a known start. The open key holds the time it opened.
   */
  async cooldownLeftMs(labels: ReadonlyArray<string>): Promise<number | undefined> {
    const opened = await Promise.all(labels.map((label) => this.kv.get(this.keys(label).open)));
    const now = Date.now();
    const left = opened
      .map((value) => Number(value))
      .filter((at) => Number.isFinite(at) && at > 0)
      .map((at) => Math.max(0, at + this.config.cooldown_ms - now));
    return left.length > 0 ? Math.min(...left) : undefined;
  }

  private async open(label: string): Promise<void> {
    const keys = this.keys(label);
    await Promise.all([
      this.kv.set(keys.open, String(Date.now()), { ttlMs: this.config.cooldown_ms }),
      // Half-open lasts until a probe settles it; the long TTL only cleans up forgotten models.
      this.kv.set(keys.half, '1', { ttlMs: this.config.cooldown_ms + 24 * 3600_000 }),
      this.kv.del(keys.failures),
    ]);
  }
}
