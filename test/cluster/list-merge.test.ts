/**
 * mergeListPages (src/backend/cluster-list.ts), the merge both front ends use for a cluster-wide
 * list: key order, the bound a possibly cut page sets, the page limits, and `complete`, which
 * the HTTP API turns into `next`.
 */
import { mergeListPages, type NodePage } from '../../src/backend/cluster-list';
import type { LockInfoView } from '../../src/table/types';

const info = (key: string): LockInfoView => ({ key, holders: [], waiters: 0 });
const page = (complete: boolean, ...keys: string[]): NodePage => ({ page: keys.map(info), complete });
const keys = (merged: { page: readonly LockInfoView[] }) => merged.page.map((i) => i.key);
const limits = (count: number, maxBytes = 1 << 20) => ({ count, maxBytes, sizeOf: (i: LockInfoView) => i.key.length });

test('complete pages merge in key order; the merged page is complete', () => {
  const merged = mergeListPages([page(true, 'b', 'e'), page(true, 'a', 'd'), page(true, 'c')], limits(10));
  expect(keys(merged)).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(merged.complete).toBe(true);
});

test("a cut page bounds the merged page at its last key: no other node's later key is listed before it", () => {
  const merged = mergeListPages([page(false, 'a', 'c'), page(true, 'b', 'd', 'e')], limits(10));
  expect(keys(merged)).toEqual(['a', 'b', 'c']);
  expect(merged.complete).toBe(false);
});

test('count and bytes cut the merged page (the first key always fits)', () => {
  const byCount = mergeListPages([page(true, 'a', 'c'), page(true, 'b', 'd')], limits(3));
  expect([keys(byCount), byCount.complete]).toEqual([['a', 'b', 'c'], false]);
  const exactly = mergeListPages([page(true, 'a', 'c'), page(true, 'b')], limits(3));
  expect([keys(exactly), exactly.complete]).toEqual([['a', 'b', 'c'], true]);
  const byBytes = mergeListPages([page(true, 'aaaa', 'bbbb')], limits(10, 6));
  expect([keys(byBytes), byBytes.complete]).toEqual([['aaaa'], false]);
  const big = mergeListPages([page(true, 'aaaaaaaa')], limits(10, 6));
  expect([keys(big), big.complete]).toEqual([['aaaaaaaa'], true]);
});

test('keys the caller may not read are left out, after the bound was taken from them', () => {
  const merged = mergeListPages([page(false, 'x/1', 'y/2'), page(true, 'x/3', 'y/1')], limits(10), (key) => key.startsWith('x/'));
  expect(keys(merged)).toEqual(['x/1', 'x/3']);
  expect(merged.complete).toBe(false);
});
