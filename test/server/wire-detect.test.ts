/**
 * One port, any stack: lockd tells each connection's transport and protocol from its first
 * bytes, and answers HTTP or TLS sent to its Thrift port with a clear refusal.
 */
import net from 'node:net';
import { detectWire } from '../../src/server/wire-detect';
import { connectStub, startInProcess, stopAll } from '../helpers/in-process-lockd';
import { startLockd } from '../helpers/lockd-process';

afterAll(stopAll);

describe('detectWire', () => {
  test.each([
    ['buffered binary (strict)', [0x80, 0x01, 0x00, 0x01, 0x00], { kind: 'thrift', transport: 'buffered', protocol: 'binary' }],
    ['buffered compact', [0x82, 0x21], { kind: 'thrift', transport: 'buffered', protocol: 'compact' }],
    ['framed binary', [0x00, 0x00, 0x00, 0x20, 0x80, 0x01], { kind: 'thrift', transport: 'framed', protocol: 'binary' }],
    ['framed compact', [0x00, 0x00, 0x00, 0x20, 0x82, 0x21], { kind: 'thrift', transport: 'framed', protocol: 'compact' }],
    ['framed non-strict binary', [0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x04], { kind: 'thrift', transport: 'framed', protocol: 'binary' }],
    ['buffered non-strict binary', [0x00, 0x00, 0x00, 0x04, 0x70, 0x69, 0x6e, 0x67], { kind: 'thrift', transport: 'buffered', protocol: 'binary' }],
    ['HTTP', [...Buffer.from('POST /lock HTTP/1.1\r\n')], { kind: 'http' }],
    ['TLS ClientHello', [0x16, 0x03, 0x01, 0x02, 0x00], { kind: 'tls' }],
    ['garbage', [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48], { kind: 'unknown' }],
  ])('%s', (_name, bytes, expected) => {
    expect(detectWire(Buffer.from(bytes))).toEqual(expected);
  });

  test('waits for more bytes when the first ones cannot decide', () => {
    expect(detectWire(Buffer.alloc(0))).toBeUndefined();
    expect(detectWire(Buffer.from([0x00, 0x00, 0x00]))).toBeUndefined();
    expect(detectWire(Buffer.from('POS'))).toBeUndefined();
    expect(detectWire(Buffer.from([0x16]))).toBeUndefined();
  });
});

describe('a default lockd', () => {
  test.each([
    ['buffered', 'binary'],
    ['buffered', 'compact'],
    ['framed', 'binary'],
    ['framed', 'compact'],
  ] as const)('serves a %s + %s client without flags', async (transport, protocol) => {
    const lockd = await startInProcess();
    const stub = await connectStub(lockd.port, { transport, protocol });
    expect(await stub.ping()).toBe('pong');
    const { reply } = stub.acquire({ lockKey: `k-${transport}-${protocol}` });
    const result = await reply;
    expect(result.acquired).toBe(true);
    expect(await stub.release(`k-${transport}-${protocol}`, result.lease!.token)).toBe(true);
  });

  test('answers an HTTP request with 400 naming the right port, and logs it once', async () => {
    const lockd = await startLockd();
    const answer = await rawExchange(lockd.port, Buffer.from('POST /lock?lock_key=a HTTP/1.1\r\nhost: x\r\n\r\n'));
    expect(answer.toString()).toMatch(/^HTTP\/1.1 400 Bad Request[\s\S]*this is lockd's Thrift port; start lockd with --http-port/);
    await lockd.waitForOutput(/warn closing connection: this is lockd's Thrift port/);
    // A second one within the interval is counted, not logged again.
    await rawExchange(lockd.port, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await expect(lockd.waitForOutput(/(closing connection: this is lockd's Thrift port[\s\S]*){2}/, 300)).rejects.toThrow(/timed out/);
  });

  test('closes a TLS handshake with a log line saying what to do', async () => {
    const lockd = await startLockd();
    const answer = await rawExchange(lockd.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]));
    expect(answer.length).toBe(0);
    await lockd.waitForOutput(/a TLS handshake reached a plain-text Thrift port/);
  });
});

/** Sends bytes and collects everything until the server closes. */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => reject(new Error('the server did not close the connection')));
  });
}
