import { type LookupAddress, lookup } from 'node:dns';
import { Agent, fetch as undiciFetch } from 'undici';
import { isBlockedAddress } from '../net/address-guard.js';

/**
 * The fetch http.request uses on Node: names are resolved by the connection itself and every
 * address is checked there, so a name that resolves (or re-resolves, DNS rebinding) to a private,
 * loopback, link-local or metadata address is refused at the moment of connecting, not only before.
 */
export function createGuardedFetch(options: { allowPrivate: boolean; timeoutMs: number }): typeof fetch {
  const agent = new Agent({
    connectTimeout: options.timeoutMs,
    connect: {
      lookup: (hostname, lookupOptions, callback) => {
        lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
          const list = (addresses ?? []) as LookupAddress[];
          if (error || list.length === 0) return callback(error ?? new Error(`${hostname} did not resolve`), list);
          const blocked = options.allowPrivate ? undefined : list.find((entry) => isBlockedAddress(entry.address));
          if (blocked) {
            return callback(
              Object.assign(new Error(`${hostname} resolves to ${blocked.address}, a private or reserved address`), { code: 'EBLOCKED' }),
              list,
            );
          }
          if ((lookupOptions as { all?: boolean }).all) return callback(null, list);
          const [first] = list as [LookupAddress];
          return (callback as (error: null, address: string, family: number) => void)(null, first.address, first.family);
        });
      },
    },
  });
  const guarded = (input: RequestInfo | URL, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher: agent } as never) as unknown as Promise<Response>;
  return guarded as typeof fetch;
}
