"""Options, conversions and the error hierarchy: no lockd needed."""
import unittest

import lockd_server  # noqa: F401 - puts clients/python on sys.path

import lockd
from lockd import ClientOptions, ConfigError, LockClient, parse_address
from lockd.errors import ProtocolError, error_from_wire
from lockd.options import resolve_options, ttl_ms, wait_ms


class OptionsTest(unittest.TestCase):
    def test_defaults_match_lockds_defaults(self):
        options = ClientOptions()
        self.assertEqual((options.host, options.port, options.transport, options.protocol), ('localhost', 9090, 'buffered', 'binary'))
        self.assertIsNone(options.ttl, 'lockd decides the TTL unless told')

    def test_the_constructor_takes_host_port_and_options(self):
        client = LockClient('127.0.0.1', 9191, transport='framed', protocol='compact', call_timeout=2.5)
        self.assertEqual((client.options.host, client.options.port, client.options.transport, client.options.protocol, client.options.call_timeout),
                         ('127.0.0.1', 9191, 'framed', 'compact', 2.5))
        client.close()

    def test_from_env_reads_lockd_addr_and_falls_back_to_the_default(self):
        client = LockClient.from_env(env={'LOCKD_ADDR': 'lockd.internal:7000'})
        self.assertEqual((client.options.host, client.options.port), ('lockd.internal', 7000))
        self.assertEqual(LockClient.from_env(env={}).options.port, 9090)
        self.assertEqual(LockClient.from_env(env={'LOCKD_ADDR': 'a:1'}, port=2).options.port, 2, 'explicit options win')
        several = LockClient.from_env(env={'LOCKD_ADDR': 'a:1, b:2,c:3'}).options
        self.assertEqual((several.host, several.port, several.hosts), ('a', 1, (('b', 2), ('c', 3))))
        with self.assertRaisesRegex(ConfigError, "'b' is not host:port"):
            LockClient.from_env(env={'LOCKD_ADDR': 'a:1,b'})

    def test_parse_address(self):
        self.assertEqual(parse_address('localhost:9090'), ('localhost', 9090))
        self.assertEqual(parse_address('[::1]:9090'), ('::1', 9090))
        for bad in ('localhost', ':9090', 'host:0', 'host:70000', 'host:x', ''):
            with self.assertRaisesRegex(ConfigError, 'not host:port'):
                parse_address(bad)

    def test_invalid_options_name_the_field(self):
        cases = {
            'port': {'port': 0}, 'transport': {'transport': 'http'}, 'protocol': {'protocol': 'json'},
            'call_timeout': {'call_timeout': 0}, 'connect_timeout': {'connect_timeout': -1},
            'max_waits': {'max_waits': 0}, 'ttl': {'ttl': -3}, 'tcp_keepalive': {'tcp_keepalive': 0.5},
            'unknown': {'colour': 'blue'},
        }
        for field, options in cases.items():
            with self.subTest(field=field), self.assertRaises(ConfigError) as caught:
                resolve_options(**options)
            self.assertIn('colour' if field == 'unknown' else field, str(caught.exception))
            self.assertIsInstance(caught.exception, ValueError)


class ConversionTest(unittest.TestCase):
    def test_waits_in_seconds_become_the_wires_milliseconds(self):
        self.assertEqual(wait_ms(None), -1)
        self.assertEqual(wait_ms(float('inf')), -1)
        self.assertEqual(wait_ms(0), 0)
        self.assertEqual(wait_ms(1.5), 1500)
        self.assertEqual(wait_ms(0.0001), 1, 'a positive wait never rounds to try-once')
        for bad in (-1, 'soon', True, float('nan')):
            with self.assertRaises(lockd.InvalidArgumentError):
                wait_ms(bad)

    def test_ttls_in_seconds_become_the_wires_milliseconds(self):
        self.assertIsNone(ttl_ms(None))
        self.assertEqual(ttl_ms(30), 30000)
        self.assertEqual(ttl_ms(0.25), 250)
        for bad in (0, -1, float('inf'), '30'):
            with self.assertRaises(lockd.InvalidArgumentError):
                ttl_ms(bad)


class ErrorsTest(unittest.TestCase):
    def test_every_wire_code_maps_to_its_class(self):
        expected = {
            1: lockd.InvalidArgumentError, 2: lockd.NotHolderError, 3: lockd.ResourceExhaustedError,
            4: lockd.UnauthenticatedError, 5: lockd.PermissionDeniedError, 6: lockd.UnavailableError,
        }
        for code, cls in expected.items():
            error = error_from_wire(code, 'why')
            self.assertIs(type(error), cls)
            self.assertEqual(error.wire_code, code)
            self.assertTrue(error.code.startswith('LOCKD_'))
            self.assertIsInstance(error, lockd.LockdError)
        self.assertIsInstance(error_from_wire(99, 'why'), ProtocolError)

    def test_every_code_the_idl_declares_has_a_typed_error(self):
        from lockd._gen.ttypes import ErrorCode
        for name, code in ErrorCode._NAMES_TO_VALUES.items():
            with self.subTest(code=name):
                error = error_from_wire(code, 'why')
                self.assertNotIsInstance(error, ProtocolError, f'no error class for the IDL code {name}')
                self.assertEqual(error.code, f'LOCKD_{name}')

    def test_errors_are_also_the_matching_builtins(self):
        self.assertTrue(issubclass(lockd.ConnectionError, ConnectionError))
        self.assertTrue(issubclass(lockd.CallTimeoutError, lockd.ConnectionError))
        self.assertTrue(issubclass(lockd.LockTimeoutError, TimeoutError))
        self.assertTrue(issubclass(lockd.InvalidArgumentError, ValueError))
        self.assertIs(lockd.LockdConnectionError, lockd.ConnectionError)


if __name__ == '__main__':
    unittest.main()
