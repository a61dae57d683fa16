/**
 * D4, a slow large message: one client sends 1 MiB messages at ~0.9 MiB/s in 1 KiB chunks. Every
 * chunk of a message still incomplete must cost lockd little (no re-copy or re-parse of all the
 * bytes so far per chunk), and each message, once whole, is answered.
 */
import { Attack, int, sleep } from './attack';
import { paddedPing } from './d3-buffered-input';
import { okValue, RawClient } from './raw-client';

const MIB = 1024 * 1024;
const CHUNK_BYTES = 1024;
const TICK_MS = 10;
/** 9 chunks every 10 ms: ~0.9 MiB/s. */
const CHUNKS_PER_TICK = 9;

export const slowLargeMessage: Attack = {
  id: 'D4',
  label: 'D4 1 MiB messages at ~0.9 MiB/s in 1 KiB chunks',
  async run(ctx) {
    const size = ctx.size(MIB, 64 * 1024);
    const client = await RawClient.connect(ctx.port);
    const end = performance.now() + ctx.holdMs;
    const times: number[] = [];
    let failure = '';
    try {
      while (performance.now() < end) {
        const seqid = client.seqid();
        const bytes = paddedPing(size, seqid);
        const started = performance.now();
        const reply = client.expect(seqid, 30_000);
        for (let at = 0; at < bytes.length; ) {
          for (let i = 0; i < CHUNKS_PER_TICK && at < bytes.length; i++, at += CHUNK_BYTES) client.write(bytes.subarray(at, at + CHUNK_BYTES));
          await sleep(TICK_MS);
        }
        if (okValue(await reply) !== 'pong') throw new Error('no pong');
        times.push(performance.now() - started);
      }
    } catch (error) {
      failure = `; stopped: ${(error as Error).message}`;
    } finally {
      client.close();
    }
    const rate = times.length > 0 ? size / MIB / (times.reduce((a, b) => a + b, 0) / times.length / 1000) : NaN;
    return `${int(times.length)} messages of ${int(size / 1024)} KiB answered, ${rate.toFixed(2)} MiB/s each${failure}`;
  },
};
