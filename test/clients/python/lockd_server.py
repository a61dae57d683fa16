"""A real lockd for the Python client tests, and the small waiting helpers they share.

    server = LockdServer.start()            # node main.js --host 127.0.0.1 --port 0 --in-memory
    client = LockClient(server.host, server.port)
    ...
    server.stop()                           # SIGTERM by pid, SIGKILL after 5 s

The jest wrapper (test/clients/python.test.ts) passes LOCKD_MAIN (dist/src/server/main.js) and
LOCKD_NODE (its node); run by hand, they default to this checkout's dist/ and `node` on PATH.
lockd gets a stdin pipe nobody writes to and test/helpers/exit-with-parent.js, so it exits when
this process dies, whatever happens to the tests.
"""
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
CLIENT_DIR = os.path.join(ROOT, 'clients', 'python')
if CLIENT_DIR not in sys.path:
    sys.path.insert(0, CLIENT_DIR)

LOCKD_MAIN = os.environ.get('LOCKD_MAIN', os.path.join(ROOT, 'dist', 'src', 'server', 'main.js'))
NODE = os.environ.get('LOCKD_NODE', 'node')
EXIT_WITH_PARENT = os.path.join(ROOT, 'test', 'helpers', 'exit-with-parent.js')
READY = re.compile(r'^lockd listening on (\S+):(\d+)$', re.M)
READY_TIMEOUT = 15.0
STOP_GRACE = 5.0


class LockdServer:
    """One lockd child process on 127.0.0.1 and a free port."""

    def __init__(self, process):
        self.process = process
        self.pid = process.pid
        self.host = None
        self.port = None
        self._output = []
        self._changed = threading.Condition()
        for stream in (process.stdout, process.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    @classmethod
    def start(cls, *args):
        """Starts lockd with extra `args` and returns once it prints its listening line."""
        if not os.path.exists(LOCKD_MAIN):
            raise RuntimeError(f'{LOCKD_MAIN} is missing: run `npm run build` first')
        command = [NODE, '--require', EXIT_WITH_PARENT, LOCKD_MAIN, '--host', '127.0.0.1', '--port', '0', '--in-memory', *args]
        server = cls(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        match = server.wait_for_output(READY, READY_TIMEOUT)
        server.host, server.port = match.group(1), int(match.group(2))
        return server

    @property
    def address(self):
        return f'{self.host}:{self.port}'

    def output(self):
        with self._changed:
            return ''.join(self._output)

    def wait_for_output(self, pattern, timeout=10.0):
        """The first match of `pattern` in everything lockd printed; raises after `timeout` s or if it exits."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = pattern.search(''.join(self._output))
                if match:
                    return match
                if self.process.poll() is not None:
                    raise RuntimeError(f'lockd exited ({self.process.returncode}) before printing {pattern.pattern!r}:\n{"".join(self._output)}')
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f'lockd did not print {pattern.pattern!r} within {timeout} s:\n{"".join(self._output)}')
                self._changed.wait(min(remaining, 0.2))

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_GRACE seconds; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdin.close()
        return self.process.returncode

    def kill(self):
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()

    def _pump(self, stream):
        for line in iter(stream.readline, b''):
            with self._changed:
                self._output.append(line.decode('utf-8', 'replace'))
                self._changed.notify_all()
        stream.close()


class LockdPerClass:
    """Test case mixin: one lockd (started with `server_args`) for all tests of the class."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = LockdServer.start(*cls.server_args)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()


def wait_until(condition, timeout=10.0, interval=0.01, what='the condition'):
    """Polls `condition` until it returns a truthy value (returned), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f'{what} did not hold within {timeout} s')
        time.sleep(interval)


_keys = iter(range(1, 1 << 30))


def unique_key(prefix='py'):
    """A key no other test uses, so tests sharing one lockd stay independent."""
    return f'{prefix}/{os.getpid()}/{next(_keys)}'
