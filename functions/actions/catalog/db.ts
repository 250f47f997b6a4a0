import { z } from 'zod';
import { type ActionContext, ActionError, defineAction } from './types.js';

/** A query parameter the server fills with the acting agent's id (so a query can be scoped to its caller). */
export const AGENT_PARAM = '@agent';

/** A configured query by name: own properties only (`constructor`, `__proto__` name no query). */
const namedQuery = (queries: ActionContext['queries'], name: string) => (Object.hasOwn(queries, name) ? queries[name] : undefined);

/**
 * Named, parameterised queries from config/policy.yaml; no free SQL. Read queries run in a read-only
 * transaction; every query has a statement timeout and a row cap. Parameters travel as bind values
 * (extended protocol), which also refuses a second statement.
 */
export const dbQuery = defineAction({
  name: 'db.query',
  category: 'read',
  // A query configured with `write: true` is a write: the policy's write rules apply, and the
  // recovery sweep never runs it again.
  categoryOf: (ctx, input) => (namedQuery(ctx.queries, input.query)?.write ? 'write' : 'read'),
  description: 'Run a named, parameterised query from config/policy.yaml.',
  inputSchema: z.strictObject({
    query: z.string().regex(/^[a-z0-9_]+$/),
    params: z.record(z.string(), z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()])).default({}),
  }),
  outputSchema: z.object({
    query: z.string(),
    rows: z.array(z.record(z.string(), z.unknown())),
    row_count: z.number(),
    truncated: z.boolean(),
  }),
  check: (ctx, input) => {
    const query = namedQuery(ctx.queries, input.query);
    if (!query) throw new ActionError(404, `no query named ${input.query}`, `configured: ${Object.keys(ctx.queries).join(', ') || 'none'}`);
    // `@agent` is filled by the server with the acting agent (the key's bound identity), never by the caller.
    const callerParams = query.params.filter((name) => name !== AGENT_PARAM);
    const missing = callerParams.filter((name) => !Object.hasOwn(input.params, name));
    const extra = Object.keys(input.params).filter((name) => !callerParams.includes(name));
    if (missing.length || extra.length) {
      throw new ActionError(
        400,
        `parameters of ${input.query}: ${[missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unknown ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`,
      );
    }
  },
  execute: async (ctx, input) => {
    const query = namedQuery(ctx.queries, input.query);
    if (!query) throw new ActionError(404, `no query named ${input.query}`);
    if (!ctx.db) throw new ActionError(503, 'no database is configured');
    const values = query.params.map((name) =>
      name === AGENT_PARAM ? ctx.agentId : ((Object.hasOwn(input.params, name) ? input.params[name] : null) ?? null),
    );
    const rows = await ctx.db.sql.begin(query.write ? 'read write' : 'read only', async (tx) => {
      await tx.unsafe(`set local statement_timeout = ${Math.floor(query.timeout_ms)}`);
      // Reads are capped in the database (one row over the cap tells that rows were left out).
      const text = query.write ? query.sql : `select * from (${query.sql}) as myca_query limit ${query.max_rows + 1}`;
      return tx.unsafe(text, values as never[]);
    });
    const list = [...rows] as Array<Record<string, unknown>>;
    return {
      query: input.query,
      rows: list.slice(0, query.max_rows),
      row_count: Math.min(list.length, query.max_rows),
      truncated: list.length > query.max_rows,
    };
  },
});
