import { type ModelsConfig, type ProviderConfig, providerUnavailableReason } from '../../../shared/config/index.js';
import type { HttpClient } from '../../../shared/net/http-client.js';
import { createGeminiProvider } from './gemini/index.js';
import { createOpenAIProvider, type OpenAIProviderOptions } from './openai/index.js';
import { createOpenAIWireProvider } from './openai/wire.js';
import type { ChatProvider } from './types.js';

export interface ProviderEntry {
  name: string;
  config: ProviderConfig;
  /** Null when unavailable (no key, disabled): listed, never called. */
  provider: ChatProvider | null;
  reason: string | null;
}

export type ProviderRegistry = ReadonlyMap<string, ProviderEntry>;

/** Transports the entry point may hand in: Node gives an undici pool; elsewhere the SDK uses fetch. */
export interface ProviderTransports {
  fetch: typeof globalThis.fetch;
  http?: HttpClient | undefined;
}

/** OpenAI-type providers: over the raw HTTP client when there is one (Node), else the official SDK. */
const openAIType = (options: OpenAIProviderOptions, transports: ProviderTransports) =>
  transports.http
    ? createOpenAIWireProvider({ ...options, http: transports.http })
    : createOpenAIProvider({ ...options, fetch: transports.fetch });

/** One factory per provider type: adding a provider is a folder and a line here. */
const FACTORIES: Record<ProviderConfig['type'], (name: string, config: ProviderConfig, transports: ProviderTransports) => ChatProvider> = {
  openai: (name, config, t) => openAIType({ name, type: 'openai', apiKey: config.api_key, baseURL: config.base_url }, t),
  azure: (name, config, t) =>
    openAIType({ name, type: 'azure', apiKey: config.api_key, endpoint: config.endpoint, apiVersion: config.api_version }, t),
  openai_compatible: (name, config, t) =>
    openAIType({ name, type: 'openai_compatible', apiKey: config.api_key, baseURL: config.base_url }, t),
  gemini: (name, config) => createGeminiProvider({ name, apiKey: config.api_key ?? '', baseUrl: config.base_url }),
};

/** Builds every configured provider once (per process or isolate). */
export function createProviderRegistry(config: ModelsConfig, transports: ProviderTransports): ProviderRegistry {
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
