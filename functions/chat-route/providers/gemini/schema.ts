/**
 * JSON Schema (as OpenAI callers send it: zod-to-json-schema from the Vercel AI SDK, pydantic from
 * LangChain) → the OpenAPI subset Gemini's `Schema` documents. Gemini answers 400 on any field it
 * does not know ("Unknown name \"$schema\""), so:
 * - `$ref` to `#/$defs/…` or `#/definitions/…` is inlined (a recursive one is refused);
 * - `type: ["string", "null"]` becomes `type: "string", nullable: true`; `const` becomes a one-value
 *   `enum`; `oneOf` becomes `anyOf`; a one-member `allOf` is merged;
 * - the documented fields are kept: type, format, title, description, nullable, enum, items,
 *   properties, required, propertyOrdering, anyOf, minItems, maxItems, minProperties,
 *   maxProperties, minLength, maxLength, pattern, minimum, maximum, default, example;
 * - every other keyword is dropped: `$schema`, `$id`, `$comment`, `$defs`, `definitions`,
 *   `additionalProperties`, `examples`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`,
 *   `uniqueItems`, `not`, `if`/`then`/`else`, `patternProperties`, `dependentRequired`, … (they
 *   constrain, they never change the shape Gemini produces);
 * - refused (a 400 naming the parameter): a recursive `$ref`, a `$ref` outside the document, an
 *   `allOf` of several schemas.
 */
const KEPT = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'default',
  'example',
  'propertyOrdering',
  'required',
]);

export class SchemaRefused extends Error {}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The Gemini form of `schema`; throws {@link SchemaRefused} naming what cannot be expressed. */
export function toGeminiSchema(schema: unknown): Json {
  const root = isObject(schema) ? schema : {};
  const definitions = { ...(isObject(root.definitions) ? root.definitions : {}), ...(isObject(root.$defs) ? root.$defs : {}) };
  const convert = (node: unknown, seen: ReadonlyArray<string>): Json => {
    if (!isObject(node)) return {};
    if (typeof node.$ref === 'string') {
      const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(node.$ref);
      const name = match?.[1]?.replaceAll('~1', '/').replaceAll('~0', '~');
      if (node.$ref === '#') throw new SchemaRefused('a recursive $ref ("#") cannot be expressed for Gemini');
      if (!name || !(name in definitions)) throw new SchemaRefused(`$ref "${node.$ref}" does not point into the schema's $defs`);
      if (seen.includes(name)) throw new SchemaRefused(`the recursive $ref "${node.$ref}" cannot be expressed for Gemini`);
      const { $ref: _ref, ...siblings } = node;
      return { ...convert(definitions[name], [...seen, name]), ...convert(siblings, seen) };
    }
    if (Array.isArray(node.allOf)) {
      if (node.allOf.length !== 1) throw new SchemaRefused('allOf with several schemas cannot be expressed for Gemini');
      const { allOf, ...rest } = node;
      return { ...convert(allOf[0], seen), ...convert(rest, seen) };
    }
    const out: Json = {};
    for (const [key, value] of Object.entries(node)) {
      if (KEPT.has(key)) out[key] = value;
    }
    if (Array.isArray(node.type)) {
      const types = node.type.filter((type) => type !== 'null');
      if (types.length !== node.type.length) out.nullable = true;
      if (types.length === 1) out.type = types[0];
      else {
        delete out.type;
        out.anyOf = types.map((type) => ({ type }));
      }
    }
    if ('const' in node) out.enum = [node.const];
    if (Array.isArray(out.enum)) out.enum = out.enum.map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
    if (isObject(node.properties)) {
      out.properties = Object.fromEntries(Object.entries(node.properties).map(([name, child]) => [name, convert(child, seen)]));
    }
    if (node.items !== undefined) out.items = convert(Array.isArray(node.items) ? node.items[0] : node.items, seen);
    const variants = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined;
    if (variants) {
      // `anyOf: [X, {type: "null"}]` (how zod and pydantic write optional values) is X, nullable.
      const nonNull = variants.filter((variant) => !(isObject(variant) && variant.type === 'null'));
      if (nonNull.length !== variants.length) out.nullable = true;
      if (nonNull.length === 1) return { ...convert(nonNull[0], seen), ...out };
      out.anyOf = nonNull.map((variant) => convert(variant, seen));
    }
    return out;
  };
  return convert(root, []);
}
