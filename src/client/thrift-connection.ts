/**
 * One TCP connection to lockd carrying many calls at once: each call gets a seqid, replies are
 * matched by it (a parked acquire does not hold up the calls behind it), calls made in one tick
 * leave in one socket write, and every pending call is rejected when the socket closes — the
 * npm Thrift runtime leaves them hanging.
 */
import net from 'node:net';
import { connect as tlsConnect, ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { CallTimeoutError, ConnectionError, errorFromWire, LockdError, ProtocolError } from '../errors';
import { protocolByName } from '../protocol';
import { CallWriter, MethodName, RESULT_KIND, readReplyBody, readReplyHeader, ResultOf } from '../protocol/lock-service/client';
import { MessageStream, TransportKind } from '../protocol/message-stream';
import { OutputBuffer } from '../util/output-buffer';
import { ProtocolReader, ProtocolWriter, TType } from '../protocol/types';

/** How to reach lockd and speak to it. */
export interface ThriftConnectionOptions {
  host: string;
  port: number;
  transport: TransportKind;
  protocol: 'binary' | 'compact';
  /** Give up connecting after this long. */
  connectTimeoutMs: number;
  /** Largest reply accepted. */
  maxMessageBytes: number;
  /** Connect with TLS using these options (CA, client certificate); undefined = plain TCP. */
  tls?: TlsConnectionOptions;
}

/** A call in flight: its seqid (for cancelWait) and its decoded reply. */
export interface PendingCall<T> {
  seqid: number;
  reply: Promise<T>;
}

interface Waiting {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** When to give up; Infinity for waits without a bound. */
  deadline: number;
  method: MethodName;
}

/** How often pending calls are checked against their deadlines. */
const SWEEP_INTERVAL_MS = 50;

/** One multiplexed connection to lockd; see the file comment. `ThriftConnection.connect(options)` opens one. */
export class ThriftConnection {
  private readonly out = new OutputBuffer(4096);
  private readonly writer: ProtocolWriter;
  private readonly stream: MessageStream;
  private readonly framed: boolean;
  private readonly pending = new Map<number, Waiting>();
  private nextSeqid = 1;
  private flushScheduled = false;
  private sweeper: NodeJS.Timeout | undefined;
  private closedError: LockdError | undefined;
  private readonly closeListeners = new Set<(error: LockdError) => void>();
  private idleListener: (() => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly options: ThriftConnectionOptions,
  ) {
    const protocol = protocolByName(options.protocol);
    this.writer = protocol.createWriter(this.out);
    this.stream = new MessageStream(protocol, options.transport, options.maxMessageBytes);
    this.framed = options.transport === 'framed';
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(new ConnectionError(`connection to ${this.address} failed: ${error.message}`, { cause: error })));
    socket.on('close', () => this.fail(new ConnectionError(`connection to ${this.address} closed`)));
  }

  /** Connects; rejects with ConnectionError when lockd cannot be reached in time. */
  static connect(options: ThriftConnectionOptions): Promise<ThriftConnection> {
    return new Promise((resolve, reject) => {
      const secure = options.tls !== undefined;
      const socket = secure ? tlsConnect({ ...options.tls, host: options.host, port: options.port }) : net.connect({ host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionError(`cannot reach lockd at ${options.host}:${options.port}: no answer within ${options.connectTimeoutMs} ms`));
      }, options.connectTimeoutMs);
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(new ConnectionError(`cannot reach lockd at ${options.host}:${options.port}: ${error.message}`, { cause: error }));
      };
      socket.once('error', onError);
      // A TLS connection is usable once its handshake (certificate checks included) is done.
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new ThriftConnection(socket, options));
      });
    });
  }

  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  /** False once the socket closed or failed. */
  get isOpen(): boolean {
    return this.closedError === undefined;
  }

  /** Calls in flight. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Registers a listener for the connection's end (with the error that pending calls got). */
  onClose(listener: (error: LockdError) => void): void {
    if (this.closedError !== undefined) listener(this.closedError);
    else this.closeListeners.add(listener);
  }

  /**
   * Sets the one listener called (synchronously, once the reply is delivered to its promise)
   * each time an answer or a timeout leaves no call in flight; LockClient closes a connection it
   * failed over from that way.
   */
  onIdle(listener: () => void): void {
    this.idleListener = listener;
  }

  /** Removes a listener added with onClose. */
  offClose(listener: (error: LockdError) => void): void {
    this.closeListeners.delete(listener);
  }

  /**
   * Sends one call: `write` encodes `args` with the call's seqid (a module-level encoder and its
   * data, so the hot path allocates no closure). Returns the seqid (so a parked wait can be
   * cancelled) and the reply, decoded as `method`'s result type, or a typed LockdError.
   */
  call<M extends MethodName, A>(method: M, write: CallWriter<A>, args: A, timeoutMs: number): PendingCall<ResultOf<M>> {
    const seqid = this.nextSeqid;
    this.nextSeqid = seqid >= 0x7fffffff ? 1 : seqid + 1;
    if (this.closedError !== undefined) return { seqid, reply: Promise.reject(this.closedError) };
    const frame = this.framed ? this.out.beginFrame() : -1;
    write(this.writer, seqid, args);
    if (frame >= 0) this.out.endFrame(frame);
    const reply = new Promise<ResultOf<M>>((resolve, reject) => {
      // The map holds calls of every method; onReply decodes each with its own method's decoder.
      this.pending.set(seqid, { resolve: resolve as (value: unknown) => void, reject, deadline: Date.now() + timeoutMs, method });
    });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
    if (this.sweeper === undefined && timeoutMs !== Infinity) {
      this.sweeper = setInterval(this.sweep, SWEEP_INTERVAL_MS);
      this.sweeper.unref();
    }
    return { seqid, reply };
  }

  /** Closes the socket; pending calls reject with ConnectionError. */
  close(): void {
    this.socket.destroy();
    this.fail(new ConnectionError(`connection to ${this.address} closed by the client`));
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.out.pos > 0 && this.closedError === undefined) this.socket.write(this.out.take());
  };

  private receive(chunk: Buffer): void {
    try {
      this.stream.push(chunk, this.onReply);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.socket.destroy();
      this.fail(new ConnectionError(`lockd at ${this.address} sent a malformed reply: ${error.message}`, { cause: error }));
    }
  }

  private readonly onReply = (reader: ProtocolReader): void => {
    const head = readReplyHeader(reader);
    const call = this.pending.get(head.seqid);
    if (call === undefined) {
      reader.skip(TType.STRUCT); // timed out earlier; the late reply is dropped
      return;
    }
    if (head.name !== call.method) throw new ProtocolError(`reply ${head.seqid} names ${JSON.stringify(head.name)}, but the call was ${call.method}`);
    const reply = readReplyBody(reader, head, RESULT_KIND[call.method]);
    this.pending.delete(head.seqid);
    if (reply.kind === 'ok') call.resolve(reply.value);
    else if (reply.kind === 'lockError') call.reject(errorFromWire(reply.code, reply.message, reply.ownerAddress));
    else call.reject(new ProtocolError(`lockd rejected ${call.method}: ${reply.message} (TApplicationException type ${reply.type})`));
    if (this.pending.size === 0) this.idleListener?.();
  };

  private readonly sweep = (): void => {
    const now = Date.now();
    for (const [seqid, call] of this.pending) {
      if (call.deadline > now) continue;
      this.pending.delete(seqid);
      call.reject(new CallTimeoutError(`lockd at ${this.address} did not answer ${call.method} in time`));
      if (this.pending.size === 0) this.idleListener?.();
    }
    if (this.pending.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  };

  private fail(error: LockdError): void {
    if (this.closedError !== undefined) return;
    this.closedError = error;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.reject(error);
    const listeners = [...this.closeListeners];
    this.closeListeners.clear();
    for (const listener of listeners) listener(error);
  }
}
