/**
 * The chat pipeline's answer → the Responses API's event sequence. {@link responsesFramer} writes the
 * events from the provider's chunks in the pipeline's own pass (stream.ts: the same timer, hold and
 * accounting); {@link responsesStream} reads the chat SSE's bytes instead (a cache's replay, or a
 * stream the cache keeps). When the provider spoke the Responses API itself (native), its events pass
 * through in order, under the gateway's id. Only a whole answer (`[DONE]`) leads to
 * `response.completed` (or `response.incomplete`); an error, a cut, or a stream that just ends leads
 * to `response.failed`. Cancelling the result cuts the upstream.
 */
import type { ChatCompletionChunk, ResponsesRequest } from './contract.js';
import { NativeEventChunk } from './providers/types.js';
import { fromNative, incompleteReason, newId, type ResponseMeta, responseShell, responsesUsage } from './responses-shape.js';
import type { SseFramer } from './stream.js';

/** A text delta as OpenAI writes it (`type` first), and its number (the first, top-level one: in a string it would be escaped). */
const TEXT_DELTA = '{"type":"response.output_text.delta"';
const SEQUENCE = '"sequence_number":';

/** `data` with its first `"sequence_number":` followed by digits numbered `sequence` instead, or undefined without one. */
function renumbered(data: string, sequence: number): string | undefined {
  for (let at = data.indexOf(SEQUENCE); at !== -1; at = data.indexOf(SEQUENCE, at + 1)) {
    const from = at + SEQUENCE.length;
    let to = from;
    for (let code = data.charCodeAt(to); code >= 48 && code <= 57; code = data.charCodeAt(++to));
    if (to > from) return data.slice(0, from) + sequence + data.slice(to);
  }
  return undefined;
}

/** One event of the Responses API as a native provider wrote it. */
interface NativeEvent {
  type: string;
  sequence_number?: number;
  response?: Record<string, unknown>;
  output_index?: number;
  item?: unknown;
  [field: string]: unknown;
}

interface CallState {
  outputIndex: number;
  item: { type: 'function_call'; id: string; call_id: string; name: string; arguments: string; status: string };
}

/** The Responses events of one answer, written as its chunks (or its chat SSE's frames) come. */
export interface ResponsesFramer extends SseFramer {
  /** One frame of the chat pipeline's SSE (without its blank line): the path of {@link responsesStream}. */
  frame(frame: string): string;
  settle(): Promise<string>;
  /** Ends a stream that stopped without its last frame (`[DONE]` or an `error` event). */
  cut(): string;
  /** It has been given a chunk: the pipeline's stream is written by it (serveChat chose it). */
  readonly used: boolean;
}

/**
 * `save` keeps the finished response (stored responses); the final event waits for it ({@link
 * ResponsesFramer.settle}) and says whether it was kept (`store`). A failed stream is never kept.
 */
export function responsesFramer(
  request: ResponsesRequest,
  meta: ResponseMeta,
  save: (response: { model: string; output: unknown[] }) => Promise<boolean> = async () => false,
): ResponsesFramer {
  const response = responseShell(request, meta, Math.floor(Date.now() / 1000), request.model);
  let sequence = 0;
  let started = false;
  let ended = false;
  let finish: string | null | undefined;
  /** The source is a native provider's own event stream (providers/openai/responses.ts), not chat chunks. */
  let native = false;
  /** A native stream's response.in_progress has gone out. */
  let inProgress = false;
  let usage: ChatCompletionChunk['usage'];
  const output: unknown[] = [];
  let message: { outputIndex: number; id: string; text: string } | undefined;
  const calls = new Map<number, CallState>();
  let out = '';
  /** The final event, held until the response is kept (or not). */
  let final: { type: string; response: ReturnType<typeof snapshot> & { store: boolean } } | undefined;

  const emit = (type: string, data: Record<string, unknown>) => {
    out += `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`;
  };
  const snapshot = () => ({ ...response, output: [...output] });
  const start = (model?: string) => {
    if (started) return;
    started = true;
    if (model) response.model = model;
    emit('response.created', { response: snapshot() });
    emit('response.in_progress', { response: snapshot() });
  };
  const closeMessage = () => {
    if (!message) return;
    const { outputIndex, id, text } = message;
    const part = { type: 'output_text', text, annotations: [], logprobs: [] };
    emit('response.output_text.done', { item_id: id, output_index: outputIndex, content_index: 0, text, logprobs: [] });
    emit('response.content_part.done', { item_id: id, output_index: outputIndex, content_index: 0, part });
    const item = { type: 'message', id, status: 'completed', role: 'assistant', content: [part] };
    output[outputIndex] = item;
    emit('response.output_item.done', { output_index: outputIndex, item });
    message = undefined;
  };
  const closeCalls = () => {
    for (const call of calls.values()) {
      const { item, outputIndex } = call;
      emit('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: outputIndex,
        name: item.name,
        arguments: item.arguments,
      });
      item.status = 'completed';
      output[outputIndex] = { ...item };
      emit('response.output_item.done', { output_index: outputIndex, item: { ...item } });
    }
    calls.clear();
  };
  const onChunk = (chunk: ChatCompletionChunk) => {
    start(chunk.model);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return;
    if (choice.finish_reason) finish = choice.finish_reason;
    const text = choice.delta?.content;
    if (text) {
      if (!message) {
        message = { outputIndex: output.length, id: newId('msg'), text: '' };
        const item = { type: 'message', id: message.id, status: 'in_progress', role: 'assistant', content: [] };
        output.push(item);
        emit('response.output_item.added', { output_index: message.outputIndex, item });
        emit('response.content_part.added', {
          item_id: message.id,
          output_index: message.outputIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        });
      }
      message.text += text;
      emit('response.output_text.delta', {
        item_id: message.id,
        output_index: message.outputIndex,
        content_index: 0,
        delta: text,
        logprobs: [],
      });
    }
    for (const delta of choice.delta?.tool_calls ?? []) {
      let call = calls.get(delta.index);
      if (!call) {
        closeMessage();
        const item = {
          type: 'function_call' as const,
          id: newId('fc'),
          call_id: delta.id ?? newId('call'),
          name: delta.function?.name ?? '',
          arguments: '',
          status: 'in_progress',
        };
        call = { outputIndex: output.length, item };
        calls.set(delta.index, call);
        output.push({ ...item });
        emit('response.output_item.added', { output_index: call.outputIndex, item: { ...item } });
      } else if (delta.function?.name && !call.item.name) call.item.name = delta.function.name;
      const args = delta.function?.arguments;
      if (args) {
        call.item.arguments += args;
        emit('response.function_call_arguments.delta', { item_id: call.item.id, output_index: call.outputIndex, delta: args });
      }
    }
  };
  const complete = () => {
    start();
    closeMessage();
    closeCalls();
    const reason = incompleteReason(finish);
    const done = {
      ...snapshot(),
      status: reason ? 'incomplete' : 'completed',
      incomplete_details: reason ? { reason } : null,
      usage: responsesUsage(usage),
    };
    final = { type: reason ? 'response.incomplete' : 'response.completed', response: done };
  };
  const fail = (message: string, code: string) => {
    start();
    final = undefined;
    // A failed response is never kept: it says so.
    emit('response.failed', {
      response: { ...snapshot(), status: 'failed', store: false, error: { code, message }, usage: responsesUsage(usage) },
    });
  };
  /**
   * An event of a native provider's own stream: passed on in order, renumbered, with the Response
   * under the gateway's id (fromNative); its output items are noted (a later failure reports them),
   * and its terminal event is held like the bridge's, until the response is kept.
   */
  const onEvent = (event: NativeEvent) => {
    const { type, sequence_number: _upstream, ...data } = event;
    if (data.response) {
      data.response = fromNative(request, data.response, meta);
      response.model = String(data.response.model ?? response.model);
    }
    // One response.created and one response.in_progress, first, whatever the provider sent: a
    // repeat is dropped, and a stream that begins with its output gets the gateway's own.
    if (type === 'response.created') {
      if (started) return;
      started = true;
    } else if (!started) {
      start(typeof data.response?.model === 'string' ? data.response.model : undefined);
      inProgress = true;
    }
    if (type === 'response.in_progress') {
      if (inProgress) return;
      inProgress = true;
    }
    if ((type === 'response.output_item.added' || type === 'response.output_item.done') && typeof data.output_index === 'number')
      output[data.output_index] = data.item;
    if (type === 'response.completed' || type === 'response.incomplete') {
      final = { type, response: data.response as NonNullable<typeof final>['response'] };
      return;
    }
    if (type === 'response.failed' || type === 'error') ended = true;
    emit(type, data);
  };
  /** The end of the answer: `error` when it broke off, else whole (a native one only with its terminal event). */
  const onEnd = (error?: { message: string; code: string }) => {
    ended = true;
    if (error) return fail(error.message, error.code);
    if (!native) return complete();
    // A native stream's terminal event is held in `final`; without one it did not finish.
    if (!final) fail('the stream ended before the answer was complete', 'stream_interrupted');
  };
  /** One event's data: a native event (its text as the provider wrote it) or a chat chunk's JSON. */
  const onData = (data: string) => {
    // The most frequent native event by far passes without a parse: only its number is ours.
    if (native && data.startsWith(TEXT_DELTA)) {
      const text = renumbered(data, sequence);
      if (text !== undefined) {
        sequence++;
        out += `event: response.output_text.delta\ndata: ${text}\n\n`;
        return;
      }
    }
    const value = JSON.parse(data) as ChatCompletionChunk | NativeEvent;
    // Chat chunks have no `type`; every event of the Responses API has one.
    if (typeof (value as NativeEvent).type === 'string') {
      native = true;
      onEvent(value as NativeEvent);
    } else onChunk(value as ChatCompletionChunk);
  };
  const onFrame = (frame: string) => {
    let event = '';
    let data = '';
    // Nearly every frame of the chat pipeline is one `data: …` line: no split for it.
    if (frame.startsWith('data: ') && !frame.includes('\n')) data = frame.slice(6);
    else
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trimStart();
      }
    if (!data || ended) return;
    if (event === 'error') {
      let detail = 'the provider stream failed';
      let code = 'stream_interrupted';
      try {
        const parsed = JSON.parse(data) as { error?: { message?: string; code?: string } };
        detail = parsed.error?.message ?? detail;
        code = parsed.error?.code ?? code;
      } catch {}
      return onEnd({ message: detail, code });
    }
    if (data === '[DONE]') return onEnd();
    onData(data);
  };
  /** A chunk or frame that could not be read (not JSON: the provider's fault) ends the answer as failed. */
  let unreadable = false;
  const refuse = () => {
    if (ended) return;
    ended = true;
    unreadable = true;
    fail('the provider sent an event that is not valid JSON', 'stream_interrupted');
  };
  const take = () => {
    const text = out;
    out = '';
    return text;
  };
  let used = false;
  return {
    chunk(chunk, text) {
      used = true;
      if (ended) return '';
      // A native event's text is read as the bytes' path reads it; a chat chunk is read as it is (a
      // chunk passed on unparsed parses on first use, and may throw then).
      try {
        if (chunk instanceof NativeEventChunk) onData(text);
        else onChunk(chunk);
      } catch {
        refuse();
      }
      return take();
    },
    end(error) {
      if (!ended) onEnd(error ? { message: error, code: 'stream_interrupted' } : undefined);
      return take();
    },
    frame(frame) {
      try {
        onFrame(frame);
      } catch {
        refuse();
      }
      return take();
    },
    cut() {
      if (!ended) fail('the stream ended before the answer was complete', 'stream_interrupted');
      return take();
    },
    /** Emits the held final event once the save has answered (it never throws: a failed save is `store: false`). */
    async settle() {
      // Only once the source has ended well: a native terminal event arrives before the source's end.
      if (final && ended) {
        const { type, response: done } = final;
        final = undefined;
        done.store = meta.store ? await save(done).catch(() => false) : false;
        emit(type, { response: done });
      }
      return take();
    },
    get refused() {
      return unreadable;
    },
    get used() {
      return used;
    },
  };
}

/**
 * The chat pipeline's SSE bytes (OpenAI chat chunks, `data: [DONE]` on success, an `error` event when
 * the provider broke off, idle timeout or cap) → the Responses API's events, for an answer that did
 * not come through {@link responsesFramer} (a cache's). Cancelling the result cancels the chat stream.
 */
export function responsesStream(
  request: ResponsesRequest,
  source: ReadableStream<Uint8Array>,
  meta: ResponseMeta,
  save?: (response: { model: string; output: unknown[] }) => Promise<boolean>,
): ReadableStream<Uint8Array> {
  const framer = responsesFramer(request, meta, save);
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffered = '';
  let out = '';
  const reader = source.getReader();

  // A pull stream rather than pipeThrough: workerd does not pass a client's cancel back through a
  // pipe whose source is silent, and the cancel is what cuts the upstream (stream.ts).
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const next = await reader.read();
        if (next.done) {
          if (buffered.trim()) out += framer.frame(buffered);
          out += framer.cut();
          out += await framer.settle();
          if (out) controller.enqueue(encoder.encode(out));
          controller.close();
          return;
        }
        buffered += decoder.decode(next.value, { stream: true });
        let end = buffered.indexOf('\n\n');
        while (end !== -1 && !framer.refused) {
          out += framer.frame(buffered.slice(0, end));
          buffered = buffered.slice(end + 2);
          end = buffered.indexOf('\n\n');
        }
        if (framer.refused) {
          // Nothing more is read: the chat stream is cancelled (the upstream cut, the call counted).
          await reader.cancel('the provider sent an unreadable event').catch(() => {});
          if (out) controller.enqueue(encoder.encode(out));
          controller.close();
          return;
        }
        out += await framer.settle();
        if (out) {
          const text = out;
          out = '';
          controller.enqueue(encoder.encode(text));
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
