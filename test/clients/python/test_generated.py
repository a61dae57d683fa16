"""clients/python/lockd/_gen/ must be what `thrift --gen py` makes of idl/lock_service.thrift."""
import os
import shutil
import sys
import tempfile
import unittest

from lockd_server import CLIENT_DIR

sys.path.insert(0, CLIENT_DIR)
import regen  # noqa: E402 - clients/python/regen.py


class GeneratedCodeTest(unittest.TestCase):
    def test_the_checked_in_code_matches_a_fresh_generation(self):
        stale = regen.stale_files()
        self.assertEqual(stale, [], f'lockd/_gen/ is stale: {", ".join(stale)}. Run python3 clients/python/regen.py and commit it.')

    def test_the_check_notices_an_edited_or_extra_file(self):
        with tempfile.TemporaryDirectory() as scratch:
            copy = os.path.join(scratch, '_gen')
            shutil.copytree(regen.GEN_DIR, copy, ignore=shutil.ignore_patterns('__pycache__'))
            with open(os.path.join(copy, 'ttypes.py'), 'a') as edited:
                edited.write('# hand edit\n')
            open(os.path.join(copy, 'extra.py'), 'w').close()
            self.assertEqual(regen.stale_files(committed_dir=copy), ['extra.py (not generated from the IDL)', 'ttypes.py (differs)'])


if __name__ == '__main__':
    unittest.main()
