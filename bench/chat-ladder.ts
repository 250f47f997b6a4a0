/**
 * The chat request built up layer by layer, to see what each costs (bench:chat measures only the
 * whole). LEVEL=0 is the bare Hono + undici forwarder (bench:chat's (b2)); each level adds one layer:
 * 1 the observe middleware (async context, correlation, server span, trace headers, log line, HTTP
 * metrics), 2 API-key auth, 3 body validation, 4 the attempt path (`completeChat`: plan, breaker,
 * attempt loop, wire adapter, attempt span, LLM metrics) instead of a direct undici call, 5 the whole
 * app. LOGLEVEL=warn leaves out the log line. (It replaces bench/chat-inprocess.ts, which measured
 * the whole app through app.request without HTTP.) Run against bench/upstream.ts and load it as
 * bench:chat does, ideally pinned (`taskset -c 0` for this, `-c 1` for the rest):
 *
 *   npx esbuild bench/chat-ladder.ts --bundle --platform=node --format=esm --packages=external --outfile=dist/node/ladder.js
 *   LEVEL=3 taskset -c 0 node dist/node/ladder.js http://127.0.0.1:<upstream port>   # prints LISTENING <port> on stderr
 *
 * Session 4 (CPU ms a request, pinned, two rounds): 0 0.075–0.081, 1 0.166–0.171, 2 0.174–0.184,
 * 3 0.172–0.173, 4 0.274–0.317, 5 0.281–0.317.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createApp } from '../functions/app.js';
import { type ChatRequest, ChatRequestSchema } from '../functions/chat-route/contract.js';
import { completeChat } from '../functions/chat-route/index.js';
import { wireText } from '../functions/chat-route/providers/types.js';
import { loadConfig } from '../shared/config/index.js';
import { requireAuth } from '../shared/http/auth.js';
import { observe, tracedResponse } from '../shared/http/middleware.js';
import type { AppEnv } from '../shared/http/types.js';
import { readJson } from '../shared/http/validate.js';
import { createLogger } from '../shared/log/index.js';
import { createLineBatcher } from '../shared/log/line-batcher.js';
import { readConfigFiles } from '../shared/runtime/node-config.js';
import { createNodeServices } from '../shared/runtime/node-services.js';
import { createNodeTelemetry } from '../shared/telemetry/node-telemetry.js';
import { forward } from './hono-forwarder.js';

const level = Number(process.env.LEVEL ?? 0);
const upstream = process.argv[2] as string;
const key = `myca_${'b'.repeat(40)}`;
const env = {
  MYCA_ENV: 'production',
  MYCA_API_KEYS: `bench:agent:${key}`,
  OPENAI_API_KEY: 'k',
  OPENAI_BASE_URL: `${upstream}/v1`,
  LLM_RATE_LIMIT_RPM: '0',
};
const config = loadConfig({ env, files: readConfigFiles(env) });
const telemetry = level >= 1 ? createNodeTelemetry({ serviceName: 'p', version: 'p' }) : null;
const lines = createLineBatcher((t) => process.stdout.write(t));
const services = telemetry
  ? await createNodeServices({
      config,
      logger: createLogger({ level: (process.env.LOGLEVEL as 'info') ?? 'info', write: lines.line }),
      telemetry,
      db: null,
      apiKeys: config.apiKeys,
    })
  : null;
let app: Hono<AppEnv>;
if (level >= 5 && services) app = createApp(services) as unknown as Hono<AppEnv>;
else {
  app = new Hono<AppEnv>();
  if (level >= 1 && services && telemetry)
    app.use(observe({ services, tracerProvider: telemetry.tracerProvider, serviceName: 'p', serviceVersion: 'p' }));
  if (level >= 2) app.use('/v1/*', requireAuth());
  app.post('/v1/chat/completions', async (c) => {
    const body = (level >= 3 ? await readJson(c, ChatRequestSchema, { limit: 8 << 20 }) : await c.req.json()) as ChatRequest;
    if (level >= 4 && services) {
      const done = await completeChat(services, body, body.model);
      return tracedResponse(c, wireText(done.completion), 200, { 'content-type': 'application/json' });
    }
    return forward(upstream, body as unknown as Record<string, unknown>);
  });
}
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => process.stderr.write(`LISTENING ${info.port}\n`));
// Exit on SIGINT so that --cpu-prof writes its profile.
process.once('SIGINT', () => process.exit(0));
