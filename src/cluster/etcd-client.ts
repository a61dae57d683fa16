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

export function createEtcdClient(endpoints: string[], callTimeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    faultHandling: { global: noop },
    grpcOptions: { 'grpc.max_receive_message_length': MAX_ANSWER_BYTES },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
}
