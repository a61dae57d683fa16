/**
 * One connection's replies, from encoding to the socket. The outbox alone decides when a reply
 * may leave:
 * - `durable` replies (grants, re-entries, renewals) leave only after the store's sync, and are
 *   rewritten as UNAVAILABLE, with their change rolled back, when the sync fails;
 * - `ordered` replies (reads, refusals) leave at once unless a durable reply of this connection
 *   still waits, so replies never overtake one another;
 * - `early` replies (releases) leave at once always: a release lost in a crash can only keep a
 *   lease until its TTL, never give a lock to two holders.
 * Without a durable store every reply leaves at the next flush. The outbox also owns
 * back-pressure: it counts every byte it holds or the socket still holds, and says when the
 * connection is over its budget and must stop being read.
 */
import { WireErrorCode } from '../errors';
import { writeLockErrorReply } from '../protocol/lock-service/server';
import type { ProtocolFactory, ProtocolWriter } from '../protocol/types';
import { OutputBuffer } from '../util/output-buffer';

/** When a reply may leave; see the module comment. */
export type ReplyTiming = 'durable' | 'ordered' | 'early';

/** Where an outbox writes: a net.Socket, or anything with its write/drain semantics. */
export interface ReplySocket {
  write(bytes: Buffer): boolean;
  readonly writableLength: number;
  once(event: 'drain', listener: () => void): unknown;
}

/** What the outbox tells its connection. */
export interface OutboxEvents {
  /** Bytes held went over the budget: stop reading this connection. */
  overBudget(): void;
  /** Bytes held fell back under the budget after overBudget: read again. */
  underBudget(): void;
  /** A durable reply's change could not be made durable: undo it (grants and re-entries). */
  rollBack(key: string, token: string): void;
  /** The UNAVAILABLE rewrite happened (for one rate-limited log line). */
  syncFailed(replies: number, error: Error): void;
}

/** A durable reply inside a batch, with what undoes it. */
interface DurableReply {
  start: number;
  end: number;
  method: string;
  seqid: number;
  /** The lease granted or re-entered by this call; undefined for renewals (nothing to undo). */
  key: string | undefined;
  token: string | undefined;
}

/** Replies taken from the outbox at a flush, waiting for one sync. */
export interface ReplyBatch {
  readonly bytes: Buffer;
  readonly durable: readonly DurableReply[];
}

export class Outbox {
  private readonly main: OutputBuffer;
  private readonly early: OutputBuffer;
  private readonly mainWriter: ProtocolWriter;
  private readonly earlyWriter: ProtocolWriter;
  private durableReplies: DurableReply[] = [];
  /** Batches taken whose sync has not called back yet, and their bytes. */
  private batchesAwaitingSync = 0;
  private bytesAwaitingSync = 0;
  /** The reply being encoded: which buffer, where it starts, where its frame length goes. */
  private current: OutputBuffer;
  private replyStart = 0;
  private frameAt = -1;
  private replyOpen = false;
  private paused = false;
  private waitingForDrain = false;
  private closed = false;

  constructor(
    private readonly socket: ReplySocket,
    private readonly events: OutboxEvents,
    private readonly protocol: ProtocolFactory,
    private readonly framed: boolean,
    /** Replies must wait for a sync (durable store). */
    private readonly durable: boolean,
    /** Bytes this connection may hold (encoded, awaiting sync, or in the socket) before it stops being read. */
    private readonly budgetBytes: number,
  ) {
    this.main = new OutputBuffer();
    this.early = new OutputBuffer(1024);
    this.mainWriter = protocol.createWriter(this.main);
    this.earlyWriter = protocol.createWriter(this.early);
    this.current = this.main;
  }

  /** Starts one reply message; encode it with the returned writer, then call `end` (or `discard`). */
  begin(timing: ReplyTiming): ProtocolWriter {
    // One reply at a time: a reply begun inside another would corrupt both frames.
    if (this.replyOpen) throw new Error('a reply was begun while another is still being encoded');
    const early = timing === 'early' && this.durable;
    const buffer = early ? this.early : this.main;
    this.current = buffer;
    this.replyStart = buffer.pos;
    this.frameAt = this.framed ? buffer.beginFrame() : -1;
    this.replyOpen = true;
    return early ? this.earlyWriter : this.mainWriter;
  }

  /** Ends the reply begun last. */
  end(): void {
    this.replyOpen = false;
    if (this.frameAt >= 0) this.current.endFrame(this.frameAt);
  }

  /**
   * Ends a durable reply: it leaves after the sync, or becomes UNAVAILABLE if the sync fails,
   * in which case the grant or re-entry of `lease` (if given) is rolled back.
   */
  endDurable(method: string, seqid: number, lease?: { readonly key: string; readonly token: string }): void {
    this.end();
    if (!this.durable) return;
    this.durableReplies.push({ start: this.replyStart, end: this.main.pos, method, seqid, key: lease?.key, token: lease?.token });
  }

  /** Forgets a reply begun and not ended (its encoding failed half-way); no-op otherwise. */
  discard(): void {
    if (!this.replyOpen) return;
    this.replyOpen = false;
    this.current.truncate(this.replyStart);
  }

  /** True when every reply was handed to the socket: nothing encoded, nothing awaiting a sync. */
  get isSettled(): boolean {
    return this.main.pos === 0 && this.early.pos === 0 && this.batchesAwaitingSync === 0;
  }

  /** True when something is waiting to be flushed. */
  get hasOutput(): boolean {
    return this.main.pos > 0 || this.early.pos > 0;
  }

  /** Every byte this connection's replies hold: encoded, awaiting a sync, or in the socket. */
  get bufferedBytes(): number {
    return this.main.pos + this.early.pos + this.bytesAwaitingSync + this.socket.writableLength;
  }

  /** True when the connection should not be read until its client takes some replies. */
  get isOverBudget(): boolean {
    return this.bufferedBytes > this.budgetBytes;
  }

  /**
   * Sends what may leave now and returns what must wait for a sync (undefined: nothing waits).
   * Without a durable store everything leaves.
   */
  flush(): ReplyBatch | undefined {
    if (this.early.pos > 0) this.send(this.early.take());
    if (this.main.pos === 0) return undefined;
    if (!this.durable || (this.durableReplies.length === 0 && this.batchesAwaitingSync === 0)) {
      this.send(this.main.take());
      return undefined;
    }
    const batch: ReplyBatch = { bytes: this.main.take(), durable: this.durableReplies };
    this.durableReplies = [];
    this.batchesAwaitingSync++;
    this.bytesAwaitingSync += batch.bytes.length;
    return batch;
  }

  /** Sends a batch once its sync called back; a failed sync turns its durable replies into UNAVAILABLE. */
  deliver(batch: ReplyBatch, syncError: Error | null): void {
    this.batchesAwaitingSync--;
    this.bytesAwaitingSync -= batch.bytes.length;
    if (syncError !== null && batch.durable.length > 0) {
      for (const reply of batch.durable) if (reply.key !== undefined && reply.token !== undefined) this.events.rollBack(reply.key, reply.token);
      this.events.syncFailed(batch.durable.length, syncError);
      this.send(this.rewriteAsUnavailable(batch, syncError));
      return;
    }
    this.send(batch.bytes);
  }

  /** The connection is gone: nothing more is sent. */
  close(): void {
    this.closed = true;
    this.main.reset();
    this.early.reset();
  }

  private send(bytes: Buffer): void {
    if (this.closed) {
      this.checkBudget();
      return;
    }
    this.socket.write(bytes);
    this.checkBudget();
  }

  /** Pauses reading above the budget; resumes once the client took enough to be below it. */
  private checkBudget(): void {
    const over = this.isOverBudget;
    if (over && !this.paused) {
      this.paused = true;
      this.events.overBudget();
    } else if (!over && this.paused) {
      this.paused = false;
      this.events.underBudget();
    }
    if (this.paused && !this.waitingForDrain && this.socket.writableLength > 0) {
      this.waitingForDrain = true;
      this.socket.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    this.checkBudget();
  };

  /** Rebuilds a batch with every durable reply replaced by a LockError UNAVAILABLE. */
  private rewriteAsUnavailable(batch: ReplyBatch, syncError: Error): Buffer {
    const rebuilt = new OutputBuffer(batch.bytes.length + 256 * batch.durable.length);
    const writer = this.protocol.createWriter(rebuilt);
    const message = `the change could not be made durable (${syncError.message}) and was undone; retry later`;
    let copied = 0;
    const copyUpTo = (end: number) => {
      rebuilt.write(batch.bytes, copied, end);
      copied = end;
    };
    for (const reply of batch.durable) {
      copyUpTo(reply.start);
      const frame = this.framed ? rebuilt.beginFrame() : -1;
      writeLockErrorReply(writer, reply.method, reply.seqid, WireErrorCode.UNAVAILABLE, message);
      if (frame >= 0) rebuilt.endFrame(frame);
      copied = reply.end;
    }
    copyUpTo(batch.bytes.length);
    return rebuilt.take();
  }
}
