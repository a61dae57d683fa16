/**
 * The etcd3 client as cluster mode uses it: every call has a deadline, and etcd3's global retry
 * policy is off, because lockd retries journal writes itself with the same bytes (idempotent by
 * their compares, design study §4.4) and must decide itself when to give up (its ownership
 * deadline). Each host keeps etcd3's circuit breaker, so calls move on from a dead member.
 * Answers may be larger than gRPC's default 4 MiB: a page of a big partition's snapshot chunks
 * (1 MiB each) or log entries (up to 1 MiB each).
 */
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';

/** Largest etcd answer taken: a journal page of 256 entries of up to 1 MiB each, with room. */
const MAX_ANSWER_BYTES = 300 * 1024 * 1024;

/**
 * What a client's connections are for. grpc-js shares one connection per member among clients
 * with equal options: the user agent keeps a node's bulk reads (replays, snapshots) from queueing
 * journal appends, and its keep-alives from queueing behind either.
 */
export type EtcdClientPurpose = 'main' | 'bulk' | 'session';

export function createEtcdClient(endpoints: string[], callTimeoutMs: number, purpose: EtcdClientPurpose = 'main'): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    faultHandling: { global: noop },
    grpcOptions: { 'grpc.max_receive_message_length': MAX_ANSWER_BYTES, 'grpc.primary_user_agent': `lockd-${purpose}` },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
}

/**
 * One client per etcd member, used one member at a time: for a stream that must move on when its
 * member stalls. etcd3 picks a random member for each new stream and counts a stream that merely
 * stops answering (a paused member) as no failure, so a new stream could land on the same member.
 */
export class MemberClients {
  private readonly clients: Etcd3[];
  private index = 0;

  constructor(endpoints: string[], callTimeoutMs: number, purpose: EtcdClientPurpose) {
    this.clients = endpoints.map((endpoint) => createEtcdClient([endpoint], callTimeoutMs, purpose));
  }

  /** The member in use. */
  get current(): Etcd3 {
    return this.clients[this.index];
  }

  /** Moves on to the next member, in the order of the endpoints (the current one stalled). */
  next(): void {
    this.index = (this.index + 1) % this.clients.length;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}
