/**
 * Hostile and malformed input: each closes only the offending connection (or gets a standard
 * error), never disturbs another client's state, never crashes the server.
 */
import net from 'node:net';
import { BinaryWriter } from '../../src/protocol/binary';
import { OutputBuffer } from '../../src/util/output-buffer';
import { MessageType, TType } from '../../src/protocol/types';
import { InProcessLockd, startInProcess, stopAll } from '../helpers/in-process-lockd';

afterEach(stopAll);

/**
 * Opens a raw socket, sends `bytes`, and resolves with what came back once the server closes it,
 * once `answered` holds for the bytes received, or after 3 s (then closedByServer is false).
 */
function sendRaw(
  port: number,
  bytes: Buffer,
  { end = false, answered = (() => false) as (received: Buffer) => boolean } = {},
): Promise<{ closedByServer: boolean; received: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.removeAllListeners('close');
      socket.destroy();
      resolve({ closedByServer: false, received: Buffer.concat(chunks) });
    };
    const timer = setTimeout(finish, 3_000);
    socket.on('connect', () => (end ? socket.end(bytes) : socket.write(bytes)));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (answered(Buffer.concat(chunks))) finish();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedByServer: true, received: Buffer.concat(chunks) });
    });
  });
}

/** Encodes a call with the project's binary writer; `body` writes the args struct's fields. */
function message(name: string, body: (w: BinaryWriter) => void, framed = false): Buffer {
  const out = new OutputBuffer();
  const w = new BinaryWriter(out);
  const frame = framed ? out.beginFrame() : -1;
  w.writeMessageBegin(name, MessageType.CALL, 7);
  body(w);
  w.writeFieldStop();
  if (frame >= 0) out.endFrame(frame);
  return out.take();
}

async function expectOthersUnaffected(lockd: InProcessLockd, token: string): Promise<void> {
  const other = await lockd.connect();
  expect(await other.ping()).toBe('pong');
  expect((await other.inspect('precious')).holders).toHaveLength(1);
  expect(await other.release('precious', token)).toBe(true);
}

describe('malformed input closes that one connection', () => {
  let lockd: InProcessLockd;
  let token: string;
  beforeEach(async () => {
    lockd = await startInProcess({ maxMessageBytes: 4096 });
    token = (await (await lockd.connect()).acquire({ lockKey: 'precious' }).reply).lease!.token;
  });

  test('an HTTP request instead of Thrift', async () => {
    const result = await sendRaw(lockd.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(result.closedByServer).toBe(true);
    await expectOthersUnaffected(lockd, token);
  });

  test('random bytes', async () => {
    const noise = Buffer.alloc(512);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 151 + 17) & 0xff;
    noise.writeUInt32BE(0x80010001, 0);
    expect((await sendRaw(lockd.port, noise)).closedByServer).toBe(true);
    await expectOthersUnaffected(lockd, token);
  });

  test('a declared string length beyond the limit closes at once, without waiting for the bytes', async () => {
    const header = message('acquire', (w) => {
      w.writeFieldBegin(TType.STRUCT, 1);
      w.writeFieldBegin(TType.STRING, 1);
      w.writeI32(50_000_000);
    });
    const result = await sendRaw(lockd.port, header.subarray(0, header.length - 1));
    expect(result.closedByServer).toBe(true);
    await expectOthersUnaffected(lockd, token);
  });

  test('a message larger than --max-message-size', async () => {
    const big = message('acquire', (w) => {
      w.writeFieldBegin(TType.STRUCT, 1);
      w.writeFieldBegin(TType.STRING, 1);
      w.writeString('k');
      w.writeFieldBegin(TType.STRING, 2);
      w.writeString('o'.repeat(3_000));
      w.writeFieldBegin(TType.STRING, 99);
      w.writeString('x'.repeat(3_000));
      w.writeFieldStop();
    });
    expect((await sendRaw(lockd.port, big)).closedByServer).toBe(true);
    await expectOthersUnaffected(lockd, token);
  });

  test('a huge list declared in an unknown field', async () => {
    const bytes = message('inspect', (w) => {
      w.writeFieldBegin(TType.LIST, 9);
      w.writeListBegin(TType.I64, 1_000_000_000);
    });
    expect((await sendRaw(lockd.port, bytes)).closedByServer).toBe(true);
    await expectOthersUnaffected(lockd, token);
  });

  test('structs nested deeper than the skip limit', async () => {
    const bytes = message('ping', (w) => {
      for (let depth = 0; depth < 100; depth++) w.writeFieldBegin(TType.STRUCT, 1);
    });
    expect((await sendRaw(lockd.port, bytes)).closedByServer).toBe(true);
    await expectOthersUnaffected(lockd, token);
  });

  test('a truncated message followed by the client closing', async () => {
    const bytes = message('acquire', (w) => {
      w.writeFieldBegin(TType.STRUCT, 1);
      w.writeFieldBegin(TType.STRING, 1);
      w.writeString('precious');
    });
    await sendRaw(lockd.port, bytes.subarray(0, bytes.length - 3), { end: true });
    await expectOthersUnaffected(lockd, token);
  });
});

test('an oversize frame closes a framed connection at once', async () => {
  const lockd = await startInProcess({ transport: 'framed', maxMessageBytes: 1024 });
  const frame = Buffer.alloc(8);
  frame.writeInt32BE(10_000_000, 0);
  expect((await sendRaw(lockd.port, frame)).closedByServer).toBe(true);
  const ok = await lockd.connect();
  expect(await ok.ping()).toBe('pong');
});

test('an unknown method gets TApplicationException UNKNOWN_METHOD and the connection stays usable', async () => {
  const lockd = await startInProcess();
  const socket = net.connect(lockd.port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (chunk) => received.push(chunk));
  await new Promise((resolve) => socket.once('connect', resolve));
  const unknown = message('launchMissiles', (w) => {
    w.writeFieldBegin(TType.STRING, 1);
    w.writeString('now');
  });
  const ping = message('ping', () => {});
  socket.write(Buffer.concat([unknown, ping]));
  const deadline = Date.now() + 5_000;
  while (!Buffer.concat(received).includes('pong') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  socket.destroy();
  const bytes = Buffer.concat(received);
  // First reply: strict header with type EXCEPTION, the method name, then the exception struct.
  expect(bytes.readInt32BE(0)).toBe(0x80010000 | MessageType.EXCEPTION);
  expect(bytes.toString('utf8', 8, 8 + 'launchMissiles'.length)).toBe('launchMissiles');
  expect(bytes.includes('unknown method')).toBe(true);
  const typeField = bytes.indexOf(Buffer.from([TType.I32, 0, 2]));
  expect(bytes.readInt32BE(typeField + 3)).toBe(1); // UNKNOWN_METHOD
  expect(bytes.includes('pong')).toBe(true);
});

test('a key that is not valid UTF-8 is INVALID_ARGUMENT', async () => {
  const lockd = await startInProcess();
  const call = message('inspect', (w) => {
    w.writeFieldBegin(TType.STRING, 1);
    w.writeI32(2);
    w.writeByte(0xc3);
    w.writeByte(0x28);
  });
  const result = await sendRaw(lockd.port, call, { answered: (bytes) => bytes.includes('UTF-8') });
  expect(result.received.includes('lockKey is not valid UTF-8')).toBe(true);
  expect(result.closedByServer).toBe(false);
});
