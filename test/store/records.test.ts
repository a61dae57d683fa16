/**
 * The record checksum: crc32Of must be zlib's CRC-32 exactly, at every length and offset, or
 * logs written before it (and by it) would read as corrupt.
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32Of } from '../../src/store/records';

test('crc32Of equals zlib.crc32 for every length up to 300 bytes, at odd offsets, and for empty input', () => {
  const bytes = randomBytes(1024);
  for (let length = 0; length <= 300; length++) {
    const start = (length * 7) % 97;
    expect(crc32Of(bytes, start, start + length)).toBe(crc32(bytes.subarray(start, start + length)));
  }
  const zeros = Buffer.alloc(64);
  expect(crc32Of(zeros, 0, 64)).toBe(crc32(zeros));
  expect(crc32Of(Buffer.from('123456789'), 0, 9)).toBe(0xcbf43926);
});
