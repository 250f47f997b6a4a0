import { describe, expect, it } from 'vitest';
import { createLogger } from './index.js';

describe('logger', () => {
  const capture = (level: 'debug' | 'info' | 'warn' | 'error' = 'info') => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level, base: { service: 'test' }, write: (line) => lines.push(JSON.parse(line)), now: () => new Date(0) });
    return { log, lines };
  };

  it('writes one JSON line with time, level, message, bound and given fields', () => {
    const { log, lines } = capture();
    log.child({ correlation_id: 'abc' }).info('request', { status: 200 });
    expect(lines).toEqual([
      { time: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'request', service: 'test', correlation_id: 'abc', status: 200 },
    ]);
  });

  it('leaves out lines below its level', () => {
    const { log, lines } = capture('warn');
    log.info('quiet');
    log.warn('loud');
    expect(lines.map((line) => line.msg)).toEqual(['loud']);
  });

  it('masks secrets by field name and by value pattern', () => {
    const { log, lines } = capture();
    const key = `sk-${'Q'.repeat(24)}`;
    log.info('call', { api_key: 'plain-looking', note: `used ${key}` });
    expect(lines[0]).toMatchObject({ api_key: '***', note: 'used ***' });
    expect(JSON.stringify(lines)).not.toContain(key);
  });

  it('writes a line that holds a BigInt (as a string) instead of failing', () => {
    const { log, lines } = capture();
    log.info('count', { rows: 12345678901234567890n, nested: { n: 1n } });
    expect(lines[0]).toMatchObject({ rows: '12345678901234567890', nested: { n: '1' } });
  });
});
