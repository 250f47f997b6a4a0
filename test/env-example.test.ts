import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OTHER_ENV_VARS } from '../shared/config/index.js';
import { isSecretKey } from '../shared/redact/index.js';
import { ROOT_DIR } from '../shared/runtime/node-config.js';

const configDir = join(ROOT_DIR, 'config');

/** Every `${VAR}` the config YAML files and the compose file read. */
function variablesInConfig(): Set<string> {
  const names = new Set<string>();
  const files = [
    ...readdirSync(configDir)
      .filter((name) => name.endsWith('.yaml'))
      .map((name) => join(configDir, name)),
    join(ROOT_DIR, 'docker-compose.yml'),
  ];
  for (const file of files) {
    const withoutComments = readFileSync(file, 'utf8').replace(/(^|\s)#.*$/gm, '');
    for (const match of withoutComments.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(match[1] as string);
  }
  return names;
}

function variablesInExample(): Map<string, string> {
  const lines = readFileSync(join(ROOT_DIR, '.env.example'), 'utf8').split('\n');
  const out = new Map<string, string>();
  lines.forEach((line, index) => {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) out.set(match[1] as string, lines[index - 1] ?? '');
  });
  return out;
}

describe('.env.example', () => {
  it('documents exactly the variables the configuration reads', () => {
    const expected = new Set([...variablesInConfig(), ...OTHER_ENV_VARS]);
    const documented = new Set(variablesInExample().keys());
    expect(
      [...expected].filter((name) => !documented.has(name)),
      'read but not in .env.example',
    ).toEqual([]);
    expect(
      [...documented].filter((name) => !expected.has(name)),
      'in .env.example but never read',
    ).toEqual([]);
  });

  it('gives every variable a comment line above it (or within its group)', () => {
    const text = readFileSync(join(ROOT_DIR, '.env.example'), 'utf8');
    for (const name of variablesInExample().keys()) {
      const before = text.slice(0, text.indexOf(`\n${name}=`));
      expect(before.trimEnd().split('\n').at(-1), name).toMatch(/^(#|[A-Z_]+=)/);
    }
  });

  it('holds no value that could be a working secret', () => {
    for (const [name, value] of [...readFileSync(join(ROOT_DIR, '.env.example'), 'utf8').matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [
      m[1],
      m[2],
    ])) {
      if (isSecretKey(name ?? '')) expect(value, name).toBe('');
    }
  });
});
