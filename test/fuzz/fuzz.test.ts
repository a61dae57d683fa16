/**
 * A short, seeded fuzz run against a real lockd on every stack (binary and compact, buffered and
 * framed): valid calls, tree- and byte-mutated calls and random bytes, split across reads. After
 * it lockd must be alive, answer ping on a fresh connection, still hold the canary lease taken
 * before the run (same fence, not released), and every reply the fuzzer got must have been
 * well-formed. A failure prints the seed: LOCKD_FUZZ_SEED=<seed> npx jest test/fuzz/fuzz.test.ts
 * replays it. The long run is `npm run fuzz`.
 */
import { RawClient, okValue } from '../../scripts/bench/abuse/raw-client';
import { runCampaign } from '../../scripts/fuzz/campaign';
import { calls, DList, DStruct, fieldOf } from '../../scripts/fuzz/lock-service';
import { STACKS } from '../../scripts/fuzz/thrift-tree';
import { startLockd } from '../helpers/lockd-process';

const MESSAGES_PER_STACK = 1_000;
const SEED = Number(process.env.LOCKD_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const CANARY_KEY = 'fuzz-canary/lease';

describe.each(STACKS)('fuzzing lockd over $protocol/$transport', (stack) => {
  test(`${MESSAGES_PER_STACK} generated messages leave lockd alive, answering, and the canary lease intact`, async () => {
    const lockd = await startLockd(['--protocol', stack.protocol, '--transport', stack.transport]);
    const canary = await RawClient.connect(lockd.port, stack);
    const granted = okValue(await canary.call(calls.acquire(canary.seqid(), { lockKey: CANARY_KEY, ttlMs: 600_000 }), 10_000)) as DStruct;
    const fence = fieldOf<number>(fieldOf<DStruct>(granted, 2)!, 3);
    canary.close();
    expect(fence).toBeGreaterThan(0);

    const result = await runCampaign({ port: lockd.port, stack, messages: MESSAGES_PER_STACK, seed: SEED });
    if (result.problems > 0) {
      throw new Error(`seed ${SEED}: ${result.problems} problem(s) on ${stack.protocol}/${stack.transport}:\n${result.problemSamples.join('\n')}\n(replay: LOCKD_FUZZ_SEED=${SEED} npx jest test/fuzz/fuzz.test.ts)`);
    }
    expect(result.messagesSent).toBe(MESSAGES_PER_STACK);
    expect(result.replies).toBeGreaterThan(0);
    expect(lockd.process.exitCode).toBeNull();

    const fresh = await RawClient.connect(lockd.port, stack);
    expect(okValue(await fresh.call(calls.ping(fresh.seqid()), 10_000))).toBe('pong');
    const info = okValue(await fresh.call(calls.inspect(fresh.seqid(), CANARY_KEY), 10_000)) as DStruct;
    const holders = fieldOf<DList>(info, 2)!.items as DStruct[];
    expect(holders.map((h) => ({ fence: fieldOf(h, 3), holdCount: fieldOf(h, 5) }))).toEqual([{ fence, holdCount: 1 }]);
    expect(okValue(await fresh.call(calls.checkFence(fresh.seqid(), CANARY_KEY, fence!), 10_000))).toBe(true);
    fresh.close();
    expect(await lockd.stop()).toBe(0);
  }, 60_000);
});
