import type { ChatMessage, ChatRequest } from '../../contract.js';
import type {
  AnthropicMessage,
  AnthropicRequest,
  AnthropicTool,
  AnthropicToolChoice,
  CacheControl,
  ImageSource,
  RequestBlock,
} from './wire.js';

/** Thrown when a request cannot be expressed for Anthropic: a 400 naming the field. */
export class AnthropicRefusal extends Error {}

/**
 * Anthropic requires `max_tokens`. Used when neither the caller nor the model's entry in
 * models.yaml (`max_tokens`) gives one; every current Claude model allows at least this many.
 */
export const DEFAULT_MAX_TOKENS = 4096;

/** The forced tool that carries a `json_object` answer (a `json_schema` one is named after its schema). */
export const JSON_OBJECT_TOOL = 'json_object';

/**
 * OpenAI parameters Anthropic has no equivalent for: a 400 naming the field, never silently dropped.
 * `user` goes as `metadata.user_id`; `store`, `metadata`, `service_tier` and `stream_options` are
 * OpenAI account or transport features that do not change the answer: they are not sent. Exported
 * so that the plan can leave Anthropic fallbacks out for such a request, as it does Gemini's.
 */
export function unsupportedOnAnthropic(request: ChatRequest): string | undefined {
  const r = request as ChatRequest & Record<string, unknown>;
  if (r.temperature != null && r.temperature > 1) return 'temperature';
  if (r.logprobs) return 'logprobs';
  if (r.top_logprobs != null) return 'top_logprobs';
  if (r.logit_bias != null && Object.keys(r.logit_bias as object).length > 0) return 'logit_bias';
  if (r.n != null && r.n !== 1) return 'n';
  if (r.seed != null) return 'seed';
  if (typeof r.presence_penalty === 'number' && r.presence_penalty !== 0) return 'presence_penalty';
  if (typeof r.frequency_penalty === 'number' && r.frequency_penalty !== 0) return 'frequency_penalty';
  if (r.audio != null) return 'audio';
  if (Array.isArray(r.modalities) && r.modalities.some((modality) => modality !== 'text')) return 'modalities';
  if (r.prediction != null) return 'prediction';
  if (r.reasoning_effort != null) return 'reasoning_effort';
  if (r.web_search_options != null) return 'web_search_options';
  if (r.functions != null || r.function_call != null) return r.functions != null ? 'functions' : 'function_call';
  return undefined;
}

/**
 * A text part's `cache_control` (the convention LiteLLM and others use in OpenAI-shaped content parts
 * for Anthropic's prompt caching) goes onto the Anthropic block as it is.
 */
const cacheOf = (part: Record<string, unknown>): { cache_control?: CacheControl } =>
  part.cache_control && typeof part.cache_control === 'object' ? { cache_control: part.cache_control as CacheControl } : {};

/** System and developer text as Anthropic's `system` blocks (one per part, cache breakpoints kept). */
function systemBlocks(content: ChatMessage['content'], field: string): Array<{ type: 'text'; text: string; cache_control?: CacheControl }> {
  if (typeof content === 'string' || !content) return [{ type: 'text', text: content ?? '' }];
  textOf(content, field); // text parts only
  return content.map((part) => ({ type: 'text' as const, text: part.text as string, ...cacheOf(part) }));
}

const textOf = (content: ChatMessage['content'], field: string): string => {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content
    .map((part, index) => {
      if (part.type !== 'text' || typeof part.text !== 'string')
        throw new AnthropicRefusal(`${field}[${index}]: only text parts are allowed here`);
      return part.text;
    })
    .join('\n');
};

/** An assistant's tool-call arguments as Anthropic's `input` object (as the Gemini adapter does). */
const parseArguments = (text: string): Record<string, unknown> => {
  try {
    const value = JSON.parse(text || '{}') as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return { raw: text };
  }
};

/** `data:image/png;base64,…` → a base64 source; `http(s)://…` → a url source. */
function sourceOf(url: string, field: string): ImageSource {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data?.[1] && data[2]) return { type: 'base64', media_type: data[1], data: data[2] };
  if (/^https?:\/\//i.test(url)) return { type: 'url', url };
  throw new AnthropicRefusal(`${field}: expected a base64 data URL or an http(s) URL`);
}

function userBlocks(content: ChatMessage['content'], field: string): RequestBlock[] {
  if (typeof content === 'string' || !content) return [{ type: 'text', text: content ?? '' }];
  return content.map((part, index): RequestBlock => {
    const at = `${field}[${index}]`;
    if (part.type === 'text' && typeof part.text === 'string') return { type: 'text', text: part.text, ...cacheOf(part) };
    if (part.type === 'image_url') {
      const url = (part.image_url as { url?: unknown } | undefined)?.url;
      return { type: 'image', source: sourceOf(typeof url === 'string' ? url : '', `${at}.image_url.url`) };
    }
    if (part.type === 'file') {
      const data = (part.file as { file_data?: unknown } | undefined)?.file_data;
      const source = sourceOf(typeof data === 'string' ? data : '', `${at}.file.file_data`);
      if (source.type !== 'base64' || source.media_type !== 'application/pdf')
        throw new AnthropicRefusal(`${at}.file: Anthropic takes files as base64 PDF data URLs`);
      return { type: 'document', source };
    }
    throw new AnthropicRefusal(`${at}.type "${part.type}" is not supported by Anthropic models`);
  });
}

function toolResultContent(content: ChatMessage['content'], field: string): Extract<RequestBlock, { type: 'tool_result' }>['content'] {
  if (typeof content === 'string' || !content) return content ?? '';
  return userBlocks(content, field) as Extract<RequestBlock, { type: 'tool_result' }>['content'];
}

/** Adds blocks to the conversation; consecutive turns of one role become one message. */
function push(messages: AnthropicMessage[], role: AnthropicMessage['role'], blocks: RequestBlock[]): void {
  const last = messages.at(-1);
  if (last?.role === role) last.content.push(...blocks);
  else messages.push({ role, content: blocks });
}

function toolsOf(request: ChatRequest): AnthropicTool[] | undefined {
  if (!request.tools?.length) return undefined;
  return request.tools.map((tool, index) => {
    const parameters = (tool.function.parameters ?? { type: 'object', properties: {} }) as Record<string, unknown>;
    if (parameters.type !== undefined && parameters.type !== 'object')
      throw new AnthropicRefusal(`tools[${index}].function.parameters: Anthropic tool inputs are JSON objects (type "object")`);
    return {
      name: tool.function.name,
      ...(tool.function.description ? { description: tool.function.description } : {}),
      input_schema: { type: 'object', ...parameters },
    };
  });
}

function toolChoiceOf(request: ChatRequest): AnthropicToolChoice | undefined {
  const choice = request.tool_choice;
  const parallel = (request as { parallel_tool_calls?: boolean | null }).parallel_tool_calls === false;
  let mapped: AnthropicToolChoice | undefined;
  if (choice === 'none') mapped = { type: 'none' };
  else if (choice === 'required') mapped = { type: 'any' };
  else if (choice === 'auto') mapped = { type: 'auto' };
  else if (choice && typeof choice === 'object' && 'function' in choice) mapped = { type: 'tool', name: choice.function.name };
  if (parallel) mapped = { ...(mapped ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return mapped;
}

/**
 * `response_format` json_schema / json_object, emulated with one forced tool whose input schema is
 * the requested schema: Claude answers with a `tool_use` block whose input is the JSON, which the
 * adapter returns as the message's content (finish_reason `stop`). Anthropic has no JSON mode on
 * every model; this works on all of them. With `tools` of the caller's own it is refused (a forced
 * tool would keep the model from calling them).
 */
function jsonTool(request: ChatRequest): AnthropicTool | undefined {
  const format = request.response_format as
    | { type: string; json_schema?: { name?: string; description?: string; schema?: unknown } }
    | undefined;
  if (!format || format.type === 'text') return undefined;
  if (request.tools?.length)
    throw new AnthropicRefusal('response_format: a JSON answer cannot be combined with tools on Anthropic models; send one or the other');
  if (format.type === 'json_object')
    return { name: JSON_OBJECT_TOOL, description: 'Answer with a JSON object.', input_schema: { type: 'object' } };
  const spec = format.json_schema ?? {};
  const schema = (spec.schema ?? { type: 'object' }) as Record<string, unknown>;
  if (schema.type !== 'object')
    throw new AnthropicRefusal('response_format.json_schema.schema: Anthropic models answer JSON objects only (type "object" at the top)');
  const name = /^[A-Za-z0-9_-]{1,64}$/.test(spec.name ?? '') ? (spec.name as string) : 'json_answer';
  return { name, description: spec.description ?? 'Answer with JSON matching this schema.', input_schema: schema };
}

/** An OpenAI chat request → Anthropic's Messages API body, and the forced JSON tool's name if any. */
export function toAnthropic(request: ChatRequest, model: string): { body: AnthropicRequest; jsonTool: string | undefined } {
  const refused = unsupportedOnAnthropic(request);
  if (refused === 'temperature') throw new AnthropicRefusal(`temperature ${request.temperature} is out of Anthropic's range (0 to 1)`);
  if (refused) throw new AnthropicRefusal(`"${refused}" is not supported by Anthropic models`);
  const system: ReturnType<typeof systemBlocks> = [];
  const messages: AnthropicMessage[] = [];
  request.messages.forEach((message, index) => {
    const field = `messages[${index}].content`;
    if (message.role === 'system' || message.role === 'developer') {
      system.push(...systemBlocks(message.content, field));
      return;
    }
    if (message.role === 'assistant') {
      const blocks: RequestBlock[] = [];
      const text = textOf(message.content, field);
      if (text) blocks.push({ type: 'text', text });
      for (const call of message.tool_calls ?? [])
        blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
      push(messages, 'assistant', blocks.length > 0 ? blocks : [{ type: 'text', text: '' }]);
      return;
    }
    if (message.role === 'tool' || message.role === 'function') {
      if (!message.tool_call_id)
        throw new AnthropicRefusal(`messages[${index}].tool_call_id: a tool result must name the tool call it answers`);
      push(messages, 'user', [
        { type: 'tool_result', tool_use_id: message.tool_call_id, content: toolResultContent(message.content, field) },
      ]);
      return;
    }
    push(messages, 'user', userBlocks(message.content, field));
  });

  const json = jsonTool(request);
  const tools = json ? [json] : toolsOf(request);
  const toolChoice = json ? ({ type: 'tool', name: json.name } as const) : tools ? toolChoiceOf(request) : undefined;
  const stop = request.stop == null ? undefined : Array.isArray(request.stop) ? request.stop : [request.stop];
  const body: AnthropicRequest = {
    model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
    // One string unless a block carries a cache breakpoint (then the blocks, so it stays where it was put).
    ...(system.length > 0
      ? { system: system.some((block) => block.cache_control) ? system : system.map((block) => block.text).join('\n\n') }
      : {}),
    ...(request.temperature != null ? { temperature: request.temperature } : {}),
    ...(request.top_p != null ? { top_p: request.top_p } : {}),
    ...(stop?.length ? { stop_sequences: stop } : {}),
    ...(tools ? { tools } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
    ...(request.user ? { metadata: { user_id: request.user } } : {}),
  };
  return { body, jsonTool: json?.name };
}
