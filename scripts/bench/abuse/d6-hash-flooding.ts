/**
 * D6, hash flooding: 200,000 keys that collide under FNV-1a 32-bit against 200,000 random keys of
 * the same length, each acquired once. With an unkeyed hash the colliding keys share one probe
 * chain and every insert walks it (quadratic); a keyed hash makes both runs cost the same.
 */
import { calls, fieldOf } from '../../fuzz/lock-service';
import { TMessage } from '../../fuzz/thrift-tree';
import { Attack, AttackContext, int, secs, sleep } from './attack';
import { collidingKeyLength, collidingKeys, randomKeys } from './fnv-multicollision';
import { RawClient } from './raw-client';

const PREFIX = 'd6/';
const BATCH = 1_000;
const TTL_MS = 3_600_000;

/** Acquires every key in pipelined batches until done or `limitMs` passed; lockd may still be busy after. */
async function insertAll(ctx: AttackContext, keys: readonly string[], limitMs: number) {
  const client = await RawClient.connect(ctx.port);
  const cpuBefore = ctx.lockd.cpuSeconds();
  const started = performance.now();
  const deadline = started + limitMs;
  let granted = 0;
  let cutOff = false;
  for (let at = 0; at < keys.length && !cutOff; at += BATCH) {
    const batch: TMessage[] = keys.slice(at, at + BATCH).map((key) => calls.acquire(client.seqid(), { lockKey: key, ttlMs: TTL_MS }));
    const replies = Promise.all(client.callMany(batch)).then((outcomes) => {
      for (const outcome of outcomes) if (outcome.kind === 'ok' && fieldOf(outcome.value, 1) === true) granted++;
      return true;
    });
    cutOff = !(await Promise.race([replies.catch(() => false), sleep(Math.max(0, deadline - performance.now())).then(() => false)]));
  }
  const ms = performance.now() - started;
  const cpu = ctx.lockd.cpuSeconds() - cpuBefore;
  client.close();
  return { granted, ms, cpu, cutOff };
}

function flood(kind: 'colliding' | 'random'): Attack {
  return {
    id: `D6-${kind}`,
    label: `D6 200,000 ${kind === 'colliding' ? 'keys colliding under FNV-1a 32' : 'random keys (control)'}`,
    async run(ctx) {
      const count = ctx.size(200_000, 2_000);
      const keys = kind === 'colliding' ? collidingKeys(PREFIX, count) : randomKeys(PREFIX, count, collidingKeyLength(PREFIX, count));
      const limitMs = ctx.size(30_000, 3_000);
      const r = await insertAll(ctx, keys, limitMs);
      return `${int(r.granted)}/${int(count)} keys (${keys[0].length} B) inserted in ${secs(r.ms)}${r.cutOff ? ` (cut off at ${secs(limitMs)})` : ''}; lockd CPU ${r.cpu.toFixed(1)} s`;
    },
  };
}

export const hashFlooding: Attack[] = [flood('colliding'), flood('random')];
