import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ArchiveStore } from './archive-store.js';

/**
 * The audit archive on Node: a folder (AUDIT_ARCHIVE_DIR, default `<data_dir>/audit-archive`),
 * apart from the file actions' root so that no action can touch it. A segment is written to a
 * temporary name and renamed, so a crash never leaves half a file under its key.
 */
export function createDiskArchiveStore(root: string): ArchiveStore {
  const path = (key: string) => {
    if (key.split('/').some((part) => part === '..' || part === '') || key.includes('\0')) throw new Error(`bad archive key ${key}`);
    return join(root, ...key.split('/'));
  };
  return {
    put: async (key, bytes) => {
      const target = path(key);
      await mkdir(dirname(target), { recursive: true });
      const temporary = `${target}.${process.pid}.tmp`;
      await writeFile(temporary, bytes);
      await rename(temporary, target);
    },
    get: async (key) => {
      try {
        return new Uint8Array(await readFile(path(key)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    list: async (prefix) => {
      let entries: string[];
      try {
        entries = await readdir(root, { recursive: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      return entries
        .map((entry) => relative(root, join(root, entry)).split(sep).join('/'))
        .filter((key) => key.startsWith(prefix) && !key.endsWith('.tmp'))
        .sort();
    },
    delete: async (key) => {
      await unlink(path(key)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },
  };
}

/** The Node archive folder of a configuration: AUDIT_ARCHIVE_DIR, or `<data_dir>/audit-archive`. */
export const archiveDir = (config: { data_dir: string; audit: { archive_dir?: string | undefined } }) =>
  resolve(config.audit.archive_dir ?? join(config.data_dir, 'audit-archive'));
