import { z } from 'zod';
import { IntegrationError, type Integrations } from '../../../shared/integrations/index.js';
import { type ActionContext, type ActionDefinition, ActionError, defineAction } from './types.js';

const NAMES = { mindex: 'MINDEX', natureos: 'NatureOS' } as const;
const ENV = { mindex: 'MINDEX_BASE_URL', natureos: 'NATUREOS_BASE_URL' } as const;

/** The configured client, or a 503 that says how to configure it (at submission and at execution). */
function clientOf<K extends 'mindex' | 'natureos'>(ctx: Pick<ActionContext, 'integrations'>, service: K): NonNullable<Integrations[K]> {
  const client = ctx.integrations[service];
  if (!client) throw new ActionError(503, `${NAMES[service]} is not configured`, `set ${ENV[service]} (see .env.example)`);
  return client as NonNullable<Integrations[K]>;
}

/** An integration failure as the action's answer: which service, which operation, what happened. */
async function calling<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof IntegrationError)) throw error;
    if (error.kind === 'timeout') throw new ActionError(504, error.message);
    if (error.kind === 'status' && error.status === 404) throw new ActionError(404, error.message);
    if (error.kind === 'status' && (error.status === 400 || error.status === 422)) throw new ActionError(422, error.message);
    if (error.kind === 'status' && error.status === 429)
      throw new ActionError(503, error.message, 'the service is rate limiting; retry later');
    throw new ActionError(
      502,
      error.message,
      error.kind === 'contract' ? `the ${error.service} contract is pinned in config/contracts/` : undefined,
    );
  }
}

const Page = { limit: z.number().int().min(1).max(100).optional(), offset: z.number().int().min(0).optional() };
const Result = z.looseObject({});

export const mindexSearchTaxa = defineAction({
  name: 'mindex.search_taxa',
  category: 'read',
  description: 'Search MINDEX taxa (fungi and more) by name, rank or kingdom; paginated.',
  inputSchema: z.strictObject({
    q: z.string().max(200).optional(),
    rank: z.enum(['kingdom', 'phylum', 'class', 'order', 'family', 'genus', 'species']).optional(),
    kingdom: z.string().max(64).optional(),
    ...Page,
  }),
  outputSchema: Result,
  check: (ctx) => void clientOf(ctx, 'mindex'),
  execute: (ctx, input) => calling(() => clientOf(ctx, 'mindex').searchTaxa(input)),
});

export const mindexGetTaxon = defineAction({
  name: 'mindex.get_taxon',
  category: 'read',
  description: 'Get one MINDEX taxon with its traits (edibility, sizes, …).',
  inputSchema: z.strictObject({ id: z.string().min(1).max(128) }),
  outputSchema: Result,
  check: (ctx) => void clientOf(ctx, 'mindex'),
  execute: (ctx, input) => calling(() => clientOf(ctx, 'mindex').getTaxon(input.id)),
});

export const mindexListObservations = defineAction({
  name: 'mindex.list_observations',
  category: 'read',
  description: 'List MINDEX observations of a taxon in a time window and bounding box (GeoJSON points).',
  inputSchema: z.strictObject({
    taxon_id: z.string().max(128).optional(),
    start: z.iso.datetime().optional(),
    end: z.iso.datetime().optional(),
    bbox: z
      .string()
      .regex(/^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$/, 'minLon,minLat,maxLon,maxLat')
      .optional(),
    ...Page,
  }),
  outputSchema: Result,
  check: (ctx) => void clientOf(ctx, 'mindex'),
  execute: (ctx, input) => calling(() => clientOf(ctx, 'mindex').listObservations(input)),
});

const DeviceStatus = z.enum(['active', 'inactive', 'maintenance', 'error']);

export const natureosListDevices = defineAction({
  name: 'natureos.list_devices',
  category: 'read',
  description: 'List NatureOS devices, optionally by status; paginated.',
  inputSchema: z.strictObject({ status: DeviceStatus.optional(), ...Page }),
  outputSchema: Result,
  check: (ctx) => void clientOf(ctx, 'natureos'),
  execute: (ctx, input) => calling(() => clientOf(ctx, 'natureos').listDevices(input)),
});

export const natureosUpdateDeviceStatus = defineAction({
  name: 'natureos.update_device_status',
  category: 'write',
  description: 'Set a NatureOS device status (active, inactive, maintenance, error) with a reason.',
  inputSchema: z.strictObject({ id: z.string().min(1).max(128), status: DeviceStatus, reason: z.string().max(500).optional() }),
  outputSchema: Result,
  check: (ctx) => void clientOf(ctx, 'natureos'),
  execute: (ctx, input) =>
    calling(() =>
      clientOf(ctx, 'natureos').updateDeviceStatus(input.id, { status: input.status, ...(input.reason ? { reason: input.reason } : {}) }),
    ),
});

export const natureosClassifySignal = defineAction({
  name: 'natureos.classify_signal',
  category: 'external',
  description: 'Classify a fungal bio-signal (a series of samples) with NatureOS.',
  inputSchema: z.strictObject({ signal: z.array(z.number()).min(4).max(4096), sample_rate_hz: z.number().positive().optional() }),
  outputSchema: Result,
  check: (ctx) => void clientOf(ctx, 'natureos'),
  execute: (ctx, input) => calling(() => clientOf(ctx, 'natureos').classifySignal(input)),
});

export const INTEGRATION_ACTIONS = [
  mindexSearchTaxa,
  mindexGetTaxon,
  mindexListObservations,
  natureosListDevices,
  natureosUpdateDeviceStatus,
  natureosClassifySignal,
] as Array<ActionDefinition<never, unknown>>;
