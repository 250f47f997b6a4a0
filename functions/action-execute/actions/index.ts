import { dbQuery } from './db.js';
import { fileDelete, fileRead, fileWrite } from './file.js';
import { httpRequest } from './http.js';
import type { ActionDefinition } from './types.js';

/**
 * The catalog: every action an agent may request. Not listed means refused. MINDEX / NatureOS
 * actions join when their typed clients exist (integration-clients issue); no stubs until then.
 */
export const CATALOG: ReadonlyMap<string, ActionDefinition<never, unknown>> = new Map(
  ([fileRead, fileWrite, fileDelete, httpRequest, dbQuery] as Array<ActionDefinition<never, unknown>>).map((action) => [
    action.name,
    action,
  ]),
);
