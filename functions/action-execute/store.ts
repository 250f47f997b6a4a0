/**
 * Kept for functions/approvals/views.tsx, which another change splits at the same time: its import
 * of ActionRow moves to the domain's public face (functions/actions/index.ts), then this file goes.
 */
export type { ActionRow } from '../actions/index.js';
