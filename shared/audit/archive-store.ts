/**
 * Where archived audit segments live: a folder on Node (shared/audit/archive-disk.ts), an R2 bucket
 * on Workers ({@link createR2ArchiveStore}). Keys are relative paths (`segments/<first>-<last>.jsonl.gz`);
 * `list` returns every key under a prefix, in lexicographic order.
 */
export interface ArchiveStore {
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The stored bytes, or null when there is no such key. */
  get(key: string): Promise<Uint8Array | null>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

/** The part of a Workers R2 bucket binding the archive uses. */
export interface R2ArchiveBucket {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>;
  put(key: string, value: Uint8Array): Promise<unknown>;
  delete(key: string): Promise<void>;
  list(options: { prefix: string; cursor?: string }): Promise<{ objects: { key: string }[]; truncated: boolean; cursor?: string }>;
}

export function createR2ArchiveStore(bucket: R2ArchiveBucket): ArchiveStore {
  return {
    put: async (key, bytes) => {
      await bucket.put(key, bytes);
    },
    get: async (key) => {
      const object = await bucket.get(key);
      return object ? new Uint8Array(await object.arrayBuffer()) : null;
    },
    list: async (prefix) => {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await bucket.list({ prefix, ...(cursor ? { cursor } : {}) });
        keys.push(...page.objects.map((object) => object.key));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return keys.sort();
    },
    delete: (key) => bucket.delete(key),
  };
}

export const isR2ArchiveBucket = (value: unknown): value is R2ArchiveBucket =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as R2ArchiveBucket).list === 'function' &&
  typeof (value as R2ArchiveBucket).put === 'function';

/**
 * gzip with the web-standard CompressionStream, which both runtimes have (Node since 18, workerd):
 * one code path, and the archive job runs unchanged in the Cron Trigger.
 */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return pipe(bytes, new CompressionStream('gzip'));
}

export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  return pipe(bytes, new DecompressionStream('gzip'));
}

async function pipe(bytes: Uint8Array, transform: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const stream = new Blob([bytes as never]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
