import { describe, expect, it } from 'vitest';
import { type ModelsConfig, ModelsConfigSchema } from '../../shared/config/models.js';
import { createMemoryStore } from '../../shared/kv/memory.js';
import { runAttempts } from './attempts.js';
import { CircuitBreaker } from './breaker.js';
import type { ChatRequest } from './contract.js';
import { DeploymentLimits, isContextLengthError } from './deployments.js';
import { planAttempts } from './plan.js';
import { createProviderRegistry } from './providers/registry.js';
import { ProviderError } from './providers/types.js';

/** A seeded generator (mulberry32): a failure replays exactly. */
function seeded(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = (models: Record<string, unknown>, routing: Record<string, unknown> = {}): ModelsConfig =>
  ModelsConfigSchema.parse({
    providers: {
      east: { type: 'openai', api_key: 'k', base_url: 'http://127.0.0.1:1/v1' },
      west: { type: 'openai', api_key: 'k', base_url: 'http://127.0.0.1:2/v1' },
      big: { type: 'openai', api_key: 'k', base_url: 'http://127.0.0.1:3/v1' },
    },
    models,
    routing,
  });

const twoRegions = (strategy = 'weighted') =>
  base({
    execution: {
      strategy,
      deployments: [
        { name: 'east', provider: 'east', model: 'gpt-4o-mini', weight: 3 },
        { name: 'west', provider: 'west', model: 'gpt-4o-mini', weight: 1, rpm: 2 },
      ],
    },
  });
const hello: ChatRequest = { model: 'execution', messages: [{ role: 'user', content: 'hello' }] };

describe('deployments', () => {
  it('keeps the single-model form and fills provider/model of the multi-deployment form from its first deployment', () => {
    const config = twoRegions();
    expect(config.models.execution).toMatchObject({ provider: 'east', model: 'gpt-4o-mini', strategy: 'weighted' });
    expect(() => base({ x: { deployments: [{ provider: 'nowhere', model: 'm' }] } })).toThrow(/unknown provider \\"nowhere\\"/);
    expect(() =>
      base({
        x: {
          deployments: [
            { provider: 'east', model: 'm' },
            { provider: 'east', model: 'm' },
          ],
        },
      }),
    ).toThrow(/listed twice/);
  });

  it('weighted: 3:1 weights send 75% ± 1.5% of 20 000 seeded plans to east first, and every plan keeps the other as fallback', () => {
    // Binomial(n = 20 000, p = 0.75): σ = √(n·p·(1−p)) = √3750 ≈ 61 requests = 0.31%; ±1.5% is ±300 requests, ≈ 4.9 σ.
    const config = twoRegions();
    const registry = createProviderRegistry(config, { fetch });
    const random = seeded(19);
    const n = 20_000;
    let east = 0;
    let withFallback = 0;
    for (let i = 0; i < n; i++) {
      const plan = planAttempts(config, registry, { target: 'execution', kind: 'chat', request: hello, random });
      if (!plan.ok) throw new Error(plan.reason);
      if (plan.attempts.length === 2) withFallback++;
      if (plan.attempts[0]?.deployment === 'east') east++;
    }
    expect(withFallback).toBe(n);
    expect(Math.abs(east / n - 0.75)).toBeLessThan(0.015);
  });

  it('least_busy: the deployment with fewer calls in flight goes first', () => {
    const config = twoRegions('least_busy');
    const registry = createProviderRegistry(config, { fetch });
    const inFlight = new Map([['execution/east/gpt-4o-mini', 5]]);
    for (let i = 0; i < 50; i++) {
      const plan = planAttempts(config, registry, { target: 'execution', kind: 'chat', request: hello, inFlight });
      expect(plan.ok && plan.attempts.map((a) => a.deployment)).toEqual(['west', 'east']);
    }
  });

  it('a dead deployment (open breaker) and one over its rpm are skipped: their share goes to the other', async () => {
    const config = twoRegions();
    const registry = createProviderRegistry(config, { fetch });
    const kv = createMemoryStore();
    const breaker = new CircuitBreaker(kv, { failures: 1, window_ms: 60_000, cooldown_ms: 60_000 });
    await breaker.failure('execution/east/gpt-4o-mini', 'closed');
    const limits = new DeploymentLimits(kv);
    const served: string[] = [];
    for (let i = 0; i < 4; i++) {
      const plan = planAttempts(config, registry, { target: 'execution', kind: 'chat', request: hello, random: seeded(i) });
      if (!plan.ok) throw new Error(plan.reason);
      const outcome = await runAttempts(
        plan.attempts,
        { routing: config.routing, breaker, deadlineAt: Date.now() + 5000, admit: (a) => limits.admit(a.label, a.limits) },
        async (attempt) => attempt.deployment,
      );
      served.push(outcome.ok ? outcome.value : `failed: ${outcome.records.map((r) => r.status).join(',')}`);
    }
    // east is dead; west takes two a minute (rpm: 2), then nothing is left: 503 (only skips).
    expect(served.slice(0, 2)).toEqual(['west', 'west']);
    expect(served.slice(2).every((s) => s.startsWith('failed') && s.includes('over_limit') && s.includes('breaker_open'))).toBe(true);
  });
});

describe('context windows', () => {
  const windows = () =>
    base(
      {
        small: { provider: 'east', model: 'small-8k', context_window: 8000, max_tokens: 1000 },
        large: { provider: 'big', model: 'large-1m', context_window: 1_000_000 },
      },
      { fallback_chain: ['small', 'large'] },
    );
  const long = (chars: number): ChatRequest => ({ model: 'small', messages: [{ role: 'user', content: 'x'.repeat(chars) }] });

  it('a prompt that cannot fit skips the small model; none fits: a clear reason', () => {
    const config = windows();
    const registry = createProviderRegistry(config, { fetch });
    const fits = planAttempts(config, registry, { target: 'small', kind: 'chat', request: long(20_000) });
    expect(fits.ok && fits.attempts.map((a) => a.model)).toEqual(['small-8k', 'large-1m']);
    // ⌈28 000 / 3⌉ + 7 = 9 341 tokens + 1 000 max_tokens > 8 000: small is skipped (20 000 chars: 7 674 fits).
    const tooBig = planAttempts(config, registry, { target: 'small', kind: 'chat', request: long(28_000) });
    expect(tooBig.ok && tooBig.attempts.map((a) => a.model)).toEqual(['large-1m']);
    const none = planAttempts(config, registry, { target: 'small', kind: 'chat', request: long(4_100_000) });
    expect(none.ok).toBe(false);
    expect(!none.ok && none.reason).toMatch(/does not fit the context window of any model.*largest is 1000000 tokens/);
  });

  it("a provider's context-length error moves on to a model with a larger window only", async () => {
    const config = base(
      {
        a: { provider: 'east', model: 'a-8k', context_window: 8000 },
        b: { provider: 'west', model: 'b-8k', context_window: 8000 },
        c: { provider: 'big', model: 'c-1m', context_window: 1_000_000 },
      },
      { fallback_chain: ['a', 'b', 'c'] },
    );
    const registry = createProviderRegistry(config, { fetch });
    const plan = planAttempts(config, registry, { target: 'a', kind: 'chat', request: long(10) });
    if (!plan.ok) throw new Error(plan.reason);
    const breaker = new CircuitBreaker(createMemoryStore(), config.routing.breaker);
    const refusal = new ProviderError('east', "400 This model's maximum context length is 8192 tokens.", 400, {
      code: 'context_length_exceeded',
    });
    const outcome = await runAttempts(
      plan.attempts,
      { routing: config.routing, breaker, deadlineAt: Date.now() + 5000 },
      async (attempt) => {
        if (attempt.model !== 'c-1m') throw refusal;
        return 'answer';
      },
    );
    expect(outcome.ok && outcome.value).toBe('answer');
    expect(outcome.records.map((r) => r.status)).toEqual([400, 'context_window', 'ok']);
    // Without a larger window left: the refusal, marked as a context overflow.
    const none = await runAttempts(
      plan.attempts.slice(0, 2),
      { routing: config.routing, breaker, deadlineAt: Date.now() + 5000 },
      async () => {
        throw refusal;
      },
    );
    expect(!none.ok && none.contextExceeded).toBe(true);
  });

  it("recognises OpenAI's code and Gemini's 400 message", () => {
    expect(isContextLengthError({ status: 400, code: 'context_length_exceeded', message: 'x' })).toBe(true);
    expect(
      isContextLengthError({
        status: 400,
        message: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048575).',
      }),
    ).toBe(true);
    expect(isContextLengthError({ status: 400, message: "Invalid value for 'temperature'" })).toBe(false);
  });
});
