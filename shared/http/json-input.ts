/**
 * What every JSON input is held to before anything reads it: a bounded depth, and well-formed text.
 *
 * - **Depth.** A body nested thousands of levels deep parses, then breaks whatever walks or
 *   serialises it again (a provider adapter's `JSON.stringify`, a token estimate): a 500, or worse, a
 *   failed attempt counted against a provider's breaker for every other caller.
 * - **Lone surrogates.** JSON may carry half of a UTF-16 pair as an escape (`"\ud800"`); `JSON.parse`
 *   gives it back, and Postgres `jsonb` then refuses the whole row. Such halves become U+FFFD (the
 *   replacement character, as a UTF-8 decoder does) at the edge, before a digest or a row sees them.
 */

/** Far past any real request (tool schemas included), far below what a recursive walk chokes on. */
export const MAX_JSON_DEPTH = 64;

/** A `\uD800`–`\uDFFF` escape somewhere in JSON text: the only way a lone surrogate gets in. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with every unpaired surrogate replaced by U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/**
 * Checks parsed JSON (`text` is what it was parsed from) and returns it well-formed: throws
 * `JsonDepthError` past {@link MAX_JSON_DEPTH}; replaces lone surrogates in strings and keys, in
 * place, only when the text held such an escape. One walk, without recursion.
 */
export function checkedJson<T>(data: T, text: string): T {
  const fix = SURROGATE_ESCAPE.test(text);
  if (typeof data === 'string') return (fix ? wellFormed(data) : data) as T;
  const stack: Array<[object, number]> = data !== null && typeof data === 'object' ? [[data, 1]] : [];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, depth] = next;
    if (depth > MAX_JSON_DEPTH) throw new JsonDepthError();
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const item = record[key];
      if (typeof item === 'string') {
        if (fix) record[key] = wellFormed(item);
      } else if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
      if (fix && !Array.isArray(record)) {
        const good = wellFormed(key);
        if (good !== key) {
          record[good] = record[key];
          delete record[key];
        }
      }
    }
  }
  return data;
}

export class JsonDepthError extends Error {
  constructor() {
    super(`the JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}
