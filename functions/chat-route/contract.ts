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

export type ChatRequest = z.infer<typeof ChatRequestSchema> & Omit<OpenAI.ChatCompletionCreateParams, 'model' | 'messages' | 'stream'>;
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
