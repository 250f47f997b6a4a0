/**
 * The smallest HTTP port the OpenAI adapter needs: POST a JSON body, get the status, headers and a
 * body to read as text or stream. Node injects an undici keep-alive pool (no WHATWG fetch, no web
 * streams on the hot path, shared/runtime/undici-http.ts); workerd the same port over fetch
 * (fetch-http.ts).
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
