/**
 * lockctl: lockd for people and shell scripts. Data goes to stdout (one JSON object per outcome
 * with --json, failures included), diagnostics to stderr, and the exit code says what happened
 * (see EXIT).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LockClient, LockInfo } from '../client/lock-client';
import type { Lease } from '../client/lease';
import { ClientOptions, parseAddress, parseAddressList } from '../client/options';
import { CallTimeoutError, ConfigError, ConnectionError, InvalidArgumentError, LockdError, LockTimeoutError, PermissionDeniedError, UnauthenticatedError, UnavailableError } from '../errors';
import { formatCliDuration, parseCliDuration } from './durations';
import { clusterJson, describeCluster } from './cluster-view';
import { describeLease, describeLock, describeTimeout, errorJson, JSON_HELP, leaseJson, lockJson } from './render';
import { securityOptions, SECURITY_FLAGS, SECURITY_HELP } from './security-flags';
import { showWaitProgress } from './wait-progress';
// Operations commands (metrics, drain, release --force): kept in their own module.
import { FORCE_RELEASE_HELP, OPS_HELP, OPS_OPTIONS, OpsUsageError, runOpsCommand } from './lockctl-ops';

/** lockctl's exit codes. */
export const EXIT = { OK: 0, NOT_ACQUIRED: 1, USAGE: 2, UNREACHABLE: 3, REFUSED: 4 } as const;

/** How long a command may outlive SIGTERM after its lease was lost before it gets SIGKILL. */
const KILL_GRACE_MS = 10_000;
/** list's page when --limit is not given (lockd's own default page). */
const DEFAULT_LIST_LIMIT = 100;

/** A command line lockctl cannot run; exit 2. */
class UsageError extends Error {
  readonly code = 'LOCKCTL_USAGE';
}

const GLOBAL_HELP = `usage: lockctl [--addr host:port[,host:port...]] [--json] [--quiet] <command> [args]

commands:
  acquire <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME] [--token T]
                                                 take a lease; prints key, token, fence, expiry
  release <key> --token T                        release a lease
  renew   <key> --token T [--ttl 5m]             extend a lease (by its own TTL unless --ttl)
  status  <key>                                  holders (owner, mode, fence, expiry) and waiters
  list    [prefix] [--limit N]                   held keys (100 unless --limit)
  run     <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME] -- <command> [args...]
                                                 run a command while holding the lock
  ping                                           check that lockd answers
  cluster                                        nodes, the partitions each owns, unowned partitions

operations (over lockd's HTTP listener, --http-addr host:port, default $LOCKD_HTTP_ADDR or 127.0.0.1:9091):
  metrics [--top N]                                                 busiest and most contended key prefixes
  release <key> --force --reason TEXT [--fence N]                   free a lock whatever its holders say
  drain   [--wait D] [--cancel]                                     stop granting new leases; watch holders finish

global flags:
  --addr host:port   lockd's address (default $LOCKD_ADDR, else localhost:9090); several, comma-
                     separated (a:9090,b:9090), are nodes of one cluster: lockctl uses the first
                     that answers and fails over to the next
  --json             one JSON object per outcome on stdout, failures included (shapes below)
  --quiet, -q        no "waiting for ..." line on a terminal
  --version          lockctl's version
  --help, -h         this text; "lockctl <command> --help" explains a command
${SECURITY_HELP}

durations: a bare number is seconds (--wait 10 = 10s, as flock -w); units ms, s, m, h
combine: 250ms, 30s, 1m30s, 1h.
while acquire or run waits and stderr is a terminal, a line there shows who holds the lock and
how many wait ahead (--quiet turns it off).

${JSON_HELP}

examples:
  lockctl --addr lockd.internal:9090 ping
  lockctl --addr node1:9090,node2:9090,node3:9090 cluster
  lockctl run nightly-backup --ttl 1m -- ./backup.sh
  LOCKD_ADDR=localhost:9090 lockctl --json status nightly-backup
exit codes: 0 done, 1 not acquired in time, 2 usage error, 3 cannot reach lockd (also: lockd
went away and was not back in time), 4 refused (NOT_HOLDER, INVALID_ARGUMENT, ...; also a
lease lost during run).`;

const COMMAND_HELP: Record<string, string> = {
  acquire: `usage: lockctl acquire <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME] [--token T]

Takes a lease that outlives lockctl (release it with the printed token, or let it expire).
  --ttl D     lease length (default: lockd's --default-ttl, 30s)
  --wait D    how long to wait for a busy lock (default: until granted; 0 = try once, like flock -n);
              a lockd restart during the wait is ridden out
  --shared    a shared (read) lease instead of an exclusive one
  --owner N   label shown by status (default: user@host:lockctl)
  --token T   re-enter the lease T names (same key and mode): holdCount + 1, same token and
              fence, TTL renewed; release it once per acquire
example:
  token=$(lockctl --json acquire backups/nightly --ttl 5m --wait 10s | jq -r .token)`,
  release: `usage: lockctl release <key> --token T

Releases the lease the token names (once, if it was re-entered). Exit 4 when the token names no
live lease (wrong, released or expired).
example:
  lockctl release backups/nightly --token "$token"`,
  renew: `usage: lockctl renew <key> --token T [--ttl 5m]

Extends a live lease to now + ttl, keeping token and fence. Without --ttl the lease keeps its own
TTL (the one it was granted or last renewed with). Exit 4 when the token names no live lease.
example:
  lockctl renew backups/nightly --token "$token"`,
  status: `usage: lockctl status <key>

Shows who holds the key (owner, mode, fence, expiry) and how many wait. Tokens are never shown.
example:
  lockctl status backups/nightly`,
  list: `usage: lockctl list [prefix] [--limit N]

Lists held keys that start with prefix, in key order, at most N (default 100). When more exist,
says so on stderr ("more" in --json).
example:
  lockctl list backups/ --limit 20`,
  run: `usage: lockctl run <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME] -- <command> [args...]

Holds the lock while the command runs (like flock(1) or etcdctl lock): renews it every third of
the TTL (also across a lockd restart), sets LOCK_KEY and LOCK_FENCE in the command's
environment, forwards SIGINT and SIGTERM, releases afterwards and exits with the command's exit
code (128 + N when signal N ended it). If the lease is lost while the command runs (lockd
refused a renewal, or stayed unreachable past the TTL), the command gets SIGTERM (SIGKILL 10s
later if it is still running) and lockctl exits 4 with a message on stderr.
  --ttl D     lease length (default: lockd's --default-ttl, 30s); renewed every third of it
  --wait D    how long to wait for the lock (default: until granted; exit 1 when it runs out)
  --shared    hold a shared lease (several shared runs at once; none while an exclusive one runs)
  --owner N   label shown by status (default: user@host:lockctl)
example:
  lockctl run db-migrations --ttl 30s --wait 2m -- npm run migrate`,
  ...OPS_HELP,
  ping: `usage: lockctl ping

Prints "pong" when lockd answers; exit 3 when it cannot be reached.
example:
  lockctl --addr lockd.internal:9090 ping`,
  cluster: `usage: lockctl cluster

Shows the lockd cluster as the node lockctl reaches sees it: its name, each node (id, address,
how many partitions it owns and which, as ranges such as 0-15,32) and the partitions that have
no owner right now (a failover in progress: calls on their keys answer UNAVAILABLE until a node
takes them over). Against a single lockd (no --etcd) it says that lockd is not clustered.
Exit 3 when no address answers.
example:
  lockctl --addr node1:9090,node2:9090 cluster`,
};

/** Where results go, and how. */
class Output {
  constructor(
    readonly json: boolean,
    readonly quiet: boolean,
  ) {}

  /** A result: `human` as text, or `json` as one line of JSON. */
  result(human: string, json: unknown): void {
    process.stdout.write(this.json ? `${JSON.stringify(json)}\n` : `${human}\n`);
  }

  /** A diagnostic line on stderr. */
  note(message: string): void {
    process.stderr.write(`lockctl: ${message}\n`);
  }
}

/** Options for acquire and run. */
interface HoldOptions {
  ttlMs: number | undefined;
  waitMs: number;
  mode: 'shared' | 'exclusive';
  owner: string;
  token?: string;
}

/** Runs lockctl with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const separator = argv.indexOf('--');
  const before = separator >= 0 ? argv.slice(0, separator) : argv;
  const childCommand = separator >= 0 ? argv.slice(separator + 1) : [];
  let parsed;
  try {
    parsed = parseArgs({
      args: before,
      allowPositionals: true,
      options: {
        addr: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        ttl: { type: 'string' },
        wait: { type: 'string' },
        shared: { type: 'boolean' },
        owner: { type: 'string' },
        token: { type: 'string' },
        limit: { type: 'string' },
        ...SECURITY_FLAGS,
        ...OPS_OPTIONS,
      },
    });
  } catch (error) {
    return report(new UsageError((error as Error).message), new Output(before.includes('--json'), false));
  }
  const { values, positionals } = parsed;
  const out = new Output(values.json === true, values.quiet === true);
  const [command, ...rest] = positionals;
  if (values.version) {
    out.result(`lockctl ${packageVersion()}`, { version: packageVersion() });
    return EXIT.OK;
  }
  if (values.help || command === undefined || command === 'help') {
    const text = command !== undefined && COMMAND_HELP[command] ? COMMAND_HELP[command] + (command === 'release' ? `\n${FORCE_RELEASE_HELP}` : '') : GLOBAL_HELP;
    process.stdout.write(`${text}\n`);
    return command === undefined && !values.help ? EXIT.USAGE : EXIT.OK;
  }
  let client: LockClient | undefined;
  try {
    if (!(command in COMMAND_HELP)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    const clientOptions: Partial<ClientOptions> = { ...(values.addr !== undefined ? addressOptions(values.addr) : {}), ...securityOptions(values), connectAttempts: 2 };
    client = new LockClient(clientOptions);
    client.on('disconnect', (error) => {
      if (!out.quiet) out.note(`${error.message}; reconnecting`);
    });
    const key = (): string => {
      if (rest[0] === undefined) throw new UsageError(`${command} needs a key`);
      return rest[0];
    };
    const token = (): string => {
      if (values.token === undefined) throw new UsageError(`${command} needs --token`);
      return values.token;
    };
    const hold = (): HoldOptions => ({
      ttlMs: durationFlag('ttl', values.ttl),
      waitMs: durationFlag('wait', values.wait) ?? -1,
      mode: values.shared ? 'shared' : 'exclusive',
      owner: values.owner ?? defaultOwner(),
    });
    switch (command) {
      case 'acquire': {
        const options = { ...hold(), token: values.token };
        const lease = await waitVisibly(client, key(), options, clientOptions, out, false);
        out.result(describeLease(lease, lease.token), leaseJson(lease, lease.token));
        return EXIT.OK;
      }
      // Operations commands ------------------------------------------------------------------
      case 'metrics':
      case 'drain':
        return await runOpsCommand(command, values, rest[0], out);
      case 'release': {
        if (values.force) return await runOpsCommand('force-release', values, rest[0], out);
        // -----------------------------------------------------------------------------------
        if (!(await client.release(key(), token()))) {
          out.note(`not released: the token names no live lease on ${JSON.stringify(key())}`);
          if (out.json) out.result('', { key: key(), released: false });
          return EXIT.REFUSED;
        }
        out.result(`released ${key()}`, { key: key(), released: true });
        return EXIT.OK;
      }
      case 'renew': {
        const state = await client.renew(key(), token(), durationFlag('ttl', values.ttl));
        out.result(`renewed ${key()} for ${formatCliDuration(state.ttlMs)}, until ${new Date(state.expiresAt).toISOString()} (fence ${state.fence})`, leaseJson(state, token()));
        return EXIT.OK;
      }
      case 'status': {
        const info = await client.inspect(key());
        out.result(describeLock(info), lockJson(info));
        return EXIT.OK;
      }
      case 'list':
        return await list(client, rest[0] ?? '', limitFlag(values.limit), out);
      case 'ping':
        out.result(await client.ping(), { pong: true });
        return EXIT.OK;
      case 'cluster': {
        const info = await client.clusterInfo();
        out.result(describeCluster(info), clusterJson(info));
        return EXIT.OK;
      }
      case 'run': {
        if (childCommand.length === 0) throw new UsageError('run needs a command after --');
        const options = hold();
        const lease = await waitVisibly(client, key(), options, clientOptions, out, true);
        return await runHolding(lease, childCommand, out);
      }
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    if (!(error instanceof LockTimeoutError) || client === undefined || rest[0] === undefined) return report(error, out);
    // Name the holder that kept the lock.
    const lock = await client.inspect(rest[0]).catch(() => undefined);
    return report(error, out, { lock, message: describeTimeout(rest[0], durationFlag('wait', values.wait) ?? 0, lock) });
  } finally {
    await client?.close();
  }
}

/** --addr: one host:port, or several separated by commas (the nodes of a cluster, in the order to try them). */
function addressOptions(addr: string): Partial<ClientOptions> {
  const hosts = parseAddressList(addr);
  return hosts.length === 1 ? parseAddress(hosts[0]) : { hosts };
}

/** Acquires, showing the wait on a terminal. */
function waitVisibly(client: LockClient, key: string, options: HoldOptions, clientOptions: Partial<ClientOptions>, out: Output, autoRenew: boolean): Promise<Lease> {
  const acquiring = client.acquire(key, { ...options, autoRenew });
  if (out.quiet || !process.stderr.isTTY || options.waitMs === 0) return acquiring;
  return showWaitProgress(acquiring, key, clientOptions, process.stderr);
}

/** list, with "more keys exist" when the page did not hold them all. */
async function list(client: LockClient, prefix: string, limit: number, out: Output): Promise<number> {
  let infos: LockInfo[];
  let more: boolean;
  try {
    // One more than asked shows whether more exist.
    infos = await client.list(prefix, limit + 1);
    more = infos.length > limit;
    if (more) infos = infos.slice(0, limit);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    infos = await client.list(prefix, limit); // limit is lockd's largest page: a full one may hide more
    more = infos.length === limit;
  }
  if (out.json) out.result('', { locks: infos.map(lockJson), more });
  else process.stdout.write(infos.length === 0 ? 'no locks held\n' : `${infos.map(describeLock).join('\n')}\n`);
  if (more && !out.json) out.note(`more keys exist; use --limit (above ${limit}) or a longer prefix to see them`);
  return EXIT.OK;
}

/** Runs `command` while holding `lease` (renewed in the background); see COMMAND_HELP.run. */
async function runHolding(lease: Lease, command: string[], out: Output): Promise<number> {
  let lost: LockdError | undefined;
  let exitCode: number;
  try {
    const child = spawn(command[0], command.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, LOCK_KEY: lease.key, LOCK_FENCE: String(lease.fence) },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const onLost = () => {
      lost = lease.signal.reason as LockdError;
      out.note(`lost the lock on ${JSON.stringify(lease.key)} while the command ran (${lost?.message}); sending it SIGTERM`);
      child.kill('SIGTERM');
      const killer = setTimeout(() => {
        out.note(`the command outlived SIGTERM by ${KILL_GRACE_MS / 1000}s; sending it SIGKILL`);
        child.kill('SIGKILL');
      }, KILL_GRACE_MS);
      child.once('exit', () => clearTimeout(killer));
    };
    lease.signal.addEventListener('abort', onLost, { once: true });
    try {
      exitCode = await new Promise<number>((resolve) => {
        child.once('error', (error) => {
          out.note(`cannot run ${command[0]}: ${error.message}`);
          resolve(127);
        });
        child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
      });
    } finally {
      lease.signal.removeEventListener('abort', onLost);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
  } finally {
    // A release lockd cannot receive is not the command's failure: the lease ends at its TTL.
    await lease.release().catch(() => false);
  }
  if (out.json) out.result('', { key: lease.key, fence: lease.fence, exitCode, lost: lost !== undefined });
  return lost !== undefined ? EXIT.REFUSED : exitCode;
}

function signalNumber(signal: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[signal] ?? 0;
}

/** A --ttl or --wait value in ms; undefined when the flag is absent. */
function durationFlag(name: 'ttl' | 'wait', text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseCliDuration(text);
  if (ms === undefined) throw new UsageError(`--${name} ${JSON.stringify(text)} is not a duration: a number of seconds (30) or units such as 250ms, 30s, 1m30s, 1h`);
  if (name === 'ttl' && ms <= 0) throw new UsageError(`--ttl must be more than 0, got ${JSON.stringify(text)}`);
  return ms;
}

function limitFlag(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIST_LIMIT;
  const limit = Number(text);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number of at least 1, got ${JSON.stringify(text)}`);
  return limit;
}

/** Who `lockctl acquire` and `run` say they are: the user and host, which outlive this process. */
export function defaultOwner(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.LOGNAME ?? `uid${process.getuid?.() ?? ''}`;
  }
  return `${user}@${os.hostname()}:lockctl`;
}

/** The version in lockd's package.json (the nearest one above this file, in src/ or dist/src/). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/** A wait that ran out: the lock as it was then, and the message naming its holder. */
interface Timeout {
  lock: LockInfo | undefined;
  message: string;
}

/** Prints what went wrong (stderr; and stdout with --json) and returns the exit code. */
function report(error: unknown, out: Output, timeout?: Timeout): number {
  const { exitCode, code, message } = classify(error, timeout);
  out.note(exitCode === EXIT.USAGE ? `${message}\nrun "lockctl --help" for usage` : message);
  if (out.json) out.result('', errorJson({ code, message }, exitCode, timeout?.lock));
  return exitCode;
}

function classify(error: unknown, timeout: Timeout | undefined): { exitCode: number; code: string; message: string } {
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof OpsUsageError) return { exitCode: EXIT.USAGE, code: error.code, message: error.message };
  if (error instanceof LockTimeoutError) return { exitCode: EXIT.NOT_ACQUIRED, code: error.code, message: `not acquired: ${timeout?.message ?? error.message}` };
  if (error instanceof ConnectionError || error instanceof CallTimeoutError || error instanceof UnavailableError) {
    const message = error.message.startsWith('cannot reach lockd') ? error.message : `cannot reach lockd: ${error.message}`;
    return { exitCode: EXIT.UNREACHABLE, code: error.code, message };
  }
  if (error instanceof UnauthenticatedError || error instanceof PermissionDeniedError) {
    const what = error instanceof UnauthenticatedError ? 'not authenticated' : 'permission denied';
    return { exitCode: EXIT.REFUSED, code: error.code, message: `${what}: ${error.message} (credentials: --credential-file or LOCKD_CREDENTIAL, TLS: --tls-cert/--tls-key)` };
  }
  if (error instanceof LockdError) return { exitCode: EXIT.REFUSED, code: error.code, message: `refused: ${inFlagTerms(error.message)}` };
  return { exitCode: EXIT.REFUSED, code: 'LOCKCTL_INTERNAL', message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}

/** lockd's refusals name wire fields (ttlMs, waitMs, limit); lockctl's users know its flags. */
export function inFlagTerms(message: string): string {
  const d = formatCliDuration;
  const ttl = /^ttlMs must be between (\d+) and (\d+) ms, got (-?\d+)/.exec(message);
  if (ttl) return `--ttl must be between ${d(+ttl[1])} and ${d(+ttl[2])} (lockd's --min-ttl and --max-ttl), got ${d(+ttl[3])}`;
  const wait = /^waitMs must be .*?0\.\.(\d+) ms, got (-?\d+)/.exec(message);
  if (wait) return `--wait must be at most ${d(+wait[1])} (lockd's --max-wait), got ${d(+wait[2])}`;
  const limit = /^limit must be at most (\d+), got (\d+)/.exec(message);
  if (limit) return `--limit must be at most ${limit[1]} (lockd's --max-list-limit)`;
  return message.replace(/\bttlMs\b/g, '--ttl').replace(/\bwaitMs\b/g, '--wait');
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
