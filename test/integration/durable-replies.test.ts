/**
 * With a durable store, replies on one connection keep their order: a call that changed nothing
 * (ping) pipelined behind an acquire, whose reply waits for the disk, is answered after it.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { binaryProtocol } from '../../src/protocol/binary';
import * as codec from '../../src/protocol/lock-service';
import { MessageStream } from '../../src/protocol/message-stream';
import { OutputBuffer } from '../../src/util/output-buffer';
import { TType } from '../../src/protocol/types';
import { startLockd } from '../helpers/lockd-process';

/** Sends `calls` in one write and resolves with the replies' (method, seqid) in arrival order. */
function pipeline(port: number, calls: Buffer, replies: number): Promise<Array<{ name: string; seqid: number }>> {
  return new Promise((resolve, reject) => {
    const seen: Array<{ name: string; seqid: number }> = [];
    const stream = new MessageStream(binaryProtocol, 'buffered', 1 << 20);
    const socket = net.connect(port, '127.0.0.1', () => socket.write(calls));
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`only ${seen.length} of ${replies} replies arrived`))), 10_000);
    socket.on('data', (chunk) =>
      stream.push(chunk, (reader) => {
        const head = codec.readReplyHeader(reader);
        reader.skip(TType.STRUCT);
        seen.push({ name: head.name, seqid: head.seqid });
        if (seen.length === replies) {
          clearTimeout(timer);
          socket.destroy();
          resolve(seen);
        }
      }),
    );
    socket.on('error', reject);
  });
}

test('a ping pipelined behind a durable acquire is answered after it, on every one of 50 connections', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-order-'));
  const lockd = await startLockd(['--data-dir', dir, '--fsync', 'batch']);
  try {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const out = new OutputBuffer(256);
        const w = binaryProtocol.createWriter(out);
        codec.writeRequestCall(w, 'acquire', 1, { lockKey: `order/${i}`, ttlMs: 10_000 });
        codec.writeArgsCall(w, 'ping', 2, []);
        return pipeline(lockd.port, out.take(), 2);
      }),
    );
    for (const replies of results) expect(replies).toEqual([{ name: 'acquire', seqid: 1 }, { name: 'ping', seqid: 2 }]);
  } finally {
    await lockd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
