"""The seeds' jobs done with the client: examples/ run as their users would run them, and the
docs show exactly those examples."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

from lockd_server import CLIENT_DIR, ROOT, LockdPerClass, wait_until

from lockd import LockClient

EXAMPLES = os.path.join(CLIENT_DIR, 'examples')
DOCS = os.path.join(ROOT, 'docs', 'clients', 'python.md')
ACQUIRED = 'Lock acquired. Writing to file...\nLock released.\n'
REFUSED = 'Failed to acquire lock. Another process is writing to the file.\n'


class SeedJobsTest(LockdPerClass, unittest.TestCase):
    def run_example(self, name, *args):
        env = dict(os.environ, LOCKD_ADDR=self.server.address, PYTHONPATH=CLIENT_DIR, PYTHONDONTWRITEBYTECODE='1')
        result = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args], env=env,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, f'{name} failed:\n{result.stdout}\n{result.stderr}')
        return result.stdout

    def test_seed_000_one_writer_at_a_time_with_acquire_lock_and_release_lock(self):
        with tempfile.TemporaryDirectory() as scratch:
            shared = os.path.join(scratch, 'shared.txt')
            self.assertEqual(self.run_example('seed_000_file_write.py', shared), ACQUIRED)
            self.assertEqual(self.run_example('seed_000_file_write.py', shared), ACQUIRED, 'the first run released')

            holder = LockClient(self.server.host, self.server.port)
            self.assertTrue(holder.acquire_lock('file_lock_key'))
            self.assertFalse(holder.acquire_lock('file_lock_key'), 'this client already holds it')
            self.assertEqual(self.run_example('seed_000_file_write.py', shared), REFUSED)
            # The holder goes away without releasing: lockd frees its connection-bound grant.
            holder.close()
            observer = LockClient(self.server.host, self.server.port)
            self.addCleanup(observer.close)
            wait_until(lambda: observer.inspect('file_lock_key').holders == (), what='lockd to free the closed client\'s grant')
            self.assertEqual(self.run_example('seed_000_file_write.py', shared), ACQUIRED)
            with open(shared) as written:
                self.assertEqual(written.read(), 'one writer at a time\n' * 3)

    def test_release_lock_frees_only_this_clients_grant(self):
        first = LockClient(self.server.host, self.server.port)
        second = LockClient(self.server.host, self.server.port)
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        self.assertTrue(first.acquire_lock('seed/shared-key'))
        self.assertFalse(second.acquire_lock('seed/shared-key'))
        self.assertFalse(second.release_lock('seed/shared-key'), 'not its grant')
        self.assertTrue(first.release_lock('seed/shared-key'))
        self.assertFalse(first.release_lock('seed/shared-key'), 'nothing left to release')
        self.assertTrue(second.acquire_lock('seed/shared-key', wait=5))
        self.assertTrue(second.release_lock('seed/shared-key'))

    def test_seed_001_ten_asyncio_tasks_take_turns(self):
        lines = self.run_example('seed_001_asyncio_tasks.py').splitlines()
        self.assertEqual(len(lines), 10, lines)
        parsed = [re.fullmatch(r'task (\d): critical operations completed under fence (\d+)', line) for line in lines]
        self.assertTrue(all(parsed), lines)
        self.assertEqual(sorted(int(m.group(1)) for m in parsed), list(range(10)))
        fences = [int(m.group(2)) for m in parsed]
        self.assertEqual(fences, sorted(set(fences)), 'printed inside the lock, in grant order')

    def test_the_docs_show_the_examples_verbatim(self):
        with open(DOCS) as docs:
            text = docs.read()
        for name in sorted(os.listdir(EXAMPLES)):
            if name.endswith('.py'):
                with open(os.path.join(EXAMPLES, name)) as example:
                    self.assertIn(example.read(), text, f'docs/clients/python.md should quote examples/{name} as it is')


if __name__ == '__main__':
    unittest.main()
