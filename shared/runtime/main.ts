/**
 * The Node process around the server (`npm start` runs functions/node.ts, which calls this): loads
 * and validates config, then runs the server until SIGINT/SIGTERM. An invalid config exits 2 with a
 * message naming each bad key.
 */
import { type Config, ConfigError, effectiveLogLevel, sanitizeConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { createLineBatcher } from '../log/line-batcher.js';
import { DataDirInUseError } from './embedded-postgres.js';
import { loadNodeConfig } from './node-config.js';
import { type NodeApp, type RunningServer, startServer } from './server.js';

export async function runNode(entry: NodeApp): Promise<void> {
  let config: Config;
  try {
    config = loadNodeConfig(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    process.exit(2);
  }
  // Straight to the stream (console.log formats its arguments first), and the lines of one event-loop
  // turn in one write. Writes to a pipe or file are synchronous here, so the exit flush is complete.
  const lines = createLineBatcher((text) => process.stdout.write(text));
  process.on('exit', lines.flush);
  const logger = createLogger({ level: effectiveLogLevel(config), base: { service: config.telemetry.service_name }, write: lines.line });
  let running: RunningServer;
  try {
    running = await startServer(config, logger, entry);
  } catch (error) {
    // A data folder another process holds is the user's to sort out: one plain sentence, no stack.
    if (error instanceof DataDirInUseError) process.stderr.write(`${error.message}\n`);
    else logger.error('start failed', { error: error as Error });
    process.exit(1);
  }
  // After the one-line summary, and at debug only: it is several kilobytes.
  logger.debug('effective configuration', { config: sanitizeConfig(config) });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: error as Error });
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
