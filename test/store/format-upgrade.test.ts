/**
 * Data dir format 1 (raw lease tokens) is read by format 2 (token digests): tokens are hashed as
 * they are restored, their leases answer to the same tokens, and the first write compacts the
 * directory so no raw token is left on disk.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { LocalBackend } from '../../src/backend/local-backend';
import { FileStore } from '../../src/store/file-store';
import { encodeBatchHeader, encodeChange, HEADER_BYTES, RecordKind } from '../../src/store/records';
import { NotHolderError } from '../../src/errors';
import type { TableLimits } from '../../src/table/lock-table';
import { tokenDigest } from '../../src/table/token-digest';
import { ManualClock, type TableChange } from '../../src/table/types';
import { OutputBuffer } from '../../src/util/output-buffer';

const LIMITS: TableLimits = { defaultTtlMs: 1_000, minTtlMs: 10, maxTtlMs: 600_000, maxWaitMs: 30_000, defaultListLimit: 10, maxListLimit: 100, maxLeases: 1_000, maxWaiters: 1_000 };
const NOW = Date.now();
const TOKEN_A = crypto.randomBytes(16).toString('hex');
const TOKEN_B = crypto.randomBytes(16).toString('hex');
const TOKEN_C = crypto.randomBytes(16).toString('hex');

let dir: string;
const opened: Array<{ close(): Promise<void> }> = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockd-format1-'));
});
afterEach(async () => {
  for (const thing of opened.splice(0)) await thing.close().catch(() => {});
  fs.rmSync(dir, { recursive: true, force: true });
});

const FORMAT_ONE_KIND: Record<number, number> = { [RecordKind.GRANT]: RecordKind.GRANT_V1, [RecordKind.UPDATE]: RecordKind.UPDATE_V1, [RecordKind.FREE]: RecordKind.FREE_V1 };

/**
 * Records as format 1 wrote them: the same layout as format 2's with the raw token where the
 * digest is now, under kinds 1-3. `digest` fields of `changes` carry the raw tokens here.
 */
function formatOneRecords(changes: TableChange[]): Buffer {
  const out = new OutputBuffer();
  for (const change of changes) encodeChange(out, change);
  const bytes = Buffer.from(out.buf.subarray(0, out.pos));
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt32LE(at);
    const payload = at + HEADER_BYTES;
    bytes[payload] = FORMAT_ONE_KIND[bytes[payload]] ?? bytes[payload];
    bytes.writeUInt32LE(crc32(bytes.subarray(payload, payload + length)), at + 4);
    at = payload + length;
  }
  return bytes;
}

/** A format 1 log: one write (a BATCH record and its records). */
function writeFormatOneLog(seq: number, changes: TableChange[]): void {
  const records = formatOneRecords(changes);
  fs.writeFileSync(path.join(dir, `wal-${String(seq).padStart(12, '0')}.log`), Buffer.concat([encodeBatchHeader(records.length), records]), { mode: 0o600 });
}

/** A format 1 snapshot covering logs up to `coveredSeq`. */
function writeFormatOneSnapshot(coveredSeq: number, changes: TableChange[]): void {
  const header = Buffer.alloc(18);
  header.write('LOCKDSNP1\n', 0, 'latin1');
  header.writeDoubleLE(coveredSeq, 10);
  fs.writeFileSync(path.join(dir, 'snapshot'), Buffer.concat([header, formatOneRecords(changes)]), { mode: 0o600 });
}

const grant = (key: string, token: string, fence: number, mode: 1 | 2 = 1): TableChange => ({
  kind: 'grant',
  lease: { key, digest: token, fence, mode, owner: 'old', holdCount: 1, ttlMs: 300_000, expiresAtMs: NOW + 300_000 },
});

async function openBackend(): Promise<{ backend: LocalBackend; store: FileStore; summary: string }> {
  fs.chmodSync(dir, 0o700);
  const store = new FileStore({ dataDir: dir });
  const backend = new LocalBackend(LIMITS, store, new ManualClock(NOW), true);
  opened.push(backend);
  const { summary } = await backend.open();
  return { backend, store, summary };
}

const synced = (backend: LocalBackend) => new Promise<Error | null>((resolve) => backend.sync(resolve));

/** Files of the dir holding any form of `token` (raw bytes, hex either case). */
function filesHolding(token: string): string[] {
  const forms = [Buffer.from(token, 'hex'), Buffer.from(token, 'latin1'), Buffer.from(token.toUpperCase(), 'latin1')];
  return fs.readdirSync(dir).filter((name) => {
    const bytes = fs.readFileSync(path.join(dir, name));
    return forms.some((form) => bytes.includes(form));
  });
}

test('a format 1 log is read with its tokens hashed; the tokens still work, their digests do not; the first write leaves no raw token on disk', async () => {
  writeFormatOneLog(1, [
    { kind: 'fence-reserve', ceiling: 100 },
    grant('a', TOKEN_A, 1),
    grant('b', TOKEN_B, 2),
    { kind: 'update', key: 'a', digest: TOKEN_A, holdCount: 2, ttlMs: 300_000, expiresAtMs: NOW + 300_000 },
    grant('c', TOKEN_C, 3, 2),
    { kind: 'free', key: 'b', digest: TOKEN_B, reason: 'released' },
  ]);
  expect(filesHolding(TOKEN_A)).toEqual(['wal-000000000001.log']);

  const { backend, store, summary } = await openBackend();
  expect(summary).toMatch(/2 leases/);
  expect(summary).toMatch(/format 1/);
  // The digest of a token, found on disk, is no token.
  expect(backend.isHeld('a', tokenDigest(TOKEN_A)!)).toBe(false);
  expect(backend.release('a', tokenDigest(TOKEN_A)!)).toBe(false);
  expect(() => backend.renew('c', tokenDigest(TOKEN_C)!, undefined)).toThrow(NotHolderError);
  expect(backend.isHeld('b', TOKEN_B)).toBe(false);
  // The tokens are: 'a' restored with holdCount 2.
  expect(backend.isHeld('a', TOKEN_A)).toBe(true);
  expect(backend.renew('c', TOKEN_C, 60_000)).toMatchObject({ token: TOKEN_C, fence: 3, mode: 2 });
  expect(backend.release('a', TOKEN_A)).toBe(true);
  expect(backend.isHeld('a', TOKEN_A)).toBe(true);

  // The first write compacts: a format 2 snapshot replaces the format 1 log.
  expect(await synced(backend)).toBeNull();
  await store.compactionSettled();
  expect(store.stats().compactions).toBe(1);
  expect(fs.readdirSync(dir).sort()).toEqual(['LOCK', 'snapshot', 'wal-000000000002.log']);
  expect(fs.readFileSync(path.join(dir, 'snapshot')).subarray(0, 10).toString('latin1')).toBe('LOCKDSNP2\n');
  for (const token of [TOKEN_A, TOKEN_B, TOKEN_C]) expect(filesHolding(token)).toEqual([]);
  await backend.close();
  opened.pop();

  // Reopened: format 2 only, the same leases, no second upgrade.
  const again = await openBackend();
  expect(again.summary).toMatch(/2 leases/);
  expect(again.summary).not.toMatch(/format 1/);
  expect(again.backend.isHeld('c', TOKEN_C)).toBe(true);
  expect(again.backend.release('a', TOKEN_A)).toBe(true);
  expect(again.backend.isHeld('a', TOKEN_A)).toBe(false);
  expect(await synced(again.backend)).toBeNull();
  expect(again.store.stats().compactions).toBe(0);
});

test('a format 1 snapshot and the format 1 log after it are both read, hashed, and rewritten at the first write', async () => {
  writeFormatOneSnapshot(1, [{ kind: 'fence-reserve', ceiling: 50 }, grant('a', TOKEN_A, 7), grant('b', TOKEN_B, 8), { kind: 'fence-reserve', ceiling: 50 }]);
  writeFormatOneLog(2, [{ kind: 'free', key: 'b', digest: TOKEN_B, reason: 'released' }, grant('c', TOKEN_C, 9)]);

  const { backend, store, summary } = await openBackend();
  expect(summary).toMatch(/2 leases/);
  expect(backend.isHeld('a', TOKEN_A)).toBe(true);
  expect(backend.isHeld('b', TOKEN_B)).toBe(false);
  expect(backend.isHeld('c', TOKEN_C)).toBe(true);
  // Fences continue above the format 1 ones.
  const next = backend.acquire({ key: 'new', session: 0 });
  expect(next.kind === 'granted' && next.lease.fence).toBeGreaterThan(50);
  expect(await synced(backend)).toBeNull();
  await store.compactionSettled();
  expect(fs.readFileSync(path.join(dir, 'snapshot')).subarray(0, 10).toString('latin1')).toBe('LOCKDSNP2\n');
  for (const token of [TOKEN_A, TOKEN_B, TOKEN_C]) expect(filesHolding(token)).toEqual([]);
});
