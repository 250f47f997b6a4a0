import postgres, { type PendingQuery, type Row, type Sql, type TransactionSql } from 'postgres';

/** Builds one statement on the client it is given (the pool, or the transaction of a batch). */
export type Statement<T extends readonly Row[]> = (sql: Sql | TransactionSql) => PendingQuery<T>;

export interface GroupCommitOptions {
  /** Statements in one transaction at most. */
  maxBatch?: number;
  /** Batches on their way at once (each on its own connection). */
  inFlight?: number;
  /**
   * A batch still unanswered after this long fails its callers and frees its place, so that one
   * stalled connection cannot hold up every later audit write (its late answer is ignored).
   */
  stallMs?: number;
}

/**
 * Group commit for the audit writes. Every audit statement appends to the one hash chain, under one
 * lock held until its transaction commits, so concurrent writers queue on that lock one commit at a
 * time (bench:actions: 13 of 15 busy backends waiting on it, Postgres using more CPU than the app).
 * Here a statement goes out at once when nothing is on its way; those that arrive meanwhile wait and
 * go together, in one transaction, pipelined on one connection: one lock hand-over and one commit
 * for the lot. Under no load nothing waits; under load a statement waits at most for the batch ahead.
 *
 * Each caller still learns only after the commit (fail closed stays true: nothing runs on an audit
 * record that is not durable). A batch is all or nothing: when the server refuses one statement
 * (a constraint, bad data) the transaction is rolled back for sure, and each statement is run again
 * on its own so that only the faulty one fails. Any other error (a cut connection, a shutdown, a
 * timeout) fails the whole batch without a retry, since its commit may or may not have happened.
 *
 * A statement must be correct alone and after any other in the same transaction (conditional
 * updates are: of two racing claims in one batch the second finds the row already moved).
 *
 * @example
 * const [row] = await groupCommit(db.sql).run((sql) => sql`insert … returning *`);
 */
export function groupCommit(sql: Sql | TransactionSql, options: GroupCommitOptions = {}): GroupCommit {
  // Inside a caller's transaction the statement belongs to that transaction: no batching.
  if (isTransaction(sql)) return { run: (statement) => statement(sql) };
  let committer = committers.get(sql);
  if (!committer) {
    committer = createCommitter(sql, options);
    committers.set(sql, committer);
  }
  return committer;
}

export interface GroupCommit {
  run<T extends readonly Row[]>(statement: Statement<T>): Promise<T>;
}

const committers = new WeakMap<Sql, GroupCommit>();

interface Queued {
  statement: (sql: Sql | TransactionSql) => Promise<readonly Row[]>;
  resolve: (rows: readonly Row[]) => void;
  reject: (error: unknown) => void;
}

function createCommitter(sql: Sql, options: GroupCommitOptions): GroupCommit {
  const maxBatch = options.maxBatch ?? 64;
  const inFlight = options.inFlight ?? 2;
  const stallMs = options.stallMs ?? 10_000;
  const queue: Queued[] = [];
  let busy = 0;

  const runAlone = (item: Queued) => item.statement(sql).then(item.resolve, item.reject);

  const flush = async (batch: Queued[]): Promise<void> => {
    if (batch.length === 1) return runAlone(batch[0] as Queued);
    let results: ReadonlyArray<readonly Row[]>;
    try {
      // Returning the statements (not awaiting one by one) pipelines them on the transaction's connection.
      results = (await sql.begin((tx) => batch.map((item) => item.statement(tx)) as never)) as ReadonlyArray<readonly Row[]>;
    } catch (error) {
      if (isStatementError(error)) await Promise.all(batch.map(runAlone));
      else for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, index) => {
      item.resolve(results[index] as readonly Row[]);
    });
  };

  const pump = () => {
    while (busy < inFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      busy++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          const error = new Error(`the audit write did not finish within ${stallMs} ms`);
          for (const item of batch) item.reject(error);
          resolve();
        }, stallMs);
      });
      void Promise.race([flush(batch), stalled]).finally(() => {
        clearTimeout(timer);
        busy--;
        pump();
      });
    }
  };

  return {
    run: <T extends readonly Row[]>(statement: Statement<T>) =>
      new Promise<T>((resolve, reject) => {
        queue.push({ statement: statement as Queued['statement'], resolve: resolve as (rows: readonly Row[]) => void, reject });
        pump();
      }),
  };
}

function isTransaction(sql: Sql | TransactionSql): sql is TransactionSql {
  return typeof (sql as TransactionSql).savepoint === 'function';
}

/**
 * SQLSTATE classes that mean the server refused a statement and rolled the transaction back: data
 * exceptions (22), integrity constraints (23), an aborted transaction (25P02, the statements after the
 * faulty one), a serialization failure or deadlock (40), syntax or access (42), PL/pgSQL raises (P0).
 * Connection (08) and operator (57) errors are not among them: after those nobody knows whether the
 * commit happened.
 */
function isStatementError(error: unknown): boolean {
  if (!(error instanceof postgres.PostgresError)) return false;
  const code = error.code ?? '';
  return /^(22|23|40|42|P0)/.test(code) || code === '25P02';
}
