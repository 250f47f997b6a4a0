/**
 * agent-run's one door to chat-route: a run's step calls the model in-process, through the same
 * routing, fallbacks and accounting as `POST /v1/chat/completions`, and keeps its messages in
 * chat-route's wire types. Every other file of agent-run imports these from here, so the crossing
 * is one file (listed in test/architecture.test.ts) and a port, if one is wanted, is one change.
 */
export type { ChatMessage, ChatRequest } from '../chat-route/contract.js';
export { chatModelUnavailable, completeChat } from '../chat-route/index.js';
