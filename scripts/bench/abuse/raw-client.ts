/**
 * A bare LockService client on one socket for the abuse benchmark: it writes whatever calls it is
 * given (one at a time or thousands in one write), matches replies by seqid and checks each one
 * with the fuzzer's strict reply checker. Attacks use it to set the stage (hold leases, park
 * waiters); the canary uses it to measure.
 */
import net from 'node:net';
import { DecodedReply, DValue, outcomeOf, ReplyOutcome } from '../../fuzz/lock-service';
import { ReplyStream } from '../../fuzz/reply-stream';
import { encodeForStack, Stack, TMessage } from '../../fuzz/thrift-tree';

/** lockd's default stack. */
export const DEFAULT_STACK: Stack = { protocol: 'binary', transport: 'buffered' };

/** Thrown for a reply that is not well-formed, a closed connection, or a call timeout. */
export class RawClientError extends Error {}

interface Pending {
  resolve(outcome: ReplyOutcome): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export class RawClient {
  private readonly pending = new Map<number, Pending>();
  private nextSeqid = 1;
  private closedWith: Error | undefined;
  private readonly stream: ReplyStream;

  private constructor(
    readonly socket: net.Socket,
    private readonly stack: Stack,
  ) {
    this.stream = new ReplyStream(stack, {
      reply: (reply) => this.settle(reply),
      problem: (description) => this.fail(new RawClientError(`bad reply: ${description}`)),
    });
    socket.on('data', (chunk: Buffer) => this.stream.push(chunk));
    socket.on('error', (error) => this.fail(new RawClientError(`connection error: ${error.message}`)));
    socket.on('close', () => this.fail(new RawClientError('connection closed by lockd')));
  }

  /** Connects to 127.0.0.1:`port`; rejects when the connection is refused or not made within `timeoutMs`. */
  static connect(port: number, stack: Stack = DEFAULT_STACK, timeoutMs = 5_000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RawClientError(`connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new RawClient(socket, stack));
      });
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(new RawClientError(`connect failed: ${error.message}`));
      };
      socket.once('error', onError);
    });
  }

  /** A fresh seqid for a call built by the caller. */
  seqid(): number {
    const seqid = this.nextSeqid;
    this.nextSeqid = (this.nextSeqid + 1) | 0 || 1;
    return seqid;
  }

  /** Sends one call (built with a seqid from `seqid()`) and resolves with its outcome. */
  call(message: TMessage, timeoutMs?: number): Promise<ReplyOutcome> {
    const [promise] = this.callMany([message], timeoutMs);
    return promise;
  }

  /** Sends every call in one write; one promise per call, in order. */
  callMany(messages: readonly TMessage[], timeoutMs?: number): Promise<ReplyOutcome>[] {
    const promises = messages.map((message) => this.expect(message.seqid, timeoutMs));
    this.socket.write(Buffer.concat(messages.map((message) => encodeForStack(message, this.stack))));
    return promises;
  }

  /** Calls in batches of `batch` (one write each), waiting for each batch's replies: bounded memory. */
  async callBatched(messages: Iterable<TMessage>, batch: number, onOutcome?: (outcome: ReplyOutcome) => void, deadline = Infinity): Promise<number> {
    let done = 0;
    let chunk: TMessage[] = [];
    const flush = async () => {
      const outcomes = await Promise.all(this.callMany(chunk));
      for (const outcome of outcomes) onOutcome?.(outcome);
      done += chunk.length;
      chunk = [];
    };
    for (const message of messages) {
      chunk.push(message);
      if (chunk.length >= batch) {
        await flush();
        if (performance.now() > deadline) return done;
      }
    }
    if (chunk.length > 0) await flush();
    return done;
  }

  /** Writes raw bytes (no reply is expected for them). */
  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  /** Closes the socket at once (RST-free end is not needed by any attack). */
  close(): void {
    this.socket.destroy();
  }

  /** Resolves once the socket has closed. */
  closed(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** A promise for the reply to `seqid`, for calls whose bytes the caller writes itself. */
  expect(seqid: number, timeoutMs: number | undefined): Promise<ReplyOutcome> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(seqid);
              reject(new RawClientError(`no reply within ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(seqid, { resolve, reject, timer });
    });
  }

  private settle(reply: DecodedReply): void {
    const pending = this.pending.get(reply.seqid);
    if (pending === undefined) return;
    this.pending.delete(reply.seqid);
    if (pending.timer) clearTimeout(pending.timer);
    pending.resolve(outcomeOf(reply));
  }

  private fail(error: Error): void {
    this.closedWith ??= error;
    for (const pending of this.pending.values()) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

/** The value of an 'ok' outcome; throws with the refusal otherwise. */
export function okValue(outcome: ReplyOutcome): DValue {
  if (outcome.kind === 'ok') return outcome.value;
  throw new RawClientError(outcome.kind === 'lockError' ? `LockError ${outcome.code}: ${outcome.message}` : `TApplicationException: ${outcome.message}`);
}
