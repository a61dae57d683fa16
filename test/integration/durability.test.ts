/** lockd with its durable store, as a process: clean restarts, kill -9 under load, a busy data dir. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectStub } from '../helpers/in-process-lockd';
import { LOCKD_MAIN, runLockd, startLockd, stopAllLockd } from '../helpers/lockd-process';

let dataDir: string;
beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-durable-'));
});
afterEach(async () => {
  await stopAllLockd();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('locks held before a clean restart are held after it, with the same token and fence; the next fence is larger', async () => {
  const first = await startLockd(['--data-dir', dataDir]);
  const client = await connectStub(first.port);
  const exclusive = (await client.acquire({ lockKey: 'job', owner: 'w1', ttlMs: 60_000 }).reply).lease!;
  const shared = (await client.acquire({ lockKey: 'cfg', mode: 2, ttlMs: 60_000 }).reply).lease!;
  await client.acquire({ lockKey: 'job', token: exclusive.token, ttlMs: 60_000 }).reply;
  const released = (await client.acquire({ lockKey: 'gone', ttlMs: 60_000 }).reply).lease!;
  await client.release('gone', released.token);
  const ephemeral = (await client.acquire({ lockKey: 'eph', ephemeral: true }).reply).lease!;
  expect(ephemeral.fence).toBeGreaterThan(0);
  expect(await first.stop()).toBe(0);

  const second = await startLockd(['--data-dir', dataDir]);
  const after = await connectStub(second.port);
  const job = await after.inspect('job');
  expect(job.holders).toEqual([{ owner: 'w1', mode: 1, fence: exclusive.fence, expiresAtMs: expect.any(Number), holdCount: 2 }]);
  expect((await after.inspect('cfg')).holders[0].fence).toBe(shared.fence);
  expect((await after.inspect('gone')).holders).toEqual([]);
  expect((await after.inspect('eph')).holders).toEqual([]);
  expect((await after.renew('job', exclusive.token, 60_000)).fence).toBe(exclusive.fence);
  const next = (await after.acquire({ lockKey: 'new' }).reply).lease!;
  expect(next.fence).toBeGreaterThan(Math.max(exclusive.fence, shared.fence, released.fence, ephemeral.fence));
  expect(second.output()).toMatch(/2 leases/);
});

test('a second lockd on the same data dir exits with a clear message', async () => {
  const first = await startLockd(['--data-dir', dataDir]);
  const second = await runLockd(['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
  expect(second.code).toBe(1);
  expect(second.output).toContain(`in use by another lockd (pid ${first.pid})`);
});

test('kill -9 under concurrent load never loses an acknowledged grant nor leaves two exclusive holders', async () => {
  let highestFence = 0;
  for (let round = 0; round < 3; round++) {
    // Fresh keys each round: leftovers of the last crash (grants whose reply was lost) block nobody.
    const keys = [0, 1, 2, 3].map((i) => `r${round}-k${i}`);
    const lockd = await startLockd(['--data-dir', dataDir]);
    // What clients hold, as acknowledged by lockd, and have not started to release.
    const held = new Map<string, { key: string; fence: number }>();
    // Every fence lockd granted this round; checked against the last round's after the loops end.
    const fences: number[] = [];
    let stop = false;
    const workers = await Promise.all(Array.from({ length: 8 }, () => connectStub(lockd.port)));
    const loops = workers.map(async (stub, index) => {
      for (let i = 0; i < 10_000 && !stop; i++) {
        const key = keys[(index + i) % keys.length];
        // The connection dies with the server: a call failing after the kill ends this loop.
        const answer = await stub.acquire({ lockKey: key, ttlMs: 60_000, waitMs: 5_000 }).reply.catch(() => undefined);
        if (answer === undefined) return;
        if (!answer.acquired) continue;
        const lease = answer.lease!;
        fences.push(lease.fence);
        held.set(lease.token, { key, fence: lease.fence });
        await new Promise((resolve) => setImmediate(resolve));
        if (stop) return;
        held.delete(lease.token);
        if ((await stub.release(key, lease.token).catch(() => undefined)) === undefined) return;
      }
    });
    for (let i = 0; i < 2_000 && fences.length < 200 + round * 100; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    stop = true;
    lockd.process.kill('SIGKILL');
    await lockd.exited();
    await Promise.all(loops);
    // Fences only grow, across crashes too.
    expect(fences.length).toBeGreaterThan(0);
    expect(Math.min(...fences)).toBeGreaterThan(highestFence);
    for (const { fence } of held.values()) highestFence = Math.max(highestFence, fence);

    const restarted = await startLockd(['--data-dir', dataDir]);
    const checker = await connectStub(restarted.port);
    for (const key of keys) {
      const info = await checker.inspect(key);
      expect(info.holders.length).toBeLessThanOrEqual(1);
      for (const holder of info.holders) highestFence = Math.max(highestFence, holder.fence);
    }
    for (const [token, { key, fence }] of held) {
      const info = await checker.inspect(key);
      expect(info.holders.map((h) => h.fence)).toContain(fence);
      expect(await checker.release(key, token)).toBe(true);
    }
    await restarted.stop();
  }
  // Six lockd starts and up to 10 s of load per round: on a loaded machine this outlasts jest's 30 s default.
}, 180_000);

/** State field of /proc/PID/stat ('Z' for a zombie), or undefined once the pid is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

test('a lockd killed with -9 and not yet reaped by its parent (a zombie) does not block the restart', async () => {
  // A parent that never waits for its child: python's Popen reaps only when asked (poll/wait).
  const parentScript = 'import subprocess, sys, time\np = subprocess.Popen(sys.argv[1:])\nprint("child", p.pid, flush=True)\ntime.sleep(120)\n';
  const parent = spawn('python3', ['-c', parentScript, process.execPath, LOCKD_MAIN, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let output = '';
    parent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    for (let i = 0; i < 3_000 && !/lockd listening on \S+:\d+/.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    const pid = Number(/^child (\d+)$/m.exec(output)?.[1]);
    const port = Number(/lockd listening on \S+:(\d+)/.exec(output)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(port).toBeGreaterThan(0);
    const before = await connectStub(port);
    const lease = (await before.acquire({ lockKey: 'kept', ttlMs: 60_000 }).reply).lease!;

    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 2_000 && procState(pid) !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(procState(pid)).toBe('Z');
    // The zombie still owns its pid (kill(pid, 0) succeeds) and LOCK still names it.
    expect(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8')).toMatch(new RegExp(`^${pid} `));

    const restarted = await startLockd(['--data-dir', dataDir]);
    const after = await connectStub(restarted.port);
    expect((await after.inspect('kept')).holders.map((h) => h.fence)).toEqual([lease.fence]);
    expect(procState(pid)).toBe('Z');
    expect(await restarted.stop()).toBe(0);
  } finally {
    parent.kill('SIGKILL');
  }
});
