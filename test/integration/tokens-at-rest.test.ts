/**
 * Issue 12: lease tokens at rest. lockd keeps only a digest of each token, so its data dir holds
 * no token, and a copy of the data dir cannot release or renew anyone's lock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotHolderError } from '../../src/errors';
import { tokenDigest } from '../../src/table/token-digest';
import { connectStub } from '../helpers/in-process-lockd';
import { startLockd, stopAllLockd } from '../helpers/lockd-process';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-tokens-'));
});
afterEach(async () => {
  await stopAllLockd();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every file under `dir`, with its bytes. */
function filesOf(dir: string): Array<{ file: string; bytes: Buffer }> {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => fs.statSync(file).isFile())
    .map((file) => ({ file, bytes: fs.readFileSync(file) }));
}

/** The files of `dir` holding `needle`, or []. */
function filesHolding(dir: string, needle: Buffer): string[] {
  return filesOf(dir).filter(({ bytes }) => bytes.includes(needle)).map(({ file }) => file);
}

test('no token reaches the data dir or the log; a lockd on a copy of the dir refuses the digests it holds and honours the tokens', async () => {
  const dataDir = path.join(root, 'data');
  const lockd = await startLockd(['--data-dir', dataDir, '--log-level', 'debug']);
  const client = await connectStub(lockd.port);
  const grant = async (key: string, mode?: number) => (await client.acquire({ lockKey: key, owner: 'w', ttlMs: 600_000, mode }).reply).lease!;
  // Every kind of record: grants (exclusive and shared), a re-entry and a partial release
  // (updates), a renewal, and a release (a free).
  const job = await grant('job');
  const readers = [await grant('cfg', 2), await grant('cfg', 2)];
  const reentered = await grant('nested');
  await client.acquire({ lockKey: 'nested', token: reentered.token, ttlMs: 600_000 }).reply;
  await client.acquire({ lockKey: 'nested', token: reentered.token, ttlMs: 600_000 }).reply;
  expect(await client.release('nested', reentered.token)).toBe(true);
  await client.renew('job', job.token, 500_000);
  const gone = await grant('gone');
  expect(await client.release('gone', gone.token)).toBe(true);
  const held = [{ key: 'job', token: job.token }, ...readers.map((l) => ({ key: 'cfg', token: l.token })), { key: 'nested', token: reentered.token }];
  expect(await lockd.stop()).toBe(0);

  const files = filesOf(dataDir);
  expect(files.some(({ file }) => file.endsWith('.log'))).toBe(true);
  for (const token of [...held.map((l) => l.token), gone.token]) {
    for (const form of [Buffer.from(token, 'hex'), Buffer.from(token, 'latin1'), Buffer.from(token.toUpperCase(), 'latin1')]) {
      expect({ token, form: form.length, files: filesHolding(dataDir, form) }).toEqual({ token, form: form.length, files: [] });
    }
    expect(lockd.output()).not.toContain(token);
    // What the dir holds instead: the token's digest (the best an attacker with a copy has).
    expect(filesHolding(dataDir, Buffer.from(tokenDigest(token)!, 'hex')).length).toBeGreaterThan(0);
  }

  // A copy of the dir, served by another lockd: the digests found in it are no tokens.
  const copy = path.join(root, 'copy');
  fs.cpSync(dataDir, copy, { recursive: true });
  const thief = await startLockd(['--data-dir', copy]);
  const other = await connectStub(thief.port);
  expect(thief.output()).toMatch(/4 leases/);
  for (const { key, token } of held) {
    const digest = tokenDigest(token)!;
    expect(await other.release(key, digest)).toBe(false);
    await expect(other.renew(key, digest, 1_000)).rejects.toBeInstanceOf(NotHolderError);
    await expect(other.acquire({ lockKey: key, token: digest, mode: key === 'cfg' ? 2 : 1 }).reply).rejects.toBeInstanceOf(NotHolderError);
    expect((await other.inspect(key)).holders.length).toBeGreaterThan(0);
  }
  // Only a token opens its lease.
  for (const { key, token } of held) {
    expect((await other.renew(key, token, 60_000)).token).toBe(token);
    expect(await other.release(key, token)).toBe(true);
  }
  // 'nested' was entered three times and left once before the copy: one entry is left.
  expect((await other.inspect('nested')).holders.map((h) => h.holdCount)).toEqual([1]);
  expect(await other.release('nested', reentered.token)).toBe(true);
  expect((await other.inspect('nested')).holders).toEqual([]);
  for (const key of ['job', 'cfg']) expect((await other.inspect(key)).holders).toEqual([]);
});
