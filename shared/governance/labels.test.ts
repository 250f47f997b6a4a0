import { createNoopMeter } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../telemetry/metrics.js';
import { keyLabel } from './labels.js';

describe('the key label of the token and cost metrics', () => {
  it('names the first `max` keys a process sees and calls every later one other', () => {
    const metrics = createMetrics(createNoopMeter());
    expect(['a', 'b', 'a', 'c', 'b', 'd'].map((key) => keyLabel(metrics, key, 2))).toEqual(['a', 'b', 'a', 'other', 'b', 'other']);
    // 0 keeps every key out of the labels.
    expect(keyLabel(createMetrics(createNoopMeter()), 'a', 0)).toBe('other');
  });
});
