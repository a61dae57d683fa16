/**
 * Real etcd members (Debian's /usr/bin/etcd, 3.4) for cluster-mode tests, on loopback.
 *
 *   const etcd = await startEtcd({ members: 3 });   // healthy, a leader elected
 *   const client = new Etcd3({ hosts: etcd.endpoints });
 *   etcd.pause(0); ... etcd.resume(0);             // SIGSTOP / SIGCONT a member
 *   await etcd.stop();                              // SIGCONT + SIGTERM by pid, then data dirs removed
 *
 * Each member gets two free loopback ports (client, peer) and a temporary data dir; heartbeat
 * 100 ms and election 1000 ms (etcd's defaults, so the lease floor is 2 s). Members are started
 * through a small sh guard that kills the member when this test process goes away (its stdin
 * pipe reaches EOF), so a crashed or killed jest leaves no etcd behind. Every cluster started
 * here is registered and stopped by `afterAll` in the importing test file.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The etcd binary; ETCD_BIN overrides it (a developer machine with etcd elsewhere). */
export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const HEALTH_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const POLL_MS = 50;

/**
 * Runs etcd ("$@") in the background and waits for it; a watcher reading the saved stdin kills
 * it with SIGKILL when that pipe closes (the test process died). The member's pid is printed
 * first so the test signals etcd itself, never the shell.
 */
const GUARD = [
  'exec 3<&0',
  '"$0" "$@" </dev/null >>"$ETCD_LOG" 2>&1 & pid=$!',
  'echo "etcd-pid $pid"',
  '{ cat >/dev/null; kill -9 $pid 2>/dev/null; } <&3 & watcher=$!',
  'wait $pid; rc=$?',
  'kill $watcher 2>/dev/null',
  'exit $rc',
].join('\n');

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** http://127.0.0.1:clientPort */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Pid of the running etcd process; undefined while it is stopped or killed. */
  pid: number | undefined;
}

export interface StartEtcdOptions {
  /** 1 or 3 members. Default 1. */
  members?: 1 | 3;
  /** Extra flags for every member (e.g. --auto-compaction-retention). */
  extraArgs?: string[];
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client endpoints of every member, for `new Etcd3({ hosts })`. */
  readonly endpoints: string[];
  /** SIGSTOP a member (a paused process: its sockets stay open, it answers nothing). */
  pause(index: number): void;
  /** SIGCONT a paused member. */
  resume(index: number): void;
  /** SIGKILL a member and wait until it has exited. */
  kill(index: number): Promise<void>;
  /** Starts a killed or stopped member again on its ports and data dir; resolves when healthy. */
  restart(index: number): Promise<void>;
  /** Index of the member that reports itself leader (asks each running member's /v3 status). */
  leader(): Promise<number>;
  /** Stops every member (SIGCONT, SIGTERM, SIGKILL after a grace period) and removes the data dirs. */
  stop(): Promise<void>;
  /** The last `bytes` of every member's log, for failure messages. */
  logs(bytes?: number): Promise<string>;
}

interface Running {
  guard: ChildProcess;
  exited: Promise<void>;
}

const clusters = new Set<EtcdCluster>();
if (typeof afterAll === 'function') afterAll(stopAllEtcd);

/** Stops every cluster started in this process. */
export async function stopAllEtcd(): Promise<void> {
  await Promise.all([...clusters].map((cluster) => cluster.stop()));
}

/** Starts `members` etcd members on free loopback ports; resolves once every member is healthy. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const count = options.members ?? 1;
  const root = await mkdtemp(path.join(os.tmpdir(), 'lockd-etcd-'));
  const ports = await freePorts(count * 2);
  const members: EtcdMember[] = [];
  for (let i = 0; i < count; i++) {
    const name = `e${i + 1}`;
    const clientPort = ports[2 * i];
    const peerPort = ports[2 * i + 1];
    members.push({
      name,
      clientPort,
      peerPort,
      endpoint: `http://127.0.0.1:${clientPort}`,
      dataDir: path.join(root, name),
      logFile: path.join(root, `${name}.log`),
      pid: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const token = `lockd-test-${process.pid}-${path.basename(root)}`;
  const running = new Map<number, Running>();

  const argsOf = (m: EtcdMember) => [
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', m.endpoint,
    '--advertise-client-urls', m.endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
    '--initial-cluster', initialCluster,
    '--initial-cluster-token', token,
    '--initial-cluster-state', 'new',
    '--heartbeat-interval', '100',
    '--election-timeout', '1000',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...(options.extraArgs ?? []),
  ];

  const launch = async (index: number): Promise<void> => {
    const m = members[index];
    const guard = spawn('/bin/sh', ['-c', GUARD, ETCD_BIN, ...argsOf(m)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ETCD_LOG: m.logFile, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' },
    });
    guard.stdin!.on('error', () => {});
    const exited = new Promise<void>((resolve) => {
      guard.once('close', () => resolve());
      guard.once('error', () => resolve());
    });
    running.set(index, { guard, exited });
    exited.then(() => {
      if (running.get(index)?.guard === guard) running.delete(index);
      m.pid = undefined;
    });
    m.pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`etcd ${m.name}: no pid from the guard within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
      guard.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /etcd-pid (\d+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`etcd ${m.name}: the guard exited before starting etcd`));
      });
    });
  };

  const signal = (index: number, sig: NodeJS.Signals) => {
    const pid = members[index].pid;
    if (pid === undefined) throw new Error(`etcd ${members[index].name} is not running`);
    process.kill(pid, sig);
  };

  const waitHealthy = async (indexes: number[]) => {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    for (const i of indexes) {
      for (;;) {
        if (await healthy(members[i].endpoint)) break;
        if (members[i].pid === undefined) throw new Error(`etcd ${members[i].name} exited before it was healthy:\n${await cluster.logs()}`);
        if (Date.now() > deadline) throw new Error(`etcd ${members[i].name} not healthy within ${HEALTH_TIMEOUT_MS} ms:\n${await cluster.logs()}`);
        await sleep(POLL_MS);
      }
    }
  };

  let stopped: Promise<void> | undefined;
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    pause: (i) => signal(i, 'SIGSTOP'),
    resume: (i) => signal(i, 'SIGCONT'),
    async kill(i) {
      const run = running.get(i);
      signal(i, 'SIGKILL');
      await run?.exited;
    },
    async restart(i) {
      if (running.has(i)) throw new Error(`etcd ${members[i].name} is still running`);
      await launch(i);
      await waitHealthy([i]);
    },
    async leader() {
      for (let i = 0; i < members.length; i++) {
        if (members[i].pid === undefined) continue;
        const status = await memberStatus(members[i].endpoint);
        if (status !== undefined && status.leader === status.header.member_id) return i;
      }
      throw new Error('no running etcd member reports itself leader');
    },
    stop() {
      stopped ??= (async () => {
        clusters.delete(cluster);
        await Promise.all(
          [...running.entries()].map(async ([i, run]) => {
            const pid = members[i].pid;
            if (pid !== undefined) {
              tryKill(pid, 'SIGCONT');
              tryKill(pid, 'SIGTERM');
            }
            const timer = setTimeout(() => pid !== undefined && tryKill(pid, 'SIGKILL'), STOP_GRACE_MS);
            await run.exited;
            clearTimeout(timer);
            run.guard.stdin!.end();
          }),
        );
        await rm(root, { recursive: true, force: true });
      })();
      return stopped;
    },
    async logs(bytes = 2000) {
      const parts = await Promise.all(
        members.map(async (m) => `--- ${m.name} ---\n${(await readFile(m.logFile, 'utf8').catch(() => '')).slice(-bytes)}`),
      );
      return parts.join('\n');
    },
  };
  clusters.add(cluster);
  try {
    for (let i = 0; i < count; i++) await launch(i);
    await waitHealthy(members.map((_, i) => i));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** `count` distinct ports the kernel calls free right now (bound on 127.0.0.1, then closed). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

/** etcd's gRPC-gateway status of one member (leader and own member id), or undefined if it does not answer. */
async function memberStatus(endpoint: string): Promise<{ leader: string; header: { member_id: string } } | undefined> {
  try {
    const response = await fetch(`${endpoint}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
    return (await response.json()) as { leader: string; header: { member_id: string } };
  } catch {
    return undefined;
  }
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
