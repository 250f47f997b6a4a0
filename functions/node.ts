/**
 * The Node entry point (`npm start`, `npm run build:node`), beside the workerd one (index.ts): the
 * Node platform (embedded Postgres, undici, the guarded fetch, the files folder) is read in
 * shared/runtime and handed to the same buildServices; this file only names the app and the sweep.
 */
import { runNode } from '../shared/runtime/main.js';
import { createApp, sweep } from './app.js';

await runNode({ createApp, sweep: (services) => sweep({ services, logger: services.logger }) });
