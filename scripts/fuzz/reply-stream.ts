/**
 * The client side of one connection's byte stream: splits what lockd sends into messages (back
 * to back, or framed), decodes each with lockd's protocol readers and checks it with
 * replyProblem. Whatever cannot be decoded is reported as a problem, never thrown.
 */
import { protocolByName } from '../../src/protocol';
import { ProtocolReader, Underrun } from '../../src/protocol/types';
import { DecodedReply, readReply, replyProblem } from './lock-service';
import type { Stack } from './thrift-tree';

/** Largest reply accepted: a listLocks page is bounded by --max-list-bytes (1 MiB by default). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

export interface StreamEvents {
  /** A well-formed reply. */
  reply(reply: DecodedReply): void;
  /** Bytes that are not a well-formed reply; the stream stops decoding after the first. */
  problem(description: string): void;
}

export class ReplyStream {
  private pending: Buffer = Buffer.alloc(0);
  private readonly reader: ProtocolReader;
  private broken = false;

  constructor(
    private readonly stack: Stack,
    private readonly events: StreamEvents,
  ) {
    this.reader = protocolByName(stack.protocol).createReader(MAX_REPLY_BYTES);
  }

  /** Bytes received and not yet part of a whole reply. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let start = 0;
    while (start < data.length) {
      const used = this.stack.transport === 'framed' ? this.oneFramed(data, start) : this.oneBuffered(data, start);
      if (used === undefined) break;
      if (used < 0) return;
      start = used;
    }
    data = data.subarray(start);
    this.pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
  }

  /** The connection ended: bytes left over are a cut-off reply. */
  end(): void {
    if (!this.broken && this.pending.length > 0) this.fail(`connection ended inside a reply (${this.pending.length} bytes pending)`);
  }

  /** Decodes one message at `start`: its end, undefined when incomplete, -1 after a problem. */
  private oneBuffered(data: Buffer, start: number): number | undefined {
    this.reader.reset(data, start, data.length);
    return this.decode(() => this.reader.offset);
  }

  private oneFramed(data: Buffer, start: number): number | undefined {
    if (data.length - start < 4) return undefined;
    const size = data.readInt32BE(start);
    if (size <= 0 || size > MAX_REPLY_BYTES) {
      this.fail(`frame length ${size}`);
      return -1;
    }
    const end = start + 4 + size;
    if (data.length < end) return undefined;
    this.reader.reset(data, start + 4, end);
    return this.decode(() => {
      if (this.reader.offset !== end) throw new Error(`frame of ${size} bytes holds a message of ${this.reader.offset - start - 4}`);
      return end;
    }, true);
  }

  private decode(finish: () => number, whole = false): number | undefined {
    let reply: DecodedReply;
    let end: number;
    try {
      reply = readReply(this.reader);
      end = finish();
    } catch (error) {
      if (error === Underrun.instance && !whole) return undefined;
      this.fail(error === Underrun.instance ? 'a reply ends after its frame' : `undecodable reply: ${(error as Error).message}`);
      return -1;
    }
    const problem = replyProblem(reply);
    if (problem !== undefined) {
      this.fail(`${problem} (seqid ${reply.seqid})`);
      return -1;
    }
    this.events.reply(reply);
    return end;
  }

  private fail(description: string): void {
    this.broken = true;
    this.events.problem(description);
  }
}
