/**
 * A refusal an action, or a port an action uses (files, …), can explain: the caller gets `status`
 * with `message` and `hint`.
 */
export class ActionError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 413 | 422 | 502 | 503 | 504,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ActionError';
  }
}
