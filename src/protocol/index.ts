/** lockd's Thrift codec: protocols, message framing and the LockService messages. */
import { binaryProtocol } from './binary';
import { compactProtocol } from './compact';
import type { ProtocolFactory } from './types';

/** The protocol implementation for a configured name. */
export function protocolByName(name: 'binary' | 'compact'): ProtocolFactory {
  return name === 'compact' ? compactProtocol : binaryProtocol;
}
