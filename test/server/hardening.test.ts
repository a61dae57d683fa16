/**
 * Regression tests for the hardening defects (issue #10) that live in the server: each drove
 * lockd into unbounded memory, a stall or a lost reply before.
 */
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeArgsCall, writeRequestCall } from '../../src/protocol/lock-service/client';
import { readReplyBody, readReplyHeader } from '../../src/protocol/lock-service/client';
import { binaryProtocol } from '../../src/protocol/binary';
import { TType } from '../../src/protocol/types';
import { OutputBuffer } from '../../src/util/output-buffer';
import { connectStub, startInProcess, stopAll, until } from '../helpers/in-process-lockd';
import { startLockd } from '../helpers/lockd-process';

afterAll(stopAll);

/** Encodes calls back to back (buffered + binary). */
function calls(write: (w: ReturnType<typeof binaryProtocol.createWriter>) => void): Buffer {
  const out = new OutputBuffer();
  write(binaryProtocol.createWriter(out));
  return out.take();
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Reads replies from a socket until `count` arrived or it closed; returns [method, seqid, kind]. */
function collectReplies(socket: net.Socket, count: number): Promise<{ replies: Array<[string, number, string]>; closed: boolean }> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const replies: Array<[string, number, string]> = [];
    const finish = (closed: boolean) => resolve({ replies, closed });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      for (;;) {
        const reader = binaryProtocol.createReader(1 << 24);
        reader.reset(data, 0, data.length);
        try {
          const head = readReplyHeader(reader);
          const kind = head.name === 'ping' ? 'string' : head.name === 'acquire' ? 'acquireResult' : 'bool';
          const body = readReplyBody(reader, head, kind);
          replies.push([head.name, head.seqid, body.kind]);
          data = data.subarray(reader.offset);
        } catch {
          break; // not all here yet
        }
      }
      if (replies.length >= count) finish(false);
    });
    socket.on('close', () => finish(true));
  });
}

test('D1: listLocks pages are bounded in bytes and continue with startAfter, visiting every key once', async () => {
  const lockd = await startInProcess({ maxListBytes: 64 * 1024 });
  const stub = await lockd.connect();
  const keys = Array.from({ length: 300 }, (_, i) => `big/${String(i).padStart(4, '0')}-${'k'.repeat(900)}`);
  await Promise.all(keys.map((lockKey) => stub.acquire({ lockKey }).reply));
  const seen: string[] = [];
  let startAfter: string | undefined;
  let pages = 0;
  for (; pages < 100; pages++) {
    const page = await stub.listLocks('big/', 10_000, startAfter);
    if (page.length === 0) break;
    seen.push(...page.map((info) => info.lockKey));
    startAfter = page[page.length - 1].lockKey;
  }
  expect(seen).toEqual(keys);
  expect(pages).toBeGreaterThan(3); // 300 keys of ~1 KiB cannot fit in one 64 KiB page
});

test('D1: a client that pipelines many large reads and never takes the replies is paused at its budget; others go on', async () => {
  const budget = 1024 * 1024;
  const lockd = await startInProcess({ connectionBufferBytes: budget, maxListBytes: 256 * 1024 });
  const stub = await lockd.connect();
  await Promise.all(Array.from({ length: 1_000 }, (_, i) => stub.acquire({ lockKey: `k/${i}-${'x'.repeat(1000)}` }).reply));
  const abuser = await rawConnect(lockd.port);
  abuser.pause(); // never reads
  const request = calls((w) => {
    for (let i = 0; i < 400; i++) writeArgsCall(w, 'listLocks', i, [[1, TType.STRING, ''], [2, TType.I32, 10_000]]);
  });
  abuser.write(request);
  await until(() => lockd.server.bufferStats().replyBytes > budget, 'the abuser to reach its budget');
  const canary = await connectStub(lockd.port);
  expect(await canary.ping()).toBe('pong');
  const { replyBytes, pendingInputBytes } = lockd.server.bufferStats();
  // At most the budget, one page over it, and what the socket took before pausing.
  expect(replyBytes).toBeLessThan(budget + 2 * 256 * 1024 + 512 * 1024);
  // The calls beyond the budget wait unread instead of being answered into memory.
  expect(pendingInputBytes).toBeGreaterThan(0);
  abuser.destroy();
});

test('D11: the replies to valid calls before a malformed message in the same read are sent, then the connection closes', async () => {
  const lockd = await startInProcess();
  const socket = await rawConnect(lockd.port);
  const valid = calls((w) => {
    writeArgsCall(w, 'ping', 1, []);
    writeRequestCall(w, 'acquire', 2, { lockKey: 'before-garbage' });
  });
  const replies = collectReplies(socket, 3);
  socket.write(Buffer.concat([valid, Buffer.from([0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff])]));
  const result = await replies;
  expect(result.replies).toEqual([
    ['ping', 1, 'ok'],
    ['acquire', 2, 'ok'],
  ]);
  expect(result.closed).toBe(true);
});

test('D8: with a durable store, a client that half-closes after sending an acquire still gets the reply', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-halfclose-'));
  try {
    const lockd = await startLockd(['--data-dir', dataDir]);
    const socket = await rawConnect(lockd.port);
    const replies = collectReplies(socket, 1);
    socket.end(calls((w) => writeRequestCall(w, 'acquire', 7, { lockKey: 'half-closed' })));
    const result = await replies;
    expect(result.replies).toEqual([['acquire', 7, 'ok']]);
    await lockd.stop();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('D3: past --max-connections a connection is refused and lockd says so in its log', async () => {
  const lockd = await startLockd(['--max-connections', '3']);
  const open = await Promise.all([0, 1, 2].map(() => connectStub(lockd.port)));
  for (const stub of open) expect(await stub.ping()).toBe('pong');
  const extra = await rawConnect(lockd.port);
  const closed = new Promise<void>((resolve) => extra.on('close', () => resolve()));
  await closed;
  await lockd.waitForOutput(/connection refused: --max-connections reached.*"limit":3/);
});

test('D3: a message that has begun but does not complete within --read-timeout closes its connection', async () => {
  const lockd = await startLockd(['--read-timeout', '1s']);
  const slow = await rawConnect(lockd.port);
  const closed = new Promise<void>((resolve) => slow.on('close', () => resolve()));
  // The start of a 1 MiB call, never finished (slowloris).
  const head = calls((w) => writeRequestCall(w, 'acquire', 1, { lockKey: 'x'.repeat(1000) })).subarray(0, 200);
  slow.write(head);
  await closed;
  await lockd.waitForOutput(/a message did not arrive whole within --read-timeout/);
  const canary = await connectStub(lockd.port);
  expect(await canary.ping()).toBe('pong');
});

test('D3: past --total-buffer-limit the connections holding the most are closed first', async () => {
  const lockd = await startLockd(['--total-buffer-limit', '256k', '--read-timeout', '1h']);
  const sockets = await Promise.all([0, 1, 2].map(() => rawConnect(lockd.port)));
  const closed = sockets.map((socket) => new Promise<boolean>((resolve) => socket.on('close', () => resolve(true))));
  // Partial messages: 200 KiB, 50 KiB, 20 KiB pending (270 KiB in all).
  const partial = (bytes: number) => calls((w) => writeRequestCall(w, 'acquire', 1, { lockKey: 'y'.repeat(bytes + 100) })).subarray(0, bytes);
  sockets[0].write(partial(200 * 1024));
  sockets[1].write(partial(50 * 1024));
  sockets[2].write(partial(20 * 1024));
  expect(await closed[0]).toBe(true);
  await lockd.waitForOutput(/passed --total-buffer-limit/);
  const canary = await connectStub(lockd.port);
  expect(await canary.ping()).toBe('pong');
  // The smaller holders were left alone.
  expect(sockets[1].destroyed || sockets[2].destroyed).toBe(false);
});

test('D3: a connection that holds nothing and says nothing for --idle-timeout is closed; one holding an ephemeral lease is kept', async () => {
  const lockd = await startLockd(['--idle-timeout', '1s']);
  const idle = await rawConnect(lockd.port);
  const idleClosed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
  idle.resume(); // take the ping's reply, so the end that follows is seen
  idle.write(calls((w) => writeArgsCall(w, 'ping', 1, [])));
  const holder = await connectStub(lockd.port);
  const lease = (await holder.acquire({ lockKey: 'bound', ephemeral: true }).reply).lease!;
  await idleClosed;
  // The holder's connection outlived the idle one: its lease is still held and it still answers.
  expect(await holder.ping()).toBe('pong');
  expect((await holder.inspect('bound')).holders.map((h) => h.fence)).toEqual([lease.fence]);
});

test('D13: opening and closing connections writes no log line per connection at info', async () => {
  const lockd = await startLockd(['--log-level', 'info']);
  for (let i = 0; i < 50; i++) {
    const socket = await rawConnect(lockd.port);
    const replies = collectReplies(socket, 1);
    socket.write(calls((w) => writeArgsCall(w, 'ping', i, [])));
    await replies;
    await new Promise<void>((resolve) => {
      socket.on('close', () => resolve());
      socket.end();
    });
  }
  const stub = await connectStub(lockd.port);
  expect(await stub.ping()).toBe('pong');
  const lines = lockd.output().split('\n').filter((line) => /connection (opened|closed)/.test(line));
  expect(lines).toEqual([]);
});
