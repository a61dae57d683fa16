/**
 * One fuzz campaign against a running lockd: `messages` generated messages spread over short
 * connections, several at a time. Each connection's bytes are written in pieces cut at random
 * points (some pieces a tick apart, so lockd sees them in separate reads), then the client ends
 * its side; lockd must answer what it could parse with well-formed replies and close.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DStruct, fieldOf } from './lock-service';
import { CaseGenerator, CaseKind, Pools } from './generator';
import { ReplyStream } from './reply-stream';
import { Rng } from './rng';
import type { Stack } from './thrift-tree';

/** A connection lockd has not closed this long after the client ended its side is a problem. */
const CLOSE_TIMEOUT_MS = 10_000;
/** Problems kept in full (the count goes on). */
const KEPT_PROBLEMS = 20;

export interface CampaignOptions {
  port: number;
  stack: Stack;
  messages: number;
  seed: number;
  /** Connections open at once. Default 4. */
  parallel?: number;
  /** Most messages one connection carries. Default 24. */
  maxPerConnection?: number;
  /** When set, the bytes sent and received on each connection with a problem are written here. */
  dumpDir?: string;
  /** Called after each connection with the messages sent so far. */
  onProgress?(sent: number): void;
}

export interface CampaignResult {
  messagesSent: number;
  byKind: Record<CaseKind, number>;
  connections: number;
  /** Well-formed replies received. */
  replies: number;
  /** Replies that were not well-formed, connections lockd did not close, connects that failed. */
  problems: number;
  /** The first problems, each with the connection's seed to replay it. */
  problemSamples: string[];
}

/** Runs the campaign; never throws for what lockd does (that is counted in problems). */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const rng = new Rng(options.seed);
  const pools = new Pools();
  const result: CampaignResult = { messagesSent: 0, byKind: { valid: 0, tree: 0, bytes: 0, random: 0 }, connections: 0, replies: 0, problems: 0, problemSamples: [] };
  const problem = (text: string) => {
    result.problems++;
    if (result.problemSamples.length < KEPT_PROBLEMS) result.problemSamples.push(text);
  };
  // The plan (each connection's seed and message count) comes from the seed alone; which leases
  // the pools hold when a connection starts depends on timing, so a replay is close, not exact.
  const plan: Array<{ seed: number; count: number }> = [];
  for (let left = options.messages; left > 0; ) {
    const count = Math.min(left, rng.chance(0.5) ? rng.between(1, 3) : rng.between(4, options.maxPerConnection ?? 24));
    plan.push({ seed: rng.int(2 ** 32), count });
    left -= count;
  }
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const { seed, count } = plan[next++];
      await oneConnection(options, pools, seed, count, result, (text) => problem(`${text} [${options.stack.protocol}/${options.stack.transport} connection seed ${seed}, ${count} messages]`));
      result.connections++;
      options.onProgress?.(result.messagesSent);
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 4 }, worker));
  return result;
}

async function oneConnection(options: CampaignOptions, pools: Pools, seed: number, count: number, result: CampaignResult, problem: (text: string) => void): Promise<void> {
  const problemsBefore = result.problems;
  const rng = new Rng(seed);
  const generator = new CaseGenerator(rng, options.stack, pools);
  const pieces: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const seqid = rng.int(2 ** 31);
    const made = generator.next(seqid, i === count - 1);
    result.byKind[made.kind]++;
    if (made.method === 'acquire' || made.method === 'acquireLock') pools.parkedSeqids.push(seqid);
    pieces.push(made.bytes);
  }
  if (pools.parkedSeqids.length > 64) pools.parkedSeqids.splice(0, 32);
  const bytes = Buffer.concat(pieces);
  result.messagesSent += count;

  const socket = net.connect({ host: '127.0.0.1', port: options.port, noDelay: true });
  const stream = new ReplyStream(options.stack, {
    reply: (reply) => {
      result.replies++;
      // Leases lockd granted feed later calls (release, renew, re-entry, checkFence).
      const value = reply.body.get(0)?.value;
      if (reply.name === 'acquire' && value instanceof Map && fieldOf(value, 1) === true) {
        const lease = fieldOf<DStruct>(value, 2)!;
        pools.addLease(fieldOf<string>(lease, 1)!, fieldOf<string>(lease, 2)!, fieldOf<number>(lease, 3)!);
      }
    },
    problem: (description) => problem(`bad reply: ${description}`),
  });
  let connected = false;
  let closed = false;
  let reset = false;
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    if (options.dumpDir !== undefined) received.push(chunk);
    stream.push(chunk);
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (!connected) problem(`connect failed: ${error.message}`);
    // After connecting, a reset is how a connection ends when lockd closed it with our bytes
    // unread; the kernel may then drop replies it had not handed over yet.
    else reset = true;
  });
  await new Promise<void>((resolve) => {
    socket.once('connect', () => {
      connected = true;
      resolve();
    });
    void closedPromise.then(() => resolve());
  });
  if (!connected) return;

  // Cut the bytes at random points; some pieces go a tick apart so lockd reads them separately.
  let at = 0;
  while (at < bytes.length && !closed) {
    const size = rng.chance(0.3) ? rng.between(1, 8) : rng.between(1, 4096);
    socket.write(bytes.subarray(at, at + size));
    at += size;
    if (rng.chance(0.1)) await new Promise((resolve) => setTimeout(resolve, rng.int(3)));
  }
  socket.end();
  const timer = setTimeout(() => {
    problem(`lockd did not close the connection within ${CLOSE_TIMEOUT_MS} ms after the client ended its side`);
    socket.destroy();
  }, CLOSE_TIMEOUT_MS);
  await closedPromise;
  clearTimeout(timer);
  if (!reset) stream.end();
  if (options.dumpDir !== undefined && result.problems > problemsBefore) {
    const base = path.join(options.dumpDir, `${options.stack.protocol}-${options.stack.transport}-${seed}`);
    fs.writeFileSync(`${base}.sent`, bytes);
    fs.writeFileSync(`${base}.received`, Buffer.concat(received));
  }
}
