import { z } from 'zod';
import type { AgentConfig } from '../../shared/config/index.js';
import { CATALOG } from '../actions/index.js';

/** OpenAI function names allow [A-Za-z0-9_-]: `file.read` is offered as `file_read`. */
export const toolName = (actionType: string) => actionType.replaceAll('.', '_');

export interface OfferedTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

const cache = new WeakMap<AgentConfig, { tools: OfferedTool[]; byName: Map<string, string> }>();

/**
 * The agent's allowed actions as OpenAI-style tools (JSON Schema from each action's zod input
 * schema), and the way back from a tool name to the action type. Built once per agent config.
 */
export function toolsFor(agent: AgentConfig): { tools: OfferedTool[]; byName: Map<string, string> } {
  let entry = cache.get(agent);
  if (!entry) {
    const tools: OfferedTool[] = [];
    const byName = new Map<string, string>();
    for (const type of agent.actions) {
      const action = CATALOG.get(type);
      if (!action) continue;
      const { $schema: _schema, ...parameters } = z.toJSONSchema(action.inputSchema, { io: 'input', unrepresentable: 'any' }) as Record<
        string,
        unknown
      >;
      tools.push({
        type: 'function',
        function: { name: toolName(type), description: `${action.description} (${action.category} action: ${type})`, parameters },
      });
      byName.set(toolName(type), type);
    }
    entry = { tools, byName };
    cache.set(agent, entry);
  }
  return entry;
}

/** Agents that name actions the catalog does not have: a start-up error, not a surprise mid-run. */
export function unknownAgentActions(agents: Record<string, AgentConfig>): Array<{ agent: string; action: string }> {
  return Object.entries(agents).flatMap(([agent, config]) =>
    config.actions.filter((action) => !CATALOG.has(action)).map((action) => ({ agent, action })),
  );
}
