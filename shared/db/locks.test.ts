import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../runtime/node-config.js';
import { LOCKS } from './locks.js';

describe('advisory lock ids', () => {
  it('are distinct, and the migrations take only the audit chain one', () => {
    expect(new Set(Object.values(LOCKS)).size).toBe(Object.keys(LOCKS).length);
    const dir = join(ROOT_DIR, 'migrations');
    for (const file of readdirSync(dir)) {
      for (const match of readFileSync(join(dir, file), 'utf8').matchAll(/pg_advisory_xact_lock\((\d+)\)/g))
        expect(Number(match[1]), file).toBe(LOCKS.auditChain);
    }
  });
});
