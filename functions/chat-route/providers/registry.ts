import { type ModelsConfig, type ProviderConfig, providerUnavailableReason } from '../../../shared/config/index.js';
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

/** One factory per provider type: adding a provider is a folder and a line here. */
const FACTORIES: Record<ProviderConfig['type'], (name: string, config: ProviderConfig, fetch: typeof globalThis.fetch) => ChatProvider> = {
  openai: (name, config, fetch) => createOpenAIProvider({ name, type: 'openai', apiKey: config.api_key, baseURL: config.base_url, fetch }),
  azure: (name, config, fetch) =>
    createOpenAIProvider({ name, type: 'azure', apiKey: config.api_key, endpoint: config.endpoint, apiVersion: config.api_version, fetch }),
  openai_compatible: (name, config, fetch) =>
    createOpenAIProvider({ name, type: 'openai_compatible', apiKey: config.api_key, baseURL: config.base_url, fetch }),
  gemini: (name, config) => createGeminiProvider({ name, apiKey: config.api_key ?? '', baseUrl: config.base_url }),
};

/** Builds every configured provider once (per process or isolate). */
export function createProviderRegistry(config: ModelsConfig, fetch: typeof globalThis.fetch): ProviderRegistry {
  const registry = new Map<string, ProviderEntry>();
  for (const [name, providerConfig] of Object.entries(config.providers)) {
    const reason = providerUnavailableReason(providerConfig);
    registry.set(name, {
      name,
      config: providerConfig,
      reason,
      provider: reason ? null : FACTORIES[providerConfig.type](name, providerConfig, fetch),
    });
  }
  return registry;
}
