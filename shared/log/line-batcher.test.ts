import { describe, expect, it } from 'vitest';
import { createLineBatcher } from './line-batcher.js';

describe('line batcher', () => {
  it('writes the lines of one event-loop turn in one write, in order, before the next turn ends', async () => {
    const writes: string[] = [];
    const lines = createLineBatcher((text) => writes.push(text));
    lines.line('{"n":1}');
    lines.line('{"n":2}');
    lines.line('{"n":3}');
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n']);
    lines.line('{"n":4}');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n']);
  });

  it('writes at once when maxBytes are queued, and flush() empties the queue', () => {
    const writes: string[] = [];
    const scheduled: Array<() => void> = [];
    const lines = createLineBatcher((text) => writes.push(text), { maxBytes: 10, schedule: (flush) => scheduled.push(flush) });
    lines.line('abcd');
    expect(writes).toEqual([]);
    lines.line('efgh');
    expect(writes).toEqual(['abcd\nefgh\n']);
    lines.line('tail');
    lines.flush();
    expect(writes).toEqual(['abcd\nefgh\n', 'tail\n']);
    // The flush scheduled earlier finds nothing left and writes nothing.
    for (const flush of scheduled) flush();
    expect(writes).toHaveLength(2);
    expect(scheduled).toHaveLength(1);
  });

  it('loses no line when the process exits before the scheduled flush', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = `
      import { createLineBatcher } from ${JSON.stringify(new URL('./line-batcher.ts', import.meta.url).pathname)};
      const lines = createLineBatcher((text) => process.stdout.write(text));
      process.on('exit', lines.flush);
      lines.line('first');
      lines.line('last');
      process.exit(3);
    `;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(result.status).toBe(3);
    expect(result.stdout).toBe('first\nlast\n');
  });
});
