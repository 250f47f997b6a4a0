import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';

export interface Started {
  child: ChildProcess;
  output: () => string;
  url: string;
}

/**
 * `npm start` as a user runs it: a clean environment, only what the test names. `direct` runs the
 * server in the spawned process itself (node --import tsx), so a signal such as SIGKILL reaches it
 * rather than tsx's wrapper process.
 */
export function run(env: Record<string, string>, options: { direct?: boolean } = {}) {
  const [command, args] = options.direct
    ? [process.execPath, ['--import', 'tsx', 'functions/node.ts']]
    : [join(ROOT_DIR, 'node_modules', '.bin', 'tsx'), ['functions/node.ts']];
  const child = spawn(command, args, {
    cwd: ROOT_DIR,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

export async function start(env: Record<string, string>, options: { direct?: boolean } = {}): Promise<Started> {
  const running = run({ PORT: '0', ...env }, options);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = /"msg":"MYCA Edge is listening"[^\n]*"url":"([^"]+)"/.exec(running.output());
    if (match?.[1]) return { child: running.child, output: running.output, url: match[1] };
    if (running.child.exitCode !== null) throw new Error(`server exited ${running.child.exitCode}:\n${running.output()}`);
    if (Date.now() > deadline) throw new Error(`server did not start in 60 s:\n${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function stop(server: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
  server.child.kill('SIGTERM');
  return exited;
}
