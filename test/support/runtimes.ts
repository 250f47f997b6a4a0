import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { type ServerType, serve } from '@hono/node-server';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Miniflare } from 'miniflare';
import { inject } from 'vitest';
import { createApp, sweep } from '../../functions/app.js';
import { loadConfig } from '../../shared/config/index.js';
import { createDatabase, type Database } from '../../shared/db/index.js';
import { createLogger } from '../../shared/log/index.js';
import { readConfigFiles } from '../../shared/runtime/node-config.js';
import { createNodeServices } from '../../shared/runtime/node-services.js';
import type { Services } from '../../shared/services.js';
import { createNodeTelemetry } from '../../shared/telemetry/node-telemetry.js';

export const RUNTIMES = ['node', 'workerd'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** The same app, served by one runtime; tests talk to it only over `fetch`. */
export interface RuntimeHandle {
  name: RuntimeName;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** JSON log lines the app wrote. */
  logs(): Array<Record<string, unknown>>;
  /** Everything the app wrote, JSON or not (workerd reports uncaught errors as plain text). */
  output(): string;
  /** Spans (Node only: workerd spans leave over OTLP). */
  spans: InMemorySpanExporter | null;
  services: Services | null;
  /** The file actions' files: a folder on Node (MYCA_FILES_ROOT), the FILES R2 bucket in workerd. */
  files: {
    write(path: string, content: string): Promise<void>;
    read(path: string): Promise<string | null>;
  };
  /** A real HTTP address of the app on 127.0.0.1 (for browsers): Node serves it on first use. */
  url(): Promise<string>;
  /** One run of the periodic sweep: Node's timer, workerd's Cron Trigger. */
  sweep(): Promise<void>;
  /** Exports buffered spans now (Node; workerd flushes after every request). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the app on `name` with `env` as its environment (bindings in workerd). Node runs the app
 * in-process through the same Services builder as the server; workerd runs the wrangler bundle.
 */
export async function startRuntime(name: RuntimeName, env: Record<string, string>): Promise<RuntimeHandle> {
  const fullEnv = { MYCA_ENV: 'test', LOG_LEVEL: 'debug', ...env };
  const lines: string[] = [];
  const logs = () =>
    lines
      .flatMap((line) => line.split('\n'))
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  if (name === 'node') {
    const config = loadConfig({ env: fullEnv, files: readConfigFiles(fullEnv) });
    const spans = new InMemorySpanExporter();
    const telemetry = createNodeTelemetry({
      serviceName: 'myca-test',
      version: 'test',
      otlpEndpoint: config.telemetry.otlp_endpoint,
      spanProcessors: [new SimpleSpanProcessor(spans)],
    });
    const db: Database | null = config.database.url ? createDatabase(config.database.url, { max: 4, connectTimeoutSeconds: 2 }) : null;
    const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });
    const services = await createNodeServices({ config, logger, telemetry, db, apiKeys: config.apiKeys });
    const app = createApp(services);
    const root = config.actions.files_root ?? join(config.data_dir, 'files');
    let server: ServerType | undefined;
    let address: Promise<string> | undefined;
    return {
      url: () => {
        address ??= new Promise((resolve) => {
          server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => resolve(`http://127.0.0.1:${info.port}`));
        });
        return address;
      },
      name,
      fetch: async (path, init) => app.request(path, init),
      logs,
      output: () => lines.join(''),
      spans,
      services,
      sweep: async () => {
        await sweep({ services, logger: services.logger });
      },
      files: {
        write: async (path, content) => {
          await mkdir(dirname(join(root, path)), { recursive: true });
          await writeFile(join(root, path), content);
        },
        read: (path) => readFile(join(root, path), 'utf8').catch(() => null),
      },
      flush: async () => {
        await (telemetry.tracerProvider as unknown as { forceFlush(): Promise<void> }).forceFlush();
      },
      close: async () => {
        if (server) await new Promise((resolve) => (server as ServerType).close(resolve));
        await db?.close();
        await telemetry.shutdown();
      },
    };
  }
  const mf = new Miniflare({
    scriptPath: inject('workerScript'),
    modules: true,
    modulesRules: [{ type: 'Text', include: ['**/*.yaml'] }],
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['nodejs_compat'],
    cf: false,
    bindings: fullEnv,
    r2Buckets: ['FILES'],
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
      stderr.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    },
  });
  const ready = await mf.ready;
  return {
    name,
    url: async () => ready.origin,
    fetch: async (path, init) => {
      const response = await mf.dispatchFetch(`http://localhost${path}`, init as never);
      // Miniflare's Response is undici's; hand tests a standard one.
      return new Response(await response.arrayBuffer(), { status: response.status, headers: new Headers([...response.headers]) });
    },
    logs: () => {
      return logs();
    },
    output: () => lines.join(''),
    spans: null,
    services: null,
    sweep: async () => {
      await (await mf.getWorker()).scheduled({ cron: '* * * * *' });
    },
    files: {
      write: async (path, content) => {
        await (await mf.getR2Bucket('FILES')).put(path, content);
      },
      read: async (path) => {
        const object = await (await mf.getR2Bucket('FILES')).get(path);
        return object ? object.text() : null;
      },
    },
    flush: async () => {},
    close: () => mf.dispose(),
  };
}

/** Waits until `predicate` holds (log lines from workerd arrive asynchronously). */
export async function eventually<T>(read: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
