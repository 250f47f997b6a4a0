import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../../shared/http/types.js';
import type { Services } from '../../shared/services.js';

export const CheckSchema = z.object({
  status: z.enum(['up', 'down', 'skipped']),
  latency_ms: z.number().optional(),
  /** What is used: `postgres`, `embedded` (PGlite), `upstash`, `memory`, `qdrant`. */
  mode: z.string().optional(),
  error: z.string().optional(),
});
export const IntegrationCheckSchema = z.object({
  status: z.enum(['up', 'down', 'skipped']),
  /** The pinned contract's version and the version the service reports. */
  contract: z.string().optional(),
  version: z.string().optional(),
  /** Same major version as the pinned contract. */
  compatible: z.boolean().optional(),
  latency_ms: z.number().optional(),
  error: z.string().optional(),
});
export const ReadyResponseSchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.object({ postgres: CheckSchema, redis: CheckSchema, qdrant: CheckSchema }),
  /** Mycosoft's systems: reported, but they do not make this service not ready. */
  integrations: z.record(z.string(), IntegrationCheckSchema),
});
export type IntegrationCheck = z.infer<typeof IntegrationCheckSchema>;
export type Check = z.infer<typeof CheckSchema>;
export type ReadyResponse = z.infer<typeof ReadyResponseSchema>;

type Probe = { mode: string; run: (signal: AbortSignal) => Promise<void> } | { skipped: string; mode?: string };

/** Runs one probe with a deadline; a probe that hangs counts as down, never as a hung request. */
async function check(probe: Probe, timeoutMs: number, now: () => number): Promise<Check> {
  if ('skipped' in probe) return { status: 'skipped', ...(probe.mode ? { mode: probe.mode } : {}), error: probe.skipped };
  const controller = new AbortController();
  const started = now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    await Promise.race([probe.run(controller.signal), deadline]);
    return { status: 'up', mode: probe.mode, latency_ms: now() - started };
  } catch (error) {
    return { status: 'down', mode: probe.mode, latency_ms: now() - started, error: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

function probes(services: Services): Record<keyof ReadyResponse['checks'], Probe> {
  const { db, kv, vector } = services;
  return {
    postgres: db ? { mode: db.kind, run: () => db.ping() } : { skipped: 'DATABASE_URL is not set' },
    // The in-memory store cannot be down; it is shown so that an operator sees Redis is not in use.
    redis:
      kv.kind === 'upstash' ? { mode: 'upstash', run: () => kv.ping() } : { skipped: 'UPSTASH_REDIS_REST_URL is not set', mode: kv.kind },
    qdrant: vector ? { mode: vector.kind, run: (signal) => vector.ping(signal) } : { skipped: 'QDRANT_URL is not set' },
  };
}

const ENV_OF = { mindex: 'MINDEX_BASE_URL', natureos: 'NATUREOS_BASE_URL', website: 'WEBSITE_BASE_URL' } as const;

/** Reachability of each configured integration and whether its version matches the pinned contract's major. */
async function integrationChecks(services: Services, timeoutMs: number): Promise<Record<string, IntegrationCheck>> {
  const { mindex, natureos, website } = services.integrations;
  const versionOf: Record<keyof typeof ENV_OF, (() => Promise<{ version?: string }>) | null> = {
    mindex: mindex ? () => mindex.version() : null,
    natureos: natureos ? () => natureos.version() : null,
    website: website ? () => website.health() : null,
  };
  const contracts = { mindex: mindex?.contract, natureos: natureos?.contract, website: website?.contract };
  const entries = await Promise.all(
    (Object.keys(ENV_OF) as Array<keyof typeof ENV_OF>).map(async (name): Promise<[string, IntegrationCheck]> => {
      const probe = versionOf[name];
      const contract = contracts[name];
      if (!probe || !contract) return [name, { status: 'skipped', error: `${ENV_OF[name]} is not set` }];
      let version = '';
      // The same bounded probe as the dependencies above; it also learns the version.
      const result = await check(
        {
          mode: name,
          run: async () => {
            version = (await probe()).version ?? '';
          },
        },
        timeoutMs,
        () => performance.now(),
      );
      const latency = result.latency_ms === undefined ? {} : { latency_ms: Math.round(result.latency_ms * 10) / 10 };
      if (result.status !== 'up') return [name, { status: result.status, contract: contract.version, ...latency, error: result.error }];
      const compatible = Number(/^(\d+)\./.exec(version)?.[1]) === contract.major;
      return [
        name,
        {
          status: 'up',
          contract: contract.version,
          version,
          compatible,
          ...latency,
          ...(compatible ? {} : { error: `the service reports ${version || 'no version'}; the pinned contract is ${contract.version}` }),
        },
      ];
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * `GET /ready`: readiness of Postgres, Redis (Upstash REST) and Qdrant, probed in parallel, each
 * bounded by `READY_TIMEOUT_MS`. 503 names what is down.
 */
export function createReady() {
  return new Hono<AppEnv>().get('/ready', async (c) => {
    const services = c.get('services');
    const timeoutMs = services.config.ready.timeout_ms;
    const now = () => performance.now();
    const integrationsPromise = integrationChecks(services, timeoutMs);
    const entries = await Promise.all(
      Object.entries(probes(services)).map(async ([name, probe]) => {
        const result = await check(probe, timeoutMs, now);
        if (result.latency_ms !== undefined) result.latency_ms = Math.round(result.latency_ms * 10) / 10;
        return [name, result] as const;
      }),
    );
    const checks = Object.fromEntries(entries) as ReadyResponse['checks'];
    const down = entries.filter(([, result]) => result.status === 'down').map(([name]) => name);
    if (down.length > 0) c.set('logFields', { ...c.get('logFields'), down });
    const body: ReadyResponse = { status: down.length === 0 ? 'ready' : 'not_ready', checks, integrations: await integrationsPromise };
    c.header('cache-control', 'no-store');
    return c.json(body, down.length === 0 ? 200 : 503);
  });
}
