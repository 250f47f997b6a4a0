/** A stored vector with its payload (Qdrant point ids are UUIDs or unsigned integers). */
export interface VectorPoint {
  id: string;
  vector: number[];
  payload: Record<string, unknown>;
}

/** Equality on payload keywords and lower bounds on payload numbers; every condition must hold. */
export interface VectorFilter {
  equals?: Record<string, string>;
  greaterThan?: Record<string, number>;
}

/** The vector store port (Qdrant). */
export interface VectorStore {
  readonly kind: 'qdrant';
  /** Resolves when the store answers its readiness probe. */
  ping(signal?: AbortSignal): Promise<void>;
  listCollections(): Promise<string[]>;
  /** Creates a cosine-distance collection of `size`-dimensional vectors unless it exists. */
  ensureCollection(name: string, size: number, signal?: AbortSignal): Promise<void>;
  upsert(collection: string, points: VectorPoint[], signal?: AbortSignal): Promise<void>;
  /** The nearest points (best first) at or above `minScore` that match `filter`. */
  search(
    collection: string,
    vector: number[],
    options: { limit: number; minScore?: number; filter?: VectorFilter; signal?: AbortSignal },
  ): Promise<Array<{ id: string; score: number; payload: Record<string, unknown> }>>;
}
