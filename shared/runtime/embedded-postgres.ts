import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface EmbeddedPostgres {
  /** A postgres:// URL on loopback: postgres.js (Node or workerd) connects to it like to any server. */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Postgres compiled to WASM (PGlite) behind a wire-protocol socket, so that postgres.js stays the
 * only database client whatever the mode. Data persists under `<dataDir>/pg`.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; host?: string }): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir, 'pg');
  await mkdir(dataDir, { recursive: true });
  // Imported here, not at the top: a server with DATABASE_URL never loads PGlite.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  const db = await PGlite.create({ dataDir });
  // PGlite has one backend; the socket server queues queries and keeps a transaction's statements
  // together, so a few connections (the Node pool, workerd's per-request sockets) can share it.
  const server = new PGLiteSocketServer({ db, host: options.host ?? '127.0.0.1', port: options.port, maxConnections: 16 });
  await server.start();
  const [host, port] = server.getServerConn().split(':');
  return {
    url: `postgres://postgres@${host}:${port}/postgres?sslmode=disable`,
    dataDir: join(dataDir),
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}
