/**
 * One lockd per data directory. Node has no flock() without a native addon, so the lock is a
 * file created with O_EXCL that names its owner: "<pid> <start>\n", where <start> is the owner's
 * start time from /proc (clock ticks since boot, Linux). The start time is what makes a stale
 * lock safe to take over: after a crash the pid may belong to an unrelated process by now, and
 * a pid alone would then keep lockd from starting. An owner that is a zombie (dead, not yet
 * reaped by its parent: state Z in /proc/PID/stat) is dead. Without /proc only the pid is compared.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StoreError } from '../errors';

/** A held directory lock. */
export interface DirLock {
  readonly path: string;
  /** Removes the lock file (only if it is still ours). */
  release(): void;
}

interface Owner {
  pid: number;
  /** Undefined when not recorded (no /proc, or a lock written by hand or by an older lockd). */
  start: string | undefined;
}

/**
 * Takes `<dir>/LOCK` or throws StoreError("data dir X is in use by another lockd (pid N)").
 * A lock whose owner is gone (or is another process that reuses the pid) is taken over.
 */
export function lockDataDir(dir: string): DirLock {
  const lockPath = path.join(dir, 'LOCK');
  const mine = `${process.pid} ${processStart(process.pid) ?? '-'}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(lockPath, mine, { flag: 'wx', mode: 0o600 });
      return {
        path: lockPath,
        release: () => {
          if (readText(lockPath) === mine) fs.rmSync(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError(`cannot lock data dir ${dir}: ${(error as Error).message}`, { cause: error });
      }
    }
    const text = readText(lockPath);
    if (text === undefined) continue; // removed meanwhile: try again
    const owner = parseOwner(text);
    if (owner !== undefined && isOwnerAlive(owner)) throw inUse(dir, owner.pid);
    // Stale: move it aside atomically, and check that what moved is what was judged stale. If
    // another starting lockd took the lock over in between, put its lock back and give way.
    const aside = `${lockPath}.stale-${process.pid}`;
    try {
      fs.renameSync(lockPath, aside);
    } catch {
      continue;
    }
    const moved = readText(aside);
    if (moved !== text) {
      try {
        fs.linkSync(aside, lockPath);
      } catch {
        /* a third lockd holds LOCK now; it will see the owner it displaced as alive or not */
      }
      fs.rmSync(aside, { force: true });
      const other = moved === undefined ? undefined : parseOwner(moved);
      throw inUse(dir, other?.pid ?? -1);
    }
    fs.rmSync(aside, { force: true });
  }
  throw new StoreError(`cannot lock data dir ${dir}: another lockd keeps taking it`);
}

function inUse(dir: string, pid: number): StoreError {
  return new StoreError(`data dir ${dir} is in use by another lockd (pid ${pid}); stop it or choose another --data-dir`);
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseOwner(text: string): Owner | undefined {
  const [pidText, start] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, start: start === undefined || start === '-' ? undefined : start };
}

function isOwnerAlive(owner: Owner): boolean {
  // Our own pid in the file is a lock we left behind (a failed open in this process, or a
  // container restarted with the same pid): stale.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = processStat(owner.pid);
  // A zombie (killed, not yet reaped by its parent) still answers kill(pid, 0) but has closed
  // its files and will never write again: the lock is stale.
  if (stat !== undefined && (stat.state === 'Z' || stat.state === 'X')) return false;
  if (owner.start === undefined) return true;
  return stat === undefined || stat.start === owner.start;
}

/** Run state (field 3) and start time (field 22, clock ticks since boot) of `pid` from /proc/PID/stat, or undefined without /proc. */
function processStat(pid: number): { state: string; start: string } | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], start: fields[19] };
}

/** Start time of `pid`, or undefined. */
function processStart(pid: number): string | undefined {
  return processStat(pid)?.start;
}
