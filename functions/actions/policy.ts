import type { ActionCategory, Policy, PolicyMode } from '../../shared/config/index.js';

export interface Decision {
  mode: PolicyMode;
  /** Which rule decided, e.g. `actions.file.write.rules.scratch-writes-run` or `categories.write`. */
  rule: string;
  version: string;
}

type FieldTest = Policy['actions'][string]['rules'][number]['when'][string];

function matches(test: FieldTest, value: unknown): boolean {
  if (test.equals !== undefined && value !== test.equals) return false;
  if (test.in !== undefined && !test.in.includes(value as string | number)) return false;
  if (test.prefix !== undefined && !(typeof value === 'string' && value.startsWith(test.prefix))) return false;
  if (test.not_prefix !== undefined && typeof value === 'string' && value.startsWith(test.not_prefix)) return false;
  return true;
}

/**
 * The policy decision for one action, most specific first: the agent's override, then the action's
 * argument rules (first match), then the action's mode, then its category's. `approvalRequired:
 * false` (APPROVAL_REQUIRED) turns approval into auto; deny stays deny. Pure.
 */
export function decide(
  policy: Policy,
  approvalRequired: boolean,
  action: { name: string; category: ActionCategory },
  agentId: string,
  input: Record<string, unknown>,
): Decision {
  const base = { version: policy.version };
  const apply = (mode: PolicyMode, rule: string): Decision =>
    mode === 'approval' && !approvalRequired
      ? { ...base, mode: 'auto', rule: `${rule} (APPROVAL_REQUIRED=false)` }
      : { ...base, mode, rule };

  // Own properties only: an agent or action named `__proto__` or `constructor` is not an object member.
  const agentModes = Object.hasOwn(policy.agents, agentId) ? policy.agents[agentId] : undefined;
  const agentMode = agentModes && Object.hasOwn(agentModes, action.name) ? agentModes[action.name] : undefined;
  if (agentMode) return apply(agentMode, `agents.${agentId}.${action.name}`);
  const actionPolicy = Object.hasOwn(policy.actions, action.name) ? policy.actions[action.name] : undefined;
  for (const rule of actionPolicy?.rules ?? []) {
    if (Object.entries(rule.when).every(([field, test]) => matches(test, Object.hasOwn(input, field) ? input[field] : undefined)))
      return apply(rule.mode, `actions.${action.name}.rules.${rule.name}`);
  }
  if (actionPolicy?.mode) return apply(actionPolicy.mode, `actions.${action.name}.mode`);
  return apply(policy.categories[action.category], `categories.${action.category}`);
}
