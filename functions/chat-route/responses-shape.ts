/** The Responses API's output shapes, shared by the JSON answer and the event stream. */
import type { ResponsesRequest } from './contract.js';

export const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll('-', '')}`;

/** What a Response says of itself beyond its request: its id, the one it continues, whether it is kept. */
export interface ResponseMeta {
  id: string;
  previousResponseId: string | null;
  store: boolean;
}

/** The fields every Responses object echoes from its request. */
export function responseShell(request: ResponsesRequest, meta: ResponseMeta, createdAt: number, model: string) {
  return {
    id: meta.id,
    object: 'response' as const,
    created_at: createdAt,
    status: 'in_progress' as string,
    error: null as unknown,
    incomplete_details: null as unknown,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model,
    output: [] as unknown[],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: meta.previousResponseId,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: null },
    store: meta.store,
    temperature: request.temperature ?? null,
    text: { format: request.text?.format ?? { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: 'disabled',
    usage: null as unknown,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

export function responsesUsage(usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | undefined | null) {
  return {
    input_tokens: usage?.prompt_tokens ?? 0,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage?.completion_tokens ?? 0,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage?.total_tokens ?? 0,
  };
}

/** `length` and `content_filter` cut the answer short: the response is `incomplete`, saying why. */
export function incompleteReason(finish: string | null | undefined): string | undefined {
  return finish === 'length' ? 'max_output_tokens' : finish === 'content_filter' ? 'content_filter' : undefined;
}

/**
 * A native provider's Response under the gateway's name for it: our id (the provider kept nothing),
 * the conversation it continues, whether it is kept, and the caller's metadata (not sent upstream).
 */
export function fromNative<T extends Record<string, unknown>>(request: ResponsesRequest, response: T, meta: ResponseMeta): T {
  return {
    ...response,
    id: meta.id,
    previous_response_id: meta.previousResponseId,
    store: meta.store,
    metadata: request.metadata ?? {},
  };
}
