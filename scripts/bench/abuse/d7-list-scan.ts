/**
 * D7, listLocks over a large table: 1,000,000 leases held, then 100 listLocks calls for a narrow
 * prefix (10 matching keys) in one write. A call's cost should follow the keys it returns, not
 * every key held.
 */
import { calls, DList } from '../../fuzz/lock-service';
import { Attack, AttackContext, holdLeases, int, secs, sleep } from './attack';
import { okValue, RawClient } from './raw-client';

const TTL_MS = 3_600_000;
const NARROW = 'd7/narrow/';
const NARROW_KEYS = 10;
const CALLS = 100;
const CONNECTIONS = 4;
/** How long the attack waits for its 100 replies. */
const CALLS_LIMIT_MS = 60_000;

async function prepare(ctx: AttackContext): Promise<void> {
  const total = ctx.size(1_000_000, 10_000);
  const per = Math.ceil(total / CONNECTIONS);
  const loads = Array.from({ length: CONNECTIONS }, (_, c) => {
    function* keys() {
      for (let i = c * per; i < Math.min(total, (c + 1) * per); i++) yield `d7/bulk/${String(i).padStart(7, '0')}`;
    }
    return holdLeases(ctx.port, keys(), { ttlMs: TTL_MS }, 5_000);
  });
  const granted = (await Promise.all(loads)).reduce((a, b) => a + b, 0);
  const narrow = await holdLeases(ctx.port, Array.from({ length: NARROW_KEYS }, (_, i) => `${NARROW}${i}`), { ttlMs: TTL_MS });
  if (granted + narrow !== total + NARROW_KEYS) throw new Error(`D7: held ${granted + narrow} of ${total + NARROW_KEYS} leases`);
}

export const listScan: Attack = {
  id: 'D7',
  label: 'D7 100 × listLocks(narrow prefix) in one write at 1,000,000 leases',
  prepare,
  async run(ctx) {
    const client = await RawClient.connect(ctx.port);
    const started = performance.now();
    const answeredAt: number[] = [];
    const sizes = new Set<number>();
    const replies = client.callMany(Array.from({ length: CALLS }, () => calls.listLocks(client.seqid(), NARROW, 100))).map((reply) =>
      reply.then((outcome) => {
        answeredAt.push(performance.now() - started);
        sizes.add((okValue(outcome) as DList).items.length);
      }),
    );
    await Promise.race([Promise.allSettled(replies), sleep(CALLS_LIMIT_MS)]);
    client.close();
    const leases = int(ctx.size(1_000_000, 10_000));
    if (answeredAt.length === 0) return `${leases} leases; none of the ${CALLS} calls answered within ${secs(CALLS_LIMIT_MS)}`;
    const last = answeredAt[answeredAt.length - 1];
    return `${leases} leases; ${answeredAt.length}/${CALLS} calls answered within ${secs(CALLS_LIMIT_MS)}, first after ${secs(answeredAt[0])}, last after ${secs(last)} (${(last / answeredAt.length).toFixed(0)} ms each), ${[...sizes].join('/')} keys per page`;
  },
};
