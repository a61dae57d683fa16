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

export function createEtcdClient(endpoints: string[], callTimeoutMs: number, purpose: 'main' | 'bulk' = 'main'): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    faultHandling: { global: noop },
    // grpc-js shares one connection per member among clients with equal options: the user agent
    // tells a node's bulk client (replays, snapshots) apart, so it never queues journal appends.
    grpcOptions: { 'grpc.max_receive_message_length': MAX_ANSWER_BYTES, 'grpc.primary_user_agent': `lockd-${purpose}` },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
}
