/**
 * CPU per request of the app alone (no HTTP server, no load generator): the number to watch when
 * optimising the handler path. `LVL=error` leaves out the log line, `P=/health` measures the
 * middleware floor. Run: node --import tsx bench/chat-inprocess.ts (add --cpu-prof to profile).
 */

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createApp } from '../functions/app.js';
import { loadConfig } from '../shared/config/index.js';
import { createLogger } from '../shared/log/index.js';
import { ROOT_DIR, readConfigFiles } from '../shared/runtime/node-config.js';
import { createNodeServices } from '../shared/runtime/node-services.js';
import { createNodeTelemetry } from '../shared/telemetry/node-telemetry.js';

const up = spawn(join(ROOT_DIR, 'node_modules', '.bin', 'tsx'), [join(ROOT_DIR, 'bench', 'upstream.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<string>((r) => up.stdout.on('data', (d) => r(/LISTENING (\d+)/.exec(String(d))?.[1] ?? '')));
const key = `myca_${'p'.repeat(40)}`;
const env = {
  MYCA_ENV: 'test',
  MYCA_API_KEYS: `p:agent:${key}`,
  OPENAI_API_KEY: 'k',
  OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
  LLM_RATE_LIMIT_RPM: '0',
};
const config = loadConfig({ env, files: readConfigFiles(env) });
const telemetry = createNodeTelemetry({ serviceName: 'p', version: 'p' });
const services = await createNodeServices({
  config,
  logger: createLogger({ level: (process.env.LVL as 'info') ?? 'info', write: () => {} }),
  telemetry,
  db: null,
  apiKeys: config.apiKeys,
});
const app = createApp(services);
const body = JSON.stringify({ model: 'execution', messages: [{ role: 'user', content: 'hello' }] });
const path = process.env.P ?? '/v1/chat/completions';
const run = async (n: number) => {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = 0; i < n / 20; i++) {
        const r = await app.request(path, {
          method: path === '/health' ? 'GET' : 'POST',
          body: path === '/health' ? undefined : body,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        });
        await r.arrayBuffer();
      }
    }),
  );
  const u = process.cpuUsage(cpu);
  return `${((u.user + u.system) / 1000 / n).toFixed(3)} ms CPU/req, ${((performance.now() - t) / n).toFixed(3)} ms wall/req`;
};
await run(2000);
console.log(path, process.env.LVL ?? 'info', await run(5000));
up.kill();
process.exit(0);
