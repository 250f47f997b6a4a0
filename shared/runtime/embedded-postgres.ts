import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { PgliteSession } from './pglite-session.js';

export interface EmbeddedPostgres {
  /** A postgres:// URL on loopback: postgres.js (Node or workerd) connects to it like to any server. */
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** A second process asked for a data folder that a live process already has open. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded database in ${dataDir} is already open in process ${pid} (npm start or npm run dev). ` +
        'PGlite serves one process: stop that one, or give this one its own MYCA_DATA_DIR, or point both at one server with DATABASE_URL.',
    );
    this.name = 'DataDirInUseError';
  }
}

/**
 * Bounds PGlite's memory. Postgres's own default shared_buffers (128 MB) lives in the WASM heap,
 * which never shrinks; 16 MB is plenty for one node's working set. Kept in the data folder's
 * postgresql.conf, so it holds from the first start on.
 */
export const PGLITE_CONF = ['shared_buffers = 16MB', 'work_mem = 4MB', 'maintenance_work_mem = 16MB', 'temp_buffers = 4MB'];

/**
 * Postgres compiled to WASM (PGlite) behind a wire-protocol socket, so that postgres.js stays the
 * only database client whatever the mode. Data persists under `<dataDir>/pg`; one process at a
 * time opens it (`<dataDir>/pg.pid`), a second is refused with {@link DataDirInUseError}.
 * Clients take turns on PGlite's one backend ({@link PgliteSession}).
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number; host?: string }): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir, 'pg');
  await mkdir(dataDir, { recursive: true });
  const releaseLock = await lockDataDir(resolve(options.dataDir, 'pg.pid'), dataDir);
  try {
    // Imported here, not at the top: a server with DATABASE_URL never loads PGlite.
    const { PGlite } = await import('@electric-sql/pglite');
    // initdb's WASM heap (~500 MB) would stay in this process until a major GC that an idle server
    // may never run: a new data folder is initialised by a short-lived child process instead.
    if (!(await exists(join(dataDir, 'PG_VERSION')))) await initialiseInChild(dataDir);
    const db = await PGlite.create({ dataDir, postgresqlconf: PGLITE_CONF });
    const session = new PgliteSession(db, {
      onError: (error) => process.stderr.write(`embedded Postgres: a client failed: ${String(error)}\n`),
    });
    const sockets = new Set<Duplex>();
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      session.serve(socket);
    });
    await listen(server, options.port, options.host ?? '127.0.0.1');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    return {
      url: `postgres://postgres@${options.host ?? '127.0.0.1'}:${port}/postgres?sslmode=disable`,
      dataDir,
      stop: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((done) => server.close(() => done()));
        await db.close();
        await releaseLock();
      },
    };
  } catch (error) {
    await releaseLock();
    throw error;
  }
}

const INIT_SCRIPT = `
const [url, dataDir, conf] = process.argv.slice(1);
const { PGlite } = await import(url);
const db = await PGlite.create({ dataDir, postgresqlconf: JSON.parse(conf) });
await db.close();
`;

async function initialiseInChild(dataDir: string): Promise<void> {
  const url = import.meta.resolve('@electric-sql/pglite');
  await new Promise<void>((done, fail) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', INIT_SCRIPT, url, dataDir, JSON.stringify(PGLITE_CONF)],
      { env: { PATH: process.env.PATH ?? '' }, timeout: 300_000 },
      (error, _stdout, stderr) =>
        error ? fail(new Error(`initialising the embedded database in ${dataDir} failed: ${stderr || error.message}`)) : done(),
    );
  });
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      done();
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the data folder for this process: a pid file created exclusively. A file naming a process
 * that is gone (a crash, kill -9) is stale and taken over.
 */
async function lockDataDir(lockFile: string, dataDir: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockFile, `${process.pid}\n`, { flag: 'wx' });
      const release = async () => {
        process.off('exit', releaseSync);
        const owner = await readFile(lockFile, 'utf8').catch(() => '');
        if (Number.parseInt(owner, 10) === process.pid) await rm(lockFile, { force: true });
      };
      const releaseSync = () => {
        try {
          // exit handlers must be synchronous
          if (Number.parseInt(readFileSync(lockFile, 'utf8'), 10) === process.pid) rmSync(lockFile, { force: true });
        } catch {}
      };
      process.on('exit', releaseSync);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number.parseInt(await readFile(lockFile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataDirInUseError(dataDir, pid);
      await rm(lockFile, { force: true });
    }
  }
  throw new Error(`could not take ${lockFile}`);
}
