/** What `lockctl cluster` prints, from ClusterInfo values (no cluster needed): ranges, table, unowned partitions, --json. */
import { clusterJson, compactRanges, describeCluster, unownedPartitions } from '../../src/cli/cluster-view';
import type { ClusterInfo } from '../../src';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** 64 partitions over three nodes; 40-42 and 63 unowned (a failover in progress). */
const cluster: ClusterInfo = {
  cluster: 'prod',
  nodeId: 'node-b',
  partitions: 64,
  members: [
    { nodeId: 'node-c', address: '10.0.0.3:9090', partitions: [...range(43, 62)] },
    { nodeId: 'node-a', address: '10.0.0.1:9090', partitions: [...range(0, 15), 32, ...range(34, 39)] },
    { nodeId: 'node-b', address: '10.0.0.22:19090', partitions: [...range(16, 31), 33] },
    { nodeId: 'node-d', address: '10.0.0.4:9090', partitions: [] },
  ],
  owners: [],
};
for (const m of cluster.members) for (const p of m.partitions) cluster.owners[p] = m.nodeId;
for (const p of [40, 41, 42, 63]) cluster.owners[p] = '';

test('compact ranges: sorted, runs of two or more as a range, duplicates dropped', () => {
  expect(compactRanges([])).toBe('');
  expect(compactRanges([7])).toBe('7');
  expect(compactRanges([3, 1, 2, 2, 5, 9, 8, 32])).toBe('1-3,5,8-9,32');
  expect(compactRanges(range(0, 15).concat([32]))).toBe('0-15,32');
});

test('the table: nodes by id with address, count and ranges; unowned partitions with their ranges', () => {
  expect(unownedPartitions(cluster)).toEqual([40, 41, 42, 63]);
  expect(describeCluster(cluster)).toBe(
    [
      'cluster "prod": 4 nodes, 64 partitions (answered by node-b)',
      'node    address          owned  partitions',
      'node-a  10.0.0.1:9090       23  0-15,32,34-39',
      'node-b  10.0.0.22:19090     17  16-31,33',
      'node-c  10.0.0.3:9090       20  43-62',
      'node-d  10.0.0.4:9090        0  -',
      'unowned partitions: 4 (40-42,63)',
    ].join('\n'),
  );
  const settled: ClusterInfo = { ...cluster, owners: cluster.owners.map((o) => o || 'node-d') };
  expect(describeCluster(settled).split('\n').at(-1)).toBe('unowned partitions: none');
});

test('--json: nodes by id, partitions ascending, unowned listed, clustered true', () => {
  expect(clusterJson(cluster)).toEqual({
    cluster: 'prod',
    clustered: true,
    nodeId: 'node-b',
    partitions: 64,
    nodes: [
      { nodeId: 'node-a', address: '10.0.0.1:9090', partitions: [...range(0, 15), 32, ...range(34, 39)] },
      { nodeId: 'node-b', address: '10.0.0.22:19090', partitions: [...range(16, 31), 33] },
      { nodeId: 'node-c', address: '10.0.0.3:9090', partitions: range(43, 62) },
      { nodeId: 'node-d', address: '10.0.0.4:9090', partitions: [] },
    ],
    unowned: [40, 41, 42, 63],
  });
});

test('a single lockd (cluster ""): not clustered', () => {
  const single: ClusterInfo = { cluster: '', nodeId: '127.0.0.1:9090', partitions: 1, members: [{ nodeId: '127.0.0.1:9090', address: '127.0.0.1:9090', partitions: [0] }], owners: ['127.0.0.1:9090'] };
  expect(describeCluster(single)).toBe('not clustered: a single lockd (127.0.0.1:9090) serves every key');
  expect(clusterJson(single)).toMatchObject({ cluster: '', clustered: false, partitions: 1, unowned: [] });
});
