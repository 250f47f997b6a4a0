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
