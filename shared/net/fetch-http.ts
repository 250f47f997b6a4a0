import type { HttpClient } from './http-client.js';

/**
 * The {@link HttpClient} over a WHATWG fetch: workerd's path to LLM providers (Node's is undici,
 * shared/runtime/undici-http.ts), so both runtimes run the same provider adapters.
 */
export function createFetchHttp(fetcher: typeof fetch = fetch): HttpClient {
  return {
    post: async (url, headers, body, signal) => {
      const response = await fetcher(url, { method: 'POST', headers, body, signal });
      return {
        status: response.status,
        header: (name) => response.headers.get(name) ?? undefined,
        text: () => response.text(),
        chunks: () => chunksOf(response.body),
      };
    },
  };
}

async function* chunksOf(body: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // A consumer that stops early (an error in the stream, the client gone) lets the connection go.
    if (!done) await reader.cancel().catch(() => undefined);
  }
}
