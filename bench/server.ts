import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT_DIR } from '../shared/runtime/node-config.js';

/** Bundles the Node server as the Docker image runs it (`npm run build:node` → dist/node/main.js). */
export function buildServer(): void {
  execFileSync('npm', ['run', '--silent', 'build:node'], { cwd: ROOT_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Node flags of the server: BENCH_PROFILE=1 writes a CPU profile to .data/profiles/ on exit. */
export function serverArgs(): string[] {
  return process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT_DIR, '.data', 'profiles')}`] : [];
}
