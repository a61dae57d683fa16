/**
 * How lockd's refusals map to HTTP statuses, in one place (the OpenAPI document and
 * the README's HTTP API section list the same table).
 */
import { LockdError } from '../errors';

/** Codes that appear in HTTP error bodies: the LockError codes plus HTTP-only outcomes. */
export const HTTP_STATUS_BY_CODE = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  LOCK_TIMEOUT: 408,
  BUSY: 409,
  NOT_HOLDER: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RESOURCE_EXHAUSTED: 429,
  CLIENT_CLOSED: 499,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;
export type HttpErrorCode = keyof typeof HTTP_STATUS_BY_CODE;

/** The JSON body of every HTTP error. */
export interface ErrorBody {
  error: { code: HttpErrorCode; message: string };
}

export function errorBody(code: HttpErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** The code and status of a LockdError (LOCKD_NOT_HOLDER -> NOT_HOLDER, 409). */
export function httpErrorOf(error: LockdError): { status: number; body: ErrorBody } {
  const name = error.code.replace(/^LOCKD_/, '');
  const code: HttpErrorCode = name === 'ABORTED' ? 'CLIENT_CLOSED' : name in HTTP_STATUS_BY_CODE ? (name as HttpErrorCode) : 'INTERNAL';
  return { status: HTTP_STATUS_BY_CODE[code], body: errorBody(code, error.message) };
}
