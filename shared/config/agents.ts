import { z } from 'zod';

/** Agents as configuration (config/agents.yaml): what each may think with and act through. */
const Agent = z.strictObject({
  description: z.string().min(1),
  system_prompt: z.string().min(1),
  /** A task alias (or model name) of models.yaml: the agent thinks through chat-route with it. */
  model: z.string().min(1),
  /** Catalog action types the agent is offered as tools; nothing else can be called. */
  actions: z.array(z.string().min(1)).default([]),
  /** Model calls per run; a run that has not answered by then fails. */
  max_steps: z.coerce.number().int().min(1).max(100).default(8),
  /** Prompt plus completion tokens per run. */
  max_tokens: z.coerce.number().int().min(1).default(100_000),
  /** Estimated cost per run from models.yaml prices (0: no limit). */
  max_cost_usd: z.coerce.number().min(0).default(1),
  temperature: z.coerce.number().min(0).max(2).optional(),
  /**
   * The API key ids that may act as this agent (submit its actions, start its runs). Without it,
   * only the key whose id is the agent's name may. Listing keys replaces that default.
   */
  keys: z.array(z.string().regex(/^[A-Za-z0-9._@:-]{1,128}$/, 'key ids are 1-128 of A-Z a-z 0-9 . _ @ : -')).optional(),
});

export const AgentsConfigSchema = z.strictObject({
  agents: z
    .record(z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'agent names are a-z, 0-9, _ and -, starting with a letter'), Agent)
    .default({}),
  runs: z
    .strictObject({
      /** How long `POST /v1/agents/:name/runs` waits for a run before answering 202 and going on in the background. */
      wait_ms: z.coerce.number().int().min(0).max(600_000).default(25_000),
    })
    .default({ wait_ms: 25_000 }),
});
export type AgentsConfig = z.output<typeof AgentsConfigSchema>;
export type AgentConfig = AgentsConfig['agents'][string];

/** What an agent id may be (the `agent_id` of an action, the name of an agents.yaml entry). */
export const AGENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The agents a key acts as: the one named like the key's id (`financial:agent:…` acts as
 * `financial`) unless agents.yaml gives that agent a `keys:` list without it, plus every agent whose
 * `keys:` list names the key. The key's own name comes first. Own properties only (an agent named
 * `__proto__` is not an inherited object member).
 *
 * @example
 * agentsBoundTo({ agents: { ops: { keys: ['deploy-bot'], … } }, … }, 'deploy-bot'); // → ['deploy-bot', 'ops']
 */
export function agentsBoundTo(config: Pick<AgentsConfig, 'agents'>, keyId: string): string[] {
  const bound: string[] = [];
  const own = Object.hasOwn(config.agents, keyId) ? config.agents[keyId] : undefined;
  if (AGENT_ID.test(keyId) && (!own?.keys || own.keys.includes(keyId))) bound.push(keyId);
  for (const [name, agent] of Object.entries(config.agents)) {
    if (name !== keyId && agent.keys?.includes(keyId)) bound.push(name);
  }
  return bound;
}
