/**
 * Tells from a connection's first bytes which Thrift transport and protocol its client speaks,
 * so one port serves buffered and framed, binary and compact clients without flags — and
 * recognises the two mistakes people make most (HTTP or TLS to the Thrift port) to say so.
 *
 * - buffered binary (strict): 0x80 0x01 ...        buffered compact: 0x82 ...
 * - framed: a 4-byte big-endian length, then one of the above (or a non-strict binary header,
 *   whose first bytes are a method name's length: 0x00 ...)
 * - non-strict binary, buffered: a 4-byte method-name length (positive, small), then the name
 * - HTTP: an ASCII method and a space; TLS: a handshake record, 0x16 0x03.
 */
import type { ProtocolKind, TransportKind } from '../options';

/** What the first bytes showed. */
export type WireGuess =
  | { readonly kind: 'thrift'; readonly transport: TransportKind; readonly protocol: ProtocolKind }
  | { readonly kind: 'http' }
  | { readonly kind: 'tls' }
  | { readonly kind: 'unknown' };

/** Bytes needed to decide every case. */
export const DETECT_BYTES = 5;

const BINARY_VERSION_BYTE = 0x80;
const COMPACT_PROTOCOL_ID = 0x82;
const TLS_HANDSHAKE = 0x16;
const HTTP_METHOD = /^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) /;

/** Decides from the first bytes; undefined while fewer than needed have arrived. */
export function detectWire(head: Buffer): WireGuess | undefined {
  if (head.length === 0) return undefined;
  const first = head[0];
  if (first === BINARY_VERSION_BYTE) return { kind: 'thrift', transport: 'buffered', protocol: 'binary' };
  if (first === COMPACT_PROTOCOL_ID) return { kind: 'thrift', transport: 'buffered', protocol: 'compact' };
  if (first === TLS_HANDSHAKE) {
    if (head.length < 2) return undefined;
    return head[1] === 0x03 ? { kind: 'tls' } : { kind: 'unknown' };
  }
  if (first >= 0x41 && first <= 0x5a) {
    // Uppercase ASCII: an HTTP method, or nothing lockd speaks (a frame that long is refused anyway).
    const text = head.toString('latin1', 0, Math.min(head.length, 8));
    if (HTTP_METHOD.test(text)) return { kind: 'http' };
    if (head.length < 8 && /^[A-Z]+$/.test(text)) return undefined;
    return { kind: 'unknown' };
  }
  if (head.length < DETECT_BYTES) return undefined;
  const fifth = head[4];
  if (fifth === BINARY_VERSION_BYTE) return { kind: 'thrift', transport: 'framed', protocol: 'binary' };
  if (fifth === COMPACT_PROTOCOL_ID) return { kind: 'thrift', transport: 'framed', protocol: 'compact' };
  // Framed non-strict binary: a frame length, then a method name's length (whose high byte is 0).
  if (first === 0 && fifth === 0) return { kind: 'thrift', transport: 'framed', protocol: 'binary' };
  // Buffered non-strict binary: a method name's length, then the name.
  if (first === 0 && fifth >= 0x20 && fifth < 0x7f) return { kind: 'thrift', transport: 'buffered', protocol: 'binary' };
  return { kind: 'unknown' };
}

/** What lockd answers and logs for a client that is not speaking Thrift to its Thrift port. */
export function wrongProtocolAdvice(guess: WireGuess, httpPort: number | undefined): string {
  switch (guess.kind) {
    case 'http':
      return httpPort !== undefined
        ? `this is lockd's Thrift port; its HTTP API listens on port ${httpPort}`
        : "this is lockd's Thrift port; start lockd with --http-port to serve HTTP";
    case 'tls':
      return 'a TLS handshake reached a plain-text Thrift port: connect without TLS, or start lockd with --tls-cert and --tls-key';
    default:
      return 'the first bytes are not a Thrift message in any transport or protocol lockd speaks';
  }
}
