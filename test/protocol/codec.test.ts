/** Both protocols: round trips of every value kind, and malformed input at every byte. */
import { ProtocolError } from '../../src/errors';
import { binaryProtocol } from '../../src/protocol/binary';
import { compactProtocol } from '../../src/protocol/compact';
import * as codec from '../../src/protocol/lock-service';
import { MessageStream } from '../../src/protocol/message-stream';
import { OutputBuffer } from '../../src/util/output-buffer';
import { MessageHeader, MessageType, ProtocolFactory, TType, Underrun } from '../../src/protocol/types';

const protocols: Array<[string, ProtocolFactory]> = [
  ['binary', binaryProtocol],
  ['compact', compactProtocol],
];

function encode(protocol: ProtocolFactory, write: (w: ReturnType<ProtocolFactory['createWriter']>) => void): Buffer {
  const out = new OutputBuffer(16);
  write(protocol.createWriter(out));
  return out.take();
}

describe.each(protocols)('%s protocol', (_name, protocol) => {
  const values = [0, 1, -1, 127, -128, 2 ** 31 - 1, -(2 ** 31), 2 ** 52, -(2 ** 52), Number.MAX_SAFE_INTEGER - 1, 1_700_000_000_123];

  test('i64, i32, strings, bools, doubles and field ids round-trip', () => {
    const bytes = encode(protocol, (w) => {
      w.writeMessageBegin('méthode', MessageType.CALL, 2 ** 31 - 1);
      w.writeStructBegin();
      values.forEach((v, i) => {
        w.writeFieldBegin(TType.I64, i + 101);
        w.writeI64(v);
      });
      w.writeFieldBegin(TType.I32, 40);
      w.writeI32(-123456);
      w.writeFieldBegin(TType.BOOL, 3);
      w.writeBool(true);
      w.writeFieldBegin(TType.BOOL, 300);
      w.writeBool(false);
      w.writeFieldBegin(TType.STRING, -5);
      w.writeString('ключ ✓ '.repeat(40));
      w.writeFieldBegin(TType.DOUBLE, 7);
      w.writeDouble(-0.125);
      w.writeFieldBegin(TType.LIST, 8);
      w.writeListBegin(TType.BOOL, 20);
      for (let i = 0; i < 20; i++) w.writeBool(i % 3 === 0);
      w.writeFieldStop();
      w.writeStructEnd();
    });
    const r = protocol.createReader(1 << 20);
    r.reset(bytes, 0, bytes.length);
    const header: MessageHeader = { name: '', type: 0, seqid: 0 };
    r.readMessageBegin(header);
    expect(header).toEqual({ name: 'méthode', type: MessageType.CALL, seqid: 2 ** 31 - 1 });
    r.readStructBegin();
    const read: Record<number, unknown> = {};
    for (;;) {
      const type = r.readFieldBegin();
      if (type === TType.STOP) break;
      if (type === TType.I64) read[r.fieldId] = r.readI64();
      else if (type === TType.I32) read[r.fieldId] = r.readI32();
      else if (type === TType.BOOL) read[r.fieldId] = r.readBool();
      else if (type === TType.STRING) read[r.fieldId] = r.readString();
      else if (type === TType.DOUBLE) read[r.fieldId] = r.readDouble();
      else if (type === TType.LIST) {
        expect(r.readListBegin()).toBe(TType.BOOL);
        const list = [];
        for (let i = r.containerSize; i > 0; i--) list.push(r.readBool());
        read[r.fieldId] = list;
      }
    }
    values.forEach((v, i) => expect(read[i + 101]).toBe(v));
    expect(read[40]).toBe(-123456);
    expect(read[3]).toBe(true);
    expect(read[300]).toBe(false);
    expect(read[-5]).toBe('ключ ✓ '.repeat(40));
    expect(read[7]).toBe(-0.125);
    expect(read[8]).toEqual(Array.from({ length: 20 }, (_, i) => i % 3 === 0));
    expect(r.offset).toBe(bytes.length);
  });

  test('a call cut short at any byte is an Underrun, never a wrong value', () => {
    const bytes = encode(protocol, (w) =>
      codec.writeRequestCall(w, 'acquire', 9, { lockKey: 'k/1', owner: 'o', ttlMs: 30_000, waitMs: -1, mode: 2, token: 'a'.repeat(32), ephemeral: true }),
    );
    const r = protocol.createReader(1 << 20);
    for (let end = 0; end < bytes.length; end++) {
      r.reset(bytes, 0, end);
      let thrown: unknown;
      try {
        codec.readCall(r);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBe(Underrun.instance);
    }
    r.reset(bytes, 0, bytes.length);
    expect(codec.readCall(r)).toEqual({
      method: 'acquire',
      seqid: 9,
      request: { lockKey: 'k/1', keyValid: true, owner: 'o', ttlMs: 30_000, waitMs: -1, mode: 2, token: 'a'.repeat(32), ephemeral: true },
    });
  });

  test('a declared length above the limit is a ProtocolError before its bytes arrive', () => {
    const bytes = encode(protocol, (w) => {
      w.writeMessageBegin('inspect', MessageType.CALL, 1);
      w.writeStructBegin();
      w.writeFieldBegin(TType.STRING, 1);
      w.writeString('x'.repeat(300));
    });
    const r = protocol.createReader(100);
    r.reset(bytes, 0, bytes.length - 290);
    expect(() => codec.readCall(r)).toThrow(ProtocolError);
  });

  test('invalid UTF-8 in a key is flagged', () => {
    const bytes = encode(protocol, (w) => codec.writeArgsCall(w, 'inspect', 1, [[1, TType.STRING, 'ab']]));
    const at = bytes.indexOf(Buffer.from('ab'));
    bytes[at] = 0xff;
    const r = protocol.createReader(1 << 20);
    r.reset(bytes, 0, bytes.length);
    expect(codec.readCall(r)).toMatchObject({ method: 'inspect', keyValid: false });
  });

  test('replies decode to what was encoded', () => {
    const lease = { key: 'k', token: 'f'.repeat(32), fence: 2 ** 40, ttlMs: 5_000, expiresAtMs: 1_800_000_000_000, mode: 1 as const, holdCount: 3, owner: 'me' };
    const bytes = encode(protocol, (w) => {
      codec.writeAcquireReply(w, 1, lease);
      codec.writeLockInfoListReply(w, 2, [{ key: 'k', holders: [{ owner: undefined, mode: 2, fence: 5, expiresAtMs: 9, holdCount: 1 }], waiters: 4 }]);
      codec.writeLockErrorReply(w, 'renew', 3, 2, 'no');
      codec.writeApplicationException(w, 'nope', 4, 1, 'unknown method');
    });
    const stream = new MessageStream(protocol, 'buffered', 1 << 20);
    const replies: codec.ServiceReply[] = [];
    stream.push(bytes, (r) => {
      const head = codec.readReplyHeader(r);
      replies.push(codec.readReplyBody(r, head, codec.RESULT_KIND[head.name as codec.MethodName] ?? 'bool'));
    });
    expect(replies).toEqual([
      { kind: 'ok', seqid: 1, value: { acquired: true, lease: { lockKey: 'k', token: 'f'.repeat(32), fence: 2 ** 40, ttlMs: 5_000, expiresAtMs: 1_800_000_000_000, mode: 1, holdCount: 3 } } },
      { kind: 'ok', seqid: 2, value: [{ lockKey: 'k', holders: [{ owner: undefined, mode: 2, fence: 5, expiresAtMs: 9, holdCount: 1 }], waiters: 4 }] },
      { kind: 'lockError', seqid: 3, code: 2, message: 'no' },
      { kind: 'applicationError', seqid: 4, type: 1, message: 'unknown method' },
    ]);
  });
});

test('the message stream reassembles messages split across chunks, for both transports', () => {
  for (const transport of ['buffered', 'framed'] as const) {
    const out = new OutputBuffer();
    const w = binaryProtocol.createWriter(out);
    for (let i = 0; i < 3; i++) {
      const frame = transport === 'framed' ? out.beginFrame() : -1;
      codec.writeArgsCall(w, 'inspect', i, [[1, TType.STRING, `key-${i}`]]);
      if (frame >= 0) out.endFrame(frame);
    }
    const bytes = out.take();
    const stream = new MessageStream(binaryProtocol, transport, 1 << 20);
    const seen: unknown[] = [];
    for (let i = 0; i < bytes.length; i += 5) stream.push(bytes.subarray(i, i + 5), (r) => {
      seen.push(codec.readCall(r));
    });
    expect(seen).toEqual([0, 1, 2].map((i) => ({ method: 'inspect', seqid: i, lockKey: `key-${i}`, keyValid: true })));
    expect(stream.pendingBytes).toBe(0);
  }
});
