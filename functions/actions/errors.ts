import { bindAnchor } from '../../shared/audit/anchor.js';
import { ApiError, type ErrorCode } from '../../shared/http/errors.js';
import type { Services } from '../../shared/services.js';

/**
 * The audit database, or 503. Also ties its client to the key-value store that anchors the audit
 * chain's head (shared/audit/anchor.ts), so every audit write through it anchors what it appended.
 */
export function requireDb(services: Services) {
  if (!services.db)
    throw new ApiError('UNAVAILABLE', {
      detail: 'Actions need the audit database',
      hint: 'set DATABASE_URL (npm start provides an embedded one)',
    });
  bindAnchor(services.db.sql, services.kv, { awaitWrites: services.runtime !== 'node', logger: services.logger });
  return services.db;
}

/** A failure to write the audit record: nothing was executed. */
export function auditUnavailable(error: unknown): ApiError {
  return new ApiError('UNAVAILABLE', {
    detail: 'The audit store is unavailable; nothing was executed',
    hint: 'retry with the same Idempotency-Key',
    headers: { 'retry-after': '1' },
    cause: error,
  });
}

/** The error code of a denial's or a failed action's HTTP status. */
export function denialCode(status: number): ErrorCode {
  const codes: Record<number, ErrorCode> = {
    400: 'VALIDATION_FAILED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    409: 'CONFLICT',
    413: 'PAYLOAD_TOO_LARGE',
    502: 'BAD_GATEWAY',
    503: 'UNAVAILABLE',
    504: 'GATEWAY_TIMEOUT',
  };
  return codes[status] ?? 'UNPROCESSABLE';
}
