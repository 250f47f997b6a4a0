import type { Sql } from 'postgres';
import type { KeyValueStore } from '../kv/index.js';
import type { Logger } from '../log/index.js';

/**
 * The chain's head kept outside the database, so that deleting the newest events (which leaves a
 * chain that still links) is caught: `GET /v1/audit/verify` fails when the chain ends before its
 * anchored head, or when the event at that head no longer has the anchored hash.
 *
 * Every audit write learns the new head from `myca_append_audit_events` (`seq:hash`) and notes it
 * here, through the client it wrote with ({@link bindAnchor}: `requireDb` binds the app's client). Writes to the key-value store are coalesced (one in flight, then the newest head) and never
 * move the anchor back, so they cost a request nothing on Node; in workerd the note is awaited.
 * The key carries the database's oid, so a new database (a test's, a reset one) starts afresh.
 * What the anchor cannot catch: events deleted within the moment between a commit and its anchor
 * write, and anything while the store is down (the anchor then lags; a warning is logged).
 */
export interface ChainHead {
  seq: number;
  hash: string;
}

export const parseHead = (text: string | null | undefined): ChainHead | undefined => {
  const match = /^(\d+):([0-9a-f]{64})$/.exec(text ?? '');
  return match ? { seq: Number(match[1]), hash: match[2] as string } : undefined;
};

// Kept per store object: one per process (Node) or isolate (workerd), one database each; in workerd
// every request has its own Sql, so keying by it would look the oid up on every write.
const keys = new WeakMap<object, Promise<string>>();

/** The store key of this database's anchor: `myca:audit:anchor:<database oid>`. */
export function anchorKey(kv: KeyValueStore, sql: Sql): Promise<string> {
  let key = keys.get(kv);
  if (!key) {
    key = sql<{ id: string }[]>`select oid::text as id from pg_database where datname = current_database()`.then(
      ([row]) => `myca:audit:anchor:${row?.id ?? 'unknown'}`,
    );
    key.catch(() => keys.delete(kv));
    keys.set(kv, key);
  }
  return key;
}

/** The anchored head, or undefined when none was written (a new chain, or the store lost it). */
export async function readAnchor(kv: KeyValueStore, sql: Sql): Promise<ChainHead | undefined> {
  return parseHead(await kv.get(await anchorKey(kv, sql)));
}

interface AnchorState {
  written: number;
  want?: ChainHead;
  flushing?: Promise<void>;
}
const states = new WeakMap<object, AnchorState>();

/**
 * Notes that the chain reached `head` (`seq:hash` or parsed); resolves when the store has it (or
 * a newer one). Never rejects: a failure is logged and the next note tries again.
 */
export function anchorHead(
  kv: KeyValueStore,
  sql: Sql,
  head: string | ChainHead | null | undefined,
  logger?: Pick<Logger, 'warn'>,
): Promise<void> {
  const parsed = typeof head === 'string' ? parseHead(head) : (head ?? undefined);
  let state = states.get(kv);
  if (!state) {
    state = { written: 0 };
    states.set(kv, state);
  }
  if (!parsed || parsed.seq <= state.written || (state.want && parsed.seq <= state.want.seq)) return state.flushing ?? Promise.resolve();
  state.want = parsed;
  if (!state.flushing) {
    const current = state;
    current.flushing = flush(kv, sql, current)
      .catch((error: unknown) => logger?.warn('anchoring the audit chain head failed', { error: error as Error }))
      .finally(() => {
        current.flushing = undefined;
      });
  }
  return state.flushing ?? Promise.resolve();
}

async function flush(kv: KeyValueStore, sql: Sql, state: AnchorState): Promise<void> {
  const key = await anchorKey(kv, sql);
  while (state.want && state.want.seq > state.written) {
    const head = state.want;
    // Another instance may have anchored a newer head: never move the anchor back.
    const stored = parseHead(await kv.get(key));
    if (!stored || stored.seq < head.seq) await kv.set(key, `${head.seq}:${head.hash}`);
    state.written = head.seq;
  }
}

interface Binding {
  kv: KeyValueStore;
  /** Wait for the store write (workerd: the isolate may stop after the response); Node lets it run on. */
  awaitWrites: boolean;
  logger?: Pick<Logger, 'warn'> | undefined;
}
const bindings = new WeakMap<object, Binding>();

/**
 * Ties a database client to the store its chain head is anchored in, so that the audit writes made
 * through it (shared/audit and the action store) anchor the heads they return. Idempotent.
 */
export function bindAnchor(sql: Sql, kv: KeyValueStore, options: { awaitWrites: boolean; logger?: Pick<Logger, 'warn'> }): void {
  if (!bindings.has(sql)) bindings.set(sql, { kv, ...options });
}

/** Anchors a head an audit write through `sql` returned (`seq:hash`); a no-op for an unbound client. */
export async function noteChainHead(sql: Sql, head: string | null | undefined): Promise<void> {
  const binding = bindings.get(sql);
  if (!binding || !head) return;
  const anchoring = anchorHead(binding.kv, sql, head, binding.logger);
  if (binding.awaitWrites) await anchoring;
}
