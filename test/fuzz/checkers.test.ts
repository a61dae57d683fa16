/**
 * The fuzzer's own tools: the reply checker must reject malformed replies (or the fuzz test could
 * not fail), and the hash-flooding keys of the abuse benchmark must really collide.
 */
import { calls, readReply, replyProblem } from '../../scripts/fuzz/lock-service';
import { ReplyStream } from '../../scripts/fuzz/reply-stream';
import { bool, encodeForStack, encodeMessage, field, i32, i64, STACKS, str, struct, TMessage } from '../../scripts/fuzz/thrift-tree';
import { collidingKeys, fnv1a, randomKeys } from '../../scripts/bench/abuse/fnv-multicollision';
import { protocolByName } from '../../src/protocol';
import { MessageType } from '../../src/protocol/types';

const TOKEN = 'ab'.repeat(16);
const lease = (fence: number, mode = 1) => struct([field(1, str('k')), field(2, str(TOKEN)), field(3, i64(fence)), field(4, i64(30_000)), field(5, i64(1)), field(6, i32(mode)), field(7, i32(1))]);
const reply = (name: string, fields: ReturnType<typeof field>[], type: number = MessageType.REPLY): TMessage => ({ name, type, seqid: 5, body: struct(fields) });

function problemOf(message: TMessage, protocol: 'binary' | 'compact'): string | undefined {
  const reader = protocolByName(protocol).createReader(1 << 20);
  const bytes = encodeMessage(message, protocol);
  reader.reset(bytes, 0, bytes.length);
  return replyProblem(readReply(reader));
}

describe.each(['binary', 'compact'] as const)('the reply checker (%s)', (protocol) => {
  test('accepts well-formed replies, LockErrors and TApplicationExceptions', () => {
    expect(problemOf(reply('acquire', [field(0, struct([field(1, bool(true)), field(2, lease(3))]))]), protocol)).toBeUndefined();
    expect(problemOf(reply('ping', [field(0, str('pong'))]), protocol)).toBeUndefined();
    expect(problemOf(reply('release', [field(1, struct([field(1, i32(2)), field(2, str('not the holder'))]))]), protocol)).toBeUndefined();
    expect(problemOf(reply('getVersion', [field(1, str('unknown method')), field(2, i32(1))], MessageType.EXCEPTION), protocol)).toBeUndefined();
  });

  test.each([
    ['a REPLY to an unknown method', reply('getVersion', [field(0, bool(true))]), /unknown method/],
    ['acquired without a lease', reply('acquire', [field(0, struct([field(1, bool(true))]))]), /acquired = true but lease absent/],
    ['a lease without its fence', reply('renew', [field(0, struct([field(1, str('k')), field(2, str(TOKEN))]))]), /lacks required field 3 fence/],
    ['a result of the wrong type', reply('checkFence', [field(0, i32(1))]), /has type 8, expected bool/],
    ['an unknown LockMode', reply('renew', [field(0, lease(3, 7))]), /mode 7 is not a LockMode/],
    ['an unknown ErrorCode', reply('release', [field(1, struct([field(1, i32(99)), field(2, str('?'))]))]), /code 99 is not an ErrorCode/],
    ['both a result and an error', reply('release', [field(0, bool(true)), field(1, struct([field(1, i32(2)), field(2, str('x'))]))]), /exactly one/],
    ['a CALL instead of a reply', { ...calls.ping(1) }, /neither REPLY nor EXCEPTION/],
  ])('rejects %s', (_, message, expected) => {
    expect(problemOf(message, protocol)).toMatch(expected);
  });
});

test.each(STACKS)('the reply stream reports a cut-off reply and a broken frame ($protocol/$transport)', (stack) => {
  const problems: string[] = [];
  const replies: number[] = [];
  const stream = new ReplyStream(stack, { reply: (r) => replies.push(r.seqid), problem: (p) => problems.push(p) });
  const whole = encodeForStack(reply('ping', [field(0, str('pong'))]), stack);
  stream.push(Buffer.concat([whole, whole.subarray(0, whole.length - 2)]));
  expect(replies).toEqual([5]);
  stream.end();
  expect(problems).toEqual([expect.stringMatching(/connection ended inside a reply/)]);
  if (stack.transport === 'framed') {
    const zero = new ReplyStream(stack, { reply: () => undefined, problem: (p) => problems.push(p) });
    zero.push(Buffer.alloc(8));
    expect(problems[1]).toBe('frame length 0');
  }
});

test('colliding keys share one FNV-1a 32-bit hash; the random control keys do not', () => {
  const keys = collidingKeys('d6/', 4_096);
  expect(new Set(keys).size).toBe(4_096);
  expect(new Set(keys.map((k) => fnv1a(k))).size).toBe(1);
  const control = randomKeys('d6/', 4_096, keys[0].length);
  expect(control.every((k) => k.length === keys[0].length)).toBe(true);
  expect(new Set(control.map((k) => fnv1a(k))).size).toBeGreaterThan(4_000);
  // FNV-1a 32 of "a" is 0xe40c292c (the published test vector): the function is the real one.
  expect(fnv1a('a')).toBe(0xe40c292c);
});

