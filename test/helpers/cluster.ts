/**
 * A whole lockd cluster as real processes, for cluster-mode integration tests: etcd members
 * (test/helpers/etcd.ts) and N lockd nodes (test/helpers/lockd-process.ts) started with the
 * cluster flags, every node reaching every etcd member through its own TCP proxy
 * (test/helpers/tcp-proxy.ts) so a test can cut one node off etcd.
 *
 *   const cluster = await startCluster({ nodes: 3, partitions: 16, nodeTtl: '3s' });
 *   await cluster.settled();                       // every partition on its preferred node (no hand-off left)
 *   const c = await cluster.connect(1);            // ThriftConnection to node 1
 *   cluster.ownerOf('key')                         // index of the node owning the key's partition
 *   await cluster.killNode(0); await cluster.startNode(0);   // kill -9, restart on the same port
 *   cluster.pauseNode(2); cluster.resumeNode(2);   // SIGSTOP / SIGCONT
 *   cluster.cutNode(1); cluster.healNode(1);       // blackhole / restore node 1's etcd traffic
 *   await cluster.etcd.leader();                   // the etcd leader's member index
 *   await cluster.stop();
 *
 * Readiness is the nodes' ready line and clusterInfo answers, never a sleep. Stops are by pid
 * (SIGCONT, SIGTERM, SIGKILL after a grace period); the modules used register afterAll clean-ups.
 */
import { crc32 } from 'node:zlib';
import { Etcd3 } from 'etcd3';
import { ThriftConnection } from '../../src/client/thrift-connection';
import { PartitionManager } from '../../src/cluster/partition-manager';
import { CALL_WRITERS, type CallArgs, type CallWriter, type MethodName, type ResultOf } from '../../src/protocol/lock-service/client';
import type { WireClusterInfo } from '../../src/protocol/lock-service/structs';
import { type EtcdCluster, freePorts, startEtcd } from './etcd';
import { type LockdProcess, startLockd } from './lockd-process';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

export interface StartClusterOptions {
  /** lockd nodes; default 3. */
  nodes?: number;
  /** etcd members; default 3. */
  etcdMembers?: 1 | 3;
  /** --partitions; default 16. */
  partitions?: number;
  /** --node-ttl as lockd takes it; default '3s'. */
  nodeTtl?: string;
  /** --cluster; default 'test'. */
  name?: string;
  /** Extra lockd flags for every node. */
  extraArgs?: string[];
  /** --log-level; default 'warn' (the output is kept for failure messages). */
  logLevel?: string;
}

/** One lockd node of the cluster: fixed id, port and proxies; a process while running. */
export interface ClusterNodeHandle {
  readonly index: number;
  readonly nodeId: string;
  readonly port: number;
  /** 127.0.0.1:port */
  readonly address: string;
  /** One proxy per etcd member, in member order; the node is given these endpoints. */
  readonly proxies: readonly TcpProxy[];
  /** The running process, undefined once killed or stopped. */
  process: LockdProcess | undefined;
  /** True between pauseNode and resumeNode. */
  paused: boolean;
  /** Output of earlier (killed or stopped) runs of this node, for failure messages. */
  pastOutput: string;
}

export interface LockdCluster {
  readonly etcd: EtcdCluster;
  readonly nodes: readonly ClusterNodeHandle[];
  readonly partitions: number;
  readonly name: string;
  /** Starts (or restarts) node i on its port; resolves at its ready line. */
  startNode(i: number): Promise<void>;
  /** SIGKILL node i and wait for it to exit. */
  killNode(i: number): Promise<void>;
  /** SIGTERM node i (graceful hand-off), SIGKILL after the grace period; resolves with its exit code. */
  stopNode(i: number): Promise<number | null>;
  /** SIGSTOP node i. */
  pauseNode(i: number): void;
  /** SIGCONT node i. */
  resumeNode(i: number): void;
  /** Node i's etcd traffic is dropped (sockets stay open): it is partitioned from etcd. */
  cutNode(i: number): void;
  /** Node i reaches etcd again. */
  healNode(i: number): void;
  /** A ThriftConnection to node i (closed by stop()). */
  connect(i: number): Promise<ThriftConnection>;
  /** clusterInfo from node `via` (default: the first running, unpaused node). */
  info(via?: number): Promise<WireClusterInfo>;
  /** Partition of a key: crc32(utf8 key) mod partitions. */
  partitionOf(key: string): number;
  /** Index of the node owning `key`'s partition in `info`, or -1 if unowned. */
  ownerOf(key: string, info: WireClusterInfo): number;
  /**
   * Polls clusterInfo (every 100 ms, up to `timeoutMs`, default 40 s) until every partition is
   * owned by its preferred node among `expected` (default: the running, unpaused nodes), where
   * the hand-offs leave it; resolves with that map, which then stays until a node comes or goes.
   */
  settled(expected?: number[], timeoutMs?: number): Promise<WireClusterInfo>;
  /** etcd's database size in bytes (the largest over the running members). */
  etcdDbSize(): Promise<number>;
  /** Every node's output (current and past runs), for failure messages. */
  output(): string;
  /** Stops every node, closes proxies and connections, stops etcd. */
  stop(): Promise<void>;
}

/** Partition of a key as lockd computes it (src/cluster/partitions.ts): crc32(utf8) mod P. */
export function partitionOfKey(key: string, partitions: number): number {
  return crc32(Buffer.from(key, 'utf8')) % partitions;
}

/** A typed call on a ThriftConnection (seqid and reply). */
export function call<M extends MethodName>(connection: ThriftConnection, method: M, args: CallArgs[M], timeoutMs = 30_000) {
  return connection.call(method, CALL_WRITERS[method] as CallWriter<CallArgs[M]>, args, timeoutMs) as { seqid: number; reply: Promise<ResultOf<M>> };
}

/** Connects to 127.0.0.1:port with lockd's default framing (buffered binary). */
export function connectTo(port: number): Promise<ThriftConnection> {
  return ThriftConnection.connect({ host: '127.0.0.1', port, transport: 'buffered', protocol: 'binary', connectTimeoutMs: 5_000, maxMessageBytes: 1 << 20 });
}

const clusters = new Set<LockdCluster>();
if (typeof afterAll === 'function') afterAll(async () => Promise.all([...clusters].map((c) => c.stop())));

/** Starts etcd and the lockd nodes; resolves once every node printed its ready line. */
export async function startCluster(options: StartClusterOptions = {}): Promise<LockdCluster> {
  const count = options.nodes ?? 3;
  const partitions = options.partitions ?? 16;
  const name = options.name ?? 'test';
  const etcd = await startEtcd({ members: options.etcdMembers ?? 3 });
  const ports = await freePorts(count);
  const nodes: ClusterNodeHandle[] = [];
  const connections = new Set<ThriftConnection>();
  for (let i = 0; i < count; i++) {
    const proxies: TcpProxy[] = [];
    for (const m of etcd.members) proxies.push(await startTcpProxy(m.clientPort));
    nodes.push({ index: i, nodeId: `n${i}`, port: ports[i], address: `127.0.0.1:${ports[i]}`, proxies, process: undefined, paused: false, pastOutput: '' });
  }

  const live = (i: number) => nodes[i].process !== undefined && !nodes[i].paused;
  const retire = (node: ClusterNodeHandle) => {
    if (node.process) node.pastOutput += `${node.process.output()}\n[harness] --- ${node.nodeId} ended ---\n`;
    node.process = undefined;
    node.paused = false;
  };

  let stopped: Promise<void> | undefined;
  const cluster: LockdCluster = {
    etcd,
    nodes,
    partitions,
    name,
    async startNode(i) {
      const node = nodes[i];
      if (node.process) throw new Error(`${node.nodeId} is running`);
      const args = [
        '--etcd', node.proxies.map((p) => p.endpoint).join(','),
        '--cluster', name,
        '--node-id', node.nodeId,
        '--port', String(node.port),
        '--advertise', node.address,
        '--partitions', String(partitions),
        '--node-ttl', options.nodeTtl ?? '3s',
        '--log-level', options.logLevel ?? 'warn',
        ...(options.extraArgs ?? []),
      ];
      node.process = await startLockd(args, { readyTimeoutMs: 30_000 });
    },
    async killNode(i) {
      const node = nodes[i];
      const proc = node.process;
      if (!proc) return;
      proc.kill('SIGKILL');
      await proc.exited();
      retire(node);
    },
    async stopNode(i) {
      const node = nodes[i];
      const proc = node.process;
      if (!proc) return null;
      if (node.paused) proc.kill('SIGCONT');
      const code = await proc.stop();
      retire(node);
      return code;
    },
    pauseNode(i) {
      const proc = nodes[i].process;
      if (!proc) throw new Error(`${nodes[i].nodeId} is not running`);
      process.kill(proc.pid, 'SIGSTOP');
      nodes[i].paused = true;
    },
    resumeNode(i) {
      const proc = nodes[i].process;
      if (!proc) throw new Error(`${nodes[i].nodeId} is not running`);
      process.kill(proc.pid, 'SIGCONT');
      nodes[i].paused = false;
    },
    cutNode: (i) => nodes[i].proxies.forEach((p) => p.blackhole()),
    healNode: (i) => nodes[i].proxies.forEach((p) => p.pass()),
    async connect(i) {
      const connection = await connectTo(nodes[i].port);
      connections.add(connection);
      connection.onClose(() => connections.delete(connection));
      return connection;
    },
    async info(via) {
      const i = via ?? nodes.findIndex((_, j) => live(j));
      if (i < 0) throw new Error('no node is running');
      const connection = await connectTo(nodes[i].port);
      try {
        return await call(connection, 'clusterInfo', undefined, 10_000).reply;
      } finally {
        connection.close();
      }
    },
    partitionOf: (key) => partitionOfKey(key, partitions),
    ownerOf(key, info) {
      const owner = info.owners[partitionOfKey(key, partitions)];
      return nodes.findIndex((n) => n.nodeId === owner);
    },
    async settled(expected, timeoutMs = 40_000) {
      const want = new Set((expected ?? nodes.map((n) => n.index).filter(live)).map((i) => nodes[i].nodeId));
      const deadline = Date.now() + timeoutMs;
      let last: WireClusterInfo | string = 'no answer yet';
      for (;;) {
        const vias = [...want].map((id) => nodes.findIndex((n) => n.nodeId === id)).filter(live);
        try {
          // Settled = every partition on its preferred node (rendezvous hash over the wanted
          // nodes), as every one of them sees it: no hand-off is left to move a partition under
          // the test's feet, and no node's map lags behind.
          const views = await Promise.all(vias.map((i) => cluster.info(i)));
          last = views[0] ?? last;
          const placed = (info: WireClusterInfo) => info.owners.length === partitions && info.owners.every((o, p) => o === PartitionManager.preferred(p, want));
          if (views.length > 0 && views.every(placed)) return views[0]!;
        } catch (error) {
          last = String(error);
        }
        if (Date.now() > deadline) throw new Error(`cluster not settled on ${[...want].join(',')} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async etcdDbSize() {
      let size = 0;
      for (const m of etcd.members) {
        if (m.pid === undefined) continue;
        const one = new Etcd3({ hosts: [m.endpoint] });
        try {
          size = Math.max(size, Number((await one.maintenance.status()).dbSize));
        } finally {
          one.close();
        }
      }
      return size;
    },
    output() {
      return nodes.map((n) => `=== ${n.nodeId} (${n.address}) ===\n${n.pastOutput}${n.process?.output() ?? '[not running]'}`).join('\n');
    },
    stop() {
      stopped ??= (async () => {
        clusters.delete(cluster);
        for (const connection of connections) connection.close();
        await Promise.all(nodes.map((_, i) => cluster.stopNode(i)));
        await Promise.all(nodes.flatMap((n) => n.proxies.map((p) => p.close())));
        await etcd.stop();
      })();
      return stopped;
    },
  };
  clusters.add(cluster);
  try {
    // In parallel: a node prints its ready line once it has joined, which takes a few claim rounds.
    await Promise.all(nodes.map((_, i) => cluster.startNode(i)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
