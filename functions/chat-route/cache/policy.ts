/**
 * Whether and how a chat request may be answered from the response cache, and its key.
 *
 * Settings: `cache:` at the top of models.yaml gives the defaults, a task's own `cache:` overrides
 * them field by field. Off unless `enabled`. The `x-myca-cache` request header: `no-store` neither
 * reads nor writes, `refresh` skips the read and writes the fresh answer.
 */
import type { ModelsConfig } from '../../../shared/config/index.js';
import { type ChatRequest, RESPONSES_FORM } from '../contract.js';
import { resolveTarget } from '../plan.js';

export interface CachePlan {
  /** The task alias (or the target itself for an ad-hoc model): metrics label and part of the key. */
  task: string;
  /** Bounded metrics label: the alias when configured, else `other`. */
  taskLabel: string;
  read: boolean;
  write: boolean;
  ttlMs: number;
  semantic: { threshold: number; embedding: string } | null;
}

export const DEFAULT_TTL_S = 3600;
export const DEFAULT_THRESHOLD = 0.95;

/**
 * Deterministic: the effective temperature (the request's, else the task's configured one) is 0,
 * one choice (`n` unset or 1), and no tools the model could call (none offered, or `tool_choice:
 * "none"`). An answer that may call a tool is not cached by default: replaying a cached tool call
 * would make an agent run its action (send the mail, write the row) again with no model deciding so.
 * A task opts out of this rule with `cache.any_request: true`.
 */
export function isDeterministic(request: ChatRequest, configuredTemperature: number | undefined): boolean {
  const temperature = request.temperature ?? configuredTemperature;
  if (temperature !== 0) return false;
  if ((request.n ?? 1) !== 1) return false;
  return !(request.tools?.length && request.tool_choice !== 'none');
}

const anyEnabled = new WeakMap<ModelsConfig, boolean>();
/** Whether the cache is on anywhere (the default or a task): when not, requests skip everything here. */
function cacheOnAnywhere(llm: ModelsConfig): boolean {
  let on = anyEnabled.get(llm);
  if (on === undefined) {
    on = Boolean(llm.cache.enabled) || Object.values(llm.models).some((model) => model.cache?.enabled);
    anyEnabled.set(llm, on);
  }
  return on;
}

/** The cache plan of this request, or null when the cache does not apply (off, `no-store`, not deterministic). */
export function cachePlan(llm: ModelsConfig, request: ChatRequest, target: string, header: string | undefined): CachePlan | null {
  if (!cacheOnAnywhere(llm)) return null;
  const resolved = resolveTarget(llm, target);
  const settings = { ...llm.cache, ...(resolved?.model.cache ?? {}) };
  if (!settings.enabled || header === 'no-store') return null;
  if (!settings.any_request && !isDeterministic(request, resolved?.model.temperature)) return null;
  const task = resolved?.alias ?? target;
  return {
    task,
    taskLabel: resolved?.alias ?? 'other',
    read: header !== 'refresh',
    write: true,
    ttlMs: (settings.ttl_s ?? DEFAULT_TTL_S) * 1000,
    semantic: settings.semantic
      ? { threshold: settings.threshold ?? DEFAULT_THRESHOLD, embedding: settings.embedding ?? 'embedding' }
      : null,
  };
}

/** Fields that change nothing in the answer: left out of the key. */
const IGNORED = new Set(['model', 'stream', 'stream_options', 'user', 'metadata', 'store']);

/** JSON with sorted keys and without null or undefined values: equal requests give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== null)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
export const sha256 = async (text: string) => hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

/**
 * The request's identity: SHA-256 of the tenant (the key's principal id), the task and the
 * normalised request (every field but those in {@link IGNORED}). `params` is the same without the
 * messages: semantic matches only compare prompts whose other settings (tools, format, limits) agree.
 */
export async function requestKeys(
  tenant: string,
  task: string,
  request: ChatRequest,
  withParams: boolean,
): Promise<{ exact: string; params: string }> {
  const kept: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(request)) if (!IGNORED.has(field)) kept[field] = value;
  // A Responses request: what only its Responses form says (include, reasoning.summary, reasoning
  // items) is part of its identity too; the rest of its input is the messages already.
  const form = request[RESPONSES_FORM];
  if (form) {
    const { input, store: _store, ...rest } = form;
    kept[' responses'] = { ...rest, reasoning_items: input.filter((item) => (item as { type?: unknown }).type === 'reasoning') };
  }
  const scope = `${tenant.length}:${tenant}\n${task.length}:${task}\n`;
  const exact = await sha256(scope + canonicalJson(kept));
  // Only semantic matching needs the second digest (an exact hit should cost as little as it can).
  if (!withParams) return { exact, params: '' };
  const { messages: _messages, ...params } = kept;
  return { exact, params: await sha256(scope + canonicalJson(params)) };
}

/** The prompt's text for embedding: each message as `role: text`. */
export function promptText(request: ChatRequest): string {
  return request.messages
    .map((message) => {
      const content = message.content;
      const text =
        typeof content === 'string'
          ? content
          : Array.isArray(content)
            ? content.map((part) => (typeof part.text === 'string' ? part.text : '')).join(' ')
            : '';
      return `${message.role}: ${text}`;
    })
    .join('\n');
}
