import { ChatRequestSchema, EmbeddingsRequestSchema, ModelListSchema, ResponsesRequestSchema } from '../chat-route/contract.js';
import type { RouteDoc } from './route-doc.js';

/** chat-route: chat completions, the Responses API (and its stored responses), embeddings, models. */
export const LLM_ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/chat/completions',
    summary: 'OpenAI-compatible chat completion (JSON or SSE with stream: true), routed across providers',
    auth: 'any key',
    tag: 'llm',
    request: {
      schema: ChatRequestSchema,
      example: { model: 'planning', messages: [{ role: 'user', content: 'Name three wood-decay fungi.' }] },
    },
    response: { status: 200, description: 'a chat.completion (or text/event-stream chunks)' },
  },
  {
    method: 'post',
    path: '/v1/responses',
    summary:
      'OpenAI Responses API bridged through the chat pipeline (JSON or Responses SSE events with stream: true); kept per key unless store: false (previous_response_id, item_reference)',
    auth: 'any key',
    tag: 'llm',
    request: {
      schema: ResponsesRequestSchema,
      example: { model: 'planning', instructions: 'Answer in one line.', input: 'Name three wood-decay fungi.', max_output_tokens: 200 },
    },
    response: {
      status: 200,
      description: 'a response object (or text/event-stream Responses events ending in response.completed or response.failed)',
    },
  },
  {
    method: 'get',
    path: '/v1/responses/:id',
    summary: 'A stored response, only to the key that made it (any other key: 404, as for an unknown id)',
    auth: 'any key',
    tag: 'llm',
    response: { status: 200, description: 'the response object as answered' },
  },
  {
    method: 'delete',
    path: '/v1/responses/:id',
    summary: 'Deletes a stored response of this key',
    auth: 'any key',
    tag: 'llm',
    response: { status: 200, description: '{id, object: "response", deleted: true}' },
  },
  {
    method: 'post',
    path: '/v1/embeddings',
    summary: 'OpenAI-compatible embeddings',
    auth: 'any key',
    tag: 'llm',
    request: { schema: EmbeddingsRequestSchema, example: { model: 'embedding', input: 'turkey tail' } },
    response: { status: 200, description: 'a list of embeddings' },
  },
  {
    method: 'get',
    path: '/v1/models',
    summary: 'Models and aliases, each with myca.available and the reason when not',
    auth: 'any key',
    tag: 'llm',
    response: { status: 200, schema: ModelListSchema, description: 'the model list' },
  },
];
