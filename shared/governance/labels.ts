import type { Metrics } from '../telemetry/metrics.js';

const seen = new WeakMap<Metrics, Set<string>>();

/**
 * The `key` label of the token and cost metrics: the key's id for the first `max` distinct keys this
 * process (isolate) records, `other` after that, so that a fleet of keys cannot grow the series
 * without bound. Key ids are not secrets (the secret is never in a label, log or row).
 */
export function keyLabel(metrics: Metrics, keyId: string, max: number): string {
  let keys = seen.get(metrics);
  if (!keys) {
    keys = new Set();
    seen.set(metrics, keys);
  }
  if (keys.has(keyId)) return keyId;
  if (keys.size >= max) return 'other';
  keys.add(keyId);
  return keyId;
}
