import type { KeyValueStore } from '../../shared/kv/index.js';

const ALPHA = 0.3;
const TTL_MS = 6 * 3600_000;

/**
 * Recent latency per attempt label as an exponentially weighted moving average in the key-value
 * store, shared by all instances. Read-modify-write is not atomic across instances: two updates at
 * the same moment may lose one sample, which a moving average shrugs off.
 */
export class LatencyTracker {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly prefix = 'myca:lat',
  ) {}

  async record(label: string, ms: number): Promise<void> {
    const key = `${this.prefix}:${label}`;
    const previous = Number(await this.kv.get(key));
    const next = Number.isFinite(previous) && previous > 0 ? previous * (1 - ALPHA) + ms * ALPHA : ms;
    await this.kv.set(key, next.toFixed(2), { ttlMs: TTL_MS });
  }

  async read(labels: ReadonlyArray<string>): Promise<Map<string, number>> {
    const values = await Promise.all(labels.map((label) => this.kv.get(`${this.prefix}:${label}`)));
    const out = new Map<string, number>();
    labels.forEach((label, index) => {
      const value = Number(values[index]);
      if (values[index] !== null && Number.isFinite(value)) out.set(label, value);
    });
    return out;
  }
}
