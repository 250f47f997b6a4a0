import { ActionError } from '../errors.js';
import type { FilesPort } from './port.js';

/** One file operation as the development files bridge takes it (JSON over POST). */
export type FilesRequest =
  | { op: 'read'; path: string; maxBytes: number }
  | { op: 'write'; path: string; content: string; maxBytes: number }
  | { op: 'delete'; path: string };

/**
 * The file actions' files over HTTP: `npm run dev` gives the worker this port onto the Node host's
 * folder (`<MYCA_DATA_DIR>/files`, served by shared/runtime/files-bridge.ts), so that the worker
 * and `npm start` read and write the same files. Failures keep their ActionError status and hint.
 */
export function createHttpFiles(options: { url: string; token: string; fetch?: typeof fetch }): FilesPort {
  const send = async <T>(request: FilesRequest): Promise<T> => {
    const response = await (options.fetch ?? fetch)(options.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    const body = (await response.json()) as T & { message?: string; hint?: string };
    if (!response.ok)
      throw new ActionError(response.status as 404, body.message ?? `the files bridge answered ${response.status}`, body.hint);
    return body;
  };
  return {
    read: (path, maxBytes) => send({ op: 'read', path, maxBytes }),
    write: (path, content, maxBytes) => send({ op: 'write', path, content, maxBytes }),
    delete: async (path) => {
      await send({ op: 'delete', path });
    },
  };
}
