/**
 * The outbox's rules, without a socket: when each kind of reply may leave, the UNAVAILABLE
 * rewrite and rollback on a failed sync, and the byte budget.
 */
import { writeBoolReply, writeStringReply } from '../../src/protocol/lock-service/server';
import { binaryProtocol } from '../../src/protocol/binary';
import { Outbox, OutboxEvents, ReplySocket } from '../../src/server/outbox';
import { BinaryReader } from '../../src/protocol/binary';
import { readReplyBody, readReplyHeader } from '../../src/protocol/lock-service/client';

/** A socket stand-in that records writes; `unread` bytes model what the client has not taken. */
class RecordingSocket implements ReplySocket {
  writes: Buffer[] = [];
  writableLength = 0;
  private drainListeners: Array<() => void> = [];
  write(bytes: Buffer): boolean {
    this.writes.push(bytes);
    this.writableLength += bytes.length;
    return true;
  }
  once(_event: 'drain', listener: () => void): unknown {
    this.drainListeners.push(listener);
    return this;
  }
  /** The client read everything. */
  drain(): void {
    this.writableLength = 0;
    for (const listener of this.drainListeners.splice(0)) listener();
  }
}

class RecordingEvents implements OutboxEvents {
  log: string[] = [];
  overBudget(): void {
    this.log.push('over');
  }
  underBudget(): void {
    this.log.push('under');
  }
  rollBack(key: string, token: string): void {
    this.log.push(`rollBack ${key} ${token}`);
  }
  syncFailed(replies: number): void {
    this.log.push(`syncFailed ${replies}`);
  }
}

/** Decodes every reply in the written bytes as [method, seqid, kind, value-or-code]. */
function decodeReplies(bytes: Buffer): Array<[string, number, string, unknown]> {
  const reader = new BinaryReader(1 << 20);
  reader.reset(bytes, 0, bytes.length);
  const out: Array<[string, number, string, unknown]> = [];
  while (reader.offset < bytes.length) {
    const head = readReplyHeader(reader);
    const kind = head.name === 'ping' ? 'string' : 'bool';
    const body = readReplyBody(reader, head, kind);
    out.push([head.name, head.seqid, body.kind, body.kind === 'ok' ? body.value : body.kind === 'lockError' ? body.code : body.message]);
  }
  return out;
}

function setup(durable: boolean, budget = 1 << 20) {
  const socket = new RecordingSocket();
  const events = new RecordingEvents();
  const outbox = new Outbox(socket, events, binaryProtocol, false, durable, budget);
  const reply = (timing: 'durable' | 'ordered' | 'early', method: string, seqid: number, lease?: { key: string; token: string }) => {
    const w = outbox.begin(timing);
    if (method === 'ping') writeStringReply(w, 'ping', seqid, 'pong');
    else writeBoolReply(w, method, seqid, true);
    if (timing === 'durable') outbox.endDurable(method, seqid, lease);
    else outbox.end();
  };
  const written = () => decodeReplies(Buffer.concat(socket.writes));
  return { socket, events, outbox, reply, written };
}

test('without a durable store every reply leaves at the flush, in order', () => {
  const { outbox, reply, written } = setup(false);
  reply('durable', 'acquireLock', 1);
  reply('ordered', 'ping', 2);
  expect(outbox.flush()).toBeUndefined();
  expect(written().map(([m, s]) => [m, s])).toEqual([['acquireLock', 1], ['ping', 2]]);
});

test('a durable reply waits for the sync, and a later ordered reply waits behind it; releases go at once', () => {
  const { outbox, reply, written } = setup(true);
  reply('durable', 'acquireLock', 1, { key: 'k', token: 't' });
  reply('ordered', 'ping', 2);
  reply('early', 'release', 3);
  const batch = outbox.flush();
  expect(batch).toBeDefined();
  expect(written().map(([m, s]) => [m, s])).toEqual([['release', 3]]);
  // A read after the batch still waits: it must not overtake the grant.
  reply('ordered', 'ping', 4);
  const second = outbox.flush();
  expect(second).toBeDefined();
  outbox.deliver(batch!, null);
  outbox.deliver(second!, null);
  expect(written().map(([m, s]) => [m, s])).toEqual([['release', 3], ['acquireLock', 1], ['ping', 2], ['ping', 4]]);
  // Nothing waits any more: a read leaves at the flush.
  reply('ordered', 'ping', 5);
  expect(outbox.flush()).toBeUndefined();
  expect(written().at(-1)?.slice(0, 2)).toEqual(['ping', 5]);
});

test('a failed sync turns durable replies into UNAVAILABLE and rolls their grants back; other replies stay', () => {
  const { outbox, events, reply, written } = setup(true);
  reply('durable', 'acquireLock', 1, { key: 'a', token: 'ta' });
  reply('ordered', 'ping', 2);
  reply('durable', 'renew', 3);
  const batch = outbox.flush()!;
  outbox.deliver(batch, new Error('ENOSPC: no space left on device'));
  expect(written()).toEqual([
    ['acquireLock', 1, 'lockError', 6],
    ['ping', 2, 'ok', 'pong'],
    ['renew', 3, 'lockError', 6],
  ]);
  expect(events.log).toEqual(['rollBack a ta', 'syncFailed 2']);
});

test('a refusal before a reply was begun keeps the replies encoded before it', () => {
  const { outbox, reply, written } = setup(false);
  reply('ordered', 'ping', 1);
  outbox.discard(); // a handler threw before it began its reply
  reply('ordered', 'ping', 2);
  outbox.flush();
  expect(written().map(([m, s]) => [m, s])).toEqual([['ping', 1], ['ping', 2]]);
});

test('a reply discarded half-way leaves no bytes behind', () => {
  const { outbox, reply, written } = setup(false);
  reply('ordered', 'ping', 1);
  outbox.begin('ordered').writeMessageBegin('ping', 2, 2);
  outbox.discard();
  outbox.flush();
  expect(written().map(([m, s]) => [m, s])).toEqual([['ping', 1]]);
});

test('over its byte budget the outbox asks to stop reading, and to read again once the client took its replies', () => {
  const { outbox, events, socket, reply } = setup(false, 200);
  for (let i = 0; i < 20; i++) reply('ordered', 'ping', i);
  expect(outbox.isOverBudget).toBe(true);
  outbox.flush();
  expect(events.log).toEqual(['over']);
  expect(outbox.bufferedBytes).toBe(socket.writableLength);
  socket.drain();
  expect(events.log).toEqual(['over', 'under']);
  expect(outbox.isOverBudget).toBe(false);
});
