/**
 * Lock mode names. The client API, lockctl's output and its --json all spell them in lower case,
 * "exclusive" and "shared"; only lockd's own log lines use the IDL's upper-case enum names
 * (EXCLUSIVE, SHARED). These two functions are the client's only conversions.
 */

/** "exclusive" (one holder) or "shared" (any number of holders, no exclusive one). */
export type LockModeName = 'exclusive' | 'shared';

/** The IDL's LockMode values. */
const WIRE_MODE = { exclusive: 1, shared: 2 } as const;

/** The name of a wire LockMode value (anything but SHARED reads as exclusive, the IDL's default). */
export function modeName(wireMode: number): LockModeName {
  return wireMode === WIRE_MODE.shared ? 'shared' : 'exclusive';
}

/** The wire LockMode value of a name. */
export function wireMode(name: LockModeName): number {
  return WIRE_MODE[name];
}

/** True for the two mode names (for checking what JavaScript callers pass). */
export function isModeName(value: unknown): value is LockModeName {
  return value === 'exclusive' || value === 'shared';
}
