import { Redis } from '@upstash/redis';
import type { KeyValueStore } from './index.js';

/**
 * addWithin in one script (Redis runs it atomically): check every counter against its limit (only
 * additions are checked: giving back never fails), then add to all, setting the TTL of new keys.
 */
const ADD_WITHIN = `
local n = #KEYS
local current = {}
for i = 1, n do
  local by = tonumber(ARGV[(i - 1) * 3 + 1])
  local max = ARGV[(i - 1) * 3 + 2]
  current[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if max ~= '' and by > 0 and current[i] + by > tonumber(max) then return {0, i - 1, current[i] + by} end
end
local out = {1}
for i = 1, n do
  local by = tonumber(ARGV[(i - 1) * 3 + 1])
  local total = redis.call('INCRBY', KEYS[i], by)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[(i - 1) * 3 + 3]), 'NX')
  out[i + 1] = total
end
return out`;

export interface UpstashOptions {
  url: string;
  token: string;
  fetch?: typeof fetch;
}

/**
 * Upstash Redis over its REST API: stateless HTTP, so it works from workerd and Node alike and needs
 * no connection per isolate.
 */
export function createUpstashStore(options: UpstashOptions): KeyValueStore {
  const redis = new Redis({
    url: options.url,
    token: options.token,
    // Fail fast: callers (ready, breaker, rate limits) have their own timeouts and fallbacks.
    retry: { retries: 0 },
    automaticDeserialization: false,
    enableTelemetry: false,
  });
  return {
    kind: 'upstash',
    get: async (key) => {
      const value = await redis.get<string>(key);
      return value === null || value === undefined ? null : String(value);
    },
    set: async (key, value, opts) => {
      if (opts?.ttlMs) await redis.set(key, value, { px: opts.ttlMs });
      else await redis.set(key, value);
    },
    setIfAbsent: async (key, value, opts) => (await redis.set(key, value, { nx: true, px: opts.ttlMs })) === 'OK',
    del: async (key) => {
      await redis.del(key);
    },
    incr: async (key, opts) => {
      const pipeline = redis.multi();
      pipeline.incrby(key, opts?.by ?? 1);
      // NX: only a new key gets the TTL, so a window does not slide with every hit.
      if (opts?.ttlMs) pipeline.pexpire(key, opts.ttlMs, 'NX');
      const [value] = (await pipeline.exec()) as [number, ...unknown[]];
      return Number(value);
    },
    addWithin: async (counters) => {
      const reply = (await redis.eval(
        ADD_WITHIN,
        counters.map((counter) => counter.key),
        counters.flatMap((counter) => [String(counter.by), counter.max === null ? '' : String(counter.max), String(counter.ttlMs)]),
      )) as [number, ...number[]];
      const [status, ...rest] = reply.map(Number);
      return status === 1 ? { ok: true, totals: rest } : { ok: false, index: rest[0] ?? 0, total: rest[1] ?? 0 };
    },
    ping: async () => {
      const reply = await redis.ping();
      if (reply !== 'PONG') throw new Error(`unexpected PING reply: ${String(reply)}`);
    },
  };
}
