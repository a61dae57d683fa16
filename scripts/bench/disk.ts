/**
 * The disk's own floor for durable writes: how long one synced 4 KiB overwrite takes right now,
 * on the filesystem the durable lockd targets write to (os.tmpdir()). lockd's durable throughput
 * is bound by it, and on a shared VM it swings by several times within minutes, so the benchmark
 * reports it beside each durable figure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { percentile } from './stats';

/** Synced-write latency, µs. */
export interface DiskSyncFloor {
  p50Us: number;
  p90Us: number;
}

const WRITES = 200;
const WRITE_BYTES = 4096;

/** Times WRITES synced overwrites of zeros written ahead (as lockd's log does). Blocks for their duration. */
export function measureSyncedWrites(): DiskSyncFloor {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-disk-'));
  const file = path.join(dir, 'probe');
  const block = Buffer.alloc(WRITE_BYTES, 0x5a);
  try {
    fs.writeFileSync(file, Buffer.alloc(WRITES * WRITE_BYTES));
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
    fs.fdatasyncSync(fd);
    const micros: number[] = [];
    try {
      for (let i = 0; i < WRITES; i++) {
        const started = process.hrtime.bigint();
        fs.writeSync(fd, block, 0, WRITE_BYTES, i * WRITE_BYTES);
        micros.push(Number(process.hrtime.bigint() - started) / 1_000);
      }
    } finally {
      fs.closeSync(fd);
    }
    micros.sort((a, b) => a - b);
    return { p50Us: percentile(micros, 0.5), p90Us: percentile(micros, 0.9) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
