/**
 * lockctl: lockd for people and shell scripts. Data goes to stdout (one JSON object per result
 * with --json), diagnostics to stderr, and the exit code says what happened (see EXIT).
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { LockClient } from '../client/lock-client';
import type { Lease } from '../client/lease';
import { parseAddress } from '../client/options';
import { ConfigError, ConnectionError, LockdError, LockTimeoutError, CallTimeoutError, PermissionDeniedError, UnauthenticatedError } from '../errors';
import { securityOptions, SECURITY_FLAGS, SECURITY_HELP } from './security-flags';
import { parseDurationMs } from '../util/duration';

/** lockctl's exit codes. */
export const EXIT = { OK: 0, NOT_ACQUIRED: 1, USAGE: 2, UNREACHABLE: 3, REFUSED: 4 } as const;

/** How long a command may outlive SIGTERM after its lease was lost before it gets SIGKILL. */
const KILL_GRACE_MS = 10_000;

class UsageError extends Error {}

const GLOBAL_HELP = `usage: lockctl [--addr host:port] [--json] <command> [args]

commands:
  acquire <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME]   take a lease; prints key, token, fence, expiry
  release <key> --token T                                           release a lease
  renew   <key> --token T [--ttl 30s]                               extend a lease
  status  <key>                                                     holders (owner, mode, fence, expiry) and waiters
  list    [prefix] [--limit N]                                      held keys
  run     <key> [--ttl 30s] [--wait 10s] [--shared] -- <command> [args...]
                                                                    run a command while holding the lock
  ping                                                              check that lockd answers

global flags:
  --addr host:port   lockd's address (default $LOCKD_ADDR, else localhost:9090)
  --json             one JSON object per result, for scripts
  --help             this text; "lockctl <command> --help" explains a command
${SECURITY_HELP}

durations: 500ms, 30s, 5m, 1h.
examples:
  lockctl --addr lockd.internal:9090 ping
  lockctl run nightly-backup --ttl 1m -- ./backup.sh
  LOCKD_ADDR=localhost:9090 lockctl --json status nightly-backup
exit codes: 0 done, 1 not acquired in time, 2 usage error, 3 cannot reach lockd, 4 refused (NOT_HOLDER, INVALID_ARGUMENT, ...; also a lease lost during run).`;

const COMMAND_HELP: Record<string, string> = {
  acquire: `usage: lockctl acquire <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME]

Takes a lease that outlives lockctl (release it with the printed token, or let it expire).
  --ttl D     lease length (default: lockd's default, 30s)
  --wait D    how long to wait for a busy lock (default: until granted; 0 = try once, like flock -n)
  --shared    a shared (read) lease instead of an exclusive one
  --owner N   label shown by status (default: host:pid)
example:
  token=$(lockctl --json acquire backups/nightly --ttl 5m --wait 10s | jq -r .token)`,
  release: `usage: lockctl release <key> --token T

Releases the lease the token names (once, if it was re-entered). Exit 4 when the token names no
live lease (wrong, released or expired).
example:
  lockctl release backups/nightly --token "$token"`,
  renew: `usage: lockctl renew <key> --token T [--ttl 30s]

Extends a live lease to now + ttl (default 30s); keeps token and fence. Exit 4 when the token
names no live lease.
example:
  lockctl renew backups/nightly --token "$token" --ttl 5m`,
  status: `usage: lockctl status <key>

Shows who holds the key (owner, mode, fence, expiry) and how many wait. Tokens are never shown.
example:
  lockctl status backups/nightly`,
  list: `usage: lockctl list [prefix] [--limit N]

Lists held keys that start with prefix, in key order (limit: lockd's default page, 100).
example:
  lockctl list backups/ --limit 20`,
  run: `usage: lockctl run <key> [--ttl 30s] [--wait 10s] [--shared] [--owner NAME] -- <command> [args...]

Holds the lock while the command runs (like flock(1) or etcdctl lock): renews it every third of
the TTL, sets LOCK_KEY and LOCK_FENCE in the command's environment, forwards SIGINT and SIGTERM,
releases afterwards and exits with the command's exit code (128 + N when signal N ended it). If
the lease is lost while the command runs (lockd refused a renewal, or stayed unreachable past the
TTL), the command gets SIGTERM (SIGKILL 10s later if it is still running) and lockctl exits 4
with a message on stderr.
  --ttl D     lease length (default: lockd's default, 30s); renewed every third of it
  --wait D    how long to wait for the lock (default: until granted; exit 1 when it runs out)
  --shared    hold a shared lease (several shared runs at once; none while an exclusive one runs)
  --owner N   label shown by status (default: host:pid)
example:
  lockctl run db-migrations --ttl 30s --wait 2m -- npm run migrate`,
  ping: `usage: lockctl ping

Prints "pong" when lockd answers; exit 3 when it cannot be reached.
example:
  lockctl --addr lockd.internal:9090 ping`,
};

interface Output {
  json: boolean;
  print(human: string, json: unknown): void;
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
        help: { type: 'boolean', short: 'h' },
        ttl: { type: 'string' },
        wait: { type: 'string' },
        shared: { type: 'boolean' },
        owner: { type: 'string' },
        token: { type: 'string' },
        limit: { type: 'string' },
        ...SECURITY_FLAGS,
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    const text = command !== undefined && COMMAND_HELP[command] ? COMMAND_HELP[command] : GLOBAL_HELP;
    process.stdout.write(`${text}\n`);
    return command === undefined && !values.help ? EXIT.USAGE : EXIT.OK;
  }
  if (!(command in COMMAND_HELP)) return usage(`unknown command ${JSON.stringify(command)}`);
  const out: Output = {
    json: values.json === true,
    print(human, json) {
      process.stdout.write(this.json ? `${JSON.stringify(json)}\n` : `${human}\n`);
    },
  };
  let client: LockClient | undefined;
  try {
    const address = values.addr !== undefined ? parseAddress(values.addr) : {};
    client = new LockClient({ ...address, ...securityOptions(values), connectAttempts: 2 });
    const duration = (name: 'ttl' | 'wait'): number | undefined => {
      const text = values[name];
      if (text === undefined) return undefined;
      const ms = parseDurationMs(text);
      if (ms === undefined || ms < 0) throw new UsageError(`--${name} ${JSON.stringify(text)} is not a duration such as 500ms, 30s or 5m`);
      return ms;
    };
    const key = (): string => {
      if (rest[0] === undefined) throw new UsageError(`${command} needs a key`);
      return rest[0];
    };
    const token = (): string => {
      if (values.token === undefined) throw new UsageError(`${command} needs --token`);
      return values.token;
    };
    switch (command) {
      case 'acquire': {
        const lease = await client.acquire(key(), { ttlMs: duration('ttl'), waitMs: duration('wait') ?? -1, mode: values.shared ? 'shared' : 'exclusive', owner: values.owner });
        out.print(
          `key      ${lease.key}\ntoken    ${lease.token}\nfence    ${lease.fence}\nmode     ${lease.mode}\nexpires  ${new Date(lease.expiresAt).toISOString()}`,
          leaseJson(lease),
        );
        return EXIT.OK;
      }
      case 'release': {
        const released = await client.release(key(), token());
        if (!released) {
          process.stderr.write(`lockctl: not released: the token names no live lease on ${JSON.stringify(key())}\n`);
          if (out.json) out.print('', { key: key(), released: false });
          return EXIT.REFUSED;
        }
        out.print(`released ${key()}`, { key: key(), released: true });
        return EXIT.OK;
      }
      case 'renew': {
        const state = await client.renew(key(), token(), duration('ttl'));
        out.print(`renewed ${key()} until ${new Date(state.expiresAt).toISOString()} (fence ${state.fence})`, {
          key: state.key,
          fence: state.fence,
          mode: state.mode,
          ttlMs: state.ttlMs,
          expiresAtMs: state.expiresAt,
          expiresAt: new Date(state.expiresAt).toISOString(),
        });
        return EXIT.OK;
      }
      case 'status': {
        const info = await client.inspect(key());
        out.print(describe(info), info);
        return EXIT.OK;
      }
      case 'list': {
        const limit = values.limit === undefined ? 0 : Number(values.limit);
        if (!Number.isInteger(limit)) throw new UsageError(`--limit ${JSON.stringify(values.limit)} is not a whole number`);
        const infos = await client.list(rest[0] ?? '', limit);
        if (out.json) for (const info of infos) out.print('', info);
        else process.stdout.write(infos.length === 0 ? 'no locks held\n' : `${infos.map(describe).join('\n')}\n`);
        return EXIT.OK;
      }
      case 'ping':
        out.print(await client.ping(), { pong: true });
        return EXIT.OK;
      case 'run':
        if (childCommand.length === 0) throw new UsageError('run needs a command after --');
        return await runHolding(client, key(), childCommand, { ttlMs: duration('ttl'), waitMs: duration('wait') ?? -1, mode: values.shared ? 'shared' : 'exclusive', owner: values.owner }, out);
    }
    return usage(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    return report(error);
  } finally {
    await client?.close();
  }
}

/** Runs `command` while holding `key`; see COMMAND_HELP.run. */
async function runHolding(
  client: LockClient,
  key: string,
  command: string[],
  options: { ttlMs?: number; waitMs: number; mode: 'shared' | 'exclusive'; owner?: string },
  out: Output,
): Promise<number> {
  let lost: LockdError | undefined;
  let childExit: Promise<number> | undefined;
  client.on('disconnect', (error) => process.stderr.write(`lockctl: ${error.message}; reconnecting to renew the lease\n`));
  const result = await client.withLock(
    key,
    async (lease) => {
      const child = spawn(command[0], command.slice(1), {
        stdio: 'inherit',
        env: { ...process.env, LOCK_KEY: lease.key, LOCK_FENCE: String(lease.fence) },
      });
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const onLost = () => {
        lost = lease.signal.reason as LockdError;
        process.stderr.write(`lockctl: lost the lock on ${JSON.stringify(key)} while the command ran (${lost?.message}); sending it SIGTERM\n`);
        child.kill('SIGTERM');
        const killer = setTimeout(() => {
          process.stderr.write(`lockctl: the command outlived SIGTERM by ${KILL_GRACE_MS / 1000}s; sending it SIGKILL\n`);
          child.kill('SIGKILL');
        }, KILL_GRACE_MS);
        child.once('exit', () => clearTimeout(killer));
      };
      lease.signal.addEventListener('abort', onLost, { once: true });
      childExit = new Promise<number>((resolve) => {
        child.once('error', (error) => {
          process.stderr.write(`lockctl: cannot run ${command[0]}: ${error.message}\n`);
          resolve(127);
        });
        child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
      });
      try {
        return await childExit;
      } finally {
        lease.signal.removeEventListener('abort', onLost);
        process.off('SIGINT', forward);
        process.off('SIGTERM', forward);
      }
    },
    options,
  );
  if (out.json) out.print('', { key, exitCode: result, lost: lost !== undefined });
  return lost !== undefined ? EXIT.REFUSED : result;
}

function signalNumber(signal: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[signal] ?? 0;
}

function leaseJson(lease: Lease) {
  return {
    key: lease.key,
    token: lease.token,
    fence: lease.fence,
    mode: lease.mode,
    ttlMs: lease.ttlMs,
    expiresAtMs: lease.expiresAt,
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
}

function describe(info: { key: string; holders: Array<{ owner?: string; mode: string; fence: number; expiresAt: number; holdCount: number }>; waiters: number }): string {
  if (info.holders.length === 0) return `${info.key}: free${info.waiters > 0 ? `, ${info.waiters} waiting` : ''}`;
  const holders = info.holders
    .map((h) => `${h.owner ?? '(no owner)'} (${h.mode}, fence ${h.fence}, expires ${new Date(h.expiresAt).toISOString()}${h.holdCount > 1 ? `, held ${h.holdCount}x` : ''})`)
    .join('; ');
  return `${info.key}: held by ${holders}; ${info.waiters} waiting`;
}

function usage(message: string): number {
  process.stderr.write(`lockctl: ${message}\nrun "lockctl --help" for usage\n`);
  return EXIT.USAGE;
}

function report(error: unknown): number {
  if (error instanceof UsageError || error instanceof ConfigError) return usage(error.message);
  if (error instanceof LockTimeoutError) {
    process.stderr.write(`lockctl: not acquired: ${error.message}\n`);
    return EXIT.NOT_ACQUIRED;
  }
  if (error instanceof ConnectionError || error instanceof CallTimeoutError) {
    process.stderr.write(`lockctl: ${error.message}\n`);
    return EXIT.UNREACHABLE;
  }
  if (error instanceof UnauthenticatedError || error instanceof PermissionDeniedError) {
    const what = error instanceof UnauthenticatedError ? 'not authenticated' : 'permission denied';
    process.stderr.write(`lockctl: ${what}: ${error.message} (credentials: --credential-file or LOCKD_CREDENTIAL, TLS: --tls-cert/--tls-key)\n`);
    return EXIT.REFUSED;
  }
  if (error instanceof LockdError) {
    process.stderr.write(`lockctl: refused: ${error.message}\n`);
    return EXIT.REFUSED;
  }
  process.stderr.write(`lockctl: ${error instanceof Error ? error.stack : String(error)}\n`);
  return EXIT.REFUSED;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
