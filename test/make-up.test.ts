/**
 * `make up` on a fresh clone: a .env with random secrets is made when there is none, and Compose
 * is found whichever version is installed (or the message says what to install).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT_DIR } from '../shared/runtime/node-config.js';

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder of fake commands, each a shell script body. */
function fakeBin(commands: Record<string, string>): string {
  const bin = tempDir('myca-bin-');
  for (const [name, body] of Object.entries(commands)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  for (const tool of ['sh', 'bash', 'cat', 'dirname', 'seq', 'sleep']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found) spawnSync('ln', ['-s', found, join(bin, tool)]);
  }
  return bin;
}

const compose = (bin: string, ...args: string[]) =>
  spawnSync('bash', [join(ROOT_DIR, 'scripts', 'compose.sh'), ...args], { env: { PATH: bin }, encoding: 'utf8' });

describe('make up on a fresh clone', () => {
  it('creates .env from .env.example with random secrets, and leaves an existing one alone', () => {
    const dir = tempDir('myca-clone-');
    copyFileSync(join(ROOT_DIR, '.env.example'), join(dir, '.env.example'));
    const first = spawnSync('bash', [join(ROOT_DIR, 'scripts', 'init-env.sh'), dir], { encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    const env = readFileSync(join(dir, '.env'), 'utf8');
    for (const name of ['POSTGRES_PASSWORD', 'UPSTASH_REDIS_REST_TOKEN', 'GRAFANA_ADMIN_PASSWORD', 'LITELLM_MASTER_KEY']) {
      expect(env).toMatch(new RegExp(`^${name}=[0-9a-f]{48}$`, 'm'));
    }
    expect(env.match(/^POSTGRES_PASSWORD=(.*)$/m)?.[1]).not.toBe(env.match(/^GRAFANA_ADMIN_PASSWORD=(.*)$/m)?.[1]);
    // Everything else is .env.example as it is.
    expect(env.replace(/^([A-Z_]+(PASSWORD|TOKEN|MASTER_KEY))=.*$/gm, '$1=')).toBe(readFileSync(join(dir, '.env.example'), 'utf8'));
    expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
    spawnSync('bash', [join(ROOT_DIR, 'scripts', 'init-env.sh'), dir]);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(env);
  });

  it('with that .env, docker-compose (v1) accepts the stack with no secret typed in', (ctx) => {
    ctx.skip(!has('docker-compose'), 'no docker-compose on PATH (apt-get install docker-compose; CI has it)');
    const dir = tempDir('myca-clone-');
    copyFileSync(join(ROOT_DIR, '.env.example'), join(dir, '.env.example'));
    copyFileSync(join(ROOT_DIR, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    mkdirSync(join(dir, 'config'));
    spawnSync('bash', [join(ROOT_DIR, 'scripts', 'init-env.sh'), dir]);
    const result = spawnSync('docker-compose', ['-p', 'myca-edge', 'config', '-q'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
  });

  it('finds Compose v2, else v1, and passes the arguments through', () => {
    const v2 = fakeBin({ docker: '[ "$1 $2" = "compose version" ] && exit 0; echo "docker $*"' });
    expect(compose(v2, '-p', 'myca-edge', 'ps').stdout.trim()).toBe('docker compose -p myca-edge ps');
    // A Docker CLI without the compose plugin (where `docker compose -p` failed with "unknown shorthand flag").
    const v1 = fakeBin({ docker: 'echo "unknown shorthand flag: p in -p" >&2; exit 125', 'docker-compose': 'echo "docker-compose $*"' });
    expect(compose(v1, '-p', 'myca-edge', 'ps').stdout.trim()).toBe('docker-compose -p myca-edge ps');
  });

  it('says which Compose to install when there is none', () => {
    const none = fakeBin({ docker: 'exit 125' });
    const result = compose(none, 'up', '-d');
    expect(result.status).toBe(127);
    expect(result.stderr).toContain('docker compose');
    expect(result.stderr).toContain('apt-get install docker-compose');
  });
});
