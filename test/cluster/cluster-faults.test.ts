/**
 * Cluster mode under faults, with real processes: three etcd members, three lockd nodes, load
 * through all nodes (workload.ts) writing a history, and a bounded loop of faults:
 *   1. kill -9 of the node owning the hot key (then restarted on its port);
 *   2. SIGSTOP of the hot key's owner until the others have taken over, then SIGCONT (the paused
 *      node's in-flight answers and a probe through it go into the history: C5/C1/C4);
 *   3. SIGSTOP of the etcd leader until the load made progress without it, then SIGCONT;
 *   4. the hot key's owner cut off from etcd (its TCP proxies blackholed), then healed.
 * After each fault the load must make progress (counted in grants, no timing thresholds); at the
 * end the checker (checker.ts) must find no violation of C1-C5 in the whole history.
 *
 * CLUSTER_SEED=n replays the workers' choices; CLUSTER_FAULT_ROUNDS=n repeats the four faults;
 * CLUSTER_FAULTS=kill,pause,leader,cut picks some of them (default all); CLUSTER_NODE_TTL sets
 * the nodes' --node-ttl (default 3s); CLUSTER_LOG_LEVEL the nodes' --log-level (default info) and
 * CLUSTER_LOG_FILE where a failing run writes the records of the violating keys and all node logs.
 *
 * At --node-ttl 2s (an etcd leader pause then ends the nodes' sessions and moves partitions) this
 * loop found a lost acknowledged grant in about 1 run of 10: a change appended to a partition
 * that was dropped before its reply's sync was issued was acknowledged unwritten (fixed: the
 * backend's sync now fails for a partition no longer open under the claim the change went to;
 * test/cluster/cluster-backend.test.ts reproduces it directly; none in 21 runs at 2s since). CI
 * runs it at 3s, where a loaded machine's slow etcd ends sessions less often; CLUSTER_NODE_TTL=2s
 * is the harsher setting.
 */
import { writeFileSync } from 'node:fs';
import { type LockdCluster, call, startCluster } from '../helpers/cluster';
import { checkHistory, summarize, type OpRecord } from './checker';
import { Workload } from './workload';

const ROUNDS = Number(process.env.CLUSTER_FAULT_ROUNDS ?? 1);
const FAULTS = new Set((process.env.CLUSTER_FAULTS ?? 'kill,pause,leader,cut').split(','));
jest.setTimeout(60_000 + ROUNDS * 120_000);

const HOT = 'hot';
/** Grants that count as "the load made progress". */
const PROGRESS = 8;
/** Bound on each wait for progress or settling (generous: failover is node TTL + a few s). */
const BOUND_MS = 30_000;

let cluster: LockdCluster;

beforeAll(async () => {
  // 'info' logs each partition's claims and departures: what a violation's diagnosis needs.
  cluster = await startCluster({ nodes: 3, partitions: 8, nodeTtl: process.env.CLUSTER_NODE_TTL ?? '3s', name: 'faults', logLevel: process.env.CLUSTER_LOG_LEVEL ?? 'info' });
  await cluster.settled();
});

afterAll(async () => {
  await cluster?.stop();
});

/** The records of the keys that violations name, in invoke order: what a diagnosis starts from. */
function timeline(records: readonly OpRecord[], violations: readonly { message: string }[]): string {
  const keys = new Set(violations.map((v) => v.message.slice(0, v.message.indexOf(':'))));
  return records
    .filter((r) => keys.has(r.key))
    .sort((a, b) => a.invokeAt - b.invokeAt)
    .map((r) => `${new Date(r.invokeAt).toISOString()} +${r.ackAt - r.invokeAt}ms ${r.op} ${r.key} ${r.client} via ${r.node} ${'token' in r ? r.token.slice(0, 8) : ''} ${JSON.stringify(r.outcome)}`)
    .join('\n');
}

/** An inspect of `key` through node i, recorded into the history (a probe of what that node answers). */
async function probe(load: Workload, i: number, key: string): Promise<void> {
  const connection = await cluster.connect(i);
  const invokeAt = Date.now();
  const node = cluster.nodes[i].nodeId;
  let record: OpRecord;
  try {
    const info = await call(connection, 'inspect', { key }, 15_000).reply;
    record = { op: 'inspect', client: 'probe', node, key, invokeAt, ackAt: Date.now(), outcome: { kind: 'ok', fences: info.holders.map((h) => h.fence) } };
  } catch (error) {
    record = { op: 'inspect', client: 'probe', node, key, invokeAt, ackAt: Date.now(), outcome: { kind: 'error', error: String(error) } };
  } finally {
    connection.close();
  }
  load.records.push(record);
}

test('faults under load: kill -9 / SIGSTOP of the owner, SIGSTOP of the etcd leader, owner cut off from etcd; no violation of C1-C5', async () => {
  const seed = Number(process.env.CLUSTER_SEED ?? Date.now() % 1_000_000);
  const keys = [HOT, HOT, 'k/1', 'k/2', 'k/3']; // the hot key drawn twice as often
  const load = new Workload(cluster, { keys, workers: 9, ttlMs: 2_000, waitMs: 1_500, longHoldRatio: 0.03, seed }).start();
  const log: string[] = [];
  const step = (text: string) => log.push(`${new Date().toISOString()} ${text} (grants ${load.grants()}, hot ${load.grants(HOT)})`);
  try {
    await load.progress(PROGRESS, BOUND_MS);
    for (let round = 0; round < ROUNDS; round++) {
      let owner: number;
      // 1. kill -9 of the hot key's owner; the others take its partitions over.
      if (FAULTS.has('kill')) {
        owner = cluster.ownerOf(HOT, await cluster.settled());
        step(`round ${round}: kill -9 ${cluster.nodes[owner].nodeId}`);
        await cluster.killNode(owner);
        await load.progress(PROGRESS, BOUND_MS, HOT);
        step('hot key granted through the survivors; restarting');
        await cluster.startNode(owner);
        await cluster.settled();
        await load.progress(PROGRESS, BOUND_MS);
      }

      // 2. SIGSTOP of the owner: the others take over; resumed, it must not answer as owner.
      if (FAULTS.has('pause')) {
        owner = cluster.ownerOf(HOT, await cluster.settled());
        step(`SIGSTOP ${cluster.nodes[owner].nodeId}`);
        cluster.pauseNode(owner);
        await load.progress(PROGRESS, BOUND_MS, HOT);
        step(`hot key granted elsewhere; SIGCONT ${cluster.nodes[owner].nodeId}`);
        cluster.resumeNode(owner);
        await probe(load, owner, HOT);
        await cluster.settled();
        await load.progress(PROGRESS, BOUND_MS, HOT);
      }

      // 3. SIGSTOP of the etcd leader: calls resume on the remaining quorum.
      if (FAULTS.has('leader')) {
        const leader = await cluster.etcd.leader();
        const ownersBefore = (await cluster.info()).owners.join(',');
        step(`SIGSTOP etcd leader ${cluster.etcd.members[leader].name}`);
        cluster.etcd.pause(leader);
        try {
          await load.progress(PROGRESS, BOUND_MS, HOT);
        } finally {
          cluster.etcd.resume(leader);
        }
        step(`progress without the etcd leader; SIGCONT; partitions moved: ${(await cluster.info()).owners.join(',') !== ownersBefore}`);
        await load.progress(PROGRESS, BOUND_MS);
      }

      // 4. The owner cut off from etcd: it must stop serving its keys; the others take over.
      if (FAULTS.has('cut')) {
        owner = cluster.ownerOf(HOT, await cluster.settled());
        step(`cut ${cluster.nodes[owner].nodeId} off etcd`);
        cluster.cutNode(owner);
        await load.progress(PROGRESS, BOUND_MS, HOT);
        await probe(load, owner, HOT);
        step(`hot key granted elsewhere; healing ${cluster.nodes[owner].nodeId}`);
        cluster.healNode(owner);
        await cluster.settled();
        await load.progress(PROGRESS, BOUND_MS, HOT);
        await probe(load, owner, HOT);
        step('healed');
      }
    }
  } catch (error) {
    throw new Error(`${String(error)}\nsteps:\n${log.join('\n')}\nseed ${seed}\n${cluster.output().slice(-6000)}`);
  } finally {
    await load.stop();
  }
  const violations = checkHistory(load.records);
  const summary = `seed ${seed}: ${load.records.length} records, ${load.grants()} grants (hot ${load.grants(HOT)}), ${JSON.stringify(summarize(violations))}, errors ${JSON.stringify([...load.errors])}`;
  process.stderr.write(`${summary}\n${log.join('\n')}\n`);
  if (violations.length > 0) {
    const output = cluster.output();
    process.stderr.write(`${timeline(load.records, violations)}\n${output.slice(-40_000)}\n`);
    // CLUSTER_LOG_FILE=path keeps every node's whole output (with CLUSTER_LOG_LEVEL=debug: each journal commit).
    if (process.env.CLUSTER_LOG_FILE) writeFileSync(process.env.CLUSTER_LOG_FILE, `${timeline(load.records, violations)}\n${output}`);
  }
  expect({ summary, violations: violations.slice(0, 10) }).toEqual({ summary, violations: [] });
});
