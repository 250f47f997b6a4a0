import { describe, expect, it } from 'vitest';
import { ModelsConfigSchema } from '../../../shared/config/models.js';
import type { ChatRequest } from '../contract.js';
import { cachePlan, canonicalJson, isDeterministic, requestKeys } from './policy.js';

const llm = (cache: Record<string, unknown>, task: Record<string, unknown> = {}) =>
  ModelsConfigSchema.parse({
    providers: { openai: { type: 'openai', api_key: 'k' } },
    models: {
      classify: { provider: 'openai', model: 'gpt-4o-mini', temperature: 0, ...task },
      warm: { provider: 'openai', model: 'gpt-4o' },
    },
    cache,
  });
const ask = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'classify',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

describe('response cache policy', () => {
  it('is off by default; a task overrides the defaults; no-store turns it off, refresh skips the read', () => {
    expect(cachePlan(llm({}), ask(), 'classify', undefined)).toBeNull();
    expect(cachePlan(llm({ enabled: true }), ask(), 'classify', undefined)).toMatchObject({ read: true, write: true, ttlMs: 3_600_000 });
    expect(cachePlan(llm({}, { cache: { enabled: true, ttl_s: 60 } }), ask(), 'classify', undefined)).toMatchObject({ ttlMs: 60_000 });
    expect(cachePlan(llm({ enabled: true }, { cache: { enabled: false } }), ask(), 'classify', undefined)).toBeNull();
    expect(cachePlan(llm({ enabled: true }), ask(), 'classify', 'no-store')).toBeNull();
    expect(cachePlan(llm({ enabled: true }), ask(), 'classify', 'refresh')).toMatchObject({ read: false, write: true });
  });

  it('caches deterministic requests only, unless the task opts in', () => {
    expect(isDeterministic(ask(), 0)).toBe(true);
    expect(isDeterministic(ask(), undefined)).toBe(false); // the provider's default temperature is not 0
    expect(isDeterministic(ask({ temperature: 0.7 }), 0)).toBe(false);
    expect(isDeterministic(ask({ n: 2 }), 0)).toBe(false);
    const tools = [{ type: 'function' as const, function: { name: 'send_mail' } }];
    expect(isDeterministic(ask({ tools }), 0)).toBe(false);
    expect(isDeterministic(ask({ tools, tool_choice: 'none' }), 0)).toBe(true);
    expect(cachePlan(llm({ enabled: true }), ask(), 'warm', undefined)).toBeNull();
    expect(cachePlan(llm({ enabled: true, any_request: true }), ask(), 'warm', undefined)).not.toBeNull();
  });

  it('keys: key order, stream and user change nothing; the tenant, the task and the prompt do', async () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 2 }] })).toBe('{"a":[{"c":2}],"b":1}');
    const base = await requestKeys('alice', 'classify', ask({ temperature: 0 }), true);
    const same = await requestKeys('alice', 'classify', { temperature: 0, ...ask(), stream: true, user: 'u1' }, true);
    expect(same).toEqual(base);
    expect((await requestKeys('bob', 'classify', ask({ temperature: 0 }), true)).exact).not.toBe(base.exact);
    expect((await requestKeys('alice', 'warm', ask({ temperature: 0 }), true)).exact).not.toBe(base.exact);
    const other = await requestKeys('alice', 'classify', ask({ temperature: 0, messages: [{ role: 'user', content: 'hello' }] }), true);
    expect(other.exact).not.toBe(base.exact);
    // Semantic matching compares prompts whose other fields agree: the params digest ignores the messages.
    expect(other.params).toBe(base.params);
  });
});
