import { z } from 'zod';
import { AGENT_ID } from '../../shared/config/agents.js';
import type { BodyLimit } from '../../shared/http/validate.js';
import { STATUSES } from './store.js';

/** The request and query schemas of the actions API (the HTTP layers validate with them; OpenAPI shows them). */
export const SubmitActionSchema = z.strictObject({
  type: z.string().min(1).max(128),
  input: z.record(z.string(), z.unknown()),
  /** The agent acting; one the key is bound to (config/agents.yaml). Omitted: the key's own agent. */
  agent_id: z.string().regex(AGENT_ID, 'agent ids are 1-64 of A-Z a-z 0-9 . _ -').optional(),
  /** The agent run this action belongs to (a run id is a UUID). */
  run_id: z.uuid({ error: 'run_id is the UUID of an agent run' }).optional(),
});
export type SubmitAction = z.infer<typeof SubmitActionSchema>;

/** http.request's largest body (characters), from its input schema. */
const HTTP_BODY_MAX_CHARS = 1_048_576;
/** Everything around the content: type, agent and run ids, path, method, url, headers. */
const ENVELOPE_BYTES = 64 * 1024;

/**
 * The body limit of `POST /v1/actions`, derived from the action limits so that every action within
 * them can be submitted: the largest content (ACTION_MAX_FILE_BYTES, or http.request's 1 MiB body),
 * times 6 — JSON's worst escape (`\u0001` for one byte; base64 text is 4/3) — plus the envelope.
 * A file over ACTION_MAX_FILE_BYTES still reaches file.write, whose 413 names that setting.
 */
export function actionBodyLimit(maxFileBytes: number): BodyLimit {
  return {
    bytes: 6 * Math.max(maxFileBytes, HTTP_BODY_MAX_CHARS) + ENVELOPE_BYTES,
    setting: 'derived: 6 × max(ACTION_MAX_FILE_BYTES, 1 MiB) + 64 KiB; raise ACTION_MAX_FILE_BYTES to raise it',
  };
}

export const ApproveSchema = z.strictObject({
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'the digest shown with the pending action (64 hex characters)'),
  comment: z.string().max(2000).optional(),
});
export const RejectSchema = z.strictObject({ reason: z.string().min(1, 'say why, so the agent can learn from it').max(2000) });
export { STATUSES };
