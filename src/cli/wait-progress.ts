/**
 * The "waiting for ..." line lockctl keeps up to date on a terminal while acquire or run waits:
 * it asks lockd who holds the key (inspect, on a connection of its own so the parked acquire is
 * untouched) about once a second and redraws one stderr line until the wait ends.
 */
import { LockClient } from '../client/lock-client';
import type { LockInfo } from '../client/lock-client';
import type { ClientOptions } from '../client/options';
import { describeWait } from './render';

/** How often the holder is looked up while waiting. */
export const PROGRESS_POLL_MS = 1_000;
/** The first look waits this long, so a lock granted at once shows nothing and ours is already queued. */
export const PROGRESS_FIRST_POLL_MS = 300;

/** Where progress goes: a terminal stream (stderr). */
export interface ProgressStream {
  write(text: string): boolean;
}

/**
 * Estimates how many wait ahead of us from successive waiter counts (ours included): newcomers
 * queue behind us, so the count ahead never grows; it shrinks as the queue does.
 */
export class QueuePosition {
  private ahead: number | undefined;

  /** Takes one observed waiter count; returns the estimate. */
  observe(waiters: number): number {
    const candidate = Math.max(0, waiters - 1);
    this.ahead = this.ahead === undefined ? candidate : Math.min(this.ahead, candidate);
    return this.ahead;
  }
}

/**
 * Shows progress for `waiting` on `stream` until it settles; resolves or rejects as `waiting`
 * does. The line is erased when the wait ends.
 */
export async function showWaitProgress<T>(waiting: Promise<T>, key: string, clientOptions: Partial<ClientOptions>, stream: ProgressStream): Promise<T> {
  const started = Date.now();
  const position = new QueuePosition();
  let info: LockInfo | undefined;
  let ahead: number | undefined;
  let drawn = false;
  let done = false;
  const watcher = new LockClient({ ...clientOptions, connectAttempts: 1 });
  watcher.on('disconnect', () => undefined); // the acquire reports lockd's absence; the watcher just pauses
  const draw = () => {
    stream.write(`\r\x1b[2K${describeWait(key, Date.now() - started, info, ahead)}`);
    drawn = true;
  };
  const poll = async () => {
    if (done) return;
    try {
      info = await watcher.inspect(key);
      ahead = position.observe(info.waiters);
    } catch {
      // lockd restarting or slow: keep the last picture, try again next time
    }
    if (done) return;
    draw();
    timer = setTimeout(poll, PROGRESS_POLL_MS);
  };
  let timer = setTimeout(poll, PROGRESS_FIRST_POLL_MS);
  try {
    return await waiting;
  } finally {
    done = true;
    clearTimeout(timer);
    if (drawn) stream.write('\r\x1b[2K');
    await watcher.close();
  }
}
