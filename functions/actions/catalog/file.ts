import { z } from 'zod';
import { checkRelativePath, MAX_PATH } from '../../../shared/files/path.js';
import { type ActionContext, ActionError, defineAction } from './types.js';

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
