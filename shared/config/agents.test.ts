import { describe, expect, it } from 'vitest';
import { type AgentsConfig, AgentsConfigSchema, agentsBoundTo } from './agents.js';

const config = (agents: Record<string, { keys?: string[] }>): AgentsConfig =>
  AgentsConfigSchema.parse({
    agents: Object.fromEntries(
      Object.entries(agents).map(([name, extra]) => [name, { description: 'd', system_prompt: 'p', model: 'm', ...extra }]),
    ),
  });

describe('agentsBoundTo (identity binds authority)', () => {
  it('binds a key to the agent named like it, and to the agents whose keys: list names it', () => {
    const agents = config({ financial: {}, ops: { keys: ['deploy-bot', 'financial'] } });
    expect(agentsBoundTo(agents, 'financial')).toEqual(['financial', 'ops']);
    expect(agentsBoundTo(agents, 'deploy-bot')).toEqual(['deploy-bot', 'ops']);
    expect(agentsBoundTo(agents, 'mycology')).toEqual(['mycology']);
  });

  it('a keys: list replaces the default: the same-named key acts as that agent only when listed', () => {
    const agents = config({ financial: { keys: ['ledger-bot'] } });
    expect(agentsBoundTo(agents, 'financial')).toEqual([]);
    expect(agentsBoundTo(agents, 'ledger-bot')).toEqual(['ledger-bot', 'financial']);
  });

  it('binds no agent to ids that cannot be agent ids, and never to inherited object members', () => {
    const agents = config({ financial: {} });
    expect(agentsBoundTo(agents, 'jwt:alice')).toEqual([]);
    expect(agentsBoundTo(agents, '__proto__')).toEqual(['__proto__']);
    expect(agentsBoundTo(agents, 'constructor')).toEqual(['constructor']);
  });
});
