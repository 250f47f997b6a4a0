import { describe, expect, it } from 'vitest';
import { counterKeys, windowsAt } from './limits.js';

const at = (iso: string) => Date.parse(iso);

describe('windowsAt and counterKeys (worked out once a minute, the same answers)', () => {
  it('gives the minute and the UTC day or month of any instant, whatever was asked before', () => {
    for (let round = 0; round < 2; round++) {
      expect(windowsAt(at('2026-01-31T23:59:59.999Z'), 'day')).toEqual({
        minuteStart: at('2026-01-31T23:59:00Z'),
        minuteEnd: at('2026-02-01T00:00:00Z'),
        periodStart: at('2026-01-31T00:00:00Z'),
        periodEnd: at('2026-02-01T00:00:00Z'),
      });
      // The same minute, another period: its own answer.
      expect(windowsAt(at('2026-01-31T23:59:30Z'), 'month')).toMatchObject({
        periodStart: at('2026-01-01T00:00:00Z'),
        periodEnd: at('2026-02-01T00:00:00Z'),
      });
      // The next millisecond is the next minute, day and month.
      expect(windowsAt(at('2026-02-01T00:00:00Z'), 'day')).toMatchObject({
        minuteStart: at('2026-02-01T00:00:00Z'),
        periodStart: at('2026-02-01T00:00:00Z'),
        periodEnd: at('2026-02-02T00:00:00Z'),
      });
      expect(windowsAt(at('2026-02-01T00:00:00.001Z'), 'month')).toMatchObject({
        periodStart: at('2026-02-01T00:00:00Z'),
        periodEnd: at('2026-03-01T00:00:00Z'),
      });
      // No budget: the day's bounds (unused), as before.
      expect(windowsAt(at('2026-12-31T12:00:00Z'), null)).toMatchObject({ periodEnd: at('2027-01-01T00:00:00Z') });
    }
  });

  it('names each key’s counters after its id and windows; a new minute or key gets new names', () => {
    const one = windowsAt(at('2026-03-01T10:00:10Z'), 'day');
    const a = counterKeys('vk_a', one);
    expect(a).toEqual({
      requests: `myca:gov:rpm:vk_a:${at('2026-03-01T10:00:00Z')}`,
      tokens: `myca:gov:tpm:vk_a:${at('2026-03-01T10:00:00Z')}`,
      spend: `myca:gov:usd:vk_a:${at('2026-03-01T00:00:00Z')}`,
    });
    expect(counterKeys('vk_b', one).requests).toBe(`myca:gov:rpm:vk_b:${at('2026-03-01T10:00:00Z')}`);
    expect(counterKeys('vk_a', windowsAt(at('2026-03-01T10:00:50Z'), 'day'))).toEqual(a);
    const next = counterKeys('vk_a', windowsAt(at('2026-03-01T10:01:00Z'), 'day'));
    expect(next.requests).toBe(`myca:gov:rpm:vk_a:${at('2026-03-01T10:01:00Z')}`);
    expect(next.spend).toBe(a.spend);
    // A monthly budget in the same minute: another spend counter.
    expect(counterKeys('vk_a', windowsAt(at('2026-03-01T10:01:00Z'), 'month')).spend).toBe(
      `myca:gov:usd:vk_a:${at('2026-03-01T00:00:00Z')}`,
    );
    expect(counterKeys('vk_a', windowsAt(at('2026-03-02T10:01:00Z'), 'month')).spend).toBe(
      `myca:gov:usd:vk_a:${at('2026-03-01T00:00:00Z')}`,
    );
    expect(counterKeys('vk_a', windowsAt(at('2026-03-02T10:01:00Z'), 'day')).spend).toBe(`myca:gov:usd:vk_a:${at('2026-03-02T00:00:00Z')}`);
  });
});
