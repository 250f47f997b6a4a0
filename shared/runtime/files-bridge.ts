/**
 * `npm run dev`: the Node host's files folder served to the worker on loopback (one POST endpoint,
 * a bearer token), so that workerd and `npm start` share `<MYCA_DATA_DIR>/files` instead of the
 * worker writing to wrangler's local R2. The folder is the same confined FilesPort the Node server
 * uses (real paths, no symlinks out, O_NOFOLLOW).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ActionError } from '../errors.js';
import type { FilesRequest } from '../files/http.js';
import { checkRelativePath } from '../files/path.js';
import { createNodeFiles } from './node-files.js';

export interface FilesBridge {
  url: string;
  token: string;
  stop(): Promise<void>;
}

const MAX_BODY = 64 * 1024 * 1024;

export async function startFilesBridge(options: { root: string; token: string }): Promise<FilesBridge> {
  const files = createNodeFiles(options.root);
  const expected = Buffer.from(`Bearer ${options.token}`);
  const server: Server = createServer((request, response) => {
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const given = Buffer.from(request.headers.authorization ?? '');
    if (request.method !== 'POST' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      answer(401, { message: 'the files bridge needs its token' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) request.destroy();
      else chunks.push(chunk);
    });
    request.on('end', async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FilesRequest;
        // The worker checked the path already; the bridge does not take that on trust.
        checkRelativePath(body.path);
        if (body.op === 'read') answer(200, await files.read(body.path, body.maxBytes));
        else if (body.op === 'write') answer(200, await files.write(body.path, body.content, body.maxBytes));
        else if (body.op === 'delete') {
          await files.delete(body.path);
          answer(200, {});
        } else answer(400, { message: 'unknown operation' });
      } catch (error) {
        if (error instanceof ActionError) answer(error.status, { message: error.message, hint: error.hint });
        else answer(500, { message: `the files bridge failed: ${(error as Error).message}` });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/files`,
    token: options.token,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
