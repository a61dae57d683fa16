/**
 * lockd as a measured child process for the abuse benchmark and the long fuzz run: started from
 * dist/ with the given flags on a port of its choosing, its stderr log lines counted, its peak
 * RSS (VmHWM) and CPU time read from /proc, stopped by its PID. Children are killed on exit.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../targets';

const READY = /lockd listening on [\d.]+:(\d+)/;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
/** Last log lines kept, for reports of a crash. */
const KEPT_LINES = 20;
/** Clock ticks per second of /proc/PID/stat (USER_HZ; 100 on every Linux build this runs on). */
const CLOCK_TICKS = 100;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killRunningNow(): void {
  for (const child of running) if (child.pid !== undefined) child.kill('SIGKILL');
  running.clear();
}

/** A running lockd. */
export interface LockdUnderTest {
  readonly pid: number;
  readonly port: number;
  /** Log lines (stderr) printed so far. */
  readonly logLines: number;
  /** The last lines it printed, newest last. */
  readonly lastLines: readonly string[];
  /** False once the process has exited. */
  alive(): boolean;
  /** Exit code or signal once exited, for reports. */
  readonly exitStatus: string | undefined;
  /** Peak resident set (VmHWM) in bytes; the last value read once the process is gone. */
  peakRssBytes(): number;
  /** User + system CPU seconds so far. */
  cpuSeconds(): number;
  /** SIGTERM, SIGKILL after 5 s; resolves once it exited. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `node dist/src/server/main.js --host 127.0.0.1 --port 0 ARGS` and resolves once it listens. */
export async function startMeasuredLockd(args: readonly string[]): Promise<LockdUnderTest> {
  const main = path.join(ROOT, 'dist/src/server/main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build`);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', killRunningNow);
  }
  const child = spawn(process.execPath, [main, '--host', '127.0.0.1', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let exitStatus: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitStatus = code !== null ? `exit ${code}` : `signal ${signal}`;
      running.delete(child);
      resolve();
    }),
  );
  let logLines = 0;
  let partial = '';
  const lastLines: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    logLines += lines.length;
    for (const line of lines.slice(-KEPT_LINES)) lastLines.push(line);
    if (lastLines.length > KEPT_LINES) lastLines.splice(0, lastLines.length - KEPT_LINES);
  });
  const pid = child.pid!;
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`lockd was not ready within ${START_TIMEOUT_MS} ms: ${lastLines.join(' / ')}`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = READY.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`lockd exited (${exitStatus}) before it was ready: ${lastLines.join(' / ')}`));
    });
  }).catch(async (error) => {
    child.kill('SIGKILL');
    await exited;
    throw error;
  });
  let lastPeak = 0;
  let lastCpu = 0;
  let stopping: Promise<void> | undefined;
  return {
    pid,
    port,
    get logLines() {
      return logLines;
    },
    lastLines,
    get exitStatus() {
      return exitStatus;
    },
    alive: () => exitStatus === undefined,
    peakRssBytes: () => (lastPeak = readPeakRss(pid) ?? lastPeak),
    cpuSeconds: () => (lastCpu = readCpuSeconds(pid) ?? lastCpu),
    stop: () =>
      (stopping ??= (async () => {
        if (exitStatus !== undefined) return;
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(killer);
      })()),
  };
}

/** VmHWM of a process in bytes; undefined once it is gone. */
export function readPeakRss(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of a process in seconds; undefined once it is gone. */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state (field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
