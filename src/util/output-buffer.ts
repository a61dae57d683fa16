/**
 * A growable byte buffer that replies are encoded into. One per connection: everything encoded
 * in one turn of the event loop leaves in one socket write (see `take`).
 */
export class OutputBuffer {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 16 * 1024) {
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
    this.pos = 0;
    return bytes;
  }
}
