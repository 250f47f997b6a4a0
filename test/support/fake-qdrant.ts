import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Point {
  id: string;
  vector: number[];
  payload: Record<string, unknown>;
}
interface Condition {
  key: string;
  match?: { value: unknown };
  range?: { gt?: number };
}

const cosine = (a: number[], b: number[]) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] ?? 0) * (b[i] ?? 0);
    na += (a[i] ?? 0) ** 2;
    nb += (b[i] ?? 0) ** 2;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
};
const matches = (point: Point, must: Condition[]) =>
  must.every((condition) =>
    condition.match
      ? point.payload[condition.key] === condition.match.value
      : condition.range?.gt === undefined || Number(point.payload[condition.key]) > condition.range.gt,
  );

/**
 * A loopback stand-in for Qdrant (it cannot run here): `/readyz` as Qdrant answers it
 * ("all shards are ready", text/plain), `GET /collections` in Qdrant's JSON envelope, and the REST
 * calls of a cosine collection: `PUT /collections/{name}` (409 when it exists), `PUT
 * /collections/{name}/points` and `POST /collections/{name}/points/search` with `must` filters of
 * `match.value` and `range.gt`, and `score_threshold` — as Qdrant's REST API documents them.
 */
export async function startFakeQdrant() {
  const collections = new Map<string, { size: number; points: Map<string, Point> }>();
  const state = {
    ready: true,
    hang: false,
    /** Every points call answers 500 (a broken store). */
    failing: false,
    collections,
    requests: [] as Array<{ path: string; apiKey: string | undefined; correlationId: string | undefined; traceparent: string | undefined }>,
  };
  const reply = (response: import('node:http').ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handle(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  const handle = (request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse, text: string) => {
    state.requests.push({
      path: request.url ?? '',
      apiKey: request.headers['api-key'] as string | undefined,
      correlationId: request.headers['x-correlation-id'] as string | undefined,
      traceparent: request.headers.traceparent as string | undefined,
    });
    if (state.hang) return; // never answers: the caller's timeout must fire
    if (request.url === '/readyz') {
      response.writeHead(state.ready ? 200 : 503, { 'content-type': 'text/plain' });
      response.end(state.ready ? 'all shards are ready' : 'some shards are not ready');
      return;
    }
    const path = (request.url ?? '').split('?')[0] ?? '';
    const points = /^\/collections\/([^/]+)(\/points(\/search)?)?$/.exec(path);
    if (points && request.method !== 'GET') {
      if (state.failing) return reply(response, 500, { status: { error: 'Service internal error: simulated' }, time: 0 });
      const name = decodeURIComponent(points[1] ?? '');
      const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      const collection = collections.get(name);
      if (!points[2]) {
        if (collection) return reply(response, 409, { status: { error: `Wrong input: Collection \`${name}\` already exists!` }, time: 0 });
        collections.set(name, { size: (body.vectors as { size: number }).size, points: new Map() });
        return reply(response, 200, { result: true, status: 'ok', time: 0 });
      }
      if (!collection) return reply(response, 404, { status: { error: `Not found: Collection \`${name}\` doesn't exist!` }, time: 0 });
      if (!points[3]) {
        for (const point of body.points as Point[]) collection.points.set(String(point.id), point);
        return reply(response, 200, { result: { operation_id: 1, status: 'completed' }, status: 'ok', time: 0 });
      }
      const must = ((body.filter as { must?: Condition[] } | undefined)?.must ?? []) as Condition[];
      const threshold = (body.score_threshold as number | undefined) ?? Number.NEGATIVE_INFINITY;
      const found = [...collection.points.values()]
        .filter((point) => matches(point, must))
        .map((point) => ({ id: point.id, version: 1, score: cosine(point.vector, body.vector as number[]), payload: point.payload }))
        .filter((point) => point.score >= threshold)
        .sort((a, b) => b.score - a.score)
        .slice(0, Number(body.limit ?? 10));
      return reply(response, 200, { result: found, status: 'ok', time: 0 });
    }
    if (request.url === '/collections') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ result: { collections: [{ name: 'species' }, { name: 'documents' }] }, status: 'ok', time: 0.00001 }));
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: { error: 'Not found' }, time: 0 }));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
