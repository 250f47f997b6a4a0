/** Profiles one in-process chat request path (node --cpu-prof); a tool for finding hot spots. */
import { createApp } from '../functions/app.js';
import { loadConfig } from '../shared/config/index.js';
import { createLogger } from '../shared/log/index.js';
import { readConfigFiles } from '../shared/runtime/node-config.js';
import { createNodeServices } from '../shared/runtime/node-services.js';
import { createNodeTelemetry } from '../shared/telemetry/node-telemetry.js';
import { startFakeLLM } from '../test/support/fake-llm.js';

const llm = await startFakeLLM();
const key = `myca_${'p'.repeat(40)}`;
const env = {
  MYCA_ENV: 'test',
  MYCA_API_KEYS: `p:agent:${key}`,
  OPENAI_API_KEY: 'k',
  OPENAI_BASE_URL: `${llm.url}/v1`,
  LLM_RATE_LIMIT_RPM: '0',
};
const config = loadConfig({ env, files: readConfigFiles(env) });
const telemetry = createNodeTelemetry({ serviceName: 'p', version: 'p' });
const services = await createNodeServices({
  config,
  logger: createLogger({ level: 'info', write: () => {} }),
  telemetry,
  db: null,
  apiKeys: config.apiKeys,
});
const app = createApp(services);
const body = JSON.stringify({ model: 'execution', messages: [{ role: 'user', content: 'hello' }] });
const run = async (n: number) => {
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = 0; i < n / 20; i++) {
        const r = await app.request('/v1/chat/completions', {
          method: 'POST',
          body,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        });
        await r.arrayBuffer();
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  console.log(
    `${n} requests: ${((performance.now() - started) / n).toFixed(3)} ms wall/req, ${((used.user + used.system) / 1000 / n).toFixed(3)} ms CPU/req (incl. fake upstream)`,
  );
};
await run(1000);
await run(3000);
llm.requests.length = 0;
await llm.close();
await telemetry.shutdown();
process.exit(0);
