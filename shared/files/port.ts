/** The files the file actions see, confined to one root (Node: a folder; Workers: the FILES R2 bucket; null without either). */
export interface FilesPort {
  read(path: string, maxBytes: number): Promise<{ content: string; bytes: number }>;
  write(path: string, content: string, maxBytes: number): Promise<{ bytes: number }>;
  delete(path: string): Promise<void>;
}
