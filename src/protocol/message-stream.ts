/**
 * Splits a byte stream into Thrift messages for one connection, for either transport:
 * buffered (messages back to back; an incomplete one is re-parsed when more bytes arrive) or
 * framed (each message behind a 4-byte big-endian length).
 */
import { ProtocolError } from '../errors';
import type { ProtocolReader } from './types';
import { Underrun } from './types';

export type TransportKind = 'buffered' | 'framed';

export class MessageStream {
  private pending: Buffer | undefined;

  /**
   * @param reader the connection's protocol reader; its maxLength bounds strings and containers.
   * @param maxMessageBytes a message (or frame) larger than this is a ProtocolError.
   */
  constructor(
    private readonly reader: ProtocolReader,
    private readonly transport: TransportKind,
    private readonly maxMessageBytes: number,
  ) {}

  /**
   * Feeds received bytes and calls `onMessage` once per complete message, with the reader
   * positioned at its start. `onMessage` must read the whole message before acting on it (an
   * Underrun thrown from it means "not all here yet" and the message is parsed again later); it
   * returns false to stop: the messages after it stay pending until the next push (an empty
   * chunk resumes). Throws ProtocolError for malformed or oversize input: the caller closes the
   * connection.
   */
  push(chunk: Buffer, onMessage: (reader: ProtocolReader) => boolean | void): void {
    const data = this.pending === undefined ? chunk : chunk.length === 0 ? this.pending : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    const end = data.length;
    let start = 0;
    if (this.transport === 'framed') {
      while (end - start >= 4) {
        const size = data.readInt32BE(start);
        if (size <= 0 || size > this.maxMessageBytes) {
          throw new ProtocolError(`frame size ${size} is outside 1..${this.maxMessageBytes} bytes`);
        }
        if (end - start - 4 < size) break;
        const frameEnd = start + 4 + size;
        this.reader.reset(data, start + 4, frameEnd);
        let more: boolean;
        try {
          more = onMessage(this.reader) !== false;
        } catch (error) {
          if (error === Underrun.instance) throw new ProtocolError('a message ends after its frame');
          throw error;
        }
        start = frameEnd;
        if (!more) break;
      }
    } else {
      while (start < end) {
        this.reader.reset(data, start, end);
        let more: boolean;
        try {
          more = onMessage(this.reader) !== false;
        } catch (error) {
          if (error !== Underrun.instance) throw error;
          if (end - start > this.maxMessageBytes) {
            throw new ProtocolError(`message exceeds the maximum of ${this.maxMessageBytes} bytes`);
          }
          break;
        }
        const consumed = this.reader.offset - start;
        if (consumed > this.maxMessageBytes) {
          throw new ProtocolError(`message of ${consumed} bytes exceeds the maximum of ${this.maxMessageBytes}`);
        }
        start = this.reader.offset;
        if (!more) break;
      }
    }
    if (start < end) {
      // A copy, so a few leftover bytes do not pin the whole 64 KiB socket chunk.
      this.pending = Buffer.from(data.subarray(start));
    }
  }

  /** Bytes received that do not yet form a whole message. */
  get pendingBytes(): number {
    return this.pending?.length ?? 0;
  }
}
