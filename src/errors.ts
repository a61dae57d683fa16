/**
 * Typed errors shared by every layer. Each carries a stable string `code` (callers branch on
 * it) and, for refusals that cross the wire, the numeric IDL ErrorCode in `wireCode`.
 */

/** The IDL's ErrorCode values (idl/lock_service.thrift), mirrored so no layer imports gen-nodejs. */
export const WireErrorCode = {
  INVALID_ARGUMENT: 1,
  NOT_HOLDER: 2,
  RESOURCE_EXHAUSTED: 3,
  UNAUTHENTICATED: 4,
  PERMISSION_DENIED: 5,
  UNAVAILABLE: 6,
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/** Stable string codes, one per error class. */
export type LockdErrorCode =
  | 'LOCKD_INVALID_ARGUMENT'
  | 'LOCKD_NOT_HOLDER'
  | 'LOCKD_RESOURCE_EXHAUSTED'
  | 'LOCKD_UNAUTHENTICATED'
  | 'LOCKD_PERMISSION_DENIED'
  | 'LOCKD_UNAVAILABLE'
  | 'LOCKD_LOCK_TIMEOUT'
  | 'LOCKD_ABORTED'
  | 'LOCKD_CONNECTION'
  | 'LOCKD_PROTOCOL'
  | 'LOCKD_CALL_TIMEOUT'
  | 'LOCKD_CONFIG'
  | 'LOCKD_STORE';

/** Base class of every lockd error. */
export class LockdError extends Error {
  readonly code: LockdErrorCode;
  /** The IDL ErrorCode when this refusal travels as a LockError, else undefined. */
  readonly wireCode: WireErrorCode | undefined;

  constructor(code: LockdErrorCode, message: string, wireCode?: WireErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.wireCode = wireCode;
  }
}

/** A field is missing or out of range; the message names it and the allowed range. */
export class InvalidArgumentError extends LockdError {
  constructor(message: string) {
    super('LOCKD_INVALID_ARGUMENT', message, WireErrorCode.INVALID_ARGUMENT);
  }
}

/** The token names no live lease on that key: it is wrong, released or expired. */
export class NotHolderError extends LockdError {
  constructor(message: string) {
    super('LOCKD_NOT_HOLDER', message, WireErrorCode.NOT_HOLDER);
  }
}

/** A server limit (connections, waiters, message size) was reached. */
export class ResourceExhaustedError extends LockdError {
  constructor(message: string) {
    super('LOCKD_RESOURCE_EXHAUSTED', message, WireErrorCode.RESOURCE_EXHAUSTED);
  }
}

/** Credentials are missing or wrong. */
export class UnauthenticatedError extends LockdError {
  constructor(message: string) {
    super('LOCKD_UNAUTHENTICATED', message, WireErrorCode.UNAUTHENTICATED);
  }
}

/** The credentials do not allow the call. */
export class PermissionDeniedError extends LockdError {
  constructor(message: string) {
    super('LOCKD_PERMISSION_DENIED', message, WireErrorCode.PERMISSION_DENIED);
  }
}

/** The server is shutting down or cannot make a change durable. */
export class UnavailableError extends LockdError {
  /** Cluster mode: host:port of the node that owns the key, when the answering node knows it (LockError.ownerAddress). */
  readonly ownerAddress: string | undefined;

  constructor(message: string, options?: { cause?: unknown; ownerAddress?: string }) {
    super('LOCKD_UNAVAILABLE', message, WireErrorCode.UNAVAILABLE, options);
    this.ownerAddress = options?.ownerAddress;
  }
}

/** The wait for a busy lock ran out (waitMs) before it was granted. */
export class LockTimeoutError extends LockdError {
  constructor(message: string) {
    super('LOCKD_LOCK_TIMEOUT', message);
  }
}

/** The caller aborted the call through its AbortSignal. */
export class AbortedError extends LockdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOCKD_ABORTED', message, undefined, options);
  }
}

/**
 * Cluster mode: a call could not be sent on to the node that owns its key (no link could be
 * opened); it never left the node the client reached, so nothing was done.
 */
export class PeerUnreachableError extends UnavailableError {}

/** The connection to lockd could not be made or was lost: a network failure, not a refusal. */
export class ConnectionError extends LockdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOCKD_CONNECTION', message, undefined, options);
  }
}

/** The peer sent bytes that are not valid Thrift for this service. */
export class ProtocolError extends LockdError {
  constructor(message: string) {
    super('LOCKD_PROTOCOL', message);
  }
}

/** lockd did not answer a call within callTimeoutMs. */
export class CallTimeoutError extends LockdError {
  constructor(message: string) {
    super('LOCKD_CALL_TIMEOUT', message);
  }
}

/** Invalid configuration: a flag, environment variable or option. */
export class ConfigError extends LockdError {
  constructor(message: string) {
    super('LOCKD_CONFIG', message);
  }
}

/** The durable store cannot be opened, read or written. */
export class StoreError extends LockdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOCKD_STORE', message, undefined, options);
  }
}

/** Builds the typed error for a LockError that arrived over the wire. */
export function errorFromWire(code: number, message: string, ownerAddress?: string): LockdError {
  switch (code) {
    case WireErrorCode.INVALID_ARGUMENT: return new InvalidArgumentError(message);
    case WireErrorCode.NOT_HOLDER: return new NotHolderError(message);
    case WireErrorCode.RESOURCE_EXHAUSTED: return new ResourceExhaustedError(message);
    case WireErrorCode.UNAUTHENTICATED: return new UnauthenticatedError(message);
    case WireErrorCode.PERMISSION_DENIED: return new PermissionDeniedError(message);
    case WireErrorCode.UNAVAILABLE: return new UnavailableError(message, { ownerAddress });
    default: return new ProtocolError(`lockd sent unknown error code ${code}: ${message}`);
  }
}
