import { dbQuery } from './db.js';
import { fileDelete, fileRead, fileWrite } from './file.js';
import { httpRequest } from './http.js';
import { INTEGRATION_ACTIONS } from './integrations.js';
import type { ActionDefinition } from './types.js';

/** The catalog: every action an agent may request. Not listed means refused. */
export const CATALOG: ReadonlyMap<string, ActionDefinition<never, unknown>> = new Map(
  ([fileRead, fileWrite, fileDelete, httpRequest, dbQuery, ...INTEGRATION_ACTIONS] as Array<ActionDefinition<never, unknown>>).map(
    (action) => [action.name, action],
  ),
);
