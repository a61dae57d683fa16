/** KeyPrefixes: which prefix a key is counted under, and the cap on distinct prefixes. */
import { KeyPrefixes, OTHER_PREFIX } from '../../src/metrics/prefixes';

function prefixes(depth: number, max: number) {
  const overflows: string[] = [];
  const p = new KeyPrefixes(depth, max, (prefix) => ({ prefix, hits: 0 }), (prefix) => overflows.push(prefix));
  return { p, overflows };
}

test.each([
  [1, 'orders/42', 'orders'],
  [1, 'orders', 'orders'],
  [2, 'tenant/acme/job/7', 'tenant/acme'],
  [2, 'tenant/acme', 'tenant/acme'],
  [3, 'a/b', 'a/b'],
  [1, '/leading', ''],
  [1, 'trailing/', 'trailing'],
])('at depth %i, %s is counted under %j', (depth, key, expected) => {
  expect(prefixes(depth, 10).p.prefixOf(key)).toBe(expected);
});

test('past the cap every new prefix shares _other, known ones keep their own, and the overflow is told once', () => {
  const { p, overflows } = prefixes(1, 3);
  for (const key of ['a/1', 'b/1', 'c/1']) p.statsOf(key).hits++;
  for (let i = 0; i < 100; i++) p.statsOf(`new${i}/x`).hits++;
  p.statsOf('a/2').hits++;
  const seen = Object.fromEntries([...p.entries()].map(([prefix, stats]) => [prefix, stats.hits]));
  expect(seen).toEqual({ a: 2, b: 1, c: 1, [OTHER_PREFIX]: 100 });
  expect(p.size).toBe(4);
  expect(p.overflowed).toBe(100);
  expect(overflows).toEqual(['new0']);
});
