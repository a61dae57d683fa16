/**
 * A full garbage collection on demand, for the rare moments lockd knows a large heap just became
 * garbage (the recovered image after a restart) and should not wait for V8's next full
 * collection, which under steady load may be minutes away.
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
