/**
 * Server-sent events out of the byte chunks of a provider's stream, for every adapter that reads SSE
 * (OpenAI's chat and Responses streams, Anthropic's): each complete event's `data` lines, joined.
 * `event:` lines are not needed (each provider names an event's type in its data) and comments are
 * skipped. A push that ends no event only looks at what arrived (and the three characters before
 * it, where an event's end may have begun) and keeps it as a piece, so the work stays linear however
 * the stream is split; an event larger than the cap fails the attempt rather than being buffered
 * without bound (a Worker has 128 MB).
 */
import { ProviderError } from './types.js';

/** The blank line that ends an SSE event, whichever line endings the server writes (`\n`, `\r\n`, mixed). */
const EVENT_END = /\r?\n\r?\n/g;

/**
 * The default cap of one event (characters): a real delta is a few KB, and a Responses stream's
 * last event (the whole Response) a fraction of a megabyte.
 */
export const MAX_EVENT_CHARS = 4 * 1024 * 1024;

/** The data of one event: its `data:` lines joined (one leading space dropped, as the SSE spec says). */
function eventData(block: string): string {
  // Nearly every event is one `data: {…}` line, or an `event: <type>` line and then one (OpenAI's
  // Responses API, Anthropic): no arrays for them.
  const first = block.indexOf('\n');
  if (first === -1) return block.startsWith('data:') ? dataOf(block) : '';
  if (block.startsWith('event:') && block.startsWith('data:', first + 1) && block.indexOf('\n', first + 1) === -1)
    return dataOf(block.slice(first + 1));
  return block
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map(dataOf)
    .join('\n');
}

/** A `data:` line's value (one leading space dropped). */
const dataOf = (line: string) => (line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));

export class SseFrames {
  #decoder = new TextDecoder();
  /** What came since the last complete event, in pieces (joined only once an event ends in it). */
  #parts: string[] = [];
  #length = 0;
  /** The last three characters held (an event's end may have begun there). */
  #tail = '';

  constructor(
    readonly provider = 'anthropic',
    readonly maxEventChars = MAX_EVENT_CHARS,
  ) {}

  /** The data of every event completed by `bytes`. */
  push(bytes: Uint8Array): string[] {
    const text = this.#decoder.decode(bytes, { stream: true });
    const window = this.#tail + text;
    EVENT_END.lastIndex = 0;
    if (!EVENT_END.test(window)) {
      this.#parts.push(text);
      this.#length += text.length;
      this.#tail = window.slice(-3);
      if (this.#length > this.maxEventChars)
        throw new ProviderError(this.provider, `the stream sent an event over the size cap of ${this.maxEventChars} characters`, 502);
      return [];
    }
    let buffer = this.#parts.length ? this.#parts.join('') + text : text;
    const out: string[] = [];
    EVENT_END.lastIndex = 0;
    for (let end = EVENT_END.exec(buffer); end; end = EVENT_END.exec(buffer)) {
      const data = eventData(buffer.slice(0, end.index));
      if (data) out.push(data);
      buffer = buffer.slice(end.index + end[0].length);
      EVENT_END.lastIndex = 0;
    }
    this.#parts = buffer ? [buffer] : [];
    this.#length = buffer.length;
    this.#tail = buffer.slice(-3);
    return out;
  }

  /** What is left after the last complete event (a JSON error body sent instead of a stream). */
  rest(): string {
    return (this.#parts.join('') + this.#decoder.decode()).trim();
  }
}
