import { describe, expect, it } from 'vitest';
import { checkedJson, JsonDepthError, MAX_JSON_DEPTH } from './json-input.js';

const parse = (text: string) => checkedJson(JSON.parse(text), text);

describe('JSON input', () => {
  it('replaces half a surrogate pair (values, keys, array items) with U+FFFD and keeps whole pairs', () => {
    expect(parse('{"a":"x\\ud800y","\\udc00k":["\\ud83c\\udf44","\\ud83c"]}')).toEqual({ a: 'x\uFFFDy', '\uFFFDk': ['🍄', '\uFFFD'] });
    expect(parse('"\\udfff"')).toBe('\uFFFD');
    // An escaped backslash before "ud800" is text, not an escape.
    expect(parse('{"a":"\\\\ud800"}')).toEqual({ a: '\\ud800' });
  });

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses one more, without recursion`, () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(() => parse(nested(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => parse(nested(MAX_JSON_DEPTH + 1))).toThrow(JsonDepthError);
    expect(() => parse(nested(100_000))).toThrow(JsonDepthError);
  });
});
