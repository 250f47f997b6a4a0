import { type ModelsConfig, type ProviderConfig, providerUnavailableReason, speaksResponses } from '../../../shared/config/index.js';
import { createFetchHttp } from '../../../shared/net/fetch-http.js';
import type { HttpClient } from '../../../shared/net/http-client.js';
import { createAnthropicProvider } from './anthropic/index.js';
import { createGeminiProvider } from './gemini/index.js';
import { createOpenAIProvider } from './openai/index.js';
import type { ChatProvider } from './types.js';

export interface ProviderEntry {
  name: string;
  config: ProviderConfig;
  /** Null when unavailable (no key, disabled): listed, never called. */
  provider: ChatProvider | null;
  reason: string | null;
}

export type ProviderRegistry = ReadonlyMap<string, ProviderEntry>;

/** Transports the entry point hands in: the raw HTTP client (Node: an undici pool); without one, one over `fetch`. */
export interface ProviderTransports {
  fetch: typeof globalThis.fetch;
  http?: HttpClient | undefined;
}

/** One factory per provider type: adding a provider is a folder and a line here. */
const FACTORIES: Record<ProviderConfig['type'], (name: string, config: ProviderConfig, transports: { http: HttpClient }) => ChatProvider> =
  {
    openai: (name, config, t) =>
      createOpenAIProvider({
        name,
        type: 'openai',
        apiKey: config.api_key,
        baseURL: config.base_url,
        responsesApi: speaksResponses(config),
        http: t.http,
      }),
    azure: (name, config, t) =>
      createOpenAIProvider({
        name,
        type: 'azure',
        apiKey: config.api_key,
        endpoint: config.endpoint,
        apiVersion: config.api_version,
        responsesApi: speaksResponses(config),
        http: t.http,
      }),
    openai_compatible: (name, config, t) =>
      createOpenAIProvider({
        name,
        type: 'openai_compatible',
        apiKey: config.api_key,
        baseURL: config.base_url,
        responsesApi: speaksResponses(config),
        http: t.http,
      }),
    gemini: (name, config) => createGeminiProvider({ name, apiKey: config.api_key ?? '', baseUrl: config.base_url }),
    anthropic: (name, config, t) =>
      createAnthropicProvider({
        name,
        apiKey: config.api_key ?? '',
        baseURL: config.base_url,
        apiVersion: config.api_version,
        http: t.http,
      }),
  };

/** Builds every configured provider once (per process or isolate). */
export function createProviderRegistry(config: ModelsConfig, given: ProviderTransports): ProviderRegistry {
  const transports = { http: given.http ?? createFetchHttp(given.fetch) };
  const registry = new Map<string, ProviderEntry>();
  for (const [name, providerConfig] of Object.entries(config.providers)) {
    const reason = providerUnavailableReason(providerConfig);
    registry.set(name, {
      name,
      config: providerConfig,
      reason,
      provider: reason ? null : FACTORIES[providerConfig.type](name, providerConfig, transports),
    });
  }
  return registry;
}
