/**
 * A key's FIFO of parked acquires as a doubly linked list through the waiters themselves, so a
 * waiter leaves from anywhere (cancel, timeout, closed session) in O(1) and granting k waiters
 * from the head costs O(k), whatever the length of the queue.
 */
import type { LockMode, SessionId, Waiter } from './types';

/** A Waiter as the table keeps it: with its place in a queue and in the deadline heap. */
export class QueuedWaiter implements Waiter {
  /** Position in the table's deadline heap; -1 when it has none (waits forever) or left it. */
  heapIndex = -1;
  /** The queue it is parked in; undefined once it left (granted, cancelled, timed out). */
  queue: WaiterQueue | undefined = undefined;
  previous: QueuedWaiter | undefined = undefined;
  next: QueuedWaiter | undefined = undefined;

  constructor(
    readonly id: number,
    readonly key: string,
    readonly mode: LockMode,
    readonly owner: string | undefined,
    readonly ttlMs: number,
    readonly ephemeral: boolean,
    readonly session: SessionId,
    readonly deadlineMs: number,
  ) {}
}

export class WaiterQueue {
  private head: QueuedWaiter | undefined = undefined;
  private tail: QueuedWaiter | undefined = undefined;
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** The longest-waiting waiter, if any. */
  first(): QueuedWaiter | undefined {
    return this.head;
  }

  push(waiter: QueuedWaiter): void {
    waiter.queue = this;
    waiter.previous = this.tail;
    waiter.next = undefined;
    if (this.tail === undefined) this.head = waiter;
    else this.tail.next = waiter;
    this.tail = waiter;
    this.count++;
  }

  /** Unlinks `waiter`, which must be in this queue. */
  remove(waiter: QueuedWaiter): void {
    const { previous, next } = waiter;
    if (previous === undefined) this.head = next;
    else previous.next = next;
    if (next === undefined) this.tail = previous;
    else next.previous = previous;
    waiter.queue = undefined;
    waiter.previous = undefined;
    waiter.next = undefined;
    this.count--;
  }
}
