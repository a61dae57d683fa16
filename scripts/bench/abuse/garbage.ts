/**
 * Garbage on the Thrift port: random bytes, an HTTP request and a TLS ClientHello, each from many
 * connections. lockd must close each such connection promptly, answer nothing it cannot frame,
 * and log it without one line per connection.
 */
import { randomBytes } from 'node:crypto';
import { Attack, int, sleep, SocketSwarm } from './attack';

/** How long a wave waits for lockd to close its connections. */
const CLOSE_WAIT_MS = 5_000;

const HTTP_REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: abuse-bench\r\nAccept: */*\r\n\r\n');

/** A TLS 1.2 record carrying a ClientHello header and random contents: what a TLS client sends first. */
function tlsClientHello(): Buffer {
  const body = randomBytes(196);
  const handshake = Buffer.concat([Buffer.from([0x01, 0x00, 0x00, body.length + 2, 0x03, 0x03]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, handshake.length >> 8, handshake.length & 0xff]), handshake]);
}

function garbage(id: string, what: string, payload: () => Buffer): Attack {
  return {
    id: `garbage-${id}`,
    label: `garbage: ${what}`,
    async run(ctx) {
      const count = ctx.size(1_000, 20);
      const logBefore = ctx.lockd.logLines;
      const end = performance.now() + ctx.holdMs;
      let rounds = 0;
      let opened = 0;
      let closed = 0;
      let bytesBack = 0;
      // Waves of connections until the time bound: each sends its payload and waits to be closed.
      while (performance.now() < end) {
        const wave = new SocketSwarm();
        await wave.open(ctx.port, count, 200, (socket) => socket.write(payload()));
        const settleBy = performance.now() + CLOSE_WAIT_MS;
        while (wave.stillOpen > 0 && performance.now() < settleBy) await sleep(20);
        opened += wave.sockets.length;
        closed += wave.closedByLockd;
        bytesBack += wave.bytesReceived;
        wave.release();
        rounds++;
      }
      return `${int(opened)} connections in ${rounds} waves; lockd closed ${int(closed)} within ${CLOSE_WAIT_MS / 1000} s, sent back ${int(bytesBack)} bytes; ${int(ctx.lockd.logLines - logBefore)} log lines`;
    },
  };
}

export const garbageInput: Attack[] = [
  garbage('random', 'random bytes (4 KiB per connection)', () => randomBytes(4096)),
  garbage('http', 'HTTP GET request', () => HTTP_REQUEST),
  garbage('tls', 'TLS ClientHello', tlsClientHello),
];
