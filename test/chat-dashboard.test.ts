/**
 * The LLM and HTTP dashboards query only what the code emits: every expression's metric, and every
 * label value it selects on, is checked against the /metrics of a run that went through successes,
 * failures, an open breaker, a fallback and a stream.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';
import { fakeProviderEnv, startFakeLLM } from './support/fake-llm.js';
import { type RuntimeHandle, startRuntime } from './support/runtimes.js';

const agentKey = `myca_${'c3'.repeat(16)}`;
const auth = { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' };
const hello = [{ role: 'user', content: 'hello' }];

function expressions(dashboard: string): string[] {
  const found: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') found.push(value);
        else walk(value);
      }
    }
  };
  walk(JSON.parse(readFileSync(join(ROOT_DIR, 'config', 'grafana', 'dashboards', dashboard), 'utf8')));
  return found;
}

interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** The series selectors of a PromQL expression (metric names end as our families do). */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const match of expr.matchAll(/\b([a-z_]+(?:_total|_bucket|_count|_sum|_pending))\b(?:\{([^}]*)\})?/g)) {
    const matchers = [...(match[2] ?? '').matchAll(/([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((m) => ({
      label: m[1] as string,
      op: m[2] as string,
      value: m[3] as string,
    }));
    out.push({ metric: match[1] as string, matchers });
  }
  return out;
}

/** Series of the Prometheus text: metric name and labels. */
function series(text: string): Array<{ metric: string; labels: Record<string, string> }> {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-z_]+)(?:\{([^}]*)\})? /.exec(line);
      const labels = Object.fromEntries([...(match?.[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      return { metric: match?.[1] ?? '', labels: labels as Record<string, string> };
    });
}

describe('Grafana dashboards against what a run records', () => {
  let llm: Awaited<ReturnType<typeof startFakeLLM>>;
  let app: RuntimeHandle;
  beforeAll(async () => {
    llm = await startFakeLLM();
    app = await startRuntime('node', {
      MYCA_API_KEYS: `planner:agent:${agentKey}`,
      ...fakeProviderEnv(llm.url),
      LLM_RETRIES: '0',
      LLM_BREAKER_FAILURES: '2',
      LLM_RATE_LIMIT_RPM: '0',
    });
    const post = (body: unknown) => app.fetch('/v1/chat/completions', { method: 'POST', headers: auth, body: JSON.stringify(body) });
    // Failures and fallbacks, then an open breaker (skipped), a stream, a refused request, and
    // every model failing (a 5xx from the gateway).
    llm.always('gpt-4o', { status: 500 });
    for (let i = 0; i < 3; i++) await (await post({ model: 'planning', messages: hello })).text();
    await (await post({ model: 'execution', messages: hello, stream: true })).text();
    await (await post({ model: 'planning', messages: [] })).text();
    llm.always('*', { status: 503 });
    await (await post({ model: 'execution', messages: hello })).text();
  });
  afterAll(async () => {
    await app?.close();
    await llm?.close();
  });

  it.each(['llm.json', 'http.json'])('%s queries only series and label values the code emits', async (dashboard) => {
    const text = await (await app.fetch('/metrics')).text();
    const recorded = series(text);
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] as string));
    const checked = expressions(dashboard).flatMap(selectors);
    expect(checked.length).toBeGreaterThan(5);
    for (const selector of checked) {
      const ofMetric = recorded.filter((s) => s.metric === selector.metric);
      // A family is exported (its # TYPE line) even before its first series; label values must be seen.
      const family = selector.metric.replace(/_(bucket|count|sum)$/, '');
      expect(exported.has(family) || ofMetric.length > 0, `${dashboard}: ${selector.metric} is not exported`).toBe(true);
      for (const matcher of selector.matchers) {
        const values = new Set(ofMetric.map((s) => s.labels[matcher.label]));
        expect(ofMetric.length, `${dashboard}: ${selector.metric} has no series to select on`).toBeGreaterThan(0);
        const hit = [...values].some((value) => {
          if (value === undefined) return false;
          if (matcher.op === '=') return value === matcher.value;
          if (matcher.op === '!=') return value !== matcher.value;
          const regex = new RegExp(`^(?:${matcher.value})$`);
          return matcher.op === '=~' ? regex.test(value) : !regex.test(value);
        });
        expect(
          hit,
          `${dashboard}: ${selector.metric}{${matcher.label}${matcher.op}"${matcher.value}"} matches nothing; seen ${[...values].join(', ')}`,
        ).toBe(true);
      }
    }
  });
});
