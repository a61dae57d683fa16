/**
 * D3, input lockd must buffer: many connections each holding a nearly complete 1 MiB message
 * (past --total-buffer-limit lockd must close the largest holders), thousands of slowloris
 * connections trickling one byte a second, and a connection flood past --max-connections.
 */
import { DEFAULT_SERVER_OPTIONS } from '../../../src/options';
import { calls } from '../../fuzz/lock-service';
import { encodeForStack, field, str, TMessage } from '../../fuzz/thrift-tree';
import { Attack, int, sleep, SocketSwarm } from './attack';
import { DEFAULT_STACK } from './raw-client';

const MIB = 1024 * 1024;

/** A ping whose skipped argument makes the message exactly `totalBytes` long (binary, buffered). */
export function paddedPing(totalBytes: number, seqid = 1): Buffer {
  const message = (padding: number): TMessage => ({ ...calls.ping(seqid), body: { kind: 'struct', fields: [field(1, str(Buffer.alloc(padding, 0x61)))] } });
  const overhead = encodeForStack(message(0), DEFAULT_STACK).length;
  const bytes = encodeForStack(message(totalBytes - overhead), DEFAULT_STACK);
  if (bytes.length !== totalBytes) throw new Error(`padded ping is ${bytes.length} bytes, wanted ${totalBytes}`);
  return bytes;
}

function incompleteMessages(connections: number): Attack {
  return {
    id: `D3-big-${connections}`,
    label: `D3 ${int(connections)} connections × 1 MiB message minus its last byte`,
    async run(ctx) {
      const count = ctx.size(connections, 10);
      const partial = paddedPing(MIB).subarray(0, MIB - 1);
      const swarm = new SocketSwarm();
      await swarm.open(ctx.port, count, 100, (socket) => socket.write(partial));
      await sleep(ctx.holdMs);
      const note = `${int(count)} opened; lockd closed ${int(swarm.closedByLockd)} (--total-buffer-limit ${DEFAULT_SERVER_OPTIONS.totalBufferBytes / 1024 / 1024} MiB)`;
      swarm.release();
      return note;
    },
  };
}

const slowloris: Attack = {
  id: 'D3-slowloris',
  label: 'D3 3,000 slowloris connections, 1 byte/s',
  async run(ctx) {
    const count = ctx.size(3_000, 30);
    const message = encodeForStack(calls.ping(1), DEFAULT_STACK);
    const swarm = new SocketSwarm();
    await swarm.open(ctx.port, count, 200);
    let sent = 0;
    const ticker = setInterval(() => {
      if (sent >= message.length - 1) return; // never complete the message
      for (const socket of swarm.sockets) if (!socket.destroyed) socket.write(message.subarray(sent, sent + 1));
      sent++;
    }, 1_000);
    await sleep(ctx.holdMs);
    clearInterval(ticker);
    const note = `${int(swarm.sockets.length)} open, ${sent} bytes each; lockd closed ${int(swarm.closedByLockd)} (--read-timeout 30 s is longer than the attack)`;
    swarm.release();
    return note;
  },
};

const FLOOD_LIMIT = 1_000;

const connectionFlood: Attack = {
  id: 'D3-flood',
  label: `D3 connection flood: 1,500 connections, --max-connections ${int(FLOOD_LIMIT)}`,
  lockdArgs: ['--max-connections', String(FLOOD_LIMIT)],
  async run(ctx) {
    const count = ctx.size(1_500, 1_500);
    const swarm = new SocketSwarm();
    await swarm.open(ctx.port, count, 200);
    await sleep(ctx.holdMs);
    const note = `--max-connections ${int(FLOOD_LIMIT)} (lowered for this row); ${int(swarm.sockets.length)} connected, lockd closed ${int(swarm.closedByLockd)}, ${int(swarm.stillOpen)} still open, ${int(swarm.failed)} failed to connect`;
    swarm.release();
    return note;
  },
};

export const bufferedInput: Attack[] = [incompleteMessages(300), incompleteMessages(1_000), slowloris, connectionFlood];
