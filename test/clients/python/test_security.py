"""TLS and credentials against real lockd processes: a throw-away CA made with `openssl` (the
commands of docs/security.md and test/helpers/certs.ts), lockd with --tls-cert/--tls-key,
--tls-ca and --auth-file."""
import asyncio
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import traceback
import unittest

from lockd_server import LockdServer, unique_key, wait_until

import lockd
from lockd import (AsyncLockClient, ClientOptions, ConfigError, Credential, LockClient, PermissionDeniedError,
                   UnauthenticatedError)

#: Long and random-looking, so finding it anywhere means it leaked.
SECRET = 'billing-secret-0f3c9a7d51e2b8467a'
KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']


class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and client certificates, in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='lockd-py-pki-')
        self.ca = self._self_signed('ca', '/CN=lockd python test CA')
        self.other_ca = self._self_signed('other-ca', '/CN=someone else CA')
        self.server = self.sign('server', '/CN=localhost', self.ca, 'DNS:localhost,IP:127.0.0.1')
        self.ops = self.sign('ops', '/CN=ops', self.ca)
        self.app = self.sign('app', '/CN=app', self.ca)
        self.untrusted = self.sign('untrusted', '/CN=ops', self.other_ca)

    def file(self, name):
        return os.path.join(self.dir, name)

    def _self_signed(self, name, subject):
        _openssl('req', '-x509', *KEY_ARGS, '-keyout', self.file(f'{name}.key'), '-out', self.file(f'{name}.crt'), '-subj', subject, '-days', '2')
        return self.file(f'{name}.crt'), self.file(f'{name}.key')

    def sign(self, name, subject, by, san=None):
        cert, key, csr, ext = (self.file(f'{name}.{suffix}') for suffix in ('crt', 'key', 'csr', 'ext'))
        _openssl('req', *KEY_ARGS, '-keyout', key, '-out', csr, '-subj', subject)
        with open(ext, 'w') as out:
            out.write('basicConstraints=CA:FALSE\n' + (f'subjectAltName={san}\n' if san else ''))
        _openssl('x509', '-req', '-in', csr, '-CA', by[0], '-CAkey', by[1], '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert)
        return cert, key

    def write(self, name, text):
        path = self.file(name)
        with open(path, 'w') as out:
            out.write(text)
        os.chmod(path, 0o600)
        return path

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _openssl(*args):
    subprocess.run(['openssl', *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


def auth_file_text():
    return json.dumps({
        'identities': {
            'billing': {'secretSha256': hashlib.sha256(SECRET.encode()).hexdigest(), 'allow': {'billing/': ['lock', 'read']}},
            'ops': {'certSubject': 'CN=ops', 'allow': {'': ['admin']}},
        },
        'anonymous': {'allow': {}},
    })


def everything_said_about(error):
    """The error's str, repr, and those of every error chained to it, and its traceback."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts += [str(error), repr(error), ''.join(traceback.format_exception(type(error), error, error.__traceback__))]
        error = error.__cause__ or error.__context__
    return '\n'.join(parts)


class SecurityTestCase(unittest.TestCase):
    """One PKI and three lockds for the class: TLS + auth file, TLS requiring client
    certificates + auth file, and plain TCP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pki = Pki()
        cls.auth = cls.pki.write('auth.json', auth_file_text())
        cls.servers = []
        try:
            tls = ('--tls-cert', cls.pki.server[0], '--tls-key', cls.pki.server[1])
            cls.tls = cls._start(*tls, '--auth-file', cls.auth)
            cls.mtls = cls._start(*tls, '--tls-ca', cls.pki.ca[0], '--auth-file', cls.auth)
            cls.plain = cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls, *args):
        server = LockdServer.start(*args)
        cls.servers.append(server)
        return server

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.stop()
        cls.pki.remove()
        super().tearDownClass()

    def client(self, server, **options):
        client = LockClient(server.host, server.port, connect_timeout=5, call_timeout=10, **options)
        self.addCleanup(client.close)
        return client

    def billing(self, server=None, **options):
        """A client of the "billing" identity over TLS, trusting lockd by the test CA."""
        return self.client(server or self.tls, tls_ca=self.pki.ca[0], credential=('billing', SECRET), **options)


class TlsTest(SecurityTestCase):
    def test_a_client_trusting_the_ca_works_over_tls(self):
        client, key = self.billing(), unique_key('billing/py')
        with client.lock(key, ttl=30) as lease:
            self.assertEqual(client.inspect(key).holders[0].fence, lease.fence)
        self.assertEqual(client.inspect(key).holders, ())
        self.assertTrue(client.options.tls, 'tls_ca implies tls')

    def test_a_plain_client_on_a_tls_port_gets_a_connection_error_saying_so(self):
        client = self.client(self.tls)
        with self.assertRaises(lockd.ConnectionError) as caught:
            client.ping()
        self.assertRegex(str(caught.exception), r'closed the connection|failed during ping')
        self.assertIn('serves TLS (--tls-cert): then set tls=True or tls_ca', str(caught.exception))

    def test_a_tls_client_on_a_plain_port_gets_a_connection_error_saying_so(self):
        client = self.client(self.plain, tls_ca=self.pki.ca[0])
        with self.assertRaisesRegex(lockd.ConnectionError, r'TLS handshake with lockd at 127\.0\.0\.1:\d+ failed: .*does lockd serve TLS'):
            client.ping()

    def test_a_lockd_certificate_from_another_ca_is_not_trusted(self):
        other_ca = self.client(self.tls, tls_ca=self.pki.other_ca[0])
        with self.assertRaisesRegex(lockd.ConnectionError, 'presented a certificate this client does not trust'):
            other_ca.ping()
        system_cas = self.client(self.tls, tls=True)
        with self.assertRaisesRegex(lockd.ConnectionError, 'does not trust'):
            system_cas.ping()

    def test_lockds_certificate_must_name_the_host_dialled(self):
        from lockd._connection import tls_context
        context = tls_context(ClientOptions(tls_ca=self.pki.ca[0]))
        self.assertTrue(context.check_hostname)
        self.assertEqual(context.verify_mode, ssl.CERT_REQUIRED)
        self.assertGreaterEqual(context.minimum_version, ssl.TLSVersion.TLSv1_2)

    def test_lockd_requiring_client_certificates_refuses_a_client_without_one(self):
        client = self.client(self.mtls, tls_ca=self.pki.ca[0])
        with self.assertRaises(lockd.ConnectionError) as caught:
            client.ping()
        self.assertIn('check tls_cert/tls_key', str(caught.exception))
        untrusted = self.client(self.mtls, tls_ca=self.pki.ca[0], tls_cert=self.pki.untrusted[0], tls_key=self.pki.untrusted[1])
        with self.assertRaises(lockd.ConnectionError):
            untrusted.ping()

    def test_a_client_certificate_is_the_identity(self):
        ops = self.client(self.mtls, tls_ca=self.pki.ca[0], tls_cert=self.pki.ops[0], tls_key=self.pki.ops[1])
        key = unique_key('anything')
        lease = ops.acquire(key, ttl=30)
        self.assertEqual(ops.inspect(key).holders[0].fence, lease.fence)
        self.assertTrue(lease.release())

    def test_a_certificate_no_identity_claims_plus_a_secret(self):
        # As docs/security.md step 5: lockd requires a certificate; the secret names the identity.
        client = self.billing(self.mtls, tls_cert=self.pki.app[0], tls_key=self.pki.app[1])
        key = unique_key('billing/py')
        self.assertTrue(client.acquire(key, ttl=30).release())
        anonymous = self.client(self.mtls, tls_ca=self.pki.ca[0], tls_cert=self.pki.app[0], tls_key=self.pki.app[1])
        with self.assertRaises(UnauthenticatedError):
            anonymous.acquire(key, ttl=30)

    def test_waits_and_cancels_over_tls(self):
        holder, waiter, key = self.billing(), self.billing(), unique_key('billing/py')
        lease = holder.acquire(key, ttl=30)
        # A wait on its own connection, released by the holder.
        results = []
        thread = threading.Thread(target=lambda: results.append(waiter.acquire(key, ttl=30, wait=30)))
        thread.start()
        wait_until(lambda: holder.inspect(key).waiters == 1, what='the waiter to park')
        lease.release()
        thread.join(30)
        self.assertEqual(len(results), 1)
        self.assertTrue(results[0].release())

        # An asyncio wait cancelled: cancelWait written on the waiting TLS connection.
        async def cancelled_wait():
            client = AsyncLockClient(self.tls.host, self.tls.port, tls_ca=self.pki.ca[0], credential=('billing', SECRET))
            try:
                held = holder.acquire(key, ttl=30)
                task = asyncio.ensure_future(client.acquire(key, ttl=30))
                await asyncio.get_running_loop().run_in_executor(None, lambda: wait_until(lambda: holder.inspect(key).waiters == 1, what='the async waiter to park'))
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task
                await asyncio.get_running_loop().run_in_executor(None, lambda: wait_until(lambda: holder.inspect(key).waiters == 0, what='lockd to drop the cancelled waiter'))
                held.release()
                again = await client.acquire(key, ttl=30, wait=10)
                self.assertTrue(await again.release())
            finally:
                await client.close()

        asyncio.run(cancelled_wait())

    def test_an_unusable_tls_file_is_a_config_error_at_construction(self):
        with self.assertRaisesRegex(ConfigError, 'tls_ca=.*missing.crt'):
            LockClient('127.0.0.1', self.tls.port, tls_ca=self.pki.file('missing.crt'))
        with self.assertRaisesRegex(ConfigError, 'tls_cert=.*the key must belong to the certificate'):
            LockClient('127.0.0.1', self.tls.port, tls_cert=self.pki.app[0], tls_key=self.pki.ops[1])
        encrypted = self.pki.file('encrypted.key')
        _openssl('pkey', '-in', self.pki.app[1], '-out', encrypted, '-aes256', '-passout', 'pass:not-asked-for')
        with self.assertRaisesRegex(ConfigError, 'tls_key is encrypted'):  # and no terminal prompt
            LockClient('127.0.0.1', self.tls.port, tls_cert=self.pki.app[0], tls_key=encrypted)


class CredentialTest(SecurityTestCase):
    def test_authenticate_comes_first_on_every_connection(self):
        # Anonymous may do nothing on this lockd, so every call that works had authenticated
        # its connection first, including connections opened for parallel waits.
        client, key = self.billing(max_idle_connections=1), unique_key('billing/py')
        lease = client.acquire(key, ttl=30)
        results = []
        threads = [threading.Thread(target=lambda: results.append(client.acquire(key, ttl=30, wait=30, mode='exclusive'))) for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_until(lambda: client.inspect(key).waiters == 2, what='two waiters to park')
        lease.release()
        wait_until(lambda: len(results) == 1, what='the first waiter to be granted')
        results[0].release()
        for thread in threads:
            thread.join(30)
        self.assertEqual(len(results), 2)
        self.assertTrue(results[1].release())
        self.assertGreaterEqual(client._pool.opened, 3)

    def test_a_wrong_secret_is_refused_naming_the_identity_not_the_secret(self):
        client = self.client(self.tls, tls_ca=self.pki.ca[0], credential=('billing', SECRET + 'x'))
        with self.assertRaises(UnauthenticatedError) as caught:
            client.ping()
        error = caught.exception
        self.assertEqual((error.code, error.wire_code), ('LOCKD_UNAUTHENTICATED', 4))
        self.assertIn("authenticate as 'billing'", str(error))
        said = everything_said_about(error) + repr(client) + repr(client.options)
        self.assertNotIn(SECRET, said)
        self.assertIn('billing', repr(client))

    def test_an_unknown_identity_is_refused(self):
        client = self.client(self.tls, tls_ca=self.pki.ca[0], credential=('nobody', SECRET))
        with self.assertRaisesRegex(UnauthenticatedError, "as 'nobody'"):
            client.try_lock(unique_key('billing/py'))

    def test_a_key_outside_the_identitys_prefixes_is_permission_denied(self):
        client = self.billing()
        with self.assertRaises(PermissionDeniedError) as caught:
            client.acquire(unique_key('payroll/py'), ttl=30)
        self.assertEqual(caught.exception.wire_code, 5)
        self.assertIn('billing', str(caught.exception))

    def test_anonymous_is_unauthenticated_where_it_has_no_right(self):
        client = self.client(self.tls, tls_ca=self.pki.ca[0])
        client.ping()  # needs no right
        with self.assertRaises(UnauthenticatedError):
            client.acquire(unique_key('billing/py'), ttl=30)

    def test_credential_file_and_lockd_credential(self):
        key = unique_key('billing/py')
        path = self.pki.write('billing.credential', f'billing:{SECRET}\n')
        from_file = self.client(self.tls, tls_ca=self.pki.ca[0], credential_file=path)
        self.assertEqual(from_file.options.credential, Credential('billing', SECRET))
        self.assertTrue(from_file.acquire(key, ttl=30).release())
        from_env = LockClient.from_env(env={'LOCKD_ADDR': self.tls.address, 'LOCKD_CREDENTIAL': f'billing:{SECRET}'}, tls_ca=self.pki.ca[0])
        self.addCleanup(from_env.close)
        self.assertTrue(from_env.acquire(key, ttl=30).release())
        refused = LockClient.from_env(env={'LOCKD_ADDR': self.tls.address, 'LOCKD_CREDENTIAL': f'billing:{SECRET}'},
                                      tls_ca=self.pki.ca[0], credential=('billing', 'wrong'))
        self.addCleanup(refused.close)
        with self.assertRaises(UnauthenticatedError, msg='an explicit credential replaces LOCKD_CREDENTIAL'):
            refused.ping()

    def test_a_refused_authenticate_closes_its_connection(self):
        client = self.client(self.tls, tls_ca=self.pki.ca[0], credential=('billing', 'wrong'))
        for _ in range(2):
            with self.assertRaises(UnauthenticatedError):
                client.ping()
        self.assertEqual(client._pool._open, set(), 'no connection of a refused identity is kept')


class CredentialOptionsTest(unittest.TestCase):
    """No lockd needed."""

    def test_tls_is_implied_by_its_files(self):
        self.assertFalse(ClientOptions().tls)
        self.assertTrue(ClientOptions(tls_ca='ca.crt').tls)
        self.assertTrue(ClientOptions(tls_cert='c.crt', tls_key='c.key').tls)
        self.assertIsNone(ClientOptions(tls=True).tls_ca, 'tls alone trusts the system CAs')

    def test_a_certificate_needs_its_key_and_the_reverse(self):
        with self.assertRaisesRegex(ConfigError, r"tls_cert='c.crt' needs tls_key"):
            ClientOptions(tls_cert='c.crt')
        with self.assertRaisesRegex(ConfigError, r"tls_key='c.key' needs tls_cert"):
            ClientOptions(tls_key='c.key')
        with self.assertRaisesRegex(ConfigError, 'tls must be True or False'):
            ClientOptions(tls='yes')

    def test_credentials_are_checked_and_never_shown(self):
        options = ClientOptions(credential=('billing', SECRET))
        self.assertEqual((options.credential.identity, options.credential.secret), ('billing', SECRET))
        for shown in (repr(options), str(options), repr(options.credential), str(options.credential)):
            self.assertNotIn(SECRET, shown)
            self.assertIn('billing', shown)
        for bad, message in (((SECRET,), 'pair'), (SECRET, 'pair'), (('', SECRET), 'identity'), (('bil ling', SECRET), 'identity'), (('billing', ''), 'empty')):
            with self.assertRaisesRegex(ConfigError, message) as caught:
                ClientOptions(credential=bad)
            self.assertNotIn(SECRET, str(caught.exception))

    def test_credential_and_credential_file_exclude_each_other(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, 'c')
            with open(path, 'w') as out:
                out.write(SECRET)  # no colon: not "identity:secret"
            with self.assertRaisesRegex(ConfigError, 'expected "identity:secret"') as caught:
                ClientOptions(credential_file=path)
            self.assertNotIn(SECRET, str(caught.exception))
            with self.assertRaisesRegex(ConfigError, 'credential or credential_file, not both'):
                ClientOptions(credential=('a', 'b'), credential_file=path)
            with self.assertRaisesRegex(ConfigError, 'credential file .*missing: cannot read it'):
                ClientOptions(credential_file=os.path.join(directory, 'missing'))

    def test_lockd_credential_is_the_value_and_only_from_env_reads_it(self):
        env = {'LOCKD_CREDENTIAL': f'billing:{SECRET}\n'}
        self.assertEqual(LockClient.from_env(env=env).options.credential, Credential('billing', SECRET))
        self.assertIsNone(LockClient.from_env(env={}).options.credential)
        with self.assertRaisesRegex(ConfigError, 'LOCKD_CREDENTIAL: expected "identity:secret"') as caught:
            LockClient.from_env(env={'LOCKD_CREDENTIAL': SECRET})
        self.assertNotIn(SECRET, str(caught.exception))

    def test_a_credential_cannot_be_pickled_or_changed(self):
        import pickle
        credential = Credential('billing', SECRET)
        with self.assertRaises(TypeError):
            pickle.dumps(credential)
        with self.assertRaises(AttributeError):
            credential.identity = 'ops'


if __name__ == '__main__':
    unittest.main()
