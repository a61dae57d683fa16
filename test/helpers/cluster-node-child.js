// A cluster node as its own process (from dist/, built by `npm test`), for tests that kill it:
//   node --require exit-with-parent.js cluster-node-child.js ENDPOINTS CLUSTER NODE_ID PARTITIONS NODE_TTL_MS
// Prints `owned [p, ...]` on stdout each time the set of partitions it serves changes.
'use strict';
const path = require('node:path');
const dist = path.resolve(__dirname, '../../dist/src');
const { startClusterNode } = require(`${dist}/cluster/cluster-node.js`);
const { resolveClusterOptions } = require(`${dist}/cluster/options.js`);
const { systemClock } = require(`${dist}/table/types.js`);

const [endpoints, cluster, nodeId, partitions, nodeTtlMs] = process.argv.slice(2);
const limits = { defaultTtlMs: 60000, minTtlMs: 10, maxTtlMs: 600000, maxWaitMs: 30000, defaultListLimit: 100, maxListLimit: 1000, maxLeases: 10000, maxWaiters: 10000 };
const options = resolveClusterOptions(
  { etcdEndpoints: endpoints.split(','), cluster, nodeId, advertise: '127.0.0.1:1', partitions: Number(partitions), nodeTtlMs: Number(nodeTtlMs), etcdCallTimeoutMs: 1000 },
  {},
);
startClusterNode(options, limits, systemClock, { claimGraceMs: 300, reconcileMs: 200, settleMs: 60000 }).then(
  (node) => {
    let last = '';
    setInterval(() => {
      const owned = JSON.stringify(node.manager.owned());
      if (owned !== last) process.stdout.write(`owned ${(last = owned)}\n`);
    }, 50);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
