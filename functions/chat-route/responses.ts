/**
 * `POST /v1/responses`: OpenAI's Responses API on the chat pipeline. The request is translated into a
 * chat request here, at the edge, carrying its Responses form (RESPONSES_FORM), and runs through
 * `serveChat` exactly as a `/v1/chat/completions` request does (auth, task routing, fallback, breaker,
 * limits, spans, metrics, logs). An attempt on a provider with `responses_api: native` sends the
 * Responses form to the provider's own `/responses` (providers/call.ts) and its Response or events
 * come back as they are, under our id; any other attempt sends the chat form and its answer (JSON or
 * SSE) is translated back. State (`store`, `previous_response_id`, `item_reference`) is resolved first
 * (responses-state.ts) and the finished response kept.
 *
 * Unknown top-level fields are refused with a 400 naming them (a silently dropped parameter would
 * change the answer unseen). Accepted and passed on natively, ignored by the bridge: `include`
 * (`reasoning.encrypted_content`), `reasoning.summary`; `metadata` is echoed, `truncation: "disabled"` accepted.
 */
import type { Context } from 'hono';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import {
  type ChatCompletion,
  type ChatMessage,
  type ChatRequest,
  type NativeResponsesBody,
  RESPONSES_FORM,
  ResponsesFunctionTool,
  type ResponsesItem,
  type ResponsesRequest,
  ResponsesRequestSchema,
} from './contract.js';
import { fromNative, incompleteReason, newId, type ResponseMeta, responseShell, responsesUsage } from './responses-shape.js';
import { inputItems, prepareState } from './responses-state.js';
import { responsesFramer, responsesStream } from './responses-stream.js';
import type { SseFramer } from './stream.js';

const MAX_BODY = 8 * 1024 * 1024;

/** The request's tools, each checked as a function tool, or a 400 naming the one that is not. */
function functionTools(request: ResponsesRequest) {
  return (request.tools ?? []).map((tool, index) => {
    if (tool.type !== 'function')
      throw new ApiError('BAD_REQUEST', {
        detail: `tools[${index}]: tool type "${tool.type}" is not supported; only function tools are passed on`,
        hint: 'declare the tool as { type: "function", name, description, parameters } and run it yourself (actions go through the action gate)',
      });
    const parsed = ResponsesFunctionTool.safeParse(tool);
    if (!parsed.success)
      throw new ApiError('BAD_REQUEST', {
        detail: `tools[${index}]: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(tool)'}: ${i.message}`).join('; ')}`,
        hint: 'a function tool is { type: "function", name, description?, parameters?, strict? }',
      });
    return parsed.data;
  });
}

/**
 * Responses request → chat request, or a 400 naming the field it cannot bridge. `items` is the whole
 * input (a continued conversation first, references resolved); by default the request's own. The
 * chat request carries its Responses form (RESPONSES_FORM) for the providers that take it natively.
 */
export function toChatRequest(request: ResponsesRequest, items: ResponsesItem[] = inputItems(request)): ChatRequest {
  const checked = functionTools(request);
  const tools = checked.map(({ name, description, parameters, strict }) => ({
    type: 'function' as const,
    function: {
      name,
      ...(description ? { description } : {}),
      ...(parameters ? { parameters } : {}),
      ...(strict != null ? { strict } : {}),
    },
  }));
  const messages: ChatMessage[] = [];
  if (request.instructions) messages.push({ role: 'system', content: request.instructions });
  for (const item of items) addItem(messages, item);
  const format = request.text?.format;
  const chat: Record<string, unknown> = {
    model: request.model,
    messages,
    ...(request.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    ...(tools.length ? { tools } : {}),
    ...(request.tool_choice
      ? {
          tool_choice:
            typeof request.tool_choice === 'string'
              ? request.tool_choice
              : { type: 'function', function: { name: request.tool_choice.name } },
        }
      : {}),
    ...(format && format.type !== 'text'
      ? {
          response_format:
            format.type === 'json_object'
              ? { type: 'json_object' }
              : {
                  type: 'json_schema',
                  json_schema: {
                    name: format.name,
                    schema: format.schema,
                    ...(format.description ? { description: format.description } : {}),
                    ...(format.strict != null ? { strict: format.strict } : {}),
                  },
                },
        }
      : {}),
    ...(request.max_output_tokens != null ? { max_tokens: request.max_output_tokens } : {}),
    ...(request.temperature != null ? { temperature: request.temperature } : {}),
    ...(request.top_p != null ? { top_p: request.top_p } : {}),
    ...(request.parallel_tool_calls != null && tools.length ? { parallel_tool_calls: request.parallel_tool_calls } : {}),
    ...(request.reasoning?.effort ? { reasoning_effort: request.reasoning.effort } : {}),
    ...(request.user ? { user: request.user } : {}),
    [RESPONSES_FORM]: toNativeBody(request, items, checked),
  };
  return chat as ChatRequest;
}

/**
 * The Responses form for a native provider: the request's own fields (checked by the schema), the
 * whole input, and `store: false` — the gateway keeps the conversation, per key, for its retention;
 * the provider keeps nothing. Reasoning items without `encrypted_content` are left out: with nothing
 * stored upstream the provider could not resolve them.
 */
function toNativeBody(request: ResponsesRequest, items: ResponsesItem[], tools: ReturnType<typeof functionTools>): NativeResponsesBody {
  const input = items.flatMap((item) => {
    const kept = nativeItem(item);
    return kept ? [kept] : [];
  });
  const { instructions, tool_choice, text, max_output_tokens, temperature, top_p, parallel_tool_calls, reasoning, user, include } = request;
  const body: NativeResponsesBody = { input, store: false };
  const fields = { instructions, tool_choice, text, max_output_tokens, temperature, top_p, parallel_tool_calls, reasoning, user, include };
  for (const [field, value] of Object.entries(fields)) if (value != null) body[field] = value;
  if (tools.length) body.tools = tools;
  return body;
}

/** A short string field, or nothing (ids and statuses the client or a stored answer carries). */
const short = (value: unknown) => (typeof value === 'string' && value.length <= 256 ? value : undefined);
const defined = (fields: Record<string, unknown>) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));

/**
 * One input item as it goes upstream: only the fields the schema knows, rebuilt (the item schemas let
 * unknown fields through for the bridge, which never sends them; upstream an extra field could name
 * something of the gateway's provider account, such as a `file_id`). Undefined for an item that must
 * not go: a reasoning item without `encrypted_content`.
 */
function nativeItem(item: ResponsesItem): Record<string, unknown> | undefined {
  switch (item.type) {
    case 'item_reference':
      throw new Error('item_reference items are resolved before translation');
    case 'reasoning':
      if (!item.encrypted_content) return undefined;
      return defined({
        type: 'reasoning',
        id: short(item.id),
        summary: (item.summary ?? []).map((part) => ({ type: 'summary_text', text: part.text })),
        encrypted_content: item.encrypted_content,
      });
    case 'function_call':
      return defined({
        type: 'function_call',
        id: short(item.id),
        call_id: item.call_id,
        name: item.name,
        arguments: item.arguments,
        status: short(item.status),
      });
    case 'function_call_output':
      return defined({ type: 'function_call_output', id: short(item.id), call_id: item.call_id, output: item.output });
  }
  const content =
    typeof item.content === 'string'
      ? item.content
      : item.content.flatMap((part): Array<Record<string, unknown>> => {
          if (part.type === 'input_image') return [defined({ type: 'input_image', image_url: part.image_url, detail: part.detail })];
          if (part.type === 'output_text') return [{ type: 'output_text', text: part.text, annotations: [] }];
          if (part.type === 'input_text') return [{ type: 'input_text', text: part.text }];
          // A stored answer's refusal goes back as one; nothing else unknown goes at all.
          const refusal = (part as { type: string; refusal?: unknown }).refusal;
          return (part as { type: string }).type === 'refusal' && typeof refusal === 'string' ? [{ type: 'refusal', refusal }] : [];
        });
  return defined({ type: item.type, id: short(item.id), role: item.role, content, status: short(item.status) });
}

function addItem(messages: ChatMessage[], item: ResponsesItem): void {
  if (item.type === 'item_reference') throw new Error('item_reference items are resolved before translation');
  // Reasoning items (from a provider that makes them) have no chat form: chat models reason anew.
  if (item.type === 'reasoning') return;
  if (item.type === 'function_call') {
    const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
    const last = messages.at(-1);
    // Calls that follow an assistant turn belong to it (one assistant message with tool_calls).
    if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
    else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    return;
  }
  if (item.type === 'function_call_output') {
    messages.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
    return;
  }
  const role = item.role === 'developer' ? 'system' : item.role;
  if (typeof item.content === 'string') {
    messages.push({ role, content: item.content });
    return;
  }
  const parts = item.content.flatMap((part): Array<{ type: string; text?: string; image_url?: unknown }> => {
    if (part.type === 'input_image')
      return [{ type: 'image_url', image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } }];
    if (typeof part.text === 'string') return [{ type: 'text', text: part.text }];
    // A stored native answer's refusal part is what the model said; any other unknown part has no chat form.
    const refusal = (part as { refusal?: unknown }).refusal;
    return typeof refusal === 'string' ? [{ type: 'text', text: refusal }] : [];
  });
  const textOnly = parts.every((part) => part.type === 'text');
  // One text part is a plain string (what every chat server takes, the smallest wire form).
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only?.type === 'text') {
    messages.push({ role, content: (only as { text: string }).text });
    return;
  }
  if (role !== 'user' && !textOnly)
    throw new ApiError('BAD_REQUEST', {
      detail: `input: an image is only accepted in a user message, not ${item.role}`,
      hint: 'move the image to a user message',
    });
  messages.push({ role, content: textOnly && role !== 'user' ? parts.map((p) => (p as { text: string }).text).join('') : parts });
}

/** A chat completion → a Responses object. */
export function toResponse(request: ResponsesRequest, completion: ChatCompletion, meta: ResponseMeta) {
  const choice = completion.choices[0];
  const body = responseShell(request, meta, completion.created || Math.floor(Date.now() / 1000), completion.model);
  const text = choice?.message.content;
  if (text)
    body.output.push({
      type: 'message',
      id: newId('msg'),
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
    });
  for (const call of choice?.message.tool_calls ?? []) {
    if (call.type !== 'function') continue;
    body.output.push({
      type: 'function_call',
      id: newId('fc'),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: 'completed',
    });
  }
  const reason = incompleteReason(choice?.finish_reason);
  body.status = reason ? 'incomplete' : 'completed';
  body.incomplete_details = reason ? { reason } : null;
  body.usage = responsesUsage(completion.usage);
  return body;
}

/** The route: parse, translate, run the chat pipeline, translate its answer back (errors pass as they are). */
export async function serveResponses(
  c: Context<AppEnv>,
  serveChat: (c: Context<AppEnv>, request: ChatRequest, framer?: SseFramer) => Promise<Response>,
): Promise<Response> {
  const request = await readJson(c, ResponsesRequestSchema, { limit: MAX_BODY });
  const state = await prepareState(c, request);
  // A stream's events are written from the provider's chunks as the pipeline reads them (the framer
  // has then seen the first); a stream the cache answers or keeps comes as chat SSE and is read again.
  const framer = request.stream ? responsesFramer(request, state, state.save) : undefined;
  const answer = await serveChat(c, toChatRequest(request, state.items), framer);
  if (answer.status !== 200 || !answer.body) return answer;
  if (framer?.used) return answer;
  const headers = new Headers(answer.headers);
  if (request.stream) return new Response(responsesStream(request, answer.body, state, state.save), { status: 200, headers });
  const answered = (await answer.json()) as ChatCompletion | NativeResponse;
  headers.delete('content-length');
  const body =
    answered.object === 'response'
      ? fromNative(request, answered as NativeResponse, state)
      : toResponse(request, answered as ChatCompletion, state);
  if (state.store) body.store = await state.save(body);
  return new Response(JSON.stringify(body), { status: 200, headers });
}

/** A provider's own Response object, as it goes out and is kept under the gateway's id. */
type NativeResponse = { object: 'response'; model: string; output: unknown[]; store: boolean } & Record<string, unknown>;
