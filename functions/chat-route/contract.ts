import type OpenAI from 'openai';
import { z } from 'zod';

/**
 * The request contract of POST /v1/chat/completions: OpenAI's shape. Known fields are checked;
 * unknown ones pass through to OpenAI-type providers untouched (new OpenAI parameters keep working).
 */
const ContentPart = z.looseObject({ type: z.string() });
const Message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_call_id: z.string().optional(),
  tool_calls: z
    .array(z.looseObject({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) }))
    .optional(),
});
const Tool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1).max(64),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

export const ChatRequestSchema = z.looseObject({
  model: z.string().min(1, 'name a model: a task alias (planning, execution, fast), a configured model or provider/model'),
  messages: z.array(Message).min(1, 'send at least one message').max(2048),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  n: z.number().int().min(1).max(8).nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  tools: z.array(Tool).max(128).optional(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), function: z.object({ name: z.string() }) })])
    .optional(),
  response_format: z.looseObject({ type: z.enum(['text', 'json_object', 'json_schema']) }).optional(),
  user: z.string().max(256).optional(),
});

/**
 * The Responses form a chat request was translated from (`POST /v1/responses`), for the providers that
 * take it natively (`responses_api: native`): the same request in OpenAI's Responses shape, sent to
 * the provider's own `/responses` instead of the chat translation. A symbol, so no client can send it
 * (JSON has none) and no chat wire ever carries it (JSON.stringify skips it); copies of the request
 * (`{ ...request }`) keep it.
 */
export const RESPONSES_FORM: unique symbol = Symbol('myca.responses-form');

/** A Responses request as it goes to a provider's own `/responses` (the model is the attempt's). */
export interface NativeResponsesBody {
  input: unknown[];
  store: false;
  [field: string]: unknown;
}

export type ChatRequest = z.infer<typeof ChatRequestSchema> &
  Omit<OpenAI.ChatCompletionCreateParams, 'model' | 'messages' | 'stream'> & { [RESPONSES_FORM]?: NativeResponsesBody };
export type ChatMessage = z.infer<typeof Message>;
export type ChatCompletion = OpenAI.ChatCompletion;
export type ChatCompletionChunk = OpenAI.ChatCompletionChunk;
export type Usage = OpenAI.CompletionUsage;

export const EmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1).optional(),
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
});
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequestSchema>;
export type EmbeddingsResponse = OpenAI.CreateEmbeddingResponse;

export const ModelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      id: z.string(),
      object: z.literal('model'),
      created: z.number(),
      owned_by: z.string(),
      myca: z.object({
        alias: z.string().optional(),
        provider: z.string(),
        model: z.string(),
        kind: z.string(),
        available: z.boolean(),
        reason: z.string().optional(),
      }),
    }),
  ),
});
export type ModelList = z.infer<typeof ModelListSchema>;

/**
 * The request contract of POST /v1/responses: the subset of OpenAI's Responses API that is passed on
 * natively or bridged to chat (functions/chat-route/responses.ts). Unknown top-level fields are refused, naming them.
 */
const Part = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('input_text'), text: z.string() }),
  z.looseObject({ type: z.literal('output_text'), text: z.string() }),
  z.looseObject({ type: z.literal('input_image'), image_url: z.string(), detail: z.enum(['low', 'high', 'auto']).optional() }),
]);
const MessageItem = z.looseObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'system', 'developer', 'assistant']),
  content: z.union([z.string(), z.array(Part)]),
});
const FunctionCallItem = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const FunctionCallOutputItem = z.looseObject({ type: z.literal('function_call_output'), call_id: z.string().min(1), output: z.string() });
/** The ids the gateway hands out and takes back: a prefix, then letters and digits (nothing else reaches SQL or URLs). */
export const RESPONSE_ID = /^resp_[A-Za-z0-9]{8,128}$/;
export const ITEM_ID = /^[a-z]{1,16}_[A-Za-z0-9]{8,128}$/;
/** An output item of an earlier stored response, by its id (the Vercel AI SDK sends these while store is on). */
const ItemReference = z.looseObject({
  type: z.literal('item_reference'),
  id: z.string().regex(ITEM_ID, 'an item id is a prefix, "_", then letters and digits (msg_…, fc_…)'),
});
/**
 * A reasoning item of an earlier answer (OpenAI reasoning models). With `encrypted_content` it goes
 * back to a native provider; without it (or to any bridged provider) it is left out: the model reasons anew.
 */
const ReasoningItem = z.looseObject({
  type: z.literal('reasoning'),
  id: z.string().max(256).optional(),
  summary: z.array(z.looseObject({ type: z.string(), text: z.string() })).optional(),
  encrypted_content: z.string().nullable().optional(),
});
export const ResponsesInputItem = z.union([FunctionCallItem, FunctionCallOutputItem, ItemReference, ReasoningItem, MessageItem]);
export type ResponsesItem = z.infer<typeof ResponsesInputItem>;
export const ResponsesFunctionTool = z.object({
  type: z.literal('function'),
  name: z.string().min(1).max(64),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});
const Format = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    name: z.string().min(1),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

/** The request contract of POST /v1/responses (the subset of OpenAI's that every provider can serve). */
export const ResponsesRequestSchema = z.strictObject({
  model: z.string().min(1, 'name a model: a task alias (planning, execution, fast), a configured model or provider/model'),
  input: z.union([z.string(), z.array(ResponsesInputItem).min(1).max(2048)]),
  instructions: z.string().nullable().optional(),
  tools: z
    .array(z.looseObject({ type: z.string() }))
    .max(128)
    .optional(),
  tool_choice: z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), name: z.string() })]).optional(),
  text: z.strictObject({ format: Format.optional() }).optional(),
  max_output_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  reasoning: z
    .strictObject({
      effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
      // Reasoning summaries come only from a native provider; a bridged one has none to give.
      summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
    })
    .nullable()
    .optional(),
  stream: z.boolean().nullable().optional(),
  user: z.string().max(256).optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  // Kept per key when the deployment keeps responses (RESPONSES_RETENTION_DAYS > 0), else refused.
  store: z.boolean().nullable().optional(),
  previous_response_id: z.string().regex(RESPONSE_ID, 'a response id is "resp_" then 8 to 128 letters and digits').nullable().optional(),
  truncation: z.literal('disabled').nullable().optional(),
  // Only the encrypted reasoning can be asked for (native providers; bridged answers have no reasoning items).
  include: z
    .array(z.literal('reasoning.encrypted_content', { error: 'only "reasoning.encrypted_content" can be included' }))
    .max(1)
    .nullable()
    .optional(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;
