import { describe, expect, it } from 'vitest';
import { SchemaRefused, toGeminiSchema } from './schema.js';

describe('toGeminiSchema', () => {
  it('rewrites what Gemini spells differently and drops what it does not know', () => {
    expect(
      toGeminiSchema({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { type: ['integer', 'string'], multipleOf: 1 },
          kind: { const: 'spore' },
          size: { oneOf: [{ type: 'number' }, { type: 'string' }] },
          when: { allOf: [{ type: 'string', format: 'date-time' }], description: 'ISO time' },
          level: { enum: [1, 2, 3] },
        },
        required: ['id'],
      }),
    ).toEqual({
      type: 'object',
      required: ['id'],
      properties: {
        id: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
        kind: { enum: ['spore'] },
        size: { anyOf: [{ type: 'number' }, { type: 'string' }] },
        when: { type: 'string', format: 'date-time', description: 'ISO time' },
        level: { enum: ['1', '2', '3'] },
      },
    });
  });

  it('inlines $ref into definitions, keeping the referring schema’s own description', () => {
    expect(
      toGeminiSchema({
        definitions: { Genus: { type: 'string', description: 'a genus' } },
        type: 'array',
        items: { $ref: '#/definitions/Genus', description: 'which genus' },
      }),
    ).toEqual({ type: 'array', items: { type: 'string', description: 'which genus' } });
  });

  it('refuses what it cannot express', () => {
    expect(() => toGeminiSchema({ $ref: 'https://example.com/schema.json' })).toThrow(SchemaRefused);
    expect(() => toGeminiSchema({ allOf: [{ type: 'object' }, { required: ['a'] }] })).toThrow(/allOf/);
    expect(() => toGeminiSchema({ type: 'object', properties: { self: { $ref: '#' } } })).toThrow(/recursive/);
  });
});
