/** The vector store port (Qdrant). Search and upsert arrive with the features that need them. */
export interface VectorStore {
  readonly kind: 'qdrant';
  /** Resolves when the store answers its readiness probe. */
  ping(signal?: AbortSignal): Promise<void>;
  listCollections(): Promise<string[]>;
}
