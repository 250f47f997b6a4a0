import type { ActionRow } from '../../actions/index.js';

export type { ActionRow };

export interface InboxRow extends ActionRow {
  run_status: string | null;
}

export interface AuditEventRow {
  seq: string;
  event: string;
  actor: string;
  data: Record<string, unknown>;
  created_at: Date;
}

export interface RunContext {
  id: string;
  agent_name: string;
  status: string;
  input: string;
  step: number;
}

export interface RunRowView {
  id: string;
  agent_name: string;
  status: string;
  requested_by: string;
  input: string;
  step: number;
  pending: Array<{ action_id: string; type: string }>;
  output: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface RunEventView {
  seq: number;
  type: string;
  data: Record<string, unknown>;
  created_at: Date;
}
