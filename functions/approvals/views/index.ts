/**
 * The approvals pages (Hono JSX, server-rendered), one file per page: layout and sign-in, the inbox,
 * one action, history, agent runs, spend; the pieces they share (agent text made visible, categories,
 * notices, event tables) in shared.tsx, the rows they show in types.ts.
 */
export { DetailPage } from './action.js';
export { ErrorPage } from './error.js';
export { HistoryPage } from './history.js';
export { InboxPage, InboxTable } from './inbox.js';
export { Layout } from './layout.js';
export { LoginPage } from './login.js';
export { RunPage, RunsPage } from './runs.js';
export { Category, clip, duration, markInvisible, Notice, Visible } from './shared.js';
export { SpendChart, SpendPage, usd } from './spend.js';
export type {
  AuditEventRow,
  InboxRow,
  KeyLimitView,
  RunContext,
  RunEventView,
  RunRowView,
  SpendGroup,
  SpendGroupBy,
  SpendPeriod,
  SpendReport,
  SpendTotals,
} from './types.js';
export { WhatHappens } from './what-happens.js';
