/**
 * chat-route: OpenAI-compatible `/v1/chat/completions`, `/v1/responses`, `/v1/embeddings` and
 * `/v1/models` over every configured provider, with task routing, fallback, retries, a shared breaker
 * and streaming.
 *
 * The rooms: `pipeline.ts` (plan, breaker, errors), `complete.ts` ({@link completeChat}) beside
 * `stream-chat.ts` (streamChat), `serve.ts` (the HTTP answer for both), `responses*.ts` (the
 * Responses API on serveChat: native or bridged), `embeddings.ts`, `rate-limit.ts`, `providers/`.
 */
import { Hono } from 'hono';
import type { WorkScope } from '../../shared/http/scope.js';
import type { AppEnv } from '../../shared/http/types.js';
import { readJson } from '../../shared/http/validate.js';
import type { Services } from '../../shared/services.js';
import { type ChatRequest, ChatRequestSchema, type ModelList } from './contract.js';
import { serveEmbeddings } from './embeddings.js';
import { usableModels } from './governance.js';
import { registryFor } from './pipeline.js';
import { planAttempts } from './plan.js';
import { rateLimit } from './rate-limit.js';
import { mountResponses } from './responses-routes.js';
import { sweepResponses } from './responses-store.js';
import { serveChat } from './serve.js';

export { type ChatResult, completeChat } from './complete.js';
export { ClientClosedError } from './pipeline.js';
export { serveChat } from './serve.js';
export { type StreamedChat, streamChat } from './stream-chat.js';

const MAX_BODY = 8 * 1024 * 1024;

/**
 * @example
 * app.route('/', createChatRoute());
 */
export function createChatRoute() {
  const app = new Hono<AppEnv>();

  // Per-key rate limit in the shared key-value store (fixed one-minute windows).
  app.use('/v1/chat/completions', rateLimit);
  app.use('/v1/embeddings', rateLimit);
  app.use('/v1/responses', rateLimit);
  // Reading and deleting stored responses count against the same per-key limit.
  app.use('/v1/responses/*', rateLimit);

  app.post('/v1/chat/completions', async (c) => serveChat(c, (await readJson(c, ChatRequestSchema, { limit: MAX_BODY })) as ChatRequest));
  // The Responses API through the same pipeline (native to OpenAI's /responses, or bridged: responses.ts);
  // GET and DELETE /v1/responses/:id for stored ones.
  mountResponses(app, serveChat);
  app.post('/v1/embeddings', serveEmbeddings);

  app.get('/v1/models', async (c) => {
    const services = c.get('services');
    const registry = registryFor(services);
    // What the key may call: its allow-list and unpriced models, as its requests would be refused (403).
    const usable = await usableModels(services, c.get('principal').id);
    const body: ModelList = {
      object: 'list',
      data: Object.entries(services.config.llm.models)
        .filter(([alias, model]) => usable(alias, model))
        .map(([alias, model]) => {
          const entry = registry.get(model.provider);
          return {
            id: alias,
            object: 'model' as const,
            created: 0,
            owned_by: model.provider,
            myca: {
              alias,
              provider: model.provider,
              model: model.model,
              kind: model.kind,
              available: Boolean(entry?.provider),
              ...(entry?.reason ? { reason: entry.reason } : {}),
            },
          };
        }),
    };
    return c.json(body);
  });

  return app;
}

/**
 * Why a chat model (a task alias, a configured model or `provider/model`) cannot be called now — no
 * model of its plan, fallbacks included, has a usable provider (a key), or, for a caller that offers
 * tools, one that supports them — or undefined when it can.
 */
export function chatModelUnavailable(services: Services, target: string, options: { tools?: boolean } = {}): string | undefined {
  const request = options.tools
    ? ({
        model: target,
        messages: [{ role: 'user', content: '' }],
        tools: [{ type: 'function', function: { name: 'tool', parameters: { type: 'object' } } }],
      } as ChatRequest)
    : undefined;
  const plan = planAttempts(services.config.llm, registryFor(services), { target, kind: 'chat', ...(request ? { request } : {}) });
  return plan.ok ? undefined : plan.reason;
}

/**
 * chat-route's part of the periodic sweep: stored responses past their retention are deleted (also
 * when nothing is stored any more). Never throws: a failure is logged and the next sweep tries again.
 */
export async function sweepChat(scope: WorkScope): Promise<void> {
  const { services, logger } = scope;
  if (!services.db) return;
  try {
    const deleted = await sweepResponses(services.db.sql, services.config.responses.retention_days);
    if (deleted > 0) logger.info('expired stored responses deleted', { deleted });
  } catch (error) {
    logger.warn('deleting expired stored responses failed', { error: error as Error });
  }
}
