import { Redis } from '@upstash/redis';
import type { KeyValueStore } from './index.js';

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
    ping: async () => {
      const reply = await redis.ping();
      if (reply !== 'PONG') throw new Error(`unexpected PING reply: ${String(reply)}`);
    },
  };
}
