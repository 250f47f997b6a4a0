import { Hono } from 'hono';
import { ConfigError, modelKnown } from '../../shared/config/index.js';
import type { AppEnv } from '../../shared/http/types.js';
import type { Services } from '../../shared/services.js';
import { chatModelUnavailable } from './model.js';
import { unknownAgentActions } from './tools.js';

/** Why an agent cannot run now, and what fixes it; undefined when it can. */
export function unavailable(services: Services, model: string, tools = false): { reason: string; hint: string } | undefined {
  if (!modelKnown(services.config.llm, model))
    return {
      reason: `its model "${model}" is not in models.yaml (aliases: ${Object.keys(services.config.llm.models).join(', ') || 'none'})`,
      hint: 'fix model in config/agents.yaml',
    };
  // Known, but nothing can serve it (no provider of its plan has a key): a run would only fail at its first step.
  const unserved = chatModelUnavailable(services, model, { tools });
  return unserved
    ? {
        reason: `its model "${model}" cannot be served: ${unserved}`,
        hint: tools
          ? 'set the provider keys in the environment (see .env.example), and give the agent a model that supports tools; GET /v1/models shows what is available'
          : 'set the provider keys in the environment (see .env.example); GET /v1/models shows what is available',
      }
    : undefined;
}

/**
 * Fails the start when an agent names an action the catalog lacks (config/agents.yaml); warns about
 * agents whose model the models configuration does not have (they are listed as unavailable).
 */
export function checkAgents(services: Services): void {
  for (const [name, agent] of Object.entries(services.config.agents.agents)) {
    // Only a model models.yaml lacks: providers without keys have the start's own warning, naming the variables.
    if (!modelKnown(services.config.llm, agent.model))
      services.logger.warn('agent unavailable', { agent: name, reason: unavailable(services, agent.model)?.reason });
  }
  const unknown = unknownAgentActions(services.config.agents.agents);
  if (unknown.length > 0) {
    throw new ConfigError(
      'agents.yaml',
      unknown.map(({ agent, action }) => ({ key: `agents.${agent}.actions`, env: [], message: `no action "${action}" in the catalog` })),
    );
  }
}

/** `GET /v1/agents`: the configured agents, and whether each can run now. */
export function agentRoutes() {
  const app = new Hono<AppEnv>();
  app.get('/v1/agents', (c) => {
    const services = c.get('services');
    return c.json({
      data: Object.entries(services.config.agents.agents).map(([name, agent]) => {
        const reason = unavailable(services, agent.model, agent.actions.length > 0)?.reason;
        return {
          name,
          description: agent.description,
          model: agent.model,
          actions: agent.actions,
          max_steps: agent.max_steps,
          max_tokens: agent.max_tokens,
          max_cost_usd: agent.max_cost_usd,
          available: !reason,
          ...(reason ? { reason } : {}),
        };
      }),
    });
  });
  return app;
}
