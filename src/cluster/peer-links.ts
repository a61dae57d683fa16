/**
 * The links one client connection forwards over: one ThriftConnection per other node, opened on
 * first use, announced with peerConnection (so the owner never forwards the calls again), and
 * closed with the client's connection, which ends whatever the owners bound to it.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { ThriftConnection } from '../client/thrift-connection';
import { type LockdError, PeerUnreachableError } from '../errors';
import { CALL_WRITERS, type CallArgs, type CallWriter, type MethodName, type ResultOf } from '../protocol/lock-service/client';
import type { PeerLinks } from '../backend/routing';

/** How links reach other nodes. */
export interface PeerLinkOptions {
  /** This node's id, sent in peerConnection. */
  readonly nodeId: string;
  readonly connectTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** TLS to the other nodes, asked per link so reloaded files apply (undefined: plain TCP). */
  readonly tls: (() => TlsConnectionOptions) | undefined;
}

export class ThriftPeerLinks implements PeerLinks {
  private readonly links = new Map<string, Promise<ThriftConnection>>();
  private readonly listeners: ((address: string) => void)[] = [];
  private closed = false;

  constructor(private readonly options: PeerLinkOptions) {}

  call<M extends MethodName>(address: string, method: M, args: CallArgs[M], timeoutMs: number, sent?: (seqid: number) => void): Promise<ResultOf<M>> {
    return this.link(address).then(
      (connection) => {
        const pending = connection.call(method, CALL_WRITERS[method] as CallWriter<CallArgs[M]>, args, timeoutMs);
        sent?.(pending.seqid);
        return pending.reply;
      },
      (error: Error) => {
        throw new PeerUnreachableError(`cannot reach the node at ${address} that owns this key: ${error.message}`, { cause: error });
      },
    );
  }

  onLinkClosed(listener: (address: string) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) link.then((connection) => connection.close(), () => {});
    this.links.clear();
  }

  private link(address: string): Promise<ThriftConnection> {
    const open = this.links.get(address);
    if (open !== undefined) return open;
    const separator = address.lastIndexOf(':');
    const opening = ThriftConnection.connect({
      host: address.slice(0, separator),
      port: Number(address.slice(separator + 1)),
      transport: 'buffered',
      protocol: 'binary',
      connectTimeoutMs: this.options.connectTimeoutMs,
      maxMessageBytes: this.options.maxMessageBytes,
      tls: this.options.tls?.(),
    }).then((connection) => {
      if (this.closed) {
        connection.close();
        return connection;
      }
      // Sent first, answered first: every call after it runs on a link the owner knows as one.
      connection.call('peerConnection', CALL_WRITERS.peerConnection, { nodeId: this.options.nodeId }, this.options.connectTimeoutMs).reply.catch(() => {});
      connection.onClose((error: LockdError) => this.lost(address, opening, error));
      return connection;
    });
    // A link that cannot be opened is forgotten, so the next call tries again. Nothing was sent
    // over it, so nothing the owner bound to it was lost: no listener hears of it.
    opening.catch(() => {
      if (this.links.get(address) === opening) this.links.delete(address);
    });
    this.links.set(address, opening);
    return opening;
  }

  private lost(address: string, link: Promise<ThriftConnection>, _error: LockdError): void {
    if (this.links.get(address) !== link) return;
    this.links.delete(address);
    if (!this.closed) for (const listener of this.listeners) listener(address);
  }
}
