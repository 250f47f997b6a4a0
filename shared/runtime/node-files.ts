import { close, constants, fstat, open as openCallback, read as readInto, realpath as realpathCallback } from 'node:fs';
import { lstat, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { ActionError } from '../errors.js';
import type { FilesPort } from '../files/port.js';

// The hot path (file.read) uses the callback API on plain descriptors: fs/promises' FileHandle objects
// cost ~3× the CPU per read (measured: ~100 → ~45 µs a read), and the writes are rare enough to keep them.
const realpath = promisify(realpathCallback.native);
const openFd = promisify(openCallback) as (path: string, flags: number) => Promise<number>;
const statFd = promisify(fstat);
const closeFd = promisify(close);
const readFd = (fd: number, buffer: Buffer, position: number) =>
  new Promise<number>((resolve, reject) =>
    readInto(fd, buffer, 0, buffer.length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))),
  );

/**
 * The file actions' file system on Node, confined to `root`. Every operation resolves real paths
 * and compares them by path segment (so `/root-evil` is not inside `/root`), refuses symlinks that
 * lead out, and opens files with O_NOFOLLOW so a symlink swapped in at the last moment is not
 * followed. Paths arrive already checked lexically (checkRelativePath).
 */
export function createNodeFiles(root: string): FilesPort {
  let realRoot: string | undefined;
  const rootPath = async () => {
    if (!realRoot) {
      await mkdir(root, { recursive: true });
      realRoot = await realpath(root);
    }
    return realRoot;
  };
  const inside = (base: string, candidate: string) => {
    const rel = relative(base, candidate);
    return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel.split(sep)[0] !== '..');
  };
  const existingInside = async (path: string) => {
    const base = await rootPath();
    let real: string;
    try {
      real = await realpath(join(base, path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ActionError(404, `no file at ${path}`);
      throw error;
    }
    if (!inside(base, real) || real === base) throw new ActionError(403, 'the path leads out of the files root (symlink)');
    return real;
  };

  return {
    read: async (path, maxBytes) => {
      const real = await existingInside(path);
      const fd = await openFd(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const info = await statFd(fd);
        if (!info.isFile()) throw new ActionError(400, `${path} is not a file`);
        if (info.size > maxBytes)
          throw new ActionError(413, `${path} is ${info.size} bytes; the limit is ${maxBytes}`, 'ACTION_MAX_FILE_BYTES sets the limit');
        // One read of the size stat gave plus a byte: a short read is the end of the file, so the usual
        // case costs one call (readFile would stat again and read once more to find the end).
        const chunks: Buffer[] = [];
        let total = 0;
        for (;;) {
          const chunk = Buffer.allocUnsafe(Math.min(info.size, maxBytes) + 1);
          const bytesRead = await readFd(fd, chunk, total);
          chunks.push(chunk.subarray(0, bytesRead));
          total += bytesRead;
          if (total > maxBytes)
            throw new ActionError(
              413,
              `${path} grew past the limit of ${maxBytes} bytes while being read`,
              'ACTION_MAX_FILE_BYTES sets the limit',
            );
          if (bytesRead < chunk.length) break;
        }
        const content = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8');
        return { content, bytes: total };
      } finally {
        await closeFd(fd);
      }
    },
    write: async (path, content, maxBytes) => {
      const bytes = Buffer.byteLength(content);
      if (bytes > maxBytes)
        throw new ActionError(413, `the content is ${bytes} bytes; the limit is ${maxBytes}`, 'ACTION_MAX_FILE_BYTES sets the limit');
      const base = await rootPath();
      const parent = dirname(join(base, path));
      // Create missing folders only after checking the deepest existing one is inside the root.
      let existing = parent;
      while (
        !(await lstat(existing).then(
          () => true,
          () => false,
        ))
      )
        existing = dirname(existing);
      if (!inside(base, await realpath(existing))) throw new ActionError(403, 'the path leads out of the files root (symlink)');
      await mkdir(parent, { recursive: true });
      const realParent = await realpath(parent);
      if (!inside(base, realParent)) throw new ActionError(403, 'the path leads out of the files root (symlink)');
      const target = join(realParent, path.split('/').at(-1) as string);
      const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o640).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ELOOP') throw new ActionError(403, 'the path is a symlink; file actions do not follow them');
          if (error.code === 'EISDIR') throw new ActionError(400, `${path} is a folder`);
          throw error;
        },
      );
      try {
        await handle.writeFile(content, 'utf8');
      } finally {
        await handle.close();
      }
      return { bytes };
    },
    delete: async (path) => {
      const base = await rootPath();
      const target = join(base, path);
      const info = await lstat(target).catch(() => null);
      if (!info) throw new ActionError(404, `no file at ${path}`);
      if (info.isSymbolicLink()) throw new ActionError(403, 'the path is a symlink; file actions do not follow them');
      if (!info.isFile()) throw new ActionError(400, `${path} is not a file`);
      if (!inside(base, await realpath(dirname(target)))) throw new ActionError(403, 'the path leads out of the files root (symlink)');
      await unlink(target);
    },
  };
}
