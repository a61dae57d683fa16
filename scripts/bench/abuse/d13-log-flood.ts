/**
 * D13, log flood: how many log lines (lockd's stderr, default --log-level info) 1,000 connections
 * cost when each opens and closes, and when each sends a malformed message. Per-connection lines
 * at info would let any client fill the disk.
 */
import { Attack, AttackContext, int, SocketSwarm } from './attack';

async function linesPer(ctx: AttackContext, count: number, payload: Buffer | undefined): Promise<number> {
  const before = ctx.lockd.logLines;
  const swarm = new SocketSwarm();
  await swarm.open(ctx.port, count, 100, (socket) => {
    if (payload) socket.end(payload);
    else socket.end();
  });
  // Give lockd a moment to log what the closes caused.
  await new Promise((resolve) => setTimeout(resolve, 500));
  swarm.release();
  return ctx.lockd.logLines - before;
}

export const logFlood: Attack = {
  id: 'D13',
  label: 'D13 log lines per 1,000 connections',
  async run(ctx) {
    const count = ctx.size(1_000, 100);
    const plain = await linesPer(ctx, count, undefined);
    const malformed = await linesPer(ctx, count, Buffer.from('not thrift at all\r\n'));
    const per = (lines: number) => int((lines * 1_000) / count);
    return `${per(plain)} lines per 1,000 opened and closed; ${per(malformed)} per 1,000 malformed`;
  },
};
