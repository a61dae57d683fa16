"""`pip install ./clients/python` yields an importable package, generated code included."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from lockd_server import CLIENT_DIR


class PackagingTest(unittest.TestCase):
    def test_pip_installs_the_package_with_its_generated_code(self):
        with tempfile.TemporaryDirectory() as scratch:
            # Build from a copy: setuptools writes build/ and *.egg-info next to pyproject.toml.
            source = os.path.join(scratch, 'src')
            shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns('__pycache__', 'build', '*.egg-info'))
            site = os.path.join(scratch, 'site')
            env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1', PIP_ROOT_USER_ACTION='ignore')
            env.pop('PYTHONPATH', None)
            install = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-build-isolation', '--no-index', '--no-deps',
                                      '--target', site, source], env=env, capture_output=True, text=True, timeout=180)
            self.assertEqual(install.returncode, 0, install.stdout + install.stderr)
            probe = ('import lockd, lockd._gen.LockService as s; '
                     'print(lockd.__file__); print(lockd.LockClient("127.0.0.1", 9).options.port); print(hasattr(s.Client, "acquire"))')
            result = subprocess.run([sys.executable, '-c', probe], env=dict(env, PYTHONPATH=site), cwd=scratch,
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            path, port, has_acquire = result.stdout.splitlines()
            self.assertTrue(path.startswith(site), path)
            self.assertEqual((port, has_acquire), ('9', 'True'))


if __name__ == '__main__':
    unittest.main()
