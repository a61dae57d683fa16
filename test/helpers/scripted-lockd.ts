/**
 * A scripted LockService on a real loopback socket (buffered binary): each call is answered by
 * `answer`, which writes a reply with the codec or returns 'silent' to never answer. It lets the
 * client tests reach replies lockd itself does not produce (UNAUTHENTICATED, an unknown error
 * code, a TApplicationException, silence). Every server and socket is closed by stopScripted().
 */
import net from 'node:net';
import { binaryProtocol } from '../../src/protocol/binary';
import { readCall, ServiceCall } from '../../src/protocol/lock-service';
import { MessageStream } from '../../src/protocol/message-stream';
import { OutputBuffer } from '../../src/util/output-buffer';
import type { ProtocolWriter } from '../../src/protocol/types';

export type Answer = (call: ServiceCall, writer: ProtocolWriter) => void | 'silent';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/** Listens on 127.0.0.1 and any free port; resolves to the port. */
export async function startScripted(answer: Answer): Promise<number> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const out = new OutputBuffer(4096);
    const writer = binaryProtocol.createWriter(out);
    const stream = new MessageStream(binaryProtocol, 'buffered', 1 << 20);
    socket.on('data', (chunk: Buffer) => {
      stream.push(chunk, (reader) => {
        answer(readCall(reader), writer);
      });
      if (out.pos > 0) socket.write(out.take());
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** Closes every scripted server and its connections. */
export async function stopScripted(): Promise<void> {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
}
