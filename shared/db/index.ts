import postgres, { type Sql } from 'postgres';

/** The database port: a postgres.js client and what it points at (for logs and /ready). */
export interface Database {
  readonly sql: Sql;
  /** `postgres` for a configured server, `embedded` for PGlite. */
  readonly kind: 'postgres' | 'embedded';
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  kind?: Database['kind'];
  /** Pool size: 1 per request in workerd and for PGlite (one backend); a pool on Node. */
  max?: number;
  /** Seconds to wait for a connection before failing (keeps /ready and callers from hanging). */
  connectTimeoutSeconds?: number;
  /** Closes idle connections (workerd must not keep sockets across requests). */
  idleTimeoutSeconds?: number;
  /** Skip the type catalogue query at connect (fewer round trips; required in workerd). */
  fetchTypes?: boolean;
  applicationName?: string;
}

/**
 * @example
 * const db = createDatabase(config.database.url, { max: 10 });
 * await db.sql`select 1`;
 */
export function createDatabase(url: string, options: DatabaseOptions = {}): Database {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    fetch_types: options.fetchTypes ?? false,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? 'myca-edge' },
  });
  return {
    sql,
    kind: options.kind ?? 'postgres',
    ping: async () => {
      await sql`select 1`;
    },
    close: () => sql.end({ timeout: 2 }),
  };
}
