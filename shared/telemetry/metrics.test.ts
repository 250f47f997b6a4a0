import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from './metrics.js';

async function exposition(record: (metrics: Metrics) => void, countInPlace: boolean): Promise<string> {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [prometheus] });
  record(createMetrics(provider.getMeter('test'), { countInPlace }));
  const { resourceMetrics } = await prometheus.collect();
  await provider.shutdown();
  return new PrometheusSerializer('', false, undefined, true, true).serialize(resourceMetrics);
}

const counterLines = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(name));

describe('counters counted in place', () => {
  it('expose the same series and values as the SDK counter', async () => {
    const record = (metrics: Metrics) => {
      const labels = { provider: 'openai', model: 'gpt-4o' };
      for (let i = 0; i < 3; i++) {
        metrics.llmTokens.add(19, { ...labels, type: 'prompt', key: 'planner' });
        metrics.llmTokens.add(7, { ...labels, type: 'completion', key: 'planner' });
      }
      metrics.llmTokens.add(5, { provider: 'local', model: 'llama', type: 'prompt', key: 'other' });
      metrics.llmCost.add(0.25, { ...labels, key: 'planner' });
      metrics.llmCost.add(0.5, { ...labels, key: 'planner' });
      metrics.httpRequests.add(1, { method: 'GET', route: '/health', status: '200' });
    };
    const sdk = await exposition(record, false);
    const inPlace = await exposition(record, true);
    for (const name of ['llm_tokens_total', 'llm_cost_usd_total', 'http_requests_total', '# TYPE llm_tokens_total']) {
      expect(counterLines(inPlace, name)).toEqual(counterLines(sdk, name));
    }
    expect(counterLines(inPlace, 'llm_tokens_total')).toEqual([
      'llm_tokens_total{provider="openai",model="gpt-4o",type="prompt",key="planner"} 57',
      'llm_tokens_total{provider="openai",model="gpt-4o",type="completion",key="planner"} 21',
      'llm_tokens_total{provider="local",model="llama",type="prompt",key="other"} 5',
    ]);
    expect(counterLines(inPlace, 'llm_cost_usd_total')).toEqual([
      'llm_cost_usd_total{provider="openai",model="gpt-4o",key="planner"} 0.75',
    ]);
  });

  it('ignore values a counter cannot take, and keep only the family labels', async () => {
    const text = await exposition((metrics) => {
      const labels = { provider: 'openai', model: 'gpt-4o', key: 'k' };
      metrics.llmCost.add(1, labels);
      metrics.llmCost.add(-1, labels);
      metrics.llmCost.add(Number.NaN, labels);
      metrics.llmCost.add(Number.POSITIVE_INFINITY, labels);
      metrics.llmCost.add(2, { ...labels, prompt: 'user text' } as typeof labels);
    }, true);
    expect(counterLines(text, 'llm_cost_usd_total')).toEqual(['llm_cost_usd_total{provider="openai",model="gpt-4o",key="k"} 3']);
  });

  it('put label sets beyond 2,000 series into one overflow series, as the SDK does', async () => {
    const record = (metrics: Metrics) => {
      for (let i = 0; i < 2005; i++) metrics.llmFallbacks.add(1, { provider: 'p', model: `m${i}` });
    };
    const lines = counterLines(await exposition(record, true), 'llm_fallbacks_total');
    expect(lines).toHaveLength(2000);
    expect(lines).toContain('llm_fallbacks_total{otel_metric_overflow="true"} 6');
    expect(lines).toEqual(counterLines(await exposition(record, false), 'llm_fallbacks_total'));
  });
});
