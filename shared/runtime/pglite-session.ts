/**
 * PGlite has one backend: one session, one unnamed statement, one unnamed portal, one transaction.
 * Several clients (the Node pool, workerd's per-request sockets) share it only if each client's
 * protocol conversation runs alone from its first message to the Sync (or simple Query) that ends
 * it, and to the end of any transaction it opened. pglite-socket 0.2.17 queues single messages, so
 * two clients' Parse/Bind/Execute interleaved ("portal \"\" does not exist") and one failed message
 * stopped its queue for good (requests hung). This module keeps the whole conversation together.
 *
 * The rules, in wire terms:
 * - a client owns the backend from its first message until it has sent Sync or Query and the
 *   backend is not in a transaction (ReadyForQuery 'I'); the others wait their turn (FIFO);
 * - an owner that sends nothing for `idleOwnerMs` is cut (as Postgres's
 *   idle_in_transaction_session_timeout), so a stalled client cannot block every other one;
 * - a client that goes away hands back a clean backend: Sync, ROLLBACK when in a transaction, and
 *   DEALLOCATE of the statements it prepared (they would otherwise pile up in the one session).
 */
import type { Duplex } from 'node:stream';
import type { PGlite } from '@electric-sql/pglite';

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

export interface SessionOptions {
  /** An owner idle this long (ms) is disconnected and its transaction rolled back. */
  idleOwnerMs?: number;
  /** Reports a failure inside PGlite (the client is disconnected, the backend cleaned). */
  onError?: (error: unknown) => void;
}

/** Hands PGlite's one backend to one client conversation at a time. */
export class PgliteSession {
  private owner: object | null = null;
  private readonly waiters: Array<() => void> = [];
  readonly idleOwnerMs: number;
  readonly onError: (error: unknown) => void;

  constructor(
    readonly db: PGlite,
    options: SessionOptions = {},
  ) {
    this.idleOwnerMs = options.idleOwnerMs ?? 15_000;
    this.onError = options.onError ?? (() => {});
  }

  isOwner(client: object): boolean {
    return this.owner === client;
  }

  async acquire(client: object): Promise<void> {
    while (this.owner !== null && this.owner !== client) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.owner = client;
  }

  release(client: object): void {
    if (this.owner !== client) return;
    this.owner = null;
    this.waiters.shift()?.();
  }

  /** Serves one client's wire protocol on a byte stream (a TCP socket or an in-process pair). */
  serve(stream: Duplex): void {
    new Conversation(this, stream);
  }
}

class Conversation {
  private buffer: Buffer = Buffer.alloc(0);
  private started = false;
  private busy = false;
  private closed = false;
  private midSequence = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly statements = new Set<string>();

  constructor(
    private readonly session: PgliteSession,
    private readonly stream: Duplex,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      void this.pump();
    });
    stream.on('error', () => this.close());
    stream.on('close', () => this.close());
    stream.on('end', () => this.close());
  }

  private next(): { message: Buffer; kind: string } | null {
    const buffer = this.buffer;
    if (!this.started) {
      if (buffer.length < 8) return null;
      const length = buffer.readInt32BE(0);
      if (buffer.length < length) return null;
      const code = buffer.readInt32BE(4);
      this.buffer = buffer.subarray(length);
      const message = buffer.subarray(0, length);
      if (code === SSL_REQUEST) return { message, kind: 'ssl' };
      if (code === CANCEL_REQUEST) return { message, kind: 'cancel' };
      if (code !== PROTOCOL_3) return { message, kind: 'bad' };
      return { message, kind: 'startup' };
    }
    if (buffer.length < 5) return null;
    const length = 1 + buffer.readInt32BE(1);
    if (buffer.length < length) return null;
    this.buffer = buffer.subarray(length);
    return { message: buffer.subarray(0, length), kind: String.fromCharCode(buffer[0] as number) };
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let item = this.next(); item && !this.closed; item = this.next()) await this.handle(item.message, item.kind);
    } catch (error) {
      this.session.onError(error);
      this.stream.destroy();
      this.closed = true;
    } finally {
      this.busy = false;
    }
    if (this.closed) void this.cleanUp();
  }

  private async handle(message: Buffer, kind: string): Promise<void> {
    if (kind === 'ssl') {
      this.stream.write(Buffer.from('N'));
      return;
    }
    if (kind === 'cancel' || kind === 'bad' || kind === 'X') {
      this.stream.end();
      this.close();
      return;
    }
    const { session } = this;
    await session.acquire(this);
    if (this.closed) return;
    this.clearIdle();
    if (kind === 'P') {
      const end = message.indexOf(0, 5);
      const name = message.toString('utf8', 5, end);
      if (name) this.statements.add(name);
    } else if (kind === 'C' && message[5] === 0x53) {
      this.statements.delete(message.toString('utf8', 6, message.indexOf(0, 6)));
    }
    this.midSequence = kind !== 'S' && kind !== 'Q' && kind !== 'startup';
    await session.db.runExclusive(() =>
      session.db.execProtocolRawStream(new Uint8Array(message), {
        // PGlite reuses its output buffer: copy before the socket keeps it.
        onRawData: (data) => {
          if (!this.closed && data.length > 0) this.stream.write(Buffer.from(data));
        },
      }),
    );
    if (kind === 'startup') this.started = true;
    if (!this.midSequence && !session.db.isInTransaction()) session.release(this);
    else this.armIdle();
  }

  private armIdle(): void {
    this.clearIdle();
    this.idleTimer = setTimeout(() => {
      this.stream.destroy();
      this.close();
    }, this.session.idleOwnerMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearIdle();
    if (!this.busy) void this.cleanUp();
  }

  /** Leaves the backend as a new client expects it. Runs once, after any message in progress. */
  private cleanUp = once(async () => {
    const { session } = this;
    if (!session.isOwner(this) && this.statements.size === 0) return;
    await session.acquire(this);
    try {
      if (this.midSequence) {
        await session.db.runExclusive(() => session.db.execProtocolRawStream(new Uint8Array(SYNC), { onRawData: () => {} }));
      }
      // exec takes PGlite's own lock (runExclusive is not re-entrant): called outside it. This client
      // still owns the session, so nobody else runs in between.
      if (session.db.isInTransaction()) await session.db.exec('ROLLBACK');
      for (const name of this.statements) await session.db.exec(`DEALLOCATE "${name.replaceAll('"', '""')}"`);
    } catch (error) {
      session.onError(error);
    } finally {
      session.release(this);
    }
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}
