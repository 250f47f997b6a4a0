import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import type { AttemptRecord } from './attempts.js';
import type { ChatCompletionChunk, ChatRequest, Usage } from './contract.js';
import type { Attempt } from './plan.js';
import { type ChatProvider, ProviderError, wireText } from './providers/types.js';

/** A provider stream whose first chunk has arrived: from here on there is no fallback. */
export interface OpenedStream {
  first: ChatCompletionChunk;
  rest: AsyncIterator<ChatCompletionChunk>;
  /** Cuts the upstream (idle timeout, deadline, client gone). */
  abort(reason: string): void;
}

const aborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/**
 * Opens the provider's stream and waits for its first chunk, bounded by the attempt's signal (the
 * first-token timeout). Until that chunk the attempt loop may still fall back to another model.
 */
export async function openStream(
  provider: ChatProvider,
  request: ChatRequest,
  attempt: Attempt,
  signal: AbortSignal,
): Promise<OpenedStream> {
  const upstream = new AbortController();
  const forward = () => upstream.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  const iterator = provider
    .stream(request, { model: attempt.model, signal: upstream.signal, headers: correlationHeaders() })
    [Symbol.asyncIterator]();
  try {
    const first = await Promise.race([iterator.next(), aborted(signal)]);
    if (first.done) throw new Error('the provider closed the stream before sending anything');
    return { first: first.value, rest: iterator, abort: (reason) => upstream.abort(new Error(reason)) };
  } catch (error) {
    upstream.abort(error);
    void iterator.return?.();
    throw error;
  } finally {
    signal.removeEventListener('abort', forward);
  }
}

export interface StreamResult {
  usage?: Usage;
  error?: string;
  /** How the stream ended, as an attempt status: `ok`, the provider's status, `network`, `timeout`, `client_closed`. */
  status: AttemptRecord['status'];
  chunks: number;
}

const encoder = new TextEncoder();
const frame = (data: string, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;

/** What the provider's iterator gave: a chunk, its end, or its failure (never an unhandled rejection). */
type Step = { next: IteratorResult<ChatCompletionChunk> } | { failed: unknown };
const LATER = Symbol('later');
/** Resolves after whatever has already arrived has been handled (the next turn of the event loop). */
const nextTurn = () =>
  new Promise<typeof LATER>((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve, LATER) : setTimeout(resolve, 0, LATER),
  );

/**
 * Server-sent events in OpenAI's format, ending with `data: [DONE]` only on success. A provider that
 * fails or goes silent mid-stream ends it with an `error` event carrying `{"error": …}` and no
 * `[DONE]`, so no client mistakes a cut answer for a whole one.
 *
 * Chunks that are already there (several events in one network read, the common case) go out in one
 * write: waiting for them costs nothing, and each write is a system call and an HTTP chunk.
 */
export function sseResponse(options: {
  opened: OpenedStream;
  idleTimeoutMs: number;
  /** Epoch ms at which the stream is cut however lively it is (`stream_max_ms` after the request came). */
  capAt: number;
  capMs: number;
  headers: Record<string, string>;
  onEnd: (result: StreamResult) => void;
}): Response {
  const { opened } = options;
  const result: StreamResult = { chunks: 0, status: 'ok' };
  let finished = false;
  let cancelled = false;
  // The request for the next chunk, kept across pulls when it was not answered in time; at the start,
  // the first chunk (already here).
  let ahead: Promise<Step> | undefined = Promise.resolve({ next: { done: false, value: opened.first } });
  const step = () => {
    ahead ??= opened.rest.next().then(
      (next): Step => ({ next }),
      (failed: unknown): Step => ({ failed }),
    );
    return ahead;
  };
  const text = (chunk: ChatCompletionChunk) => {
    if (chunk.usage) result.usage = chunk.usage;
    result.chunks++;
    return frame(wireText(chunk));
  };
  /** The last frame: `[DONE]`, or the error event. Returns its text; the caller sends and closes. */
  const finish = (error?: string, status: AttemptRecord['status'] = 'network') => {
    if (finished) return ''; // the client went away meanwhile
    finished = true;
    if (error) {
      result.error = error;
      result.status = status;
    }
    return error
      ? frame(JSON.stringify({ error: { message: error, type: 'upstream_error', code: 'stream_interrupted' } }), 'error')
      : frame('[DONE]');
  };
  /** Text for one provider step; ends the stream on its end or failure. */
  const take = (taken: Step): string => {
    ahead = undefined;
    if ('failed' in taken) {
      const error = taken.failed;
      const status = error instanceof ProviderError ? (error.timeout ? 'timeout' : (error.status ?? 'network')) : 'network';
      return finish(`the provider's stream broke off: ${error instanceof Error ? error.message : String(error)}`, status);
    }
    return taken.next.done ? finish() : text(taken.next.value);
  };

  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      let out: string;
      const capLeft = Math.max(0, options.capAt - Date.now());
      const capped = capLeft < options.idleTimeoutMs;
      const wait = capped ? capLeft : options.idleTimeoutMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silence = new Promise<'silent'>((resolve) => {
        timer = setTimeout(() => resolve('silent'), wait);
      });
      // A provider that never pauses would always beat a timer of 0: the cap is checked first.
      const taken = capLeft === 0 ? 'silent' : await Promise.race([step(), silence]);
      clearTimeout(timer);
      if (taken === 'silent') {
        opened.abort(capped ? 'stream cap' : 'idle timeout');
        ahead = undefined;
        out = capped
          ? finish(`the stream reached its cap of ${options.capMs} ms (stream_max_ms, LLM_STREAM_MAX_MS)`, 'timeout')
          : finish(`the provider sent nothing for ${wait} ms (idle timeout, LLM_IDLE_TIMEOUT_MS)`, 'timeout');
      } else out = take(taken);
      // Whatever else has already arrived rides along in the same write.
      while (!finished) {
        const taken = await Promise.race([step(), nextTurn()]);
        if (taken === LATER) break;
        out += take(taken);
      }
      if (cancelled) return;
      controller.enqueue(encoder.encode(out));
      if (finished) {
        controller.close();
        options.onEnd(result);
      }
    },
    cancel: () => {
      // The client went away: stop paying for tokens nobody reads.
      opened.abort('client disconnected');
      cancelled = true;
      if (!finished) {
        finished = true;
        result.error = 'client disconnected';
        result.status = 'client_closed';
        options.onEnd(result);
      }
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...options.headers,
    },
  });
}
