import { Agent, request } from 'undici';
import type { HttpClient } from '../net/http-client.js';

/**
 * The Node path to LLM providers: undici's `request` over a keep-alive agent (connection pools per
 * origin). It skips WHATWG fetch and web streams, which cost most of a proxied request's CPU.
 */
export function createUndiciHttp(options: { connections?: number } = {}): HttpClient & { close(): Promise<void> } {
  const agent = new Agent({ connections: options.connections ?? 128, keepAliveTimeout: 30_000, pipelining: 1 });
  return {
    post: async (url, headers, body, signal) => {
      const response = await request(url, { method: 'POST', headers, body, signal, dispatcher: agent });
      return {
        status: response.statusCode,
        header: (name) => {
          const value = response.headers[name];
          return Array.isArray(value) ? value[0] : value;
        },
        text: () => response.body.text(),
        chunks: () => response.body,
      };
    },
    close: () => agent.close(),
  };
}
