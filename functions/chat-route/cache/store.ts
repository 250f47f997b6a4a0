/**
 * The response cache's two stores: exact answers in the key-value store (services.kv: Upstash Redis,
 * or memory) and semantic neighbours in Qdrant (services.vector) over the embedding task. A store
 * that fails or is slow is a miss, never an error: every read is bounded and caught, every write runs
 * after the answer and is caught.
 */
import type { Services } from '../../../shared/services.js';
import { correlationHeaders } from '../../../shared/telemetry/correlation.js';
import { runAttempts } from '../attempts.js';
import { CircuitBreaker } from '../breaker.js';
import type { ChatRequest } from '../contract.js';
import { recordCall } from '../observe.js';
import { providerIn, registryFor } from '../pipeline.js';
import { planAttempts } from '../plan.js';
import { type CachePlan, promptText } from './policy.js';

/** What a cache entry holds: the exact bytes served, and who served them. */
export interface CachedAnswer {
  /** `json`: a chat.completion body; `sse`: a whole event stream ending with `data: [DONE]`. */
  kind: 'json' | 'sse';
  body: string;
  provider: string;
  model: string;
  deployment: string;
  /** What the original call cost (the saving of every hit), when priced. */
  cost_usd?: number;
}

export const KEY_PREFIX = 'myca:cache:v1';
/** Qdrant collection of the semantic cache (one per vector size: `myca_chat_cache_1536`). */
export const COLLECTION_PREFIX = 'myca_chat_cache';
/** A read that takes longer is a miss (the answer goes to the provider instead). */
export const READ_TIMEOUT_MS = 1000;
/** Embedding the prompt and searching Qdrant, together. */
export const SEMANTIC_TIMEOUT_MS = 3000;
/** Larger answers are served but not cached (Upstash takes values up to 1 MB per request). */
export const MAX_ENTRY_CHARS = 900_000;

/**
 * Recent exact entries of this process (isolate), in front of the key-value store: a hot entry is
 * answered without a store round trip (with Upstash, an HTTP request that costs more CPU than the
 * rest of a hit). Kept at most {@link LOCAL_TTL_MS} (and never past the entry's own TTL), so a
 * `refresh` on another instance is seen here within that time; least recently used entries go first
 * past {@link LOCAL_MAX_ENTRIES} or {@link LOCAL_MAX_CHARS}.
 */
export const LOCAL_TTL_MS = 10_000;
const LOCAL_MAX_ENTRIES = 512;
const LOCAL_MAX_CHARS = 16_000_000;
const local = new Map<string, { answer: CachedAnswer; expiresAt: number }>();
let localChars = 0;

function localGet(key: string, now: number): CachedAnswer | null {
  const entry = local.get(key);
  if (!entry) return null;
  local.delete(key);
  if (entry.expiresAt <= now) {
    localChars -= entry.answer.body.length;
    return null;
  }
  local.set(key, entry); // most recently used last
  return entry.answer;
}

function localSet(key: string, answer: CachedAnswer, ttlMs: number, now: number): void {
  const previous = local.get(key);
  if (previous) {
    local.delete(key);
    localChars -= previous.answer.body.length;
  }
  local.set(key, { answer, expiresAt: now + Math.min(ttlMs, LOCAL_TTL_MS) });
  localChars += answer.body.length;
  for (const [oldest, entry] of local) {
    if (local.size <= LOCAL_MAX_ENTRIES && localChars <= LOCAL_MAX_CHARS) break;
    local.delete(oldest);
    localChars -= entry.answer.body.length;
  }
}

const exactKey = (exact: string, kind: CachedAnswer['kind'], includeUsage: boolean) =>
  kind === 'json' ? `${KEY_PREFIX}:json:${exact}` : `${KEY_PREFIX}:sse${includeUsage ? '+usage' : ''}:${exact}`;

function bounded<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  return Promise.race([promise.catch(() => null), timeout]).finally(() => clearTimeout(timer));
}

const parse = (text: string | null): CachedAnswer | null => {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as CachedAnswer;
    return typeof value.body === 'string' && (value.kind === 'json' || value.kind === 'sse') ? value : null;
  } catch {
    return null;
  }
};

/** A UUID-shaped Qdrant point id from a hex digest (Qdrant ids are UUIDs or integers). */
const pointId = (digest: string) =>
  `${digest.slice(0, 8)}-${digest.slice(8, 12)}-${digest.slice(12, 16)}-${digest.slice(16, 20)}-${digest.slice(20, 32)}`;

export interface Lookup {
  answer: CachedAnswer | null;
  source: 'hit' | 'semantic' | 'miss';
  /** The prompt's embedding, when semantic matching computed one (reused to store the answer). */
  vector?: number[];
}

export class ResponseCache {
  constructor(private readonly services: Services) {}

  /** The exact entry, else (when the task asks for it) the nearest semantic one above its threshold. */
  async lookup(plan: CachePlan, keys: { exact: string; params: string }, request: ChatRequest): Promise<Lookup> {
    const kv = this.services.kv;
    const stream = request.stream === true;
    const includeUsage = request.stream_options?.include_usage === true;
    if (plan.read) {
      // A stream replays a stored stream, else is made from a stored completion (the same answer).
      const keysToTry = stream
        ? [exactKey(keys.exact, 'sse', includeUsage), exactKey(keys.exact, 'json', false)]
        : [exactKey(keys.exact, 'json', false)];
      const now = this.services.clock.now();
      for (const key of keysToTry) {
        const held = localGet(key, now);
        if (held) return { answer: held, source: 'hit' };
      }
      for (const key of keysToTry) {
        const answer = parse(await bounded(kv.get(key), READ_TIMEOUT_MS));
        if (answer) {
          localSet(key, answer, plan.ttlMs, now);
          return { answer, source: 'hit' };
        }
      }
    }
    if (!plan.semantic || !this.services.vector) return { answer: null, source: 'miss' };
    const semantic = await bounded(this.semanticLookup(plan, keys, request), SEMANTIC_TIMEOUT_MS);
    return semantic ?? { answer: null, source: 'miss' };
  }

  private async semanticLookup(plan: CachePlan, keys: { params: string }, request: ChatRequest): Promise<Lookup> {
    const vector = await this.embed(plan, request);
    if (!vector) return { answer: null, source: 'miss' };
    if (!plan.read) return { answer: null, source: 'miss', vector };
    // A failed search (no collection yet, Qdrant down) is a miss that still stores with this vector.
    const found = await this.services.vector
      ?.search(`${COLLECTION_PREFIX}_${vector.length}`, vector, {
        limit: 1,
        minScore: plan.semantic?.threshold ?? 1,
        filter: {
          equals: { params: keys.params, ...(request.stream ? {} : { kind: 'json' }) },
          greaterThan: { expires_at: this.services.clock.now() },
        },
      })
      .catch(() => undefined);
    const payload = found?.[0]?.payload;
    const answer = payload ? parse(JSON.stringify(payload.answer ?? null)) : null;
    return answer ? { answer, source: 'semantic', vector } : { answer: null, source: 'miss', vector };
  }

  /** The prompt's embedding through the embedding task (its breaker and fallback), or null. */
  private async embed(plan: CachePlan, request: ChatRequest): Promise<number[] | null> {
    const services = this.services;
    const llm = services.config.llm;
    const registry = registryFor(services);
    const attempts = planAttempts(llm, registry, { target: plan.semantic?.embedding ?? 'embedding', kind: 'embedding' });
    if (!attempts.ok) return null;
    const outcome = await runAttempts(
      attempts.attempts,
      {
        routing: { ...llm.routing, retries: 0 },
        breaker: new CircuitBreaker(services.kv, llm.routing.breaker),
        deadlineAt: services.clock.now() + SEMANTIC_TIMEOUT_MS,
        onResult: (attempt, record) => recordCall(services.metrics, llm, attempt, record),
      },
      (attempt, signal) =>
        providerIn(registry, attempt).embed(
          { input: promptText(request), encoding_format: 'float' },
          { model: attempt.model, signal, headers: correlationHeaders() },
        ),
    );
    const embedding = outcome.ok ? outcome.value.data[0]?.embedding : undefined;
    return Array.isArray(embedding) && embedding.length > 0 ? (embedding as number[]) : null;
  }

  /** Stores an answer (exact, and semantic when a vector is known); failures are swallowed. */
  async store(
    plan: CachePlan,
    keys: { exact: string; params: string },
    request: ChatRequest,
    answer: CachedAnswer,
    vector: number[] | undefined,
  ): Promise<void> {
    if (answer.body.length > MAX_ENTRY_CHARS) return;
    const key = exactKey(keys.exact, answer.kind, request.stream_options?.include_usage === true);
    // Held here only once the store has it: the store stays the one truth (and a store that is down caches nothing).
    const writes: Array<Promise<unknown>> = [
      this.services.kv
        .set(key, JSON.stringify(answer), { ttlMs: plan.ttlMs })
        .then(() => localSet(key, answer, plan.ttlMs, this.services.clock.now())),
    ];
    const vectors = this.services.vector;
    if (vector && vectors) {
      const collection = `${COLLECTION_PREFIX}_${vector.length}`;
      writes.push(
        ensureOnce(vectors, collection, vector.length).then(() =>
          vectors.upsert(collection, [
            {
              id: pointId((answer.kind === 'json' ? '0' : '1') + keys.exact.slice(1)),
              vector,
              payload: { params: keys.params, kind: answer.kind, expires_at: this.services.clock.now() + plan.ttlMs, answer },
            },
          ]),
        ),
      );
    }
    await Promise.all(writes.map((write) => write.catch(() => undefined)));
  }
}

const ensured = new WeakMap<object, Map<string, Promise<void>>>();
/** Creates the collection once per process (a failed attempt is retried on the next store). */
function ensureOnce(vectors: NonNullable<Services['vector']>, collection: string, size: number): Promise<void> {
  let byName = ensured.get(vectors);
  if (!byName) {
    byName = new Map();
    ensured.set(vectors, byName);
  }
  let pending = byName.get(collection);
  if (!pending) {
    pending = vectors.ensureCollection(collection, size).catch((error: unknown) => {
      byName?.delete(collection);
      throw error;
    });
    byName.set(collection, pending);
  }
  return pending;
}
