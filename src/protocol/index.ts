/** lockd's Thrift codec: protocols, message framing and the LockService messages. */
import { binaryProtocol } from './binary';
import type { ProtocolFactory } from './types';

/** The protocol implementation for a configured name. */
export function protocolByName(name: 'binary' | 'compact'): ProtocolFactory {
  if (name === 'binary') return binaryProtocol;
  throw new Error('TODO(compact): compact protocol lands with src/protocol/compact.ts');
}
