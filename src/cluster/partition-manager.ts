/**
 * Which partitions this node serves (design study §4.3). Every second, and on every change under
 * nodes/ or owners/ that the watch reports, it reads both prefixes (linearizably: the watch is
 * only a hint) and reconciles:
 * - a free partition whose preferred node (rendezvous hash over live nodes) is this one, or that
 *   stayed free longer than the claim grace, is claimed (create-if-absent on owners/p with the
 *   node lease; up to 32 partitions in one txn that also reads their journals' start), its
 *   journal replayed, then adopted;
 * - a partition of ours whose owner key is gone or was re-created by someone else is dropped at once;
 * - a partition of ours whose preferred node is another live node (up for longer than the
 *   settle time) is handed off, up to 4 per round: evicted, then owners/p deleted under our claim;
 * - a partition claimed in our name that we do not serve (a claim whose txn timed out but
 *   committed) is given back.
 * Another node's claim, seen by the watch, updates the owner map at once, so calls forwarded
 * here find a failed-over key's new owner without waiting for the next round.
 * When the node session ends (ownership deadline, lease gone) every partition is dropped at once,
 * and the manager starts a new session and claims again once etcd answers.
 */
import { createHash } from 'node:crypto';
import type { Etcd3, Watcher } from 'etcd3';
import type { EtcdJournal, PartitionReplay } from './etcd-journal';
import { type ClusterKeys, prefixEnd } from './keys';
import type { NodeSession } from './node-session';
import { type ClaimedRead, claimPartition, claimPartitions, releasePartition } from './ownership';

/**
 * Partitions handed to a newly settled node per reconcile round, at once: a join moves its share
 * in seconds, while each hand-off still refuses only its own partition's calls while it drains.
 */
const HANDOFFS_PER_ROUND = 4;
/** Free partitions claimed in one txn (claimPartitions: at most 42). */
const CLAIM_GROUP = 32;
/** Log entries of each partition the claim's txn reads (the rest is paged after it): a whole log compacted at 16 KiB. */
const CLAIM_LOG_PAGE = 256;
/** Replays that read past the claim's first page, at once (each a few etcd round trips). */
const REPLAY_CONCURRENCY = 4;
/** One-by-one claims (txn + journal replay) run at once when a group claim lost a race. */
const CLAIM_CONCURRENCY = 8;

export interface PartitionManagerOptions {
  nodeId: string;
  partitions: number;
  /** A partition free this long is claimed by any node, preferred or not. Default 2000 ms. */
  claimGraceMs?: number;
  /** A node must be registered this long before partitions are handed to it. Default 5000 ms. */
  settleMs?: number;
  /** Reconcile period. Default 1000 ms. */
  reconcileMs?: number;
  /** Sends the claims (their answers carry the first page of each journal): the journal's bulk client. Default: the manager's client. */
  claimClient?: Etcd3;
}

/** What the owner of the tables (the cluster backend) does when a partition arrives or leaves. */
export interface PartitionHooks {
  /** p is ours from now: build its table from the replay. Called only while the session is live. */
  adopt(p: number, replay: PartitionReplay): void;
  /** p is no longer ours (lost, handed off, session ended): stop answering for it, answer its waiters. */
  evict(p: number, reason: string): void;
}

/** A registered node as nodes/<id> describes it. */
export interface NodeInfo {
  readonly id: string;
  readonly addr: string;
  /** Local monotonic time this node was first seen registered. */
  readonly seenAt: number;
}

export class PartitionManager {
  private readonly mine = new Map<number, string>();
  private readonly owners = new Map<number, string>();
  private readonly freeSince = new Map<number, number>();
  /** Owner changes the watch reported, with their revision: kept over a round's older read. */
  private readonly watched = new Map<number, { nodeId: string | undefined; revision: bigint }>();
  /** Partitions being handed off: refused to new calls while their last batch commits. */
  private readonly draining = new Set<number>();
  /** Partitions claimed whose journal is still being replayed: not served yet. */
  private readonly replaying = new Set<number>();
  private nodes = new Map<string, NodeInfo>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: Watcher | undefined;
  private watching = false;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly claimGraceMs: number;
  private readonly settleMs: number;
  private readonly reconcileMs: number;
  /** Claims that committed, for tests and metrics. */
  claims = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    private readonly session: NodeSession,
    private readonly journal: EtcdJournal,
    private readonly hooks: PartitionHooks,
    private readonly options: PartitionManagerOptions,
  ) {
    this.claimGraceMs = options.claimGraceMs ?? 2_000;
    this.settleMs = options.settleMs ?? 5_000;
    this.reconcileMs = options.reconcileMs ?? 1_000;
    session.onEnd((why) => {
      for (const p of [...this.mine.keys()]) this.drop(p, `the node session ended (${why})`);
      this.trigger();
    });
    journal.addListener({ partitionLost: (p, reason) => this.drop(p, reason) });
  }

  /** Partitions this node serves now (claimed and replayed, session live, not being handed off). */
  owned(): number[] {
    return [...this.mine.keys()].filter((p) => this.serves(p)).sort((a, b) => a - b);
  }

  /** True while this node may answer for p. */
  serves(p: number): boolean {
    return this.mine.has(p) && !this.replaying.has(p) && !this.draining.has(p) && this.session.live();
  }

  /** The node owning p as last read (undefined: none), and its address when known. */
  ownerOf(p: number): { nodeId: string; addr: string | undefined } | undefined {
    const nodeId = this.owners.get(p);
    return nodeId === undefined ? undefined : { nodeId, addr: this.nodes.get(nodeId)?.addr };
  }

  /** Live nodes as last read. */
  liveNodes(): NodeInfo[] {
    return [...this.nodes.values()];
  }

  /** Starts the session if needed, the watch and the reconcile loop; resolves after the first round. */
  async start(): Promise<void> {
    this.stopped = false;
    this.timer = setInterval(() => this.trigger(), this.reconcileMs);
    this.timer.unref();
    this.trigger();
    await this.running;
  }

  /** Stops reconciling and keeps every claim: what a crashed node leaves behind (tests). */
  halt(): void {
    this.stopped = true;
    clearInterval(this.timer);
    void this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.watching = false;
  }

  /**
   * Stops reconciling and hands every partition back (deleting owners/p under our claim), so
   * other nodes claim them without waiting for the lease to expire.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.watching = false;
    await this.running;
    for (const [p, claimRev] of [...this.mine]) {
      await this.handOff(p, claimRev, 'this node is leaving').catch(() => undefined);
    }
  }

  /** Runs a reconcile round now (or right after the one running). */
  trigger(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcile();
        } catch {
          // etcd unreachable or slow: the next round tries again; the session deadline guards serving.
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
  }

  /** The preferred owner of p among `nodeIds`: highest hash(nodeId, p) (rendezvous hashing). */
  static preferred(p: number, nodeIds: Iterable<string>): string | undefined {
    let best: string | undefined;
    let bestScore = -1;
    for (const id of nodeIds) {
      const score = createHash('sha1').update(`${id}\0${p}`).digest().readUInt32BE(0);
      if (score > bestScore || (score === bestScore && best !== undefined && id < best)) {
        best = id;
        bestScore = score;
      }
    }
    return best;
  }

  private async reconcile(): Promise<void> {
    if (this.session.lease === undefined) await this.session.start();
    this.ensureWatch();
    const now = performance.now();
    const [nodesRead, ownersRead] = await Promise.all([
      this.client.kv.range({ key: Buffer.from(this.keys.nodesPrefix), range_end: prefixEnd(this.keys.nodesPrefix) }),
      this.client.kv.range({ key: Buffer.from(this.keys.ownersPrefix), range_end: prefixEnd(this.keys.ownersPrefix) }),
    ]);
    const nodes = new Map<string, NodeInfo>();
    for (const kv of nodesRead.kvs) {
      const id = kv.key.toString().slice(this.keys.nodesPrefix.length);
      const addr = (JSON.parse(kv.value.toString()) as { addr: string }).addr;
      nodes.set(id, { id, addr, seenAt: this.nodes.get(id)?.seenAt ?? now });
    }
    this.nodes = nodes;
    const ownerRevs = new Map<number, string>();
    this.owners.clear();
    for (const kv of ownersRead.kvs) {
      const p = this.keys.partitionOfOwnerKey(kv.key.toString());
      if (p === undefined) continue;
      this.owners.set(p, kv.value.toString());
      ownerRevs.set(p, kv.create_revision);
    }
    // The watch may have told of newer changes while this read was on its way: they stand.
    const readRevision = BigInt(ownersRead.header.revision);
    for (const [p, seen] of this.watched) {
      if (seen.revision <= readRevision) this.watched.delete(p);
      else if (!this.mine.has(p)) this.noteOwner(p, seen.nodeId);
    }
    // Ours no longer (owner key gone or re-created): stop at once.
    for (const [p, claimRev] of [...this.mine]) {
      if (ownerRevs.get(p) !== claimRev) this.drop(p, 'its owner key in etcd is no longer our claim');
    }
    // Claimed in our name but not served: a claim txn that timed out yet committed, or a claim of
    // an earlier session. Nobody would serve it until that lease ends (ours, kept alive: never),
    // so give it back; the claims below take it again properly.
    for (const [p, claimRev] of ownerRevs) {
      if (this.owners.get(p) === this.options.nodeId && !this.mine.has(p)) {
        if (await releasePartition(this.client, this.keys, p, claimRev)) {
          this.owners.delete(p);
          ownerRevs.delete(p);
        }
      }
    }
    const me = this.options.nodeId;
    const settled = [...nodes.values()].filter((n) => n.id === me || now - n.seenAt >= this.settleMs).map((n) => n.id);
    const handOffs: Array<Promise<void>> = [];
    const claimable: number[] = [];
    for (let p = 0; p < this.options.partitions; p++) {
      if (!this.session.live() || this.stopped) break;
      if (this.owners.has(p)) {
        this.freeSince.delete(p);
        if (handOffs.length < HANDOFFS_PER_ROUND && this.mine.has(p)) {
          const preferred = PartitionManager.preferred(p, settled);
          if (preferred !== undefined && preferred !== me) handOffs.push(this.handOff(p, this.mine.get(p)!, `handed off to ${preferred}`));
        }
        continue;
      }
      const since = this.freeSince.get(p) ?? now;
      this.freeSince.set(p, since);
      if (PartitionManager.preferred(p, nodes.keys()) === me || now - since >= this.claimGraceMs) claimable.push(p);
    }
    await Promise.all(handOffs);
    if (!this.session.live() || this.stopped) return;
    await this.claimAll(claimable);
  }

  /**
   * Claims several partitions at once: a dead node's partitions must not come back one round trip
   * after another. Up to CLAIM_GROUP free partitions are claimed in one txn that also reads the
   * start of each one's journal (claimPartitions); when another node won one of them, that group
   * is claimed one by one, CLAIM_CONCURRENCY at a time. Throws the first failure once every claim
   * has ended.
   */
  private async claimAll(partitions: readonly number[]): Promise<void> {
    const failures: unknown[] = [];
    const single: number[] = [];
    for (let i = 0; i < partitions.length; i += CLAIM_GROUP) {
      const group = partitions.slice(i, i + CLAIM_GROUP);
      const lease = this.session.lease;
      if (lease === undefined || this.stopped) return;
      let claimed;
      try {
        claimed = await claimPartitions(this.options.claimClient ?? this.client, this.keys, group, this.options.nodeId, lease, CLAIM_LOG_PAGE);
      } catch (error) {
        // Ambiguous (it may have committed): the one-by-one claims below find our own owner keys
        // and leave them to expire; the next rounds claim what is really free.
        failures.push(error);
        continue;
      }
      if (claimed === undefined) single.push(...group);
      else {
        // Partitions whose whole log came with the claim are served at once; the rest read on,
        // a few at a time, so etcd keeps room for the journal writes of those already served.
        const adopt = (p: number) => this.adoptClaim(p, claimed.claimRev, claimed.reads.get(p)).catch((error: unknown) => failures.push(error));
        const whole = group.filter((p) => !claimed.reads.get(p)!.more);
        const rest = group.filter((p) => claimed.reads.get(p)!.more);
        await Promise.all([...whole.map(adopt), runLimited(rest, REPLAY_CONCURRENCY, adopt)]);
      }
    }
    await runLimited(single, CLAIM_CONCURRENCY, async (p) => {
      if (this.session.live() && !this.stopped) await this.claim(p).catch((error: unknown) => failures.push(error));
    });
    if (failures.length > 0) throw failures[0];
  }

  private async claim(p: number): Promise<void> {
    const lease = this.session.lease;
    if (lease === undefined) return;
    const outcome = await claimPartition(this.client, this.keys, p, this.options.nodeId, lease);
    if (!outcome.claimed) {
      if (outcome.owner !== undefined) this.owners.set(p, outcome.owner);
      return;
    }
    await this.adoptClaim(p, outcome.claimRev, undefined);
  }

  /** Replays p's journal after our claim at `claimRev` committed (`first`: what the claim read), then serves p. */
  private async adoptClaim(p: number, claimRev: string, first: ClaimedRead | undefined): Promise<void> {
    this.claims++;
    this.mine.set(p, claimRev);
    this.owners.set(p, this.options.nodeId);
    this.freeSince.delete(p);
    let replay: PartitionReplay;
    this.replaying.add(p);
    try {
      replay = await this.journal.open(p, claimRev, first);
    } catch (error) {
      this.drop(p, `replay failed: ${(error as Error).message}`);
      await releasePartition(this.client, this.keys, p, claimRev).catch(() => undefined);
      throw error;
    } finally {
      this.replaying.delete(p);
    }
    // The session may have ended, or the claim been lost, while the log was read.
    if (this.mine.get(p) !== claimRev || !this.session.live()) {
      this.journal.drop(p, 'the claim ended during replay');
      return;
    }
    this.hooks.adopt(p, replay);
  }

  /**
   * Graceful hand-off: new calls for p are refused (UNAVAILABLE), the changes already made are
   * committed, then p is dropped (its waiters answered UNAVAILABLE) and owners/p deleted under our
   * claim, so the next owner claims at once and replays every acknowledged change.
   */
  private async handOff(p: number, claimRev: string, reason: string): Promise<void> {
    this.draining.add(p);
    try {
      await new Promise<void>((resolve) => this.journal.sync(p, () => resolve()));
      this.drop(p, reason);
      await releasePartition(this.client, this.keys, p, claimRev);
    } finally {
      this.draining.delete(p);
    }
  }

  private drop(p: number, reason: string): void {
    if (!this.mine.delete(p)) return;
    // Not ours any more; who owns it now is known at the next read.
    if (this.owners.get(p) === this.options.nodeId) this.owners.delete(p);
    this.journal.drop(p, reason);
    this.hooks.evict(p, reason);
  }

  /**
   * A change of owners/p that the watch reported (nodeId undefined: deleted): the owner map, which
   * forwarding routes by, learns it now rather than at the next round, and keeps it over a round
   * whose read is older. Our own partitions are never changed here: a round's read decides
   * whether we lost one.
   */
  private ownerSeen(key: string, nodeId: string | undefined, modRevision: string): void {
    const p = this.keys.partitionOfOwnerKey(key);
    if (p === undefined) return;
    this.watched.set(p, { nodeId, revision: BigInt(modRevision) });
    if (!this.mine.has(p)) this.noteOwner(p, nodeId);
    if (nodeId === undefined) this.trigger();
  }

  private noteOwner(p: number, nodeId: string | undefined): void {
    if (nodeId === undefined) {
      this.owners.delete(p);
      return;
    }
    this.owners.set(p, nodeId);
    this.freeSince.delete(p);
  }

  /** Starts the watch in the background: a round never waits for it (etcd3 retries its creation while etcd is away). */
  private ensureWatch(): void {
    if (this.watching || this.stopped) return;
    this.watching = true;
    // A hint only: a deleted owner key (a partition freed) runs a round at once, which reads again.
    this.client
      .watch()
      .prefix(this.keys.ownersPrefix)
      .create()
      .then(
        (watcher) => {
          if (this.stopped) {
            void watcher.cancel().catch(() => undefined);
            return;
          }
          this.watcher = watcher;
          watcher.on('delete', (kv) => this.ownerSeen(kv.key.toString(), undefined, kv.mod_revision));
          watcher.on('put', (kv) => this.ownerSeen(kv.key.toString(), kv.value.toString(), kv.mod_revision));
          watcher.on('error', () => {
            if (this.watcher !== watcher) return;
            this.watcher = undefined;
            this.watching = false;
          });
        },
        () => (this.watching = false),
      );
  }
}

/** Runs `task` over `items`, at most `limit` at a time; resolves when all have ended. */
async function runLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
