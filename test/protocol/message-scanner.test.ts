/**
 * The scanner that finds a message's end as its bytes trickle in (D4: no re-parse from the
 * start on every read), against messages the npm Thrift runtime writes, in both protocols.
 */
import { ProtocolError } from '../../src/errors';
import { binaryProtocol } from '../../src/protocol/binary';
import { compactProtocol } from '../../src/protocol/compact';
import { readCall } from '../../src/protocol/lock-service/server';
import { MessageStream } from '../../src/protocol/message-stream';
import { MessageType, ProtocolFactory, TType } from '../../src/protocol/types';
import { field, list, map, runtimeWrite, runtimeWriteValue, struct, thrift, Value } from './thrift-runtime';

const everyType: Value = struct(
  field(1, TType.BOOL, true),
  field(2, TType.BYTE, -3),
  field(3, TType.I16, 300),
  field(4, TType.I32, -70_000),
  field(5, TType.I64, 2 ** 40 + 7),
  field(6, TType.DOUBLE, 1.5),
  field(7, TType.STRING, 'ключ'.repeat(40)),
  field(40, TType.BOOL, false), // a long-form field id in compact
  field(8, TType.STRUCT, struct(field(1, TType.LIST, list(TType.STRUCT, [struct(field(1, TType.I32, 1)), struct()])))),
  field(9, TType.LIST, list(TType.BOOL, [true, false, true])),
  field(10, TType.LIST, list(TType.I64, Array.from({ length: 20 }, (_, i) => i * 1_000_003))),
  field(11, TType.MAP, map(TType.STRING, TType.LIST, [['a', list(TType.I32, [1, 2])], ['b', list(TType.I32, [])]])),
  field(12, TType.MAP, map(TType.I32, TType.I32, [])),
  field(13, TType.LIST, list(TType.STRING, [])),
);

function message(Protocol: unknown, seqid: number, body: Value = everyType): Buffer {
  return runtimeWrite(Protocol as never, (p) => {
    p.writeMessageBegin('someMethod', MessageType.CALL, seqid);
    runtimeWriteValue(p, TType.STRUCT, body);
    p.writeMessageEnd();
  });
}

const protocols: Array<[string, ProtocolFactory, unknown]> = [
  ['binary', binaryProtocol, thrift.TBinaryProtocol],
  ['compact', compactProtocol, thrift.TCompactProtocol],
];

describe.each(protocols)('%s', (_name, protocol, Runtime) => {
  test('fed one byte at a time, the scanner finds the end exactly at the last byte', () => {
    const bytes = message(Runtime, 1);
    const scanner = protocol.createScanner(1 << 20);
    for (let end = 0; end < bytes.length; end++) expect(scanner.scan(bytes, end)).toBe(-1);
    expect(scanner.scan(bytes, bytes.length)).toBe(bytes.length);
  });

  test('with a second message behind the first, the scanner stops at the first one’s end', () => {
    const first = message(Runtime, 1);
    const both = Buffer.concat([first, message(Runtime, 2)]);
    const scanner = protocol.createScanner(1 << 20);
    expect(scanner.scan(both, both.length)).toBe(first.length);
  });

  test('a stream fed in small pieces decodes every message once, and never re-parses a partial one', () => {
    const key = 'x'.repeat(200_000);
    const call = runtimeWrite(Runtime as never, (p) => {
      p.writeMessageBegin('inspect', MessageType.CALL, 9);
      runtimeWriteValue(p, TType.STRUCT, struct(field(1, TType.STRING, key)));
      p.writeMessageEnd();
    });
    const bytes = Buffer.concat([call, call]);
    const stream = new MessageStream(protocol, 'buffered', 1 << 20);
    let handlerCalls = 0;
    const keys: string[] = [];
    for (let at = 0; at < bytes.length; at += 1_000) {
      stream.push(bytes.subarray(at, at + 1_000), (reader) => {
        handlerCalls++;
        const decoded = readCall(reader);
        if (decoded.method === 'inspect') keys.push(decoded.lockKey ?? '');
      });
    }
    expect(keys).toEqual([key, key]);
    expect(stream.pendingBytes).toBe(0);
    // Each message: one attempt on its first piece (which runs short) and one decode when whole,
    // where re-parsing on every read would make ~200 calls per message.
    expect(handlerCalls).toBeLessThanOrEqual(4);
  });

  test('a declared string longer than the maximum is refused before its bytes arrive', () => {
    const bytes = message(Runtime, 1, struct(field(1, TType.STRING, 'y'.repeat(5_000))));
    const scanner = protocol.createScanner(1_000);
    expect(() => scanner.scan(bytes, bytes.length)).toThrow(ProtocolError);
  });

  test('nesting deeper than 64 is refused', () => {
    let value: Value = struct();
    for (let i = 0; i < 70; i++) value = struct(field(1, TType.STRUCT, value));
    const bytes = message(Runtime, 1, value);
    expect(() => protocol.createScanner(1 << 20).scan(bytes, bytes.length)).toThrow(/nested deeper than 64/);
  });
});
