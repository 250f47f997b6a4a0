import { ActionError } from '../errors.js';
import type { FilesPort } from './port.js';

/** The part of a Workers R2 bucket binding the file actions use. */
export interface R2BucketLike {
  get(key: string): Promise<{ size: number; text(): Promise<string> } | null>;
  head(key: string): Promise<{ size: number } | null>;
  put(key: string, value: string): Promise<unknown>;
  delete(key: string): Promise<void>;
}

/**
 * The file actions' files on Workers: an R2 bucket (binding FILES), one object per path. Paths
 * arrive checked by checkRelativePath (relative, no `..`, no NUL); a bucket has no symlinks or
 * folders to escape through, so the bucket is the root.
 */
export function createR2Files(bucket: R2BucketLike): FilesPort {
  return {
    read: async (path, maxBytes) => {
      const object = await bucket.get(path);
      if (!object) throw new ActionError(404, `no file at ${path}`);
      if (object.size > maxBytes)
        throw new ActionError(413, `${path} is ${object.size} bytes; the limit is ${maxBytes}`, 'ACTION_MAX_FILE_BYTES sets the limit');
      return { content: await object.text(), bytes: object.size };
    },
    write: async (path, content, maxBytes) => {
      const bytes = new TextEncoder().encode(content).byteLength;
      if (bytes > maxBytes)
        throw new ActionError(413, `the content is ${bytes} bytes; the limit is ${maxBytes}`, 'ACTION_MAX_FILE_BYTES sets the limit');
      await bucket.put(path, content);
      return { bytes };
    },
    delete: async (path) => {
      if (!(await bucket.head(path))) throw new ActionError(404, `no file at ${path}`);
      await bucket.delete(path);
    },
  };
}
