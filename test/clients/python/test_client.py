"""LockClient against a real lockd: leases, renewal, loss, waiting, errors, threads."""
import socket
import threading
import time
import unittest

from lockd_server import LockdPerClass, LockdServer, unique_key, wait_until

import lockd
from lockd import (
    CallTimeoutError,
    InvalidArgumentError,
    LockClient,
    LockTimeoutError,
    NotHolderError,
    ResourceExhaustedError,
    WireErrorCode,
)


class LockdTestCase(LockdPerClass, unittest.TestCase):
    """One lockd for the class; every test gets fresh clients, closed after it."""

    def client(self, **options):
        client = LockClient(self.server.host, self.server.port, **options)
        self.addCleanup(client.close)
        return client


class LeaseLifecycleTest(LockdTestCase):
    def test_a_lock_block_holds_the_key_with_a_fence_and_frees_it_on_exit(self):
        client, key = self.client(), unique_key()
        with client.lock(key, ttl=30) as lease:
            self.assertIsInstance(lease, lockd.Lease)
            self.assertEqual(lease.key, key)
            self.assertRegex(lease.token, r'^[0-9a-f]{32}$')
            self.assertGreater(lease.fence, 0)
            self.assertEqual(lease.ttl, 30)
            self.assertTrue(lease.held)
            self.assertGreater(lease.expires_at, time.time())
            info = client.inspect(key)
            self.assertEqual([h.fence for h in info.holders], [lease.fence])
            self.assertTrue(client.check_fence(key, lease.fence))
        self.assertEqual(client.inspect(key).holders, ())
        self.assertFalse(lease.held)
        self.assertFalse(lease.lost.is_set(), 'releasing is not losing')
        with client.lock(key) as second:
            self.assertGreater(second.fence, lease.fence)

    def test_a_lock_block_releases_when_its_body_raises(self):
        client, key = self.client(), unique_key()
        with self.assertRaisesRegex(RuntimeError, 'boom'):
            with client.lock(key):
                raise RuntimeError('boom')
        self.assertEqual(client.inspect(key).holders, ())

    def test_background_renewal_keeps_a_lease_past_its_ttl(self):
        client, other, key = self.client(), self.client(), unique_key()
        # A TTL long enough that a renewal running a second late on a loaded machine still lands.
        with client.lock(key, ttl=2.4) as lease:
            first_expiry = lease.expires_at
            # Wait until lockd's first expiry is well past on the shared wall clock.
            wait_until(lambda: time.time() > first_expiry + 1.0, timeout=15, what='the first TTL to pass')
            self.assertFalse(lease.lost.is_set(), lease.lost_reason)
            self.assertGreater(lease.expires_at, first_expiry)
            self.assertEqual([h.fence for h in client.inspect(key).holders], [lease.fence])
            self.assertIsNone(other.try_lock(key))
            self.assertTrue(lease.release())

    def test_a_lease_is_lost_when_a_renewal_is_refused_after_it_was_released_elsewhere(self):
        client, other, key = self.client(), self.client(), unique_key()
        reasons = []
        with self.assertLogs('lockd', 'WARNING') as logs:
            with client.lock(key, ttl=1, on_lost=reasons.append) as lease:
                self.assertTrue(other.release(key, lease.token))
                self.assertTrue(lease.lost.wait(10), 'the next renewal should have been refused')
                self.assertIsInstance(lease.lost_reason, NotHolderError)
                self.assertEqual(reasons, [lease.lost_reason])
                self.assertFalse(lease.held)
        self.assertIn('already lost when the block ended', logs.output[0])
        self.assertFalse(lease.release(), 'lockd no longer held it')

    def test_a_lease_is_lost_when_it_expires_without_renewal(self):
        client, key = self.client(), unique_key()
        lease = client.acquire(key, ttl=0.2)
        wait_until(lambda: client.inspect(key).holders == (), what='lockd to expire the lease')
        with self.assertRaises(NotHolderError):
            lease.renew()
        self.assertTrue(lease.lost.is_set())
        self.assertIsInstance(lease.lost_reason, NotHolderError)
        self.assertFalse(lease.release())

    def test_a_watched_lease_reports_its_expiry_through_on_lost(self):
        client, key = self.client(), unique_key()
        reasons = []
        lease = client.acquire(key, ttl=0.2, on_lost=reasons.append)
        self.assertTrue(lease.lost.wait(10))
        self.assertEqual(len(reasons), 1)
        self.assertIsInstance(reasons[0], NotHolderError)
        self.assertIn('TTL ran out', str(reasons[0]))

    def test_renew_keeps_the_lease_ttl_unless_given_one(self):
        client, key = self.client(), unique_key()
        lease = client.acquire(key, ttl=20)
        before = lease.expires_at
        lease.renew()
        self.assertEqual(lease.ttl, 20)
        self.assertGreaterEqual(lease.expires_at, before)
        lease.renew(ttl=40)
        self.assertEqual(lease.ttl, 40)
        self.assertEqual(client.inspect(key).holders[0].fence, lease.fence)
        self.assertTrue(lease.release())

    def test_release_is_idempotent(self):
        client, key = self.client(), unique_key()
        lease = client.acquire(key)
        self.assertTrue(lease.release())
        self.assertTrue(lease.release(), 'a second release returns the first result')
        self.assertEqual(client.inspect(key).holders, ())
        with self.assertRaises(NotHolderError):
            lease.renew()

    def test_acquiring_with_the_token_re_enters(self):
        client, key = self.client(), unique_key()
        lease = client.acquire(key)
        again = client.acquire(key, token=lease.token)
        self.assertEqual((again.token, again.fence, again.hold_count), (lease.token, lease.fence, 2))
        self.assertTrue(again.release())
        self.assertEqual(client.inspect(key).holders[0].hold_count, 1)
        self.assertTrue(lease.release())
        self.assertEqual(client.inspect(key).holders, ())

    def test_shared_leases_coexist_and_keep_an_exclusive_one_out(self):
        client, key = self.client(), unique_key()
        first = client.acquire(key, mode='shared')
        second = client.acquire(key, mode='shared')
        self.assertEqual({h.mode for h in client.inspect(key).holders}, {'shared'})
        self.assertIsNone(client.try_lock(key))
        first.release()
        second.release()
        self.assertIsNotNone(client.try_lock(key))


class WaitingTest(LockdTestCase):
    def test_try_lock_on_a_busy_key_returns_none(self):
        client, key = self.client(), unique_key()
        with client.lock(key):
            self.assertIsNone(client.try_lock(key))
            self.assertIsNone(self.client().try_lock(key, wait=0.1))

    def test_a_wait_that_runs_out_raises_lock_timeout_error(self):
        client, key = self.client(), unique_key()
        with client.lock(key):
            with self.assertRaises(LockTimeoutError) as caught:
                self.client().acquire(key, wait=0.2)
        self.assertEqual(caught.exception.code, 'LOCKD_LOCK_TIMEOUT')
        self.assertIsInstance(caught.exception, TimeoutError)
        self.assertEqual(client.inspect(key).waiters, 0)

    def test_a_waiter_is_granted_when_the_holder_releases(self):
        holder, waiter, key = self.client(), self.client(), unique_key()
        lease = holder.acquire(key)
        granted = []
        thread = threading.Thread(target=lambda: granted.append(waiter.acquire(key, wait=30)))
        thread.start()
        wait_until(lambda: holder.inspect(key).waiters == 1, what='the waiter to park')
        lease.release()
        thread.join(30)
        self.assertEqual(len(granted), 1)
        self.assertGreater(granted[0].fence, lease.fence)
        granted[0].release()

    def test_the_socket_timeout_outlasts_the_wait(self):
        # call_timeout is far shorter than the wait: a socket timeout of call_timeout alone would
        # give up on a wait lockd is still honouring.
        holder, key = self.client(), unique_key()
        waiter = self.client(call_timeout=0.2)
        lease = holder.acquire(key)
        granted = []
        thread = threading.Thread(target=lambda: granted.append(waiter.acquire(key, wait=30)))
        thread.start()
        wait_until(lambda: holder.inspect(key).waiters == 1, what='the waiter to park')
        time.sleep(0.6)  # longer than call_timeout: the parked call must still be waiting
        self.assertEqual(holder.inspect(key).waiters, 1)
        lease.release()
        thread.join(30)
        self.assertEqual(len(granted), 1)
        self.assertTrue(granted[0].release())

    def test_renewal_runs_while_the_same_client_waits_for_another_key(self):
        client, other, held_key, busy_key = self.client(), self.client(), unique_key(), unique_key()
        blocker = other.acquire(busy_key)
        outcome = []
        with client.lock(held_key, ttl=1.5) as lease:
            thread = threading.Thread(target=lambda: outcome.append(client.acquire(busy_key, wait=30)))
            thread.start()
            wait_until(lambda: other.inspect(busy_key).waiters == 1, what='the waiter to park')
            renewed_past = lease.expires_at
            wait_until(lambda: lease.expires_at > renewed_past + 0.9, what='two more renewals during the wait')
            blocker.release()
            thread.join(30)
            self.assertFalse(lease.lost.is_set(), lease.lost_reason)
            self.assertEqual(client.inspect(held_key).holders[0].fence, lease.fence)
        self.assertEqual(len(outcome), 1)
        self.assertTrue(outcome[0].release())

    def test_threads_sharing_one_client_never_hold_a_key_together(self):
        client, key = self.client(), unique_key()
        inside, peak, entries, failures = [0], [0], [], []
        guard = threading.Lock()

        def worker():
            try:
                for _ in range(5):
                    with client.lock(key, ttl=10, wait=60) as lease:
                        with guard:
                            inside[0] += 1
                            peak[0] = max(peak[0], inside[0])
                            entries.append(lease.fence)
                        time.sleep(0.005)
                        with guard:
                            inside[0] -= 1
            except Exception as error:  # reported below: a thread's exception would vanish
                failures.append(error)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(failures, [])
        self.assertEqual(peak[0], 1)
        self.assertEqual(len(entries), 40)
        self.assertEqual(entries, sorted(entries))
        self.assertEqual(len(set(entries)), 40)

    def test_closing_the_client_ends_a_wait_with_connection_error(self):
        holder, waiter, key = self.client(), LockClient(self.server.host, self.server.port), unique_key()
        holder.acquire(key)
        errors = []
        thread = threading.Thread(target=lambda: self._record(errors, lambda: waiter.acquire(key)))
        thread.start()
        wait_until(lambda: holder.inspect(key).waiters == 1, what='the waiter to park')
        waiter.close()
        thread.join(30)
        self.assertEqual([type(e) for e in errors], [lockd.ConnectionError])
        wait_until(lambda: holder.inspect(key).waiters == 0, what='lockd to drop the waiter of the closed connection')

    def test_waits_beyond_max_waits_are_refused(self):
        holder, key = self.client(), unique_key()
        waiter = self.client(max_waits=1)
        lease = holder.acquire(key)
        thread = threading.Thread(target=lambda: waiter.acquire(key, wait=30).release())
        thread.start()
        wait_until(lambda: holder.inspect(key).waiters == 1, what='the first waiter to park')
        with self.assertRaisesRegex(ResourceExhaustedError, 'max_waits=1'):
            waiter.acquire(key, wait=30)
        self.assertIsNone(waiter.try_lock(key), 'a try-once acquire is not a wait')
        lease.release()
        thread.join(30)

    def test_a_grant_that_crossed_a_cancel_is_handed_back(self):
        from lockd._connection import WaitCancelled, WaitHandle

        class CancelledAfterSend(WaitHandle):
            """A cancel that reaches lockd after it granted: cancelWait would find nothing parked."""

            def _attach(self, connection):
                super()._attach(connection)
                self._cancelled = True

        client, key = self.client(), unique_key()
        with self.assertRaises(WaitCancelled):
            client._acquire(key, None, 5000, 'exclusive', None, None, True, None, None, handle=CancelledAfterSend())
        self.assertEqual(client.inspect(key).holders, (), 'the caller gave up, so the grant was released')

    @staticmethod
    def _record(errors, fn):
        try:
            fn()
        except Exception as error:
            errors.append(error)


class ErrorsTest(LockdTestCase):
    def test_a_wrong_token_releases_nothing_and_cannot_renew(self):
        client, key = self.client(), unique_key()
        lease = client.acquire(key)
        self.assertFalse(client.release(key, '0' * 32))
        with self.assertRaises(NotHolderError) as caught:
            client.renew(key, '0' * 32, ttl=10)
        self.assertEqual((caught.exception.code, caught.exception.wire_code), ('LOCKD_NOT_HOLDER', WireErrorCode.NOT_HOLDER))
        self.assertEqual(client.inspect(key).holders[0].fence, lease.fence)
        state = client.renew(key, lease.token, ttl=10)
        self.assertEqual((state.key, state.fence, state.ttl), (key, lease.fence, 10))

    def test_a_ttl_outside_lockds_range_is_an_invalid_argument(self):
        client = self.client()
        with self.assertRaises(InvalidArgumentError) as caught:
            client.acquire(unique_key(), ttl=0.01)
        self.assertEqual(caught.exception.wire_code, WireErrorCode.INVALID_ARGUMENT)
        self.assertIn('ttlMs', str(caught.exception))
        self.assertEqual(client.ping(), 'pong', 'a refusal leaves the connection usable')

    def test_bad_arguments_are_refused_before_sending(self):
        client = self.client()
        for call in (lambda: client.acquire('k', wait=-1), lambda: client.acquire('k', ttl=0),
                     lambda: client.acquire('k', mode='both'), lambda: client.acquire('k', renew_every=0)):
            with self.assertRaises(InvalidArgumentError):
                call()

    def test_an_unreachable_lockd_raises_connection_error(self):
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        client = LockClient('127.0.0.1', port, connect_timeout=2)
        self.addCleanup(client.close)
        with self.assertRaises(lockd.ConnectionError) as caught:
            client.ping()
        self.assertIsInstance(caught.exception, ConnectionError, 'the built-in ConnectionError catches it too')
        self.assertIn(f'127.0.0.1:{port}', str(caught.exception))

    def test_a_peer_that_is_not_lockd_gives_a_connection_error_with_a_hint(self):
        # What a Thrift server on another transport or protocol, or an HTTP server, looks like.
        with socket.socket() as listener:
            listener.bind(('127.0.0.1', 0))
            listener.listen(1)

            def answer_like_http():
                peer, _ = listener.accept()
                with peer:
                    peer.recv(1024)
                    peer.sendall(b'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')

            thread = threading.Thread(target=answer_like_http)
            thread.start()
            client = LockClient('127.0.0.1', listener.getsockname()[1], call_timeout=5)
            self.addCleanup(client.close)
            with self.assertRaisesRegex(lockd.ConnectionError, '--transport/--protocol'):
                client.ping()
            thread.join(10)


class QueriesTest(LockdTestCase):
    def test_inspect_list_locks_check_fence_and_ping(self):
        client, other = self.client(owner='py-test'), self.client()
        prefix = unique_key('list') + '/'
        a = client.acquire(prefix + 'a')
        b = client.acquire(prefix + 'b')
        listed = client.list_locks(prefix)
        self.assertEqual([info.key for info in listed], [prefix + 'a', prefix + 'b'])
        self.assertEqual(listed[0].holders[0].owner, 'py-test')
        self.assertEqual([info.key for info in client.list_locks(prefix, 1)], [prefix + 'a'])
        self.assertEqual([info.key for info in client.list_locks(prefix, 1, start_after=prefix + 'a')], [prefix + 'b'])
        self.assertEqual(client.list_locks(prefix, 1, start_after=prefix + 'b'), [])
        self.assertTrue(other.check_fence(prefix + 'a', a.fence))
        self.assertFalse(other.check_fence(prefix + 'a', a.fence + 1))
        self.assertEqual(client.ping(), 'pong')
        a.release()
        b.release()
        self.assertEqual(client.list_locks(prefix), [])


class LockdGoneTest(unittest.TestCase):
    def test_a_renewed_lease_is_lost_when_lockd_stays_unreachable_past_its_ttl(self):
        server = LockdServer.start()
        self.addCleanup(server.stop)
        client = LockClient(server.host, server.port, connect_timeout=1, call_timeout=1)
        self.addCleanup(client.close)
        reasons = []
        lease = client.acquire(unique_key(), ttl=0.6, auto_renew=True, on_lost=reasons.append)
        server.kill()
        self.assertTrue(lease.lost.wait(15))
        self.assertIsInstance(lease.lost_reason, lockd.ConnectionError)
        self.assertIn('could not be renewed', str(lease.lost_reason))
        self.assertEqual(reasons, [lease.lost_reason])
        self.assertFalse(lease.release(), 'its TTL ran out: nothing to release')


class FramedCompactTest(LockdTestCase):
    server_args = ('--transport', 'framed', '--protocol', 'compact')

    def test_the_client_speaks_framed_compact(self):
        client, key = self.client(transport='framed', protocol='compact'), unique_key()
        with client.lock(key, ttl=5) as lease:
            self.assertIsNone(self.client(transport='framed', protocol='compact').try_lock(key))
            self.assertEqual(client.inspect(key).holders[0].fence, lease.fence)
        self.assertEqual(client.ping(), 'pong')


class CallTimeoutTest(unittest.TestCase):
    def test_a_server_that_never_answers_raises_call_timeout_error(self):
        with socket.socket() as silent:
            silent.bind(('127.0.0.1', 0))
            silent.listen(1)
            client = LockClient('127.0.0.1', silent.getsockname()[1], call_timeout=0.3)
            self.addCleanup(client.close)
            with self.assertRaises(CallTimeoutError) as caught:
                client.ping()
            self.assertIsInstance(caught.exception, lockd.ConnectionError)


if __name__ == '__main__':
    unittest.main()
