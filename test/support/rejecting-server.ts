/**
 * The Node server as `npm start` builds it, plus a way for a test to make a promise rejection that
 * nothing handles: each line on stdin is a correlation id, and a rejection is made inside a request
 * context carrying it. Used by test/unhandled-rejection.test.ts.
 */
import { context } from '@opentelemetry/api';
import { createApp, sweep } from '../../functions/app.js';
import { createLogger } from '../../shared/log/index.js';
import { loadNodeConfig } from '../../shared/runtime/node-config.js';
import { startServer } from '../../shared/runtime/server.js';
import { resolveCorrelation, withCorrelation } from '../../shared/telemetry/correlation.js';

const config = loadNodeConfig(process.env);
const logger = createLogger({ level: 'info', write: (line) => process.stdout.write(`${line}\n`) });
const running = await startServer(config, logger, {
  createApp,
  sweep: (services) => sweep({ services, logger: services.logger }),
});
process.stdin.on('data', (data: Buffer) => {
  for (const id of data.toString('utf8').split('\n').filter(Boolean)) {
    context.with(withCorrelation(context.active(), resolveCorrelation({ correlationId: id })), () => {
      void Promise.reject(new Error(`probe rejection ${id}`));
    });
  }
});
process.once('SIGTERM', () => {
  void running.stop().then(() => process.exit(0));
});
