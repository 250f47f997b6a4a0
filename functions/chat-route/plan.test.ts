import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { readConfigFiles } from '../../shared/runtime/node-config.js';
import { planAttempts } from './plan.js';
import { createProviderRegistry } from './providers/registry.js';

const keys = { OPENAI_API_KEY: 'k', GEMINI_API_KEY: 'k' };
const setup = (env: Record<string, string> = {}) => {
  const config = loadConfig({ env: { ...keys, ...env }, files: readConfigFiles({}) }).llm;
  return { config, registry: createProviderRegistry(config, { fetch }) };
};
const labels = (result: ReturnType<typeof planAttempts>) => (result.ok ? result.attempts.map((a) => a.label) : result.reason);

describe('planAttempts', () => {
  it('task_type: the alias first, then the fallback chain without repeats', () => {
    const { config, registry } = setup();
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat' }))).toEqual([
      'planning/openai/gpt-4o',
      'execution/openai/gpt-4o-mini',
      'fast/gemini/gemini-2.0-flash',
    ]);
    expect(labels(planAttempts(config, registry, { target: 'fast', kind: 'chat' }))[0]).toBe('fast/gemini/gemini-2.0-flash');
  });

  it('resolves configured model names and provider/model', () => {
    const { config, registry } = setup();
    expect(labels(planAttempts(config, registry, { target: 'gpt-4o-mini', kind: 'chat' }))[0]).toBe('execution/openai/gpt-4o-mini');
    expect(labels(planAttempts(config, registry, { target: 'gemini/gemini-1.5-pro', kind: 'chat' }))[0]).toBe(
      'direct/gemini/gemini-1.5-pro',
    );
  });

  it('names only configured models and providers: inherited names are unknown models', () => {
    const { config, registry } = setup();
    for (const target of ['toString', '__proto__', 'constructor', 'constructor/gpt-4o', '__proto__/gpt-4o', 'hasOwnProperty/x']) {
      const result = planAttempts(config, registry, { target, kind: 'chat' });
      expect(result.ok, target).toBe(false);
      expect(labels(result), target).toMatch(/Unknown model/);
    }
  });

  it('cost: the requested model first, its fallbacks cheapest first, only models that can serve the request', () => {
    const { config, registry } = setup({ LLM_ROUTING_STRATEGY: 'cost' });
    // "planning" was served by gemini-2.0-flash when cost ordered the whole chain.
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat' }))).toEqual([
      'planning/openai/gpt-4o',
      'fast/gemini/gemini-2.0-flash',
      'execution/openai/gpt-4o-mini',
    ]);
    const noTools = {
      ...config,
      models: {
        ...config.models,
        fast: { ...(config.models.fast as (typeof config.models)[string]), supports: { tools: false, json: true } },
      },
    };
    const request = {
      model: 'planning',
      messages: [{ role: 'user' as const, content: 'x' }],
      tools: [{ type: 'function' as const, function: { name: 't' } }],
    };
    expect(labels(planAttempts(noTools, registry, { target: 'planning', kind: 'chat', request }))).toEqual([
      'planning/openai/gpt-4o',
      'execution/openai/gpt-4o-mini',
    ]);
  });

  it('latency: the requested model first, its fallbacks by recent latency, unmeasured ones first so they get measured', () => {
    const { config, registry } = setup({ LLM_ROUTING_STRATEGY: 'latency' });
    const latencyMs = new Map([
      ['planning/openai/gpt-4o', 900],
      ['execution/openai/gpt-4o-mini', 300],
    ]);
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat', latencyMs }))).toEqual([
      'planning/openai/gpt-4o',
      'fast/gemini/gemini-2.0-flash',
      'execution/openai/gpt-4o-mini',
    ]);
    latencyMs.set('fast/gemini/gemini-2.0-flash', 1200);
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat', latencyMs }))).toEqual([
      'planning/openai/gpt-4o',
      'execution/openai/gpt-4o-mini',
      'fast/gemini/gemini-2.0-flash',
    ]);
  });

  it('leaves out providers without keys, and says so when none is left', () => {
    const config = loadConfig({ env: { GEMINI_API_KEY: 'k' }, files: readConfigFiles({}) }).llm;
    const registry = createProviderRegistry(config, { fetch });
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat' }))).toEqual(['fast/gemini/gemini-2.0-flash']);
    expect(labels(planAttempts(config, registry, { target: 'embedding', kind: 'embedding' }))).toMatch(
      /No available model.*openai: no API key/,
    );
  });

  it('keeps only the first attempt when fallback is off, and refuses kind mismatches', () => {
    const { config, registry } = setup();
    const off = { ...config, routing: { ...config.routing, fallback_enabled: false } };
    expect(labels(planAttempts(off, registry, { target: 'planning', kind: 'chat' }))).toEqual(['planning/openai/gpt-4o']);
    expect(labels(planAttempts(config, registry, { target: 'embedding', kind: 'chat' }))).toMatch(/embedding model, not a chat model/);
  });
});

describe('models.yaml validation', () => {
  const files = readConfigFiles({});
  it('names an unknown provider, a bad strategy and an enabled provider without key', () => {
    const unknown = (files['models.yaml'] ?? '').replace('provider: gemini', 'provider: gemni');
    expect(() => loadConfig({ env: {}, files: { ...files, 'models.yaml': unknown } })).toThrow(
      /models\.fast\.provider: unknown provider "gemni"/,
    );
    expect(() => loadConfig({ env: { LLM_ROUTING_STRATEGY: 'fastest' }, files })).toThrow(
      /routing\.strategy \(set by LLM_ROUTING_STRATEGY\)/,
    );
    const enabled = (files['models.yaml'] ?? '').replace('  openai:\n    type: openai', '  openai:\n    type: openai\n    enabled: true');
    expect(() => loadConfig({ env: {}, files: { ...files, 'models.yaml': enabled } })).toThrow(
      /providers\.openai\.api_key \(set by OPENAI_API_KEY\): the provider is enabled but has no API key/,
    );
  });

  it('a parameter Gemini or Anthropic cannot honour: a 400 for such a model, and such fallbacks left out', () => {
    const base = setup({ ANTHROPIC_API_KEY: 'k' });
    const registry = base.registry;
    const config = { ...base.config, routing: { ...base.config.routing, fallback_chain: ['planning', 'execution', 'fast', 'review'] } };
    const request = { model: 'planning', messages: [{ role: 'user' as const, content: 'x' }], logprobs: true };
    // Without the parameter the Gemini and Anthropic fallbacks are tried too.
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat' }))).toEqual([
      'planning/openai/gpt-4o',
      'execution/openai/gpt-4o-mini',
      'fast/gemini/gemini-2.0-flash',
      'review/anthropic/claude-sonnet-4-5',
    ]);
    expect(labels(planAttempts(config, registry, { target: 'planning', kind: 'chat', request }))).toEqual([
      'planning/openai/gpt-4o',
      'execution/openai/gpt-4o-mini',
    ]);
    expect(labels(planAttempts(config, registry, { target: 'review', kind: 'chat', request }))).toMatch(
      /"logprobs" is not supported by claude-sonnet-4-5 \(Anthropic\)/,
    );
  });
});
