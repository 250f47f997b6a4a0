import type { Context } from 'hono';
import { tracedResponse } from '../../shared/http/middleware.js';
import type { AppEnv } from '../../shared/http/types.js';
import { type ChatResult, completeChat } from './complete.js';
import type { ChatRequest } from './contract.js';
import { governanceOf } from './governance.js';
import { attemptHeaders, ClientClosedError, clientClosed } from './pipeline.js';
import { wireText } from './providers/types.js';
import { streamChat } from './stream-chat.js';

/**
 * One `POST /v1/chat/completions` request, already parsed: {@link completeChat} or {@link streamChat},
 * then the answer and the request's log fields. `/v1/responses` calls it too, with a translated request.
 */
export async function serveChat(c: Context<AppEnv>, request: ChatRequest): Promise<Response> {
  const services = c.get('services');
  const target = c.req.header('x-myca-task') || request.model;
  const clientSignal = c.req.raw.signal;
  const governance = governanceOf(c);
  try {
    if (request.stream) {
      const streamed = await streamChat(services, request, target, clientSignal, c.get('logger'), governance);
      c.set('logFields', { ...c.get('logFields'), llm: streamed.attempt.label, attempts: streamed.attempts, stream: true });
      return streamed.response;
    }
    const done: ChatResult = await completeChat(services, request, target, clientSignal, governance);
    c.set('logFields', {
      ...c.get('logFields'),
      llm: done.attempt.label,
      attempts: done.attempts,
      usage: done.completion.usage,
      cost_usd: done.costUsd,
    });
    return tracedResponse(c, wireText(done.completion), 200, {
      'content-type': 'application/json',
      ...attemptHeaders(done.attempt, done.attempts),
    });
  } catch (error) {
    if (error instanceof ClientClosedError) return clientClosed();
    throw error;
  }
}
