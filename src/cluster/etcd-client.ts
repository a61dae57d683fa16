/**
 * The etcd3 client as cluster mode uses it: every call has a deadline, and etcd3's global retry
 * policy is off, because lockd retries journal writes itself with the same bytes (idempotent by
 * their compares, design study §4.4) and must decide itself when to give up (its ownership
 * deadline). Each host keeps etcd3's circuit breaker, so calls move on from a dead member.
 */
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';

export function createEtcdClient(endpoints: string[], callTimeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    faultHandling: { global: noop },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  });
}
