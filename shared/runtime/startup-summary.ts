/**
 * The start-up log: one short line of what is in force, a warning when no LLM provider can be used,
 * the full (sanitised) configuration at debug only.
 */
import type { Config } from '../config/index.js';
import { providerUnavailableReason } from '../config/models.js';

/** Providers of models.yaml that can be used now, and why each other one cannot. */
export function providerStates(config: Config): { usable: string[]; unusable: Record<string, string> } {
  const usable: string[] = [];
  const unusable: Record<string, string> = {};
  for (const [name, provider] of Object.entries(config.llm.providers)) {
    const reason = providerUnavailableReason(provider);
    if (reason) unusable[name] = reason;
    else usable.push(name);
  }
  return { usable, unusable };
}

/** The variables that would make a provider usable, for the warning. */
const PROVIDER_HINT =
  'set OPENAI_API_KEY, AZURE_OPENAI_API_KEY (+ AZURE_OPENAI_ENDPOINT), GEMINI_API_KEY, ANTHROPIC_API_KEY or LOCAL_LLM_BASE_URL';

export interface SummaryInput {
  config: Config;
  url: string;
  runtime: 'node' | 'workerd';
  version: string;
  database: string;
  kv: string;
  vector: string;
  keys: string;
}

/** The one info line of a start (`MYCA Edge is listening`) and, when needed, its warning. */
export function startupSummary(input: SummaryInput): {
  fields: Record<string, unknown>;
  warning?: { message: string; fields: Record<string, unknown> };
} {
  const { usable, unusable } = providerStates(input.config);
  const fields = {
    url: input.url,
    runtime: input.runtime,
    version: input.version,
    env: input.config.env,
    database: input.database,
    kv: input.kv,
    vector: input.vector,
    keys: input.keys,
    providers: usable,
  };
  if (usable.length > 0) return { fields };
  return {
    fields,
    warning: {
      message: `no LLM provider is usable: every model answers 503 (${PROVIDER_HINT}; .env.example lists them)`,
      fields: { providers: unusable },
    },
  };
}
