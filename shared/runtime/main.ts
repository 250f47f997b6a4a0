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
  // The signal handlers come first: a SIGTERM sent the moment "listening" is logged (a supervisor,
  // a test) must stop the server cleanly, not meet Node's default action (exit 143).
  let started: Promise<RunningServer> | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    if (!started) process.exit(0);
    started
      .then((running) => running.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error: error as Error });
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  try {
    started = startServer(config, logger, entry);
    await started;
  } catch (error) {
    // A data folder another process holds is the user's to sort out: one plain sentence, no stack.
    if (error instanceof DataDirInUseError) process.stderr.write(`${error.message}\n`);
    else logger.error('start failed', { error: error as Error });
    process.exit(1);
  }
  // After the one-line summary, and at debug only: it is several kilobytes.
  logger.debug('effective configuration', { config: sanitizeConfig(config) });
}
