/**
 * Found by the fuzzer (compact/framed): a parked acquire whose wait runs out while lockd handles
 * an inspect or checkFence on the same connection. The wait's answer is written while the
 * inspect's reply is already begun (handlers.ts passes `ctx.outbox.begin()` before evaluating
 * `ctx.backend.inspect(key)`, which expires due waits first), so on a framed transport one frame
 * header is never filled in and the next one covers two replies: the client loses its place in
 * the stream. Every reply must come out as its own well-formed frame.
 */
import { RawClient, okValue } from '../../scripts/bench/abuse/raw-client';
import { calls, DList, DStruct, fieldOf } from '../../scripts/fuzz/lock-service';
import { encodeForStack, STACKS, TMessage } from '../../scripts/fuzz/thrift-tree';
import { startLockd } from '../helpers/lockd-process';

/**
 * Pings between the parked acquire and the inspect: work that does not touch the lock table
 * (which would answer the expired wait first), enough that its 1 ms wait is over when the
 * inspect comes, and few enough bytes (~50 KB) that lockd reads them all in one chunk.
 */
const FILLER_PINGS = 3_000;

/** One case per framed stack, the two calls between them (both have the defect). */
const CASES = [
  { method: 'inspect' as const, stack: STACKS.find((s) => s.protocol === 'binary' && s.transport === 'framed')! },
  { method: 'checkFence' as const, stack: STACKS.find((s) => s.protocol === 'compact' && s.transport === 'framed')! },
];

describe('a parked acquire whose wait runs out inside another call of its connection', () => {
  test.each(CASES)('$method over $stack.protocol/$stack.transport: it and the timed-out acquire each get their own well-formed reply', async ({ method, stack }) => {
    const lockd = await startLockd(['--protocol', stack.protocol, '--transport', stack.transport]);
    const holder = await RawClient.connect(lockd.port, stack);
    const held = okValue(await holder.call(calls.acquire(holder.seqid(), { lockKey: 'held', ttlMs: 600_000 }))) as DStruct;
    const fence = fieldOf<number>(fieldOf<DStruct>(held, 2)!, 3)!;

    const client = await RawClient.connect(lockd.port, stack);
    try {
      const acquireSeqid = client.seqid();
      const messages: TMessage[] = [calls.acquire(acquireSeqid, { lockKey: 'held', waitMs: 1 })];
      for (let i = 0; i < FILLER_PINGS; i++) messages.push(calls.ping(client.seqid()));
      messages.push(method === 'inspect' ? calls.inspect(client.seqid(), 'held') : calls.checkFence(client.seqid(), 'held', fence));
      // One write, so lockd handles all of it in one turn and the wait expires inside the last call.
      const replies = messages.map((m) => client.expect(m.seqid, 20_000));
      client.write(Buffer.concat(messages.map((m) => encodeForStack(m, stack))));
      const outcomes = await Promise.all(replies);

      expect(outcomes.every((o) => o.kind === 'ok')).toBe(true);
      expect(fieldOf(okValue(outcomes[0]), 1)).toBe(false); // the acquire's wait ran out
      const last = okValue(outcomes[outcomes.length - 1]);
      if (method === 'inspect') expect((fieldOf<DList>(last as DStruct, 2)!.items).length).toBe(1);
      else expect(last).toBe(true);
    } finally {
      client.close();
      holder.close();
    }
    expect(await lockd.stop()).toBe(0);
  }, 30_000);
});
