import { Hono } from 'hono';
import { ConfigError, modelKnown } from '../../shared/config/index.js';
import type { AppEnv } from '../../shared/http/types.js';
import type { Services } from '../../shared/services.js';
import { unknownAgentActions } from './tools.js';

/** Why an agent cannot run now (its model is not in models.yaml), or undefined. */
export function unavailable(services: Services, model: string): string | undefined {
  return modelKnown(services.config.llm, model)
    ? undefined
    : `its model "${model}" is not in models.yaml (aliases: ${Object.keys(services.config.llm.models).join(', ') || 'none'})`;
}

/**
 * Fails the start when an agent names an action the catalog lacks (config/agents.yaml); warns about
 * agents whose model the models configuration does not have (they are listed as unavailable).
 */
export function checkAgents(services: Services): void {
  for (const [name, agent] of Object.entries(services.config.agents.agents)) {
    const reason = unavailable(services, agent.model);
    if (reason) services.logger.warn('agent unavailable', { agent: name, reason });
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
        const reason = unavailable(services, agent.model);
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
