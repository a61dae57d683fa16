/**
 * A full garbage collection on demand. Growing the lease arrays replaces big typed arrays whose
 * memory V8 only returns at its next full collection, which under steady load may be minutes
 * away: collecting right after a growth (a handful of times up to a million leases, each a few
 * milliseconds on lockd's small heap) keeps RSS close to what the leases need.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | undefined | null = null;

/** Returns V8's full-GC function, or undefined where the runtime refuses to expose it. */
export function fullGc(): (() => void) | undefined {
  if (collect === null) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    } catch {
      collect = undefined;
    }
  }
  return collect;
}
