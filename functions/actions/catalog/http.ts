import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { isBlockedAddress } from '../../../shared/net/address-guard.js';
import { isSecretKey } from '../../../shared/redact/index.js';
import { type ActionContext, ActionError, defineAction } from './types.js';

const hostAllowed = (host: string, allow: ReadonlyArray<string>) =>
  allow.some((entry) => (entry.startsWith('*.') ? host.endsWith(entry.slice(1)) && host.length > entry.length - 1 : host === entry));

/**
 * Checks a URL before any connection: http(s) only, a host on the allowlist, and no private address
 * written as a literal (the WHATWG parser turns decimal, octal and hex IPv4 forms into dotted ones,
 * so `http://2130706433/` is seen as 127.0.0.1). Names are checked again at connect time.
 */
export function checkUrl(raw: string, policy: ActionContext['http']): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ActionError(400, 'the url is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ActionError(400, `only http and https URLs are allowed, not ${url.protocol}`);
  if (url.username || url.password) throw new ActionError(400, 'credentials in the URL are not allowed', 'send them in headers');
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (!hostAllowed(host, policy.allow_hosts)) {
    throw new ActionError(
      403,
      `the host ${host} is not on the allowlist`,
      'add it to http.allow_hosts in config/policy.yaml (ACTION_HTTP_ALLOW_HOSTS)',
    );
  }
  if (ipaddr.isValid(host) && isBlockedAddress(host) && !policy.allow_private) {
    throw new ActionError(403, `the address ${host} is private, loopback, link-local or reserved`);
  }
  return url;
}

/**
 * Headers that go on to another origin after a redirect: content negotiation and caching only.
 * Everything else the caller set (Authorization, Cookie, X-Api-Key, X-Auth-Key, X-Auth-Email,
 * Ocp-Apim-Subscription-Key, any vendor header whose name nobody can tell is a credential) was
 * meant for the first origin and is dropped.
 */
const CROSS_ORIGIN_SAFE = new Set([
  'accept',
  'accept-language',
  'accept-encoding',
  'content-type',
  'content-language',
  'user-agent',
  'cache-control',
  'pragma',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
]);

/**
 * The headers a redirect to another origin may carry: only the safe list above, and never one
 * configured as secret (`http.secret_headers`) or named like a secret.
 */
export function withoutCredentials(headers: Record<string, string>, extra: ReadonlyArray<string> = []): Record<string, string> {
  const configured = new Set(extra.map((name) => name.toLowerCase()));
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => {
      const lower = name.toLowerCase();
      return CROSS_ORIGIN_SAFE.has(lower) && !configured.has(lower) && !isSecretKey(lower);
    }),
  );
}

const HEADER_DENY = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'te',
  'trailer',
  'keep-alive',
  // Method overrides: a GET that an API would run as a DELETE must not pass as a read.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** A header value HTTP can carry: tab, visible ASCII and space, obs-text; never a line break or NUL. */
const HEADER_VALUE = /^[\t\x20-\x7E\x80-\xFF]*$/;

export const httpRequest = defineAction({
  name: 'http.request',
  category: 'external',
  description: 'Call an external HTTP API on the allowlist.',
  inputSchema: z.strictObject({
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    url: z.string().min(1).max(4096),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(8192)).default({}),
    body: z.string().max(1_048_576).optional(),
  }),
  outputSchema: z.object({
    status: z.number(),
    headers: z.record(z.string(), z.string()),
    body: z.string(),
    truncated: z.boolean(),
    url: z.string(),
  }),
  check: (ctx, input) => {
    checkUrl(input.url, ctx.http);
    for (const name of Object.keys(input.headers)) {
      if (HEADER_DENY.has(name.toLowerCase())) throw new ActionError(400, `the header ${name} may not be set`);
    }
    for (const [name, value] of Object.entries(input.headers)) {
      if (!HEADER_VALUE.test(value))
        throw new ActionError(
          400,
          `the value of the header ${name} holds a line break, a control character or a character beyond Latin-1`,
          'send header values as visible ASCII (encode anything else, e.g. as percent-encoding)',
        );
    }
  },
  execute: async (ctx, input) => {
    let url = checkUrl(input.url, ctx.http);
    let method: string = input.method;
    let body = input.body;
    let sent: Record<string, string> = input.headers;
    for (let hop = 0; ; hop++) {
      let response: Response;
      try {
        response = await ctx.httpFetch(url, {
          method,
          headers: sent,
          ...(body !== undefined ? { body } : {}),
          redirect: 'manual',
          signal: ctx.signal,
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        if (cause?.code === 'EBLOCKED') throw new ActionError(403, cause.message ?? 'the address is not allowed');
        if (ctx.signal.aborted) throw new ActionError(504, `no answer within ${ctx.http.timeout_ms} ms`);
        throw new ActionError(502, `the request failed: ${cause?.code ?? (error as Error).message}`);
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        if (hop >= ctx.http.max_redirects) throw new ActionError(502, `more than ${ctx.http.max_redirects} redirects`);
        // Every hop is checked like the first: a redirect to loopback or off the allowlist is refused.
        const next = checkUrl(new URL(location, url).toString(), ctx.http);
        // Credentials were meant for the first origin: a redirect to another one (another allowed host,
        // port or scheme) goes on without them, as browsers' fetch does.
        if (next.origin !== url.origin) sent = withoutCredentials(sent, ctx.http.secret_headers);
        url = next;
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const { text, truncated } = await readCapped(response, ctx.http.max_response_bytes);
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        if (name !== 'set-cookie') headers[name] = value;
      });
      return { status: response.status, headers, body: text, truncated, url: url.toString() };
    }
  },
});

async function readCapped(response: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: '', truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size));
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { text: new TextDecoder().decode(all), truncated };
}
