/**
 * The actions domain's public face: the one module capabilities (action-execute, approve,
 * approvals, agent-run, audit) and the composition roots import. Everything behind it — the
 * catalog's actions, the policy, the audit store, execution, recovery — is the domain's own;
 * test/architecture.test.ts fails on an import of any other file in this folder from outside it.
 *
 * - catalog: what an agent may request (catalog/; a new action is a file there and a line in its index)
 * - policy: auto, approval or deny, per agent, action, argument rule and category
 * - store: the audit rows and their hash-chained events
 * - submit, approve, reject: the write paths (an approval executes its frozen snapshot once)
 * - expire, sweep: held actions past their deadline end as expired; stuck ones are recovered
 * - list: reads, which write nothing and show an overdue held action as expired
 */
export { CATALOG } from './catalog/index.js';
export type { ActionContext, ActionDefinition } from './catalog/types.js';
export { ActionError } from './catalog/types.js';
export { approveAction, type Decided, type DecisionHooks, rejectAction } from './decide.js';
export { auditUnavailable, requireDb } from './errors.js';
export { asSeen, expireDue, sweepActions } from './expire.js';
export { actionEvents, decidedActions, findActions, listActions, pendingActions, pendingAgents, viewAction } from './list.js';
export { type Decision, decide } from './policy.js';
export { actionIdParam, actionReply } from './reply.js';
export { toolLabel } from './run.js';
export { ApproveSchema, actionBodyLimit, RejectSchema, STATUSES, type SubmitAction, SubmitActionSchema } from './schemas.js';
export { type ActionRow, type ActionStatus, actionDigest, findAction, present, type ReviewFacts, reviewFacts } from './store.js';
export { type Submitted, submitAction } from './submit.js';
