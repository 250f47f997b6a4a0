import type { Context } from 'hono';
import { inBackground } from '../../shared/http/background.js';
import { ApiError } from '../../shared/http/errors.js';
import { tracedResponse } from '../../shared/http/middleware.js';
import type { AppEnv } from '../../shared/http/types.js';
import { cachePlan, requestKeys } from './cache/policy.js';
import { cacheHeaders, captureSse, sseBody, sseFromCache } from './cache/replay.js';
import { type CachedAnswer, type Lookup, MAX_ENTRY_CHARS, ResponseCache } from './cache/store.js';
import { type ChatResult, completeChat } from './complete.js';
import type { ChatRequest } from './contract.js';
import { governanceOf } from './governance.js';
import { attemptHeaders, ClientClosedError, clientClosed } from './pipeline.js';
import { isNative, wireText } from './providers/types.js';
import type { SseFramer } from './stream.js';
import { streamChat } from './stream-chat.js';

/**
 * One `POST /v1/chat/completions` request, already parsed: from the response cache when it applies
 * and holds the answer, else {@link completeChat} or {@link streamChat}; then the answer and the
 * request's log fields. `/v1/responses` calls it too, with a translated request and its `framer`: a
 * stream it writes (its events in the pipeline's own pass) is one the cache does not keep (a native
 * one, or any with the cache off for the task); every other stream is chat SSE.
 */
export async function serveChat(c: Context<AppEnv>, request: ChatRequest, framer?: SseFramer): Promise<Response> {
  const services = c.get('services');
  const target = c.req.header('x-myca-task') || request.model;
  const clientSignal = c.req.raw.signal;
  const governance = governanceOf(c);
  const cacheControl = c.req.header('x-myca-cache');
  if (cacheControl !== undefined && cacheControl !== 'no-store' && cacheControl !== 'refresh')
    throw new ApiError('BAD_REQUEST', {
      detail: `x-myca-cache: "${cacheControl.slice(0, 40)}" is not a cache directive`,
      hint: 'send x-myca-cache: no-store (no cache read or write) or refresh (ask the provider, store the answer), or leave it out',
    });
  const plan = cachePlan(services.config.llm, request, target, cacheControl);
  // Scoped to the key's principal: one key never gets another's answer.
  const keys = plan ? await requestKeys(c.get('principal').id, plan.task, request, plan.semantic !== null) : undefined;
  const cache = plan ? new ResponseCache(services) : undefined;
  let lookup: Lookup | undefined;
  if (plan && keys && cache) {
    lookup = await cache.lookup(plan, keys, request);
    services.metrics.llmCacheRequests.add(1, { task: plan.taskLabel, result: lookup.source });
    if (lookup.answer && lookup.source !== 'miss') {
      const { answer, source } = lookup;
      if (answer.cost_usd) services.metrics.llmCacheSavedCost.add(answer.cost_usd, { task: plan.taskLabel });
      c.set('logFields', { ...c.get('logFields'), cache: source, llm: `${plan.task}/${answer.deployment}`, attempts: 0 });
      if (request.stream)
        return sseFromCache(sseBody(answer, request.stream_options?.include_usage === true), cacheHeaders(answer, source));
      return tracedResponse(c, answer.body, 200, { 'content-type': 'application/json', ...cacheHeaders(answer, source) });
    }
  }
  const store = (answer: CachedAnswer) => {
    if (plan && keys && cache) inBackground(c, cache.store(plan, keys, request, answer, lookup?.vector));
  };
  const cacheHeader: Record<string, string> = plan ? { 'x-myca-cache': 'miss' } : {};
  try {
    if (request.stream) {
      // The cache keeps chat SSE: a stream it would keep is written as chat chunks whatever the framer.
      const framerFor = framer ? (native: boolean) => (!plan || native ? framer : undefined) : undefined;
      const streamed = await streamChat(services, request, target, clientSignal, c.get('logger'), governance, framerFor);
      c.set('logFields', { ...c.get('logFields'), llm: streamed.attempt.label, attempts: streamed.attempts, stream: true });
      // A native Responses stream is not kept: the cache replays chat answers.
      if (!plan || streamed.native) return streamed.response;
      streamed.response.headers.set('x-myca-cache', 'miss');
      const { attempt } = streamed;
      return captureSse(streamed.response, MAX_ENTRY_CHARS, (body) =>
        store({ kind: 'sse', body, provider: attempt.provider, model: attempt.model, deployment: attempt.deployment }),
      );
    }
    const done: ChatResult = await completeChat(services, request, target, clientSignal, governance);
    c.set('logFields', {
      ...c.get('logFields'),
      llm: done.attempt.label,
      attempts: done.attempts,
      usage: done.completion.usage,
      cost_usd: done.costUsd,
    });
    const body = wireText(done.completion);
    // A native Response (the provider's own Responses API) is not kept: the cache replays chat answers.
    if (plan && !isNative(done.completion))
      store({
        kind: 'json',
        body,
        provider: done.attempt.provider,
        model: done.attempt.model,
        deployment: done.attempt.deployment,
        ...(done.costUsd !== undefined ? { cost_usd: done.costUsd } : {}),
      });
    return tracedResponse(c, body, 200, {
      'content-type': 'application/json',
      ...attemptHeaders(done.attempt, done.attempts),
      ...cacheHeader,
    });
  } catch (error) {
    if (error instanceof ClientClosedError) return clientClosed();
    throw error;
  }
}
