import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../shared/kv/memory.js';
import { runAttempts } from './attempts.js';
import { CircuitBreaker } from './breaker.js';
import type { Attempt } from './plan.js';
import { ProviderError } from './providers/types.js';

const routing = {
  strategy: 'task_type' as const,
  fallback_enabled: true,
  fallback_chain: [],
  retries: 2,
  backoff_ms: 100,
  max_backoff_ms: 1000,
  retry_after_cap_ms: 2000,
  deadline_ms: 10_000,
  first_token_timeout_ms: 1000,
  idle_timeout_ms: 1000,
  stream_max_ms: 60_000,
  breaker: { failures: 100, window_ms: 1000, cooldown_ms: 1000 },
  rate_limit: { requests_per_minute: 0 },
};
const attempt = (label: string, timeout_ms = 1000): Attempt => ({
  label,
  alias: label,
  provider: 'p',
  model: label,
  config: { provider: 'p', model: label, kind: 'chat', timeout_ms, weight: 1, strategy: 'weighted', supports: { tools: true, json: true } },
  deployment: `p/${label}`,
});

function harness() {
  let clock = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    options: {
      routing,
      breaker: new CircuitBreaker(createMemoryStore(), routing.breaker),
      deadlineAt: 10_000,
      now: () => clock,
      random: () => 1,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        clock += ms;
      },
    },
  };
}

describe('runAttempts', () => {
  it('retries a retryable error with exponential backoff, then moves to the next attempt', async () => {
    const { options, sleeps } = harness();
    const calls: string[] = [];
    const outcome = await runAttempts([attempt('a'), attempt('b')], options, async (a) => {
      calls.push(a.label);
      if (a.label === 'a') throw new ProviderError('p', 'boom', 500);
      return 'ok';
    });
    expect(outcome.ok && outcome.value).toBe('ok');
    expect(calls).toEqual(['a', 'a', 'a', 'b']);
    expect(sleeps).toEqual([100, 200]);
  });

  it('honours Retry-After up to the cap, and skips to the next model beyond it', async () => {
    const { options, sleeps } = harness();
    const calls: string[] = [];
    await runAttempts([attempt('a'), attempt('b')], options, async (a) => {
      calls.push(a.label);
      if (calls.length === 1) throw new ProviderError('p', 'slow down', 429, { retryAfterMs: 1500 });
      if (calls.length === 2) throw new ProviderError('p', 'slow down', 429, { retryAfterMs: 60_000 });
      return 'ok';
    });
    expect(sleeps).toEqual([1500]);
    expect(calls).toEqual(['a', 'a', 'b']);
  });

  it('stops at once on the caller’s own error and moves on without retry when a provider refuses', async () => {
    const { options } = harness();
    const calls: string[] = [];
    const stopped = await runAttempts([attempt('a'), attempt('b')], options, async (a) => {
      calls.push(a.label);
      throw new ProviderError('p', 'bad temperature', 400);
    });
    expect(stopped.ok).toBe(false);
    expect(!stopped.ok && stopped.stop?.status).toBe(400);
    expect(calls).toEqual(['a']);

    calls.length = 0;
    await runAttempts([attempt('a'), attempt('b')], options, async (a) => {
      calls.push(a.label);
      if (a.label === 'a') throw new ProviderError('p', 'bad key', 401);
      return 'ok';
    });
    expect(calls).toEqual(['a', 'b']);
  });

  it('cuts an attempt at its timeout and reports 504 when time ran out everywhere', async () => {
    const outcome = await runAttempts(
      [attempt('a', 50), attempt('b', 50)],
      {
        routing: { ...routing, retries: 0 },
        breaker: new CircuitBreaker(createMemoryStore(), routing.breaker),
        deadlineAt: Date.now() + 5000,
      },
      (_a, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.httpStatus).toBe(504);
    expect(outcome.records.map((r) => r.status)).toEqual(['timeout', 'timeout']);
  });

  it('never starts an attempt, nor sleeps, past the deadline', async () => {
    const { options } = harness();
    const starts: number[] = [];
    const outcome = await runAttempts([attempt('a'), attempt('b')], { ...options, deadlineAt: 250 }, async () => {
      starts.push(options.now());
      throw new ProviderError('p', 'down', 503);
    });
    expect(outcome.ok).toBe(false);
    expect(starts.length).toBeGreaterThan(1);
    expect(starts.every((t) => t < 250)).toBe(true);
    expect(options.now()).toBeLessThan(250);
  });

  it('skips models whose breaker is open and answers 503 when every one is', async () => {
    const kv = createMemoryStore();
    const breaker = new CircuitBreaker(kv, { failures: 1, window_ms: 1000, cooldown_ms: 60_000 });
    await breaker.failure('a', 'closed');
    await breaker.failure('b', 'closed');
    let calls = 0;
    const outcome = await runAttempts([attempt('a'), attempt('b')], { routing, breaker, deadlineAt: Date.now() + 1000 }, async () => {
      calls++;
      return 'ok';
    });
    expect(calls).toBe(0);
    expect(!outcome.ok && outcome.httpStatus).toBe(503);
    expect(outcome.records.map((r) => r.status)).toEqual(['breaker_open', 'breaker_open']);
  });

  it('an answered probe closes its breaker; an attempt after a closed one asks the store no more', async () => {
    const kv = createMemoryStore();
    const breaker = new CircuitBreaker(kv, { failures: 1, window_ms: 1000, cooldown_ms: 100 });
    await breaker.failure('a', 'closed');
    expect(await breaker.state('a')).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const options = { routing, breaker, deadlineAt: Date.now() + 1000 };
    const first = await runAttempts([attempt('a')], options, async () => 'ok');
    expect(first.ok && first.breakerState).toBe('probe');
    expect(await breaker.state('a')).toBe('closed');
    // Seen closed a moment ago: the next attempt runs as closed without reading the store.
    const get = kv.get;
    let reads = 0;
    kv.get = (key) => {
      reads++;
      return get(key);
    };
    const second = await runAttempts([attempt('a')], options, async () => 'ok');
    expect(second.ok && second.breakerState).toBe('closed');
    expect(reads).toBe(0);
  });
});
