import createClient from 'openapi-fetch';
import { type BaseClientOptions, callOperation, resilientFetch } from './client.js';
import type { components, paths } from './generated/mindex.js';

export type Taxon = components['schemas']['Taxon'];
export type TaxonDetail = components['schemas']['TaxonDetail'];
export type TaxonQuery = NonNullable<paths['/taxa']['get']['parameters']['query']>;
export type ObservationQuery = NonNullable<paths['/observations']['get']['parameters']['query']>;

/** MINDEX (config/contracts/mindex.openapi.yaml): X-API-Key auth, every path under /api/mindex. */
export function createMindexClient(options: Omit<BaseClientOptions, 'service' | 'headers'> & { apiKey?: string | undefined }) {
  const base: BaseClientOptions = {
    ...options,
    service: 'mindex',
    baseUrl: `${options.baseUrl.replace(/\/+$/, '')}/api/mindex`,
    headers: options.apiKey ? { 'x-api-key': options.apiKey } : {},
  };
  const client = createClient<paths>({ baseUrl: base.baseUrl, fetch: resilientFetch(base) });
  return {
    service: 'mindex' as const,
    contract: base.contract,
    health: () => callOperation(base, 'getHealth', () => client.GET('/health')),
    version: () => callOperation(base, 'getVersion', () => client.GET('/version')),
    searchTaxa: (query: TaxonQuery) => callOperation(base, 'searchTaxa', () => client.GET('/taxa', { params: { query } })),
    getTaxon: (id: string) => callOperation(base, 'getTaxon', () => client.GET('/taxa/{id}', { params: { path: { id } } })),
    listObservations: (query: ObservationQuery) =>
      callOperation(base, 'listObservations', () => client.GET('/observations', { params: { query } })),
    listDevices: (query: { limit?: number; offset?: number } = {}) =>
      callOperation(base, 'listDevices', () => client.GET('/devices', { params: { query } })),
    latestTelemetry: () => callOperation(base, 'latestTelemetry', () => client.GET('/telemetry/devices/latest')),
  };
}
export type MindexClient = ReturnType<typeof createMindexClient>;
