import { createHash } from 'node:crypto';
import { Redis } from '@upstash/redis';
import type { HttpClient } from '../net/http-client.js';
import type { BoundedAdd, KeyValueStore } from './index.js';

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

const ADD_WITHIN_SHA1 = createHash('sha1').update(ADD_WITHIN).digest('hex');

export interface UpstashOptions {
  url: string;
  token: string;
  fetch?: typeof fetch;
  /**
   * Node: the addWithin calls of one event-loop turn go out in one pipeline request (each script still
   * runs atomically on its own): under load one HTTP round trip serves many requests. Not in workerd,
   * where a promise must be settled by the request that made it.
   */
  batch?: boolean;
  /** Node: the undici keep-alive client the batched pipelines go through (cheaper than fetch); default fetch. */
  http?: HttpClient;
}

type AddWithinAnswer = { ok: true; totals: number[] } | { ok: false; index: number; total: number };

const answerOf = (reply: unknown): AddWithinAnswer => {
  const [status, ...rest] = (reply as number[]).map(Number);
  return status === 1 ? { ok: true, totals: rest } : { ok: false, index: rest[0] ?? 0, total: rest[1] ?? 0 };
};
const argsOf = (counters: ReadonlyArray<BoundedAdd>) => ({
  keys: counters.map((counter) => counter.key),
  args: counters.flatMap((counter) => [String(counter.by), counter.max === null ? '' : String(counter.max), String(counter.ttlMs)]),
});

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
  let queued: Array<{ counters: ReadonlyArray<BoundedAdd>; resolve: (answer: AddWithinAnswer) => void; reject: (error: unknown) => void }> =
    [];
  const pipelineUrl = `${options.url.replace(/\/$/, '')}/pipeline`;
  const headers = { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' };
  /** One POST /pipeline of EVALs (the Upstash REST protocol), through the given client. */
  const postPipeline = async (commands: unknown[][]): Promise<Array<{ result?: unknown; error?: string }>> => {
    const body = JSON.stringify(commands);
    if (options.http) {
      const response = await options.http.post(pipelineUrl, headers, body, AbortSignal.timeout(5000));
      const text = await response.text();
      if (response.status !== 200) throw new Error(`Upstash pipeline answered ${response.status}: ${text.slice(0, 200)}`);
      return JSON.parse(text) as Array<{ result?: unknown; error?: string }>;
    }
    const response = await (options.fetch ?? fetch)(pipelineUrl, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`Upstash pipeline answered ${response.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as Array<{ result?: unknown; error?: string }>;
  };
  const sendQueued = () => {
    const batch = queued;
    queued = [];
    const commands = (name: 'EVALSHA' | 'EVAL') =>
      batch.map((item) => {
        const { keys, args } = argsOf(item.counters);
        return [name, name === 'EVAL' ? ADD_WITHIN : ADD_WITHIN_SHA1, String(keys.length), ...keys, ...args];
      });
    // By digest (Redis keeps the script after its first EVAL); a server that does not know it yet gets it once.
    postPipeline(commands('EVALSHA'))
      .then((replies) => (replies.some((reply) => reply.error?.startsWith('NOSCRIPT')) ? postPipeline(commands('EVAL')) : replies))
      .then(
        (replies) => {
          batch.forEach((item, index) => {
            const reply = replies[index];
            if (!reply || reply.error) item.reject(new Error(reply?.error ?? 'no reply'));
            else item.resolve(answerOf(reply.result));
          });
        },
        (error: unknown) => {
          for (const item of batch) item.reject(error);
        },
      );
  };
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
    addWithin: (counters) => {
      if (!options.batch) {
        const { keys, args } = argsOf(counters);
        return redis.eval(ADD_WITHIN, keys, args).then(answerOf);
      }
      return new Promise<AddWithinAnswer>((resolve, reject) => {
        queued.push({ counters, resolve, reject });
        if (queued.length === 1) setImmediate(sendQueued);
      });
    },
    ping: async () => {
      const reply = await redis.ping();
      if (reply !== 'PONG') throw new Error(`unexpected PING reply: ${String(reply)}`);
    },
  };
}
