import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback stand-in for Qdrant (it cannot run here): `/readyz` as Qdrant answers it
 * ("all shards are ready", text/plain) and `GET /collections` in Qdrant's JSON envelope.
 */
export async function startFakeQdrant() {
  const state = {
    ready: true,
    hang: false,
    requests: [] as Array<{ path: string; apiKey: string | undefined; correlationId: string | undefined; traceparent: string | undefined }>,
  };
  const server = createServer((request, response) => {
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
    if (request.url === '/collections') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ result: { collections: [{ name: 'species' }, { name: 'documents' }] }, status: 'ok', time: 0.00001 }));
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: { error: 'Not found' }, time: 0 }));
  });
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
