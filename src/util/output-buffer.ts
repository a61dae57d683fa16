/**
 * A growable byte buffer that replies and records are encoded into. One per connection: every
 * reply encoded in one turn of the event loop leaves in one socket write (see `take`).
 */

/** A buffer grown past this is replaced by a fresh small one once emptied, so a burst's memory goes back. */
const SHRINK_ABOVE_BYTES = 256 * 1024;

export class OutputBuffer {
  buf: Buffer;
  pos = 0;

  constructor(private readonly initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Makes room for `bytes` more bytes. */
  ensure(bytes: number): void {
    const needed = this.pos + bytes;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Appends `source[from, to)`. */
  write(source: Buffer, from: number, to: number): void {
    this.ensure(to - from);
    source.copy(this.buf, this.pos, from, to);
    this.pos += to - from;
  }

  /** Reserves 4 bytes for a frame length; returns where they are (see endFrame). */
  beginFrame(): number {
    this.ensure(4);
    const at = this.pos;
    this.pos += 4;
    return at;
  }

  /** Writes the length of everything after the reserved 4 bytes into them. */
  endFrame(at: number): void {
    this.buf.writeInt32BE(this.pos - at - 4, at);
  }

  /** Forgets everything after `at` (a message that failed half-way). */
  truncate(at: number): void {
    this.pos = at;
  }

  /**
   * Returns a copy of the bytes written so far and empties the buffer. A copy, because the socket
   * keeps the Buffer until the kernel takes it while this one is reused at once.
   */
  take(): Buffer {
    const bytes = Buffer.from(this.buf.subarray(0, this.pos));
    this.reset();
    return bytes;
  }

  /** Empties the buffer, giving back the memory of a burst. */
  reset(): void {
    this.pos = 0;
    if (this.buf.length > SHRINK_ABOVE_BYTES) this.buf = Buffer.allocUnsafe(this.initialBytes);
  }
}
