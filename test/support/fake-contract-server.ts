import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { exampleOf } from '../../shared/integrations/contract.js';
import { ROOT_DIR } from '../../shared/runtime/node-config.js';

type Behaviour =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { hang: true }
  /** The operation's example with `mutate` applied: a response that breaks the contract. */
  | { mutate: (example: unknown) => unknown };

interface Route {
  operationId: string;
  method: string;
  pattern: RegExp;
  params: string[];
}

export interface RecordedCall {
  operationId: string;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/**
 * A loopback server that speaks one pinned contract: every operation answers with its documented
 * example (`components` refs resolved), list examples are paginated by `limit`/`offset`, and a path
 * id that the example does not carry is the contract's 404. Behaviours queued per operation
 * replace the next answers (429 with Retry-After, hangs, contract-breaking bodies).
 */
export async function startContractServer(service: 'mindex' | 'natureos' | 'website') {
  const text = readFileSync(join(ROOT_DIR, 'config', 'contracts', `${service}.openapi.yaml`), 'utf8');
  const document = parse(text) as { servers?: Array<{ url: string }>; paths: Record<string, Record<string, { operationId?: string }>> };
  const prefix = (document.servers?.[0]?.url ?? '/').replace(/\/$/, '');
  const routes: Route[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!operation?.operationId) continue;
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
      const pattern = new RegExp(`^${prefix}${path.replace(/\{\w+\}/g, '([^/]+)')}$`);
      routes.push({ operationId: operation.operationId, method: method.toUpperCase(), pattern, params });
    }
  }
  // Static paths first, so /api/devices/statistics is not taken for /api/devices/{id}.
  routes.sort((a, b) => a.params.length - b.params.length);
  const calls: RecordedCall[] = [];
  const queued = new Map<string, Behaviour[]>();
  let version: string | undefined;

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const route = routes.find((r) => r.method === request.method && r.pattern.test(url.pathname));
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(body === undefined ? undefined : JSON.stringify(body));
      };
      if (!route) return send(404, { title: 'Not found', status: 404, detail: `no route ${request.method} ${url.pathname}` });
      const raw = Buffer.concat(chunks).toString('utf8');
      calls.push({
        operationId: route.operationId,
        method: request.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        body: raw ? JSON.parse(raw) : undefined,
      });
      const behaviour = queued.get(route.operationId)?.shift();
      if (behaviour && 'hang' in behaviour) return;
      if (behaviour && 'status' in behaviour) return send(behaviour.status, behaviour.body, behaviour.headers);
      const status =
        route.method === 'POST' && route.operationId.startsWith('create') ? 201 : route.operationId.startsWith('delete') ? 204 : 200;
      let example = structuredClone(exampleOf(text, route.operationId, status)) as Record<string, unknown> | undefined;
      const values = route.pattern.exec(url.pathname)?.slice(1) ?? [];
      const id = route.params.includes('id') ? decodeURIComponent(values[route.params.indexOf('id')] ?? '') : undefined;
      if (id !== undefined && example && typeof example.id === 'string' && example.id !== id && route.method === 'GET')
        return send(404, exampleOf(text, route.operationId, 404) ?? { status: 404, detail: `No ${id}` });
      if (example && version && 'version' in example) example.version = version;
      if (example && Array.isArray(example.data) && example.pagination) {
        const all = example.data as unknown[];
        const limit = Number(url.searchParams.get('limit') ?? 25);
        const offset = Number(url.searchParams.get('offset') ?? 0);
        example = { ...example, data: all.slice(offset, offset + limit), pagination: { limit, offset, total: all.length } };
      }
      if (behaviour && 'mutate' in behaviour) return send(status, behaviour.mutate(example));
      return send(status, example);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    calls,
    /** The next answers of `operationId` (then the examples again). */
    queue(operationId: string, ...behaviours: Behaviour[]) {
      queued.set(operationId, [...(queued.get(operationId) ?? []), ...behaviours]);
    },
    /** The version the service reports from now on. */
    reportVersion(value: string) {
      version = value;
    },
    reset() {
      queued.clear();
      calls.length = 0;
      version = undefined;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
