import { parse } from 'yaml';
import { z } from 'zod';

/** One operation of a pinned contract, with zod schemas of its JSON responses by status. */
export interface Operation {
  id: string;
  method: string;
  path: string;
  responses: Map<number, z.ZodType>;
}

export interface Contract {
  service: string;
  /** `info.version` of the pinned file. */
  version: string;
  major: number;
  operations: Map<string, Operation>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Replaces every local `$ref` (`#/components/…`) with what it points at. Contracts have no cycles. */
function dereference(node: unknown, root: unknown, depth = 0): unknown {
  if (depth > 64) throw new Error('contract $ref nesting is too deep (a cycle?)');
  if (Array.isArray(node)) return node.map((item) => dereference(item, root, depth + 1));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
    let target: unknown = root;
    for (const part of ref.slice(2).split('/'))
      target = (target as Record<string, unknown> | undefined)?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
    if (target === undefined) throw new Error(`unresolved $ref ${ref}`);
    return dereference(target, root, depth + 1);
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, dereference(value, root, depth + 1)]));
}

/** OpenAPI-only keywords that are not JSON Schema validation. */
function schemaOnly(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(schemaOnly);
  if (schema === null || typeof schema !== 'object') return schema;
  const { example: _example, examples: _examples, description: _description, ...rest } = schema as Record<string, unknown>;
  return Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, schemaOnly(value)]));
}

const cache = new Map<string, Contract>();

/**
 * Reads a pinned OpenAPI 3.1 contract and derives a zod schema for each JSON response (OpenAPI 3.1
 * schemas are JSON Schema 2020-12, which zod converts). Parsed once per process or isolate.
 */
export function loadContract(service: string, text: string): Contract {
  const cached = cache.get(text);
  if (cached) return cached;
  const document = parse(text) as { info: { version: string }; paths: Record<string, Record<string, unknown>> };
  const version = String(document.info?.version ?? '');
  const major = Number(/^(\d+)\./.exec(version)?.[1]);
  if (!Number.isInteger(major)) throw new Error(`${service} contract: info.version "${version}" is not a semantic version`);
  const operations = new Map<string, Operation>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method] as { operationId?: string; responses?: Record<string, unknown> } | undefined;
      if (!operation?.operationId) continue;
      const responses = new Map<number, z.ZodType>();
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const resolved = dereference(response, document) as { content?: Record<string, { schema?: unknown }> };
        const schema = resolved.content?.['application/json']?.schema;
        if (schema && /^\d{3}$/.test(status)) responses.set(Number(status), z.fromJSONSchema(schemaOnly(schema) as never));
      }
      operations.set(operation.operationId, { id: operation.operationId, method: method.toUpperCase(), path, responses });
    }
  }
  const contract = { service, version, major, operations };
  cache.set(text, contract);
  return contract;
}

/** The example response of an operation (for loopback servers that speak the contract). */
export function exampleOf(text: string, operationId: string, status = 200): unknown {
  const document = parse(text) as { paths: Record<string, Record<string, unknown>> };
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as { operationId?: string; responses?: Record<string, unknown> } | undefined;
      if (operation?.operationId !== operationId) continue;
      const response = dereference(operation.responses?.[String(status)], document) as { content?: Record<string, { example?: unknown }> };
      return response?.content?.['application/json']?.example;
    }
  }
  return undefined;
}
