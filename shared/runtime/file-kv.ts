import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createMemoryStore, type MemoryEntry, type MemoryStore } from '../kv/memory.js';
import type { Logger } from '../log/index.js';

export interface FileKeyValueStore extends MemoryStore {
  /** Writes the pending snapshot now (at shutdown); later writes are not taken. */
  close(): void;
}

/**
 * Embedded mode's key-value store: the in-memory map, snapshotted to `path` (in the data folder) at
 * most every `intervalMs` after a change and once at shutdown, so that what it holds outlives a
 * restart — above all the audit chain's anchored head (shared/audit/anchor.ts), which is what catches
 * deleted newest events; also lockouts and breaker state. A crash loses at most the last interval's
 * changes (the anchor then lags by them, as it does when a store is down). The snapshot is written to a
 * temporary file and renamed over the old one, so a crash mid-write leaves the previous snapshot; an
 * unreadable one is set aside (logged) and the store starts empty.
 */
export function createFileKeyValueStore(path: string, logger: Pick<Logger, 'warn'>, intervalMs = 1000): FileKeyValueStore {
  const initial = readSnapshot(path, logger);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const write = () => {
    timer = undefined;
    try {
      mkdirSync(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      // Written, flushed to the disk, then renamed over the old one (and the folder flushed): a power
      // loss leaves the old snapshot or the new one, never an empty file.
      const fd = openSync(temporary, 'w', 0o600);
      try {
        writeFileSync(fd, JSON.stringify({ version: 1, entries: store.entries() }));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, path);
      syncFolder(dirname(path));
    } catch (error) {
      logger.warn('writing the key-value snapshot failed; the next change tries again', { path, error: error as Error });
    }
  };
  const store = createMemoryStore(undefined, {
    initial,
    onChange: () => {
      if (closed || timer) return;
      timer = setTimeout(write, intervalMs);
      timer.unref();
    },
  });
  return Object.assign(store, {
    close: () => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      write();
    },
  });
}

function readSnapshot(path: string, logger: Pick<Logger, 'warn'>): Array<[string, MemoryEntry]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  try {
    const parsed = JSON.parse(text) as { version?: number; entries?: unknown };
    if (parsed.version !== 1 || !Array.isArray(parsed.entries)) throw new Error('not a version 1 snapshot');
    const now = Date.now();
    return parsed.entries.filter(
      (item): item is [string, MemoryEntry] =>
        Array.isArray(item) &&
        typeof item[0] === 'string' &&
        typeof item[1]?.value === 'string' &&
        (item[1].expiresAt === null || (typeof item[1].expiresAt === 'number' && item[1].expiresAt > now)),
    );
  } catch (error) {
    const aside = `${path}.unreadable-${Date.now()}`;
    try {
      renameSync(path, aside);
    } catch {}
    logger.warn('the key-value snapshot could not be read; starting empty', { path, set_aside: aside, error: error as Error });
    return [];
  }
}

/** Flushes a folder's entries (the rename); some platforms cannot open a folder for that, and then it is skipped. */
function syncFolder(folder: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(folder, 'r');
    fsyncSync(fd);
  } catch {
    // Not supported here (Windows): the rename is as durable as the platform makes it.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
