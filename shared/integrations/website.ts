import createClient from 'openapi-fetch';
import { type BaseClientOptions, callOperation, resilientFetch } from './client.js';
import type { paths } from './generated/website.js';

/** The Mycosoft website, the subset agents use (config/contracts/website.openapi.yaml). */
export function createWebsiteClient(options: Omit<BaseClientOptions, 'service' | 'headers'>) {
  const base: BaseClientOptions = { ...options, service: 'website', baseUrl: options.baseUrl.replace(/\/+$/, ''), headers: {} };
  const client = createClient<paths>({ baseUrl: base.baseUrl, fetch: resilientFetch(base) });
  return {
    service: 'website' as const,
    contract: base.contract,
    health: () => callOperation(base, 'getHealth', () => client.GET('/api/health')),
    search: (q: string) => callOperation(base, 'searchContent', () => client.GET('/api/search', { params: { query: { q } } })),
    content: (slug: string) => callOperation(base, 'getContent', () => client.GET('/api/content/{slug}', { params: { path: { slug } } })),
  };
}
export type WebsiteClient = ReturnType<typeof createWebsiteClient>;
