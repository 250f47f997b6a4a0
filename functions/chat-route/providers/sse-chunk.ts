import type { ChatCompletionChunk, Usage } from '../contract.js';
import { errorInBody, keepWireText, NativeEventChunk, ProviderError } from './types.js';

/**
 * The fields a gateway must see in a stream chunk: an error, usage, a finish reason. Each with a
 * value other than `null` makes the chunk worth parsing; in string content they are escaped
 * (`\"usage\"`) and never match. Most chunks of a long answer have none of them.
 */
const NOTEWORTHY = /"(?:error|usage|finish_reason)"\s*:\s*[^n\s]/;

/**
 * A stream chunk passed through as the provider wrote it, parsed only if something reads it.
 * `usage` is known without parsing (the scan found none); everything else parses on first use.
 */
class WireChunk {
  #parsed: ChatCompletionChunk | undefined;
  constructor(readonly text: string) {}
  get #value(): ChatCompletionChunk {
    this.#parsed ??= JSON.parse(this.text) as ChatCompletionChunk;
    return this.#parsed;
  }
  get usage(): Usage | undefined {
    return undefined;
  }
  get id() {
    return this.#value.id;
  }
  get object() {
    return this.#value.object;
  }
  get created() {
    return this.#value.created;
  }
  get model() {
    return this.#value.model;
  }
  get choices() {
    return this.#value.choices;
  }
  toJSON() {
    return this.#value;
  }
}

/** The provider's own text of a chunk that {@link wireChunk} left unparsed (or a native event), else undefined. */
export function unparsedText(value: object): string | undefined {
  return value instanceof WireChunk || value instanceof NativeEventChunk ? value.text : undefined;
}

/**
 * One SSE event's data from an OpenAI-wire stream as a chunk. A chunk that carries an error, usage
 * or a finish reason — or does not look like one JSON object — is parsed and checked (an error in
 * the body throws; invalid JSON throws); any other passes through as it came, unparsed: on a long
 * answer that parse was most of the gateway's work a chunk.
 */
export function wireChunk(provider: string, data: string): { chunk: ChatCompletionChunk; finished: boolean } {
  const oneLine = !data.includes('\n');
  if (oneLine && data.charCodeAt(0) === 123 /* { */ && data.charCodeAt(data.length - 1) === 125 /* } */ && !NOTEWORTHY.test(data))
    return { chunk: new WireChunk(data) as unknown as ChatCompletionChunk, finished: false };
  let chunk: ChatCompletionChunk;
  try {
    chunk = JSON.parse(data) as ChatCompletionChunk;
  } catch {
    throw new ProviderError(provider, `the provider answered with invalid JSON: ${data.slice(0, 120)}`, 502, { action: 'retry' });
  }
  const failed = errorInBody(provider, chunk);
  if (failed) throw failed;
  const finished = Array.isArray(chunk.choices) && chunk.choices.some((choice) => choice.finish_reason);
  // One line of JSON passes through as it came (a multi-line one is framed again).
  return { chunk: oneLine ? keepWireText(chunk, data) : chunk, finished };
}

/** A member of a chat chunk that carries what the model wrote (text, reasoning, refusal, tool arguments), up to its opening quote. */
const DELTA_MEMBER = /"(?:content|reasoning_content|reasoning|refusal|arguments)":\s*"/g;

/**
 * The characters of what the model wrote in one chat chunk's JSON text — the string values of the
 * members {@link DELTA_MEMBER} matches, escapes counted as written — found with one regular-expression
 * scan, without parsing (about a quarter of a parse's time): a stream's estimate when the provider's
 * usage never comes. Envelopes (ids, Azure's content-filter results) count nothing; inside a string
 * value a member name is escaped (`\"content\":`) and never matches.
 */
export function deltaChars(text: string): number {
  let total = 0;
  DELTA_MEMBER.lastIndex = 0;
  while (DELTA_MEMBER.exec(text)) {
    const start = DELTA_MEMBER.lastIndex;
    // The closing quote: the first one not escaped (after an even run of backslashes).
    for (let at = start; ; ) {
      const quote = text.indexOf('"', at);
      if (quote === -1) return total;
      let backslashes = 0;
      while (text.charCodeAt(quote - 1 - backslashes) === 92 /* \ */) backslashes++;
      at = quote + 1;
      if (backslashes % 2 === 0) {
        total += quote - start;
        DELTA_MEMBER.lastIndex = at;
        break;
      }
    }
  }
  return total;
}
