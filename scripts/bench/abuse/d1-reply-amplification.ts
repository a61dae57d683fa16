/**
 * D1, reply amplification: a short request that asks for a large reply, sent many times in one
 * write by a client that never reads. lockd must stop reading that connection once its replies
 * pass --connection-buffer-limit, instead of encoding every page into memory.
 */
import { calls } from '../../fuzz/lock-service';
import { encodeForStack } from '../../fuzz/thrift-tree';
import { Attack, AttackContext, holdLeases, int, sleep, SocketSwarm } from './attack';
import { DEFAULT_STACK } from './raw-client';

const KEY_BYTES = 1024;
const LEASE_TTL_MS = 3_600_000;

function prepare(ctx: AttackContext): Promise<void> {
  const count = ctx.size(10_000, 500);
  function* keys() {
    for (let i = 0; i < count; i++) yield `d1/${String(i).padStart(8, '0')}/`.padEnd(KEY_BYTES, 'x');
  }
  return holdLeases(ctx.port, keys(), { ttlMs: LEASE_TTL_MS }, 500).then((granted) => {
    if (granted !== count) throw new Error(`D1: held ${granted} of ${count} leases`);
  });
}

function unreadListCalls(calls_: number): Attack {
  return {
    id: `D1-${calls_}`,
    label: `D1 ${calls_} × listLocks("", 10000) in one write, never read`,
    prepare,
    async run(ctx) {
      const swarm = new SocketSwarm();
      await swarm.open(ctx.port, 1, 1, (socket) => {
        socket.pause(); // never read: the replies pile up in lockd and the kernel
        const bytes = Buffer.concat(Array.from({ length: calls_ }, (_, i) => encodeForStack(calls.listLocks(i + 1, '', 10_000), DEFAULT_STACK)));
        socket.write(bytes);
      });
      await sleep(ctx.holdMs);
      const note = `${int(ctx.size(10_000, 500))} leases of 1 KiB keys held; attacker ${swarm.closedByLockd > 0 ? 'closed by lockd' : 'still connected'}`;
      swarm.release();
      return note;
    },
  };
}

export const replyAmplification: Attack[] = [unreadListCalls(60), unreadListCalls(400)];
