import { describe, expect, it } from 'vitest';
import { parseTraceparent, resolveCorrelation } from './correlation.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('the one traceparent parser', () => {
  it('reads version 00 as written: trace id, span id, flags', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.flags).toBe(0);
  });

  it('refuses what is not one (other versions, upper case, wrong lengths, nothing)', () => {
    for (const text of [
      `01-${TRACE}-${SPAN}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-1`,
      `00-${TRACE}1-${SPAN}-01`,
      '',
      null,
      undefined,
    ])
      expect(parseTraceparent(text)).toBeUndefined();
  });

  it('is what a request’s correlation is read with: trimmed, lower-cased, all-zero ids refused', () => {
    expect(resolveCorrelation({ traceparent: ` 00-${TRACE.toUpperCase()}-${SPAN}-00 ` })).toEqual({
      id: TRACE,
      traceId: TRACE,
      continued: true,
      sampled: false,
    });
    expect(resolveCorrelation({ traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` }).continued).toBe(false);
    expect(resolveCorrelation({ traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` }).continued).toBe(false);
  });
});
