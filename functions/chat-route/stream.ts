import { redactString } from '../../shared/redact/index.js';
import { correlationHeaders } from '../../shared/telemetry/correlation.js';
import type { AttemptRecord } from './attempts.js';
import type { ChatCompletionChunk, ChatRequest, Usage } from './contract.js';
import type { Attempt } from './plan.js';
import { callStream } from './providers/call.js';
import { deltaChars, unparsedText } from './providers/sse-chunk.js';
import { type ChatProvider, NativeEventChunk, ProviderError, wireText } from './providers/types.js';

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
  const iterator = callStream(provider, request, { model: attempt.model, signal: upstream.signal, headers: correlationHeaders() })[
    Symbol.asyncIterator
  ]();
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
  /**
   * About the characters of the answer the client was sent, for an estimate when the provider's usage
   * never came (a cut stream, or a client that left before the usage chunk). Native events: their
   * deltas' lengths. Chat chunks: the lengths of their text fields, found without parsing them
   * ({@link deltaChars}); escapes count as written, which errs a little high.
   */
  answerChars: number;
}

const encoder = new TextEncoder();
const frame = (data: string, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${data}\n\n`;

/**
 * What a stream's chunks and its end become on the wire. {@link sseResponse} reads the provider, keeps
 * time, holds back for slow clients and counts; the framer only writes. By default ({@link chatFrames})
 * OpenAI's chat chunks; `/v1/responses` writes the Responses API's events in the same pass
 * (responses-stream.ts), instead of reading the chat stream's bytes again.
 */
export interface SseFramer {
  /** The frames of one chunk; `text` is its JSON as the provider wrote it (or serialised). */
  chunk(chunk: ChatCompletionChunk, text: string): string;
  /** The last frames: of a whole answer, or of one that broke off with `error` (already redacted). */
  end(error?: string): string;
  /** Awaited after the last frames, before the stream closes; its text goes out with them. */
  settle?(): Promise<string>;
  /**
   * The framer could not read a chunk (it has written its own last frames): nothing more is read, the
   * upstream is cut and the stream is counted as the provider's failure (502).
   */
  readonly refused?: boolean;
}

/** OpenAI's chat chunks, `data: [DONE]` on success, an `error` event carrying `{"error": …}` else. */
export const chatFrames: SseFramer = {
  chunk: (_chunk, text) => frame(text),
  end: (error) =>
    error
      ? frame(JSON.stringify({ error: { message: error, type: 'upstream_error', code: 'stream_interrupted' } }), 'error')
      : frame('[DONE]'),
};
/** Runs `fn` after whatever has already arrived has been handled (the next turn of the event loop). */
const nextTurn = (fn: () => void) => (typeof setImmediate === 'function' ? setImmediate(fn) : setTimeout(fn, 0));
/**
 * Framed text held for a client that reads slower than the provider writes; past it the provider is
 * not read until the client catches up (the network's own back-pressure then holds the provider).
 */
const HOLD_CHARS = 64 * 1024;
/**
 * How long the provider is read on, unseen, after a client left an answer it had whole (the finish
 * reason came): the usage comes last, in its own chunk, and only it says what the answer cost (a
 * reasoning model's hidden tokens included). Past it the upstream is cut and the stream estimated.
 */
export const DRAIN_MS = 5_000;

/**
 * Server-sent events, by default in OpenAI's chat format ({@link chatFrames}), ending with
 * `data: [DONE]` only on success. A provider that fails or goes silent mid-stream ends it with an
 * `error` event carrying `{"error": …}` and no `[DONE]`, so no client mistakes a cut answer for a
 * whole one. Another `framer` writes other events (the Responses API's) from the same chunks, with
 * the same timer, hold and accounting.
 *
 * The provider's chunks are read as they come and framed into one pending text; the client's pulls
 * take all of it at once. Chunks that arrive together (several events in one network read, the common
 * case) go out in one write: each write is a system call and an HTTP chunk. One timer a stream
 * watches for silence (idle timeout, from the last chunk) and the cap; a chunk only notes its time.
 */
export function sseResponse(options: {
  opened: OpenedStream;
  idleTimeoutMs: number;
  /** Epoch ms at which the stream is cut however lively it is (`stream_max_ms` after the request came). */
  capAt: number;
  capMs: number;
  headers: Record<string, string>;
  onEnd: (result: StreamResult) => void;
  /** What the chunks become: OpenAI's chat chunks unless given. */
  framer?: SseFramer;
  /** {@link DRAIN_MS} unless given. */
  drainMs?: number;
}): Response {
  const { opened, idleTimeoutMs, capAt } = options;
  const framer = options.framer ?? chatFrames;
  const result: StreamResult = { chunks: 0, status: 'ok', answerChars: 0 };
  /** The last frame is in `pending` (or the client went away): nothing more is read from the provider. */
  let finished = false;
  /** `onEnd` has run. */
  let ended = false;
  /** The client went away (cancelled the body). */
  let gone = false;
  /** A chunk with a finish reason has come: the answer is whole, only its usage may be left. */
  let answered = false;
  /** The client left a whole answer: the provider is read on, unseen, for its usage (DRAIN_MS). */
  let draining: ReturnType<typeof setTimeout> | undefined;
  /** Framed text not yet handed to the client. */
  let pending = '';
  let lastChunkAt = Date.now();
  /** A pull waiting for text, and whether its wake-up is already scheduled. */
  let waiting: (() => void) | undefined;
  let wakeScheduled = false;
  /** The reader waiting for the client to catch up. */
  let held: (() => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const end = () => {
    if (ended) return;
    ended = true;
    options.onEnd(result);
  };
  const wake = () => {
    if (!waiting || wakeScheduled) return;
    wakeScheduled = true;
    nextTurn(() => {
      wakeScheduled = false;
      const resolve = waiting;
      waiting = undefined;
      resolve?.();
    });
  };
  const append = (chunk: ChatCompletionChunk) => {
    if (chunk.usage) result.usage = chunk.usage;
    result.chunks++;
    const unparsed = unparsedText(chunk);
    // An unparsed chunk never has a finish reason (sse-chunk.ts parses those); a native answer's usage is in its last event.
    if (!answered && unparsed === undefined) answered = chunk.choices?.some((choice) => choice.finish_reason) ?? false;
    if (draining) return;
    const text = unparsed ?? wireText(chunk);
    result.answerChars += chunk instanceof NativeEventChunk ? chunk.deltaChars : deltaChars(text);
    pending += framer.chunk(chunk, text);
    if (framer.refused) return refuse();
    wake();
  };
  /** Queues the last frame: `[DONE]`, or the error event. */
  const finish = (error?: string, status: AttemptRecord['status'] = 'network') => {
    if (finished) return; // the client went away meanwhile
    finished = true;
    clearTimeout(timer);
    held?.();
    if (error) {
      // The provider's words may quote a secret: masked before they reach the client, logs or spans.
      error = redactString(error);
      result.error = error;
      result.status = status;
    }
    if (draining) {
      // Read to its end for the usage: counted now, as a stream its client left.
      clearTimeout(draining);
      if (!error) {
        result.error = 'client disconnected';
        result.status = 'client_closed';
      }
      end();
      return;
    }
    pending += framer.end(error);
    wake();
  };
  /** The client went away: the upstream is cut and the stream counted as left. */
  const leave = () => {
    clearTimeout(draining);
    // Stop paying for tokens nobody reads.
    opened.abort('client disconnected');
    if (!finished || !result.error) {
      result.error = 'client disconnected';
      result.status = 'client_closed';
    }
    finished = true;
    clearTimeout(timer);
    held?.();
    end();
  };
  /**
   * The framer could not read a chunk: the provider's fault, counted as its failure (502, the breaker
   * learns it), never as a client that left. What the framer has written (its own failure last) still
   * goes out, then the stream closes.
   */
  const refuse = () => {
    opened.abort('unreadable chunk');
    result.error = 'the provider sent a chunk that is not valid JSON';
    result.status = 502;
    finished = true;
    clearTimeout(timer);
    held?.();
    wake();
  };
  const cut = (capped: boolean) => {
    opened.abort(capped ? 'stream cap' : 'idle timeout');
    finish(
      capped
        ? `the stream reached its cap of ${options.capMs} ms (stream_max_ms, LLM_STREAM_MAX_MS)`
        : `the provider sent nothing for ${idleTimeoutMs} ms (idle timeout, LLM_IDLE_TIMEOUT_MS)`,
      'timeout',
    );
  };
  /** The one timer: cuts a silent stream or one past its cap, else sleeps until the next moment either could be due. */
  const watch = () => {
    timer = undefined;
    if (finished) return;
    const now = Date.now();
    if (now >= capAt) return cut(true);
    // Held back by a slow client, the provider is not silent.
    if (held) lastChunkAt = now;
    const idleAt = lastChunkAt + idleTimeoutMs;
    if (now >= idleAt) return cut(false);
    timer = setTimeout(watch, Math.min(idleAt, capAt) - now);
  };
  /** Reads the provider until its end, its failure, or the stream's. */
  const read = async () => {
    try {
      for (;;) {
        if (pending.length > HOLD_CHARS) await new Promise<void>((resolve) => (held = resolve));
        held = undefined;
        if (finished) return;
        const next = await opened.rest.next();
        if (finished) return;
        if (next.done) return finish();
        append(next.value);
        if (finished) return; // the framer refused it
        lastChunkAt = Date.now();
        // A provider that never pauses never lets the timer run: the cap is checked here too.
        if (lastChunkAt >= capAt) return cut(true);
      }
    } catch (error) {
      if (finished) return;
      const status = error instanceof ProviderError ? (error.timeout ? 'timeout' : (error.status ?? 'network')) : 'network';
      finish(`the provider's stream broke off: ${error instanceof Error ? error.message : String(error)}`, status);
    }
  };
  append(opened.first);
  if (!finished) {
    watch();
    void read();
  }

  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (!pending && !finished) await new Promise<void>((resolve) => (waiting = resolve));
      if (gone) return; // the client went away meanwhile
      let out = pending;
      pending = '';
      held?.();
      if (finished && framer.settle) {
        // The stream is counted as it ended, not as the wait after it (a client leaving then changes nothing).
        end();
        out += await framer.settle();
        if (gone) return;
      }
      if (out) controller.enqueue(encoder.encode(out));
      if (finished) {
        controller.close();
        end();
      }
    },
    cancel: () => {
      gone = true;
      // After the end was counted (a framer's wait for its last frames) there is nothing left to cut.
      if (ended) return;
      // A whole answer whose usage has not come yet: read on for it, unseen and bounded; else cut now.
      if (answered && !finished && !result.usage) {
        pending = '';
        draining = setTimeout(leave, options.drainMs ?? DRAIN_MS);
        held?.();
        return;
      }
      leave();
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
