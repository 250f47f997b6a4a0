import type { z } from 'zod';
import type { ActionCategory, Policy } from '../../../shared/config/index.js';
import type { Database } from '../../../shared/db/index.js';
import type { FilesPort } from '../../../shared/files/port.js';
import type { Integrations } from '../../../shared/integrations/index.js';

export { ActionError } from '../../../shared/errors.js';
export type { FilesPort } from '../../../shared/files/port.js';

/** Everything an action may touch; built per request by the handler from Services. */
export interface ActionContext {
  signal: AbortSignal;
  /** The agent acting (the key's bound identity): what `@agent` parameters of named queries receive. */
  agentId: string;
  files: FilesPort | null;
  /** Outbound HTTP for http.request: refuses private addresses at connect time where it can. */
  httpFetch: typeof fetch;
  http: Policy['http'];
  db: Database | null;
  queries: Policy['queries'];
  maxFileBytes: number;
  /** Typed clients of MINDEX, NatureOS and the website (null where not configured). */
  integrations: Integrations;
}

/**
 * An action as the catalog declares it. Its category comes from here, never from the caller;
 * `check` runs at submission (before anything is held or executed) so an approver never sees a
 * request that could not run; `execute` checks again against the world as it is then.
 */
export interface ActionDefinition<I = unknown, O = unknown> {
  name: string;
  category: ActionCategory;
  /** The category of this input when it is not always `category` (a named query that writes). */
  categoryOf?(ctx: Omit<ActionContext, 'signal'>, input: I): ActionCategory;
  description: string;
  inputSchema: z.ZodType<I>;
  outputSchema: z.ZodType<O>;
  check?(ctx: Omit<ActionContext, 'signal'>, input: I): void;
  execute(ctx: ActionContext, input: I): Promise<O>;
}

/** Keeps the input and output types of one definition tied together. */
export const defineAction = <I, O>(definition: ActionDefinition<I, O>): ActionDefinition<I, O> => definition;
