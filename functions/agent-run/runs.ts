import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { AGENT_ID } from '../../shared/config/agents.js';
import { ApiError } from '../../shared/http/errors.js';
import type { AppEnv } from '../../shared/http/types.js';
import { isUuid, queryLimit, querySeq, readQuery } from '../../shared/http/validate.js';
import type { Services } from '../../shared/services.js';
import { requireDb } from '../actions/index.js';
import { advanceRun } from './loop.js';
import { findRun, isTerminal, presentRun, RUN_STATUSES, type RunRow, readEvents } from './store.js';

function runIdParam(id: string): string {
  if (!isUuid(id)) throw new ApiError('NOT_FOUND', { detail: `No run ${id}` });
  return id;
}

/** Agents may see their own runs; approvers and admins see all. */
async function visibleRun(services: Services, principal: { id: string; role: string }, id: string): Promise<RunRow> {
  const run = await findRun(requireDb(services).sql, id);
  if (!run || (principal.role === 'agent' && run.requested_by !== principal.id))
    throw new ApiError('NOT_FOUND', { detail: `No run ${id}` });
  return run;
}

/** `GET /v1/runs`, `GET /v1/runs/:id`, `POST /v1/runs/:id/resume` and the `/events` stream. */
export function runRoutes() {
  const app = new Hono<AppEnv>();

  const ListRunsQuery = z.object({
    status: z.enum(RUN_STATUSES, { error: `one of ${RUN_STATUSES.join(', ')}` }).optional(),
    agent: z.string().regex(AGENT_ID, 'agent names are 1-64 of A-Z a-z 0-9 . _ -').optional(),
    limit: queryLimit(),
  });
  app.get('/v1/runs', async (c) => {
    const services = c.get('services');
    const sql = requireDb(services).sql;
    const query = readQuery(c, ListRunsQuery);
    const status = query.status;
    const agent = query.agent ?? null;
    const limit = query.limit;
    const principal = c.get('principal');
    const mine = principal.role === 'agent' ? principal.id : null;
    const rows = await sql<RunRow[]>`
      select * from agent_runs
      where (${status ?? null}::text is null or status = ${status ?? null})
        and (${agent}::text is null or agent_name = ${agent})
        and (${mine}::text is null or requested_by = ${mine})
      order by created_at desc limit ${limit}`;
    return c.json({ data: rows.map(presentRun) });
  });

  app.get('/v1/runs/:id', async (c) => {
    const run = await visibleRun(c.get('services'), c.get('principal'), runIdParam(c.req.param('id')));
    return c.json(presentRun(run));
  });

  app.post('/v1/runs/:id/resume', async (c) => {
    const services = c.get('services');
    const id = runIdParam(c.req.param('id'));
    const run = await visibleRun(services, c.get('principal'), id);
    if (isTerminal(run.status))
      throw new ApiError('CONFLICT', { detail: `The run already ${run.status}`, extra: { id, run_status: run.status } });
    const advanced = (await advanceRun({ services, logger: c.get('logger') }, id, { trigger: 'resume' })) ?? run;
    return c.json(presentRun(advanced), isTerminal(advanced.status) ? 200 : 202);
  });

  const EventsQuery = z.object({ after: querySeq.optional() });
  app.get('/v1/runs/:id/events', async (c) => {
    const services = c.get('services');
    const id = runIdParam(c.req.param('id'));
    await visibleRun(services, c.get('principal'), id);
    const sql = requireDb(services).sql;
    let after = eventsAfter(c.req.header('last-event-id'), readQuery(c, EventsQuery).after);
    const logger = c.get('logger');
    return streamSSE(
      c,
      async (stream) => {
        let aborted = false;
        stream.onAbort(() => {
          aborted = true;
        });
        const deadline = Date.now() + 10 * 60_000; // then the client reconnects with Last-Event-ID
        let quietSince = Date.now();
        while (!aborted && Date.now() < deadline) {
          const events = await readEvents(sql, id, after);
          for (const event of events) {
            await stream.writeSSE({
              id: String(event.seq),
              event: event.type,
              data: JSON.stringify({ seq: event.seq, type: event.type, at: event.created_at, ...(event.data as object) }),
            });
            after = event.seq;
            quietSince = Date.now();
            if (event.type === 'final' || event.type === 'failed') return;
          }
          if (events.length === 0) {
            const run = await findRun(sql, id);
            if (!run || (isTerminal(run.status) && run.events <= after)) return;
            if (Date.now() - quietSince > 15_000) {
              await stream.write(': keep-alive\n\n');
              quietSince = Date.now();
            }
            await stream.sleep(250);
          }
        }
      },
      async (error) => {
        // Once the stream has begun its status is sent: the failure goes to the log (redacted), not stderr.
        logger.error('run events stream failed', { run_id: id, error: error as Error });
      },
    );
  });

  return app;
}

/** Where an events stream starts: `Last-Event-ID` (a reconnect), else `?after`, else the beginning. */
function eventsAfter(lastEventId: string | undefined, after: number | undefined): number {
  if (lastEventId === undefined) return after ?? 0;
  const parsed = querySeq.safeParse(lastEventId.trim());
  if (!parsed.success)
    throw new ApiError('VALIDATION_FAILED', {
      detail: 'Last-Event-ID: expected the id of an event (a whole number)',
      hint: 'send back the id of the last event you received',
    });
  return parsed.data;
}
