/**
 * The smallest HTTP port the wire-level OpenAI adapter needs: POST a JSON body, get the status,
 * headers and a body to read as text or stream. Node injects an undici keep-alive pool (no WHATWG
 * fetch, no web streams on the hot path); anything with a fetch can use {@link fetchHttp}.
 */
export interface HttpResponse {
  status: number;
  header(name: string): string | undefined;
  text(): Promise<string>;
  /** The body as byte chunks, for SSE. */
  chunks(): AsyncIterable<Uint8Array>;
}

export interface HttpClient {
  post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<HttpResponse>;
}

/** An HttpClient over any fetch (workerd, tests). */
export function fetchHttp(fetchImpl: typeof fetch): HttpClient {
  return {
    post: async (url, headers, body, signal) => {
      const response = await fetchImpl(url, { method: 'POST', headers, body, signal });
      return {
        status: response.status,
        header: (name) => response.headers.get(name) ?? undefined,
        text: () => response.text(),
        chunks: () => (response.body ?? new ReadableStream<Uint8Array>()) as unknown as AsyncIterable<Uint8Array>,
      };
    },
  };
}
