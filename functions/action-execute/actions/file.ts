import { z } from 'zod';
import { type ActionContext, ActionError, defineAction } from './types.js';

const MAX_PATH = 512;
const MAX_NAME_BYTES = 255;

/**
 * Lexical checks on a path relative to the files root: no NUL, no absolute path, no backslash, and
 * no `..` segment in any encoding (percent-encoded, double-encoded, full-width). The file system
 * checks (real path inside the root, no symlink out) happen in the FilesPort when it runs.
 */
export function checkRelativePath(path: string): string {
  if (path.length === 0 || path.length > MAX_PATH) throw new ActionError(400, `the path must be 1-${MAX_PATH} characters`);
  let decoded = path;
  for (let i = 0; i < 3; i++) {
    try {
      const next = decodeURIComponent(decoded);
      if (next === decoded) break;
      decoded = next;
    } catch {
      break;
    }
  }
  const forms = [path, decoded, decoded.normalize('NFKC')];
  for (const form of forms) {
    if (form.includes('\0')) throw new ActionError(400, 'the path contains a NUL byte');
    if (form.includes('\\')) throw new ActionError(400, 'use / in paths, not \\');
    if (form.startsWith('/') || /^[A-Za-z]:/.test(form))
      throw new ActionError(400, 'the path must be relative to the files root', 'e.g. scratch/notes.txt');
    if (form.split('/').some((segment) => segment === '..'))
      throw new ActionError(403, 'the path leaves the files root', 'paths may not contain ..');
  }
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  // File systems refuse names over 255 bytes (ENAMETOOLONG): say so before anything runs.
  if (segments.some((segment) => new TextEncoder().encode(segment).byteLength > MAX_NAME_BYTES))
    throw new ActionError(400, `a name in the path is longer than ${MAX_NAME_BYTES} bytes`);
  const clean = segments.join('/');
  if (!clean) throw new ActionError(400, 'the path names the root itself');
  return clean;
}

const needFiles = (ctx: Pick<ActionContext, 'files'>) => {
  if (!ctx.files)
    throw new ActionError(
      503,
      'file actions are not available on this runtime',
      'bind an R2 bucket as FILES (wrangler.toml), or use the Node server',
    );
  return ctx.files;
};

const PathInput = z.strictObject({ path: z.string().min(1).max(MAX_PATH) });

export const fileRead = defineAction({
  name: 'file.read',
  category: 'read',
  description: 'Read a text file under the files root.',
  inputSchema: PathInput,
  outputSchema: z.object({ path: z.string(), content: z.string(), bytes: z.number() }),
  check: (_ctx, input) => {
    checkRelativePath(input.path);
  },
  execute: async (ctx, input) => {
    const path = checkRelativePath(input.path);
    const result = await needFiles(ctx).read(path, ctx.maxFileBytes);
    return { path, ...result };
  },
});

export const fileWrite = defineAction({
  name: 'file.write',
  category: 'write',
  description: 'Create or replace a text file under the files root.',
  inputSchema: z.strictObject({ path: z.string().min(1).max(MAX_PATH), content: z.string() }),
  outputSchema: z.object({ path: z.string(), bytes: z.number() }),
  check: (ctx, input) => {
    checkRelativePath(input.path);
    const bytes = new TextEncoder().encode(input.content).byteLength;
    if (bytes > ctx.maxFileBytes)
      throw new ActionError(413, `the content is ${bytes} bytes; the limit is ${ctx.maxFileBytes}`, 'ACTION_MAX_FILE_BYTES sets the limit');
  },
  execute: async (ctx, input) => {
    const path = checkRelativePath(input.path);
    return { path, ...(await needFiles(ctx).write(path, input.content, ctx.maxFileBytes)) };
  },
});

export const fileDelete = defineAction({
  name: 'file.delete',
  category: 'risky',
  description: 'Delete a file under the files root.',
  inputSchema: PathInput,
  outputSchema: z.object({ path: z.string(), deleted: z.literal(true) }),
  check: (_ctx, input) => {
    checkRelativePath(input.path);
  },
  execute: async (ctx, input) => {
    const path = checkRelativePath(input.path);
    await needFiles(ctx).delete(path);
    return { path, deleted: true as const };
  },
});
