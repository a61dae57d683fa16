/**
 * Splits a byte stream into Thrift messages for one connection, for either transport:
 * buffered (messages back to back) or framed (each message behind a 4-byte big-endian length).
 *
 * Whole messages, the common case, are decoded straight from the received chunk. A buffered
 * message that arrives in pieces is collected in a growing buffer while a MessageScanner finds
 * its end incrementally, and is decoded once, when complete: a slow sender costs O(message
 * size) in all, never a parse from the message's start on every read.
 */
import { ProtocolError } from '../errors';
import { OutputBuffer } from '../util/output-buffer';
import type { MessageScanner } from './message-scanner';
import type { ProtocolFactory, ProtocolReader } from './types';
import { Underrun } from './types';

export type TransportKind = 'buffered' | 'framed';

/** Decodes one message; returns false to stop (the bytes after it wait for the next push). */
export type MessageHandler = (reader: ProtocolReader) => boolean | void;

export class MessageStream {
  private readonly reader: ProtocolReader;
  private readonly scanner: MessageScanner;
  /** Unexamined bytes: a partial frame, or messages left when the handler asked to stop. */
  private pending: Buffer | undefined;
  /** A buffered message arriving in pieces, from its first byte (see the module comment). */
  private partial: OutputBuffer | undefined;
  /** `pending` starts with whole messages left because the handler stopped. */
  private pendingAfterStop = false;

  /**
   * @param protocol the connection's protocol; readers bound strings and containers by maxMessageBytes.
   * @param maxMessageBytes a message (or frame) larger than this is a ProtocolError.
   */
  constructor(
    protocol: ProtocolFactory,
    private readonly transport: TransportKind,
    private readonly maxMessageBytes: number,
  ) {
    this.reader = protocol.createReader(maxMessageBytes);
    this.scanner = protocol.createScanner(maxMessageBytes);
  }

  /**
   * Feeds received bytes and calls `onMessage` once per complete message, with the reader
   * positioned at its start. `onMessage` returns false to stop: the messages after it stay
   * pending until the next push (an empty chunk resumes). Throws ProtocolError for malformed
   * or oversize input: the caller closes the connection.
   */
  push(chunk: Buffer, onMessage: MessageHandler): void {
    let data = chunk;
    if (this.partial !== undefined) {
      const rest = this.continuePartial(chunk, onMessage);
      if (rest === undefined) return;
      data = rest;
    }
    if (this.pending !== undefined) {
      data = data.length === 0 ? this.pending : Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    if (this.transport === 'framed') this.pushFramed(data, onMessage);
    else this.pushBuffered(data, onMessage);
  }

  /** True while the bytes of a message that has begun are still arriving. */
  get hasPartialMessage(): boolean {
    return this.partial !== undefined || (this.pending !== undefined && !this.pendingAfterStop);
  }

  /** Bytes received that do not yet form a whole message (or wait behind a stop). */
  get pendingBytes(): number {
    return (this.pending?.length ?? 0) + (this.partial?.pos ?? 0);
  }

  private pushFramed(data: Buffer, onMessage: MessageHandler): void {
    const end = data.length;
    let start = 0;
    while (end - start >= 4) {
      const size = data.readInt32BE(start);
      if (size <= 0 || size > this.maxMessageBytes) {
        throw new ProtocolError(`frame size ${size} is outside 1..${this.maxMessageBytes} bytes`);
      }
      if (end - start - 4 < size) break;
      const frameEnd = start + 4 + size;
      const more = this.decode(data, start + 4, frameEnd, onMessage, 'a message ends after its frame');
      start = frameEnd;
      if (!more) {
        this.keep(data, start, true);
        return;
      }
    }
    this.keep(data, start, false);
  }

  private pushBuffered(data: Buffer, onMessage: MessageHandler): void {
    const end = data.length;
    let start = 0;
    while (start < end) {
      this.reader.reset(data, start, end);
      let more: boolean;
      try {
        more = onMessage(this.reader) !== false;
      } catch (error) {
        if (error !== Underrun.instance) throw error;
        this.beginPartial(data, start, onMessage);
        return;
      }
      const consumed = this.reader.offset - start;
      if (consumed > this.maxMessageBytes) {
        throw new ProtocolError(`message of ${consumed} bytes exceeds the maximum of ${this.maxMessageBytes}`);
      }
      start = this.reader.offset;
      if (!more) {
        this.keep(data, start, true);
        return;
      }
    }
    this.keep(data, start, false);
  }

  /** A message ran past the received bytes: collect it, and scan what is here once. */
  private beginPartial(data: Buffer, start: number, onMessage: MessageHandler): void {
    this.scanner.reset();
    const partial = new OutputBuffer(Math.max(1024, (data.length - start) * 2));
    partial.write(data, start, data.length);
    this.partial = partial;
    const rest = this.continuePartial(Buffer.alloc(0), onMessage);
    if (rest !== undefined) throw new ProtocolError('a message is shorter than its own structure');
  }

  /**
   * Adds bytes to the partial message. Once it is complete, decodes it and returns the bytes
   * after it (to be read as usual); undefined while it is incomplete or the handler stopped.
   */
  private continuePartial(chunk: Buffer, onMessage: MessageHandler): Buffer | undefined {
    const partial = this.partial as OutputBuffer;
    partial.write(chunk, 0, chunk.length);
    const length = this.scanner.scan(partial.buf, partial.pos);
    if (length < 0) {
      if (partial.pos > this.maxMessageBytes) throw new ProtocolError(`message exceeds the maximum of ${this.maxMessageBytes} bytes`);
      return undefined;
    }
    if (length > this.maxMessageBytes) throw new ProtocolError(`message of ${length} bytes exceeds the maximum of ${this.maxMessageBytes}`);
    this.partial = undefined;
    const bytes = partial.buf;
    const rest = Buffer.from(bytes.subarray(length, partial.pos));
    const more = this.decode(bytes, 0, length, onMessage, 'a message is shorter than its own structure');
    if (more) return rest;
    this.keep(rest, 0, true);
    return undefined;
  }

  /** Decodes one whole message; an Underrun means the bytes lied about their length. */
  private decode(data: Buffer, start: number, end: number, onMessage: MessageHandler, underrun: string): boolean {
    this.reader.reset(data, start, end);
    try {
      return onMessage(this.reader) !== false;
    } catch (error) {
      if (error === Underrun.instance) throw new ProtocolError(underrun);
      throw error;
    }
  }

  /** Keeps data[start..] for the next push; a copy, so a few bytes do not pin a 64 KiB chunk. */
  private keep(data: Buffer, start: number, afterStop: boolean): void {
    if (start < data.length) this.pending = Buffer.from(data.subarray(start));
    this.pendingAfterStop = afterStop;
  }
}
