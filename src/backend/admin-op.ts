/** The optional operations of a Backend (force-release, drain), with a clear refusal where one lacks them. */
import { UnavailableError } from '../errors';

/** `op` itself, or a function that refuses with UNAVAILABLE naming `what` when the backend has none. */
export function adminOp<A extends unknown[], R>(op: ((...args: A) => R) | undefined, what: string): (...args: A) => R {
  if (op !== undefined) return op;
  return () => {
    throw new UnavailableError(`this lockd's backend does not support ${what} yet`);
  };
}
