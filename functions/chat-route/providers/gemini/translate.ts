import type {
  Content,
  EnhancedGenerateContentResponse,
  FunctionCallingMode,
  GenerateContentRequest,
  GenerationConfig,
  Part,
  Tool,
  ToolConfig,
  UsageMetadata,
} from '@google/generative-ai';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage, ChatRequest, Usage } from '../../contract.js';
import { SchemaRefused, toGeminiSchema } from './schema.js';

/** Thrown when a request cannot be expressed for Gemini: a 400 naming the parameter. */
export class GeminiRefusal extends Error {}

/**
 * OpenAI parameters Gemini has no equivalent for. Sent to a Gemini model they are a 400 naming the
 * parameter (never silently dropped); the plan leaves Gemini fallbacks out for such requests.
 * `user`, `store`, `metadata` and `service_tier` are OpenAI account features that do not change the
 * answer: they are not sent to Gemini.
 */
export function unsupportedOnGemini(request: ChatRequest): string | undefined {
  const r = request as ChatRequest & Record<string, unknown>;
  if (r.logprobs) return 'logprobs';
  if (r.top_logprobs != null) return 'top_logprobs';
  if (r.logit_bias != null && Object.keys(r.logit_bias as object).length > 0) return 'logit_bias';
  if (r.parallel_tool_calls === false) return 'parallel_tool_calls';
  if (r.audio != null) return 'audio';
  if (Array.isArray(r.modalities) && r.modalities.some((modality) => modality !== 'text')) return 'modalities';
  if (r.prediction != null) return 'prediction';
  if (r.reasoning_effort != null) return 'reasoning_effort';
  if (r.web_search_options != null) return 'web_search_options';
  return undefined;
}

function geminiSchema(schema: unknown, parameter: string): ReturnType<typeof toGeminiSchema> {
  try {
    return toGeminiSchema(schema);
  } catch (error) {
    if (error instanceof SchemaRefused) throw new GeminiRefusal(`${parameter}: ${error.message}`);
    throw error;
  }
}

/** The pieces of a Gemini call: what getGenerativeModel takes and what generateContent takes. */
export interface GeminiCall {
  systemInstruction?: Content;
  tools?: Tool[];
  toolConfig?: ToolConfig;
  generationConfig: GenerationConfig;
  request: GenerateContentRequest;
}

const textOf = (content: ChatMessage['content']): string => {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .filter(Boolean)
    .join('\n');
};

const parseArguments = (text: string): Record<string, unknown> => {
  try {
    const value = JSON.parse(text || '{}') as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return { raw: text };
  }
};

/**
 * OpenAI chat request → Gemini. System and developer messages become the system instruction;
 * assistant turns become `model` turns (tool calls as functionCall parts); tool results become
 * functionResponse parts named after the call they answer.
 */
export function toGemini(request: ChatRequest): GeminiCall {
  const unsupported = unsupportedOnGemini(request);
  if (unsupported) throw new GeminiRefusal(`"${unsupported}" is not supported by Gemini models`);
  const system: string[] = [];
  const contents: Content[] = [];
  const toolNames = new Map<string, string>();
  for (const message of request.messages) {
    if (message.role === 'system' || message.role === 'developer') {
      system.push(textOf(message.content));
      continue;
    }
    if (message.role === 'assistant') {
      const parts: Part[] = [];
      const text = textOf(message.content);
      if (text) parts.push({ text });
      for (const call of message.tool_calls ?? []) {
        toolNames.set(call.id, call.function.name);
        parts.push({ functionCall: { name: call.function.name, args: parseArguments(call.function.arguments) } });
      }
      contents.push({ role: 'model', parts: parts.length > 0 ? parts : [{ text: '' }] });
      continue;
    }
    if (message.role === 'tool' || message.role === 'function') {
      const name = (message.tool_call_id && toolNames.get(message.tool_call_id)) || message.name || 'tool';
      const text = textOf(message.content);
      let response: object;
      try {
        const parsed = JSON.parse(text) as unknown;
        response = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : { result: parsed };
      } catch {
        response = { result: text };
      }
      const part: Part = { functionResponse: { name, response } };
      // Consecutive tool results answer one model turn together.
      const last = contents.at(-1);
      if (last?.role === 'function') last.parts.push(part);
      else contents.push({ role: 'function', parts: [part] });
      continue;
    }
    contents.push({ role: 'user', parts: userParts(message.content) });
  }

  const generationConfig: GenerationConfig = {};
  if (request.temperature != null) generationConfig.temperature = request.temperature;
  if (request.top_p != null) generationConfig.topP = request.top_p;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) generationConfig.maxOutputTokens = maxTokens;
  if (request.n != null) generationConfig.candidateCount = request.n;
  if (request.stop != null) generationConfig.stopSequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  const r = request as ChatRequest & Record<string, unknown>;
  const extra = generationConfig as GenerationConfig & { seed?: number };
  if (typeof r.seed === 'number') extra.seed = r.seed;
  if (typeof r.presence_penalty === 'number') generationConfig.presencePenalty = r.presence_penalty;
  if (typeof r.frequency_penalty === 'number') generationConfig.frequencyPenalty = r.frequency_penalty;
  if (request.response_format?.type === 'json_object' || request.response_format?.type === 'json_schema') {
    generationConfig.responseMimeType = 'application/json';
  }
  if (request.response_format?.type === 'json_schema') {
    const schema = (request.response_format as { json_schema?: { schema?: unknown } }).json_schema?.schema;
    if (schema) generationConfig.responseSchema = geminiSchema(schema, 'response_format.json_schema.schema') as never;
  }

  const call: GeminiCall = { generationConfig, request: { contents } };
  if (system.length > 0) call.systemInstruction = { role: 'system', parts: [{ text: system.join('\n\n') }] };
  if (request.tools?.length) {
    call.tools = [
      {
        functionDeclarations: request.tools.map((tool, index) => ({
          name: tool.function.name,
          ...(tool.function.description ? { description: tool.function.description } : {}),
          ...(tool.function.parameters
            ? { parameters: geminiSchema(tool.function.parameters, `tools[${index}].function.parameters`) as never }
            : {}),
        })),
      },
    ];
  }
  if (request.tool_choice) call.toolConfig = toolConfigOf(request.tool_choice);
  return call;
}

function userParts(content: ChatMessage['content']): Part[] {
  if (typeof content === 'string' || !content) return [{ text: content ?? '' }];
  const parts: Part[] = [];
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') parts.push({ text: part.text });
    else if (part.type === 'image_url') {
      const url = (part.image_url as { url?: string } | undefined)?.url ?? '';
      const data = /^data:([^;]+);base64,(.+)$/.exec(url);
      if (data?.[1] && data[2]) parts.push({ inlineData: { mimeType: data[1], data: data[2] } });
      else parts.push({ fileData: { mimeType: 'image/*', fileUri: url } });
    }
  }
  return parts.length > 0 ? parts : [{ text: '' }];
}

function toolConfigOf(choice: NonNullable<ChatRequest['tool_choice']>): ToolConfig {
  const mode = (value: string) => value as FunctionCallingMode;
  if (choice === 'none') return { functionCallingConfig: { mode: mode('NONE') } };
  if (choice === 'required') return { functionCallingConfig: { mode: mode('ANY') } };
  if (choice === 'auto') return { functionCallingConfig: { mode: mode('AUTO') } };
  if (typeof choice === 'object' && 'function' in choice) {
    return { functionCallingConfig: { mode: mode('ANY'), allowedFunctionNames: [choice.function.name] } };
  }
  return { functionCallingConfig: { mode: mode('AUTO') } };
}

type FinishReason = ChatCompletion['choices'][number]['finish_reason'];

/** Gemini finish reasons → OpenAI's; a turn that calls tools finishes with `tool_calls`. */
export function finishReasonOf(reason: string | undefined, hasToolCalls: boolean): FinishReason | null {
  if (!reason) return null;
  if (hasToolCalls) return 'tool_calls';
  switch (reason) {
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/**
 * Gemini usage → OpenAI usage. Thinking tokens are output the caller pays for, so they count as
 * completion tokens (once); cached tokens are already inside promptTokenCount and are only detailed.
 */
export function usageOf(metadata: UsageMetadata | undefined): Usage | undefined {
  if (!metadata) return undefined;
  const extra = metadata as UsageMetadata & { thoughtsTokenCount?: number };
  const prompt = metadata.promptTokenCount ?? 0;
  const thoughts = extra.thoughtsTokenCount ?? 0;
  const completion = (metadata.candidatesTokenCount ?? 0) + thoughts;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (metadata.cachedContentTokenCount) usage.prompt_tokens_details = { cached_tokens: metadata.cachedContentTokenCount };
  if (thoughts) usage.completion_tokens_details = { reasoning_tokens: thoughts };
  return usage;
}

type ToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } };

function partsToMessage(parts: Part[] | undefined, newId: () => string): { text: string; toolCalls: ToolCall[] } {
  let text = '';
  const toolCalls: ToolCall[] = [];
  for (const part of parts ?? []) {
    const thought = (part as Part & { thought?: boolean }).thought;
    if (typeof part.text === 'string' && !thought) text += part.text;
    if (part.functionCall) {
      toolCalls.push({
        id: newId(),
        type: 'function',
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      });
    }
  }
  return { text, toolCalls };
}

/** A whole Gemini response → an OpenAI chat.completion. */
export function fromGemini(
  response: EnhancedGenerateContentResponse,
  model: string,
  id: string,
  created: number,
  newId: () => string,
): ChatCompletion {
  const choices = (response.candidates ?? []).map((candidate, index) => {
    const { text, toolCalls } = partsToMessage(candidate.content?.parts, newId);
    return {
      index: candidate.index ?? index,
      message: {
        role: 'assistant' as const,
        content: text || (toolCalls.length > 0 ? null : ''),
        refusal: null,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      },
      finish_reason: finishReasonOf(candidate.finishReason, toolCalls.length > 0) ?? 'stop',
      logprobs: null,
    };
  });
  const usage = usageOf(response.usageMetadata);
  return { id, object: 'chat.completion', created, model, choices, ...(usage ? { usage } : {}) };
}

/**
 * What a stream remembers across chunks, per choice: how many tool calls it has emitted. Each call
 * gets the next index (Gemini sends parallel calls in successive chunks; index 0 twice made the SDKs
 * merge them into one), and a turn that emitted any finishes with `tool_calls`.
 */
export type StreamState = Map<number, number>;

/** One Gemini stream chunk → one OpenAI chunk (without usage: the caller sends it once, last). */
export function chunkFromGemini(
  response: EnhancedGenerateContentResponse,
  model: string,
  id: string,
  created: number,
  newId: () => string,
  first: boolean,
  state: StreamState = new Map(),
): ChatCompletionChunk {
  const choices = (response.candidates ?? []).map((candidate, position) => {
    const index = candidate.index ?? position;
    const { text, toolCalls } = partsToMessage(candidate.content?.parts, newId);
    const before = state.get(index) ?? 0;
    state.set(index, before + toolCalls.length);
    return {
      index,
      delta: {
        ...(first ? { role: 'assistant' as const } : {}),
        ...(text ? { content: text } : {}),
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls.map((call, i) => ({ index: before + i, ...call })) } : {}),
      },
      finish_reason: finishReasonOf(candidate.finishReason, before + toolCalls.length > 0),
      logprobs: null,
    };
  });
  return { id, object: 'chat.completion.chunk', created, model, choices };
}
