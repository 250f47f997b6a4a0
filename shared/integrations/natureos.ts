import createClient from 'openapi-fetch';
import { type BaseClientOptions, callOperation, resilientFetch } from './client.js';
import type { components, paths } from './generated/natureos.js';

export type NatureDevice = components['schemas']['Device'];
export type DeviceInput = components['schemas']['DeviceInput'];
export type StatusUpdate = components['schemas']['StatusUpdate'];
export type ClassifyRequest = components['schemas']['ClassifyRequest'];

/** NatureOS (config/contracts/natureos.openapi.yaml): bearer auth. */
export function createNatureOsClient(options: Omit<BaseClientOptions, 'service' | 'headers'> & { apiKey?: string | undefined }) {
  const base: BaseClientOptions = {
    ...options,
    service: 'natureos',
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
  };
  const client = createClient<paths>({ baseUrl: base.baseUrl, fetch: resilientFetch(base) });
  const device = (id: string) => ({ params: { path: { id } } });
  return {
    service: 'natureos' as const,
    contract: base.contract,
    version: () => callOperation(base, 'getVersion', () => client.GET('/api/version')),
    listDevices: (query: NonNullable<paths['/api/devices']['get']['parameters']['query']> = {}) =>
      callOperation(base, 'listDevices', () => client.GET('/api/devices', { params: { query } })),
    createDevice: (body: DeviceInput) => callOperation(base, 'createDevice', () => client.POST('/api/devices', { body })),
    deviceStatistics: () => callOperation(base, 'deviceStatistics', () => client.GET('/api/devices/statistics')),
    getDevice: (id: string) => callOperation(base, 'getDevice', () => client.GET('/api/devices/{id}', device(id))),
    updateDevice: (id: string, body: DeviceInput) =>
      callOperation(base, 'updateDevice', () => client.PUT('/api/devices/{id}', { ...device(id), body })),
    deleteDevice: (id: string) => callOperation(base, 'deleteDevice', () => client.DELETE('/api/devices/{id}', device(id))),
    updateDeviceStatus: (id: string, body: StatusUpdate) =>
      callOperation(base, 'updateDeviceStatus', () => client.PATCH('/api/devices/{id}/status', { ...device(id), body })),
    listEvents: (query: NonNullable<paths['/api/events']['get']['parameters']['query']> = {}) =>
      callOperation(base, 'listEvents', () => client.GET('/api/events', { params: { query } })),
    classifySignal: (body: ClassifyRequest) => callOperation(base, 'classifySignal', () => client.POST('/api/funga/classify', { body })),
  };
}
export type NatureOsClient = ReturnType<typeof createNatureOsClient>;
