import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import type { ChatCompletionChunk, ChatRequest, Usage } from './contract.js';
import type { Attempt } from './plan.js';
import type { ChatProvider } from './providers/types.js';

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
  chunks: number;
}

const encoder = new TextEncoder();
const frame = (data: string, event?: string) => encoder.encode(`${event ? `event: ${event}\n` : ''}data: ${data}\n\n`);

/**
 * Server-sent events in OpenAI's format, ending with `data: [DONE]` only on success. A provider that
 * fails or goes silent mid-stream ends it with an `error` event carrying `{"error": …}` and no
 * `[DONE]`, so no client mistakes a cut answer for a whole one.
 */
export function sseResponse(options: {
  opened: OpenedStream;
  idleTimeoutMs: number;
  deadlineAt: number;
  headers: Record<string, string>;
  onEnd: (result: StreamResult) => void;
}): Response {
  const { opened } = options;
  const result: StreamResult = { chunks: 0 };
  let pending: ChatCompletionChunk | undefined = opened.first;
  let finished = false;
  const finish = (controller: ReadableStreamDefaultController<Uint8Array>, error?: string) => {
    if (finished) return;
    finished = true;
    if (error) {
      result.error = error;
      controller.enqueue(frame(JSON.stringify({ error: { message: error, type: 'upstream_error', code: 'stream_interrupted' } }), 'error'));
    } else {
      controller.enqueue(frame('[DONE]'));
    }
    controller.close();
    options.onEnd(result);
  };
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, chunk: ChatCompletionChunk) => {
    if (chunk.usage) result.usage = chunk.usage;
    result.chunks++;
    controller.enqueue(frame(JSON.stringify(chunk)));
  };

  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (pending) {
        emit(controller, pending);
        pending = undefined;
        return;
      }
      const wait = Math.min(options.idleTimeoutMs, Math.max(0, options.deadlineAt - Date.now()));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const silence = new Promise<'silent'>((resolve) => {
        timer = setTimeout(() => resolve('silent'), wait);
      });
      try {
        const next = await Promise.race([opened.rest.next(), silence]);
        if (next === 'silent') {
          opened.abort('idle timeout');
          finish(controller, `the provider sent nothing for ${wait} ms`);
        } else if (next.done) finish(controller);
        else emit(controller, next.value);
      } catch (error) {
        finish(controller, `the provider's stream broke off: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel: () => {
      // The client went away: stop paying for tokens nobody reads.
      opened.abort('client disconnected');
      if (!finished) {
        finished = true;
        result.error = 'client disconnected';
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
