#!/usr/bin/env python3
"""Regenerates lockd/_gen/ from idl/lock_service.thrift: the one command to run after an IDL change.

    python3 clients/python/regen.py           # rewrite clients/python/lockd/_gen/
    python3 clients/python/regen.py --check   # exit 1 and name the files when _gen/ is stale

`thrift --gen py` writes a package named after the IDL's `namespace py`; its modules import each
other relatively, so they are copied flat into lockd/_gen/ and the client imports
`lockd._gen.LockService` and `lockd._gen.ttypes` whatever that namespace is. The
`LockService-remote` script is left out: it imports the namespace package by name and is not
part of the client.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
IDL = os.path.normpath(os.path.join(HERE, '..', '..', 'idl', 'lock_service.thrift'))
GEN_DIR = os.path.join(HERE, 'lockd', '_gen')
#: The module that marks the service package in the compiler's output.
SERVICE_MODULE = 'LockService.py'


def generate(out_dir, idl=IDL):
    """Writes the generated modules for `idl` into `out_dir` (created, must not exist yet)."""
    if shutil.which('thrift') is None:
        raise SystemExit('regen: the thrift compiler is missing (apt-get install thrift-compiler)')
    with tempfile.TemporaryDirectory(prefix='lockd-pygen-') as raw:
        subprocess.run(['thrift', '--gen', 'py', '-out', raw, idl], check=True)
        packages = [root for root, _dirs, files in os.walk(raw) if SERVICE_MODULE in files]
        if len(packages) != 1:
            raise SystemExit(f'regen: expected one package holding {SERVICE_MODULE} in the output of thrift --gen py, found {packages}')
        os.makedirs(out_dir)
        for name in sorted(os.listdir(packages[0])):
            if name.endswith('.py'):
                shutil.copyfile(os.path.join(packages[0], name), os.path.join(out_dir, name))


def stale_files(committed_dir=GEN_DIR, idl=IDL):
    """Names the files in `committed_dir` that differ from a fresh generation (empty when current)."""
    with tempfile.TemporaryDirectory(prefix='lockd-pygen-check-') as scratch:
        fresh_dir = os.path.join(scratch, 'gen')
        generate(fresh_dir, idl)
        fresh = set(os.listdir(fresh_dir))
        committed = {name for name in os.listdir(committed_dir) if name != '__pycache__'} if os.path.isdir(committed_dir) else set()
        problems = [f'{name} (missing)' for name in sorted(fresh - committed)]
        problems += [f'{name} (not generated from the IDL)' for name in sorted(committed - fresh)]
        for name in sorted(fresh & committed):
            with open(os.path.join(fresh_dir, name), 'rb') as a, open(os.path.join(committed_dir, name), 'rb') as b:
                if a.read() != b.read():
                    problems.append(f'{name} (differs)')
        return problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only report whether lockd/_gen/ is stale')
    args = parser.parse_args(argv)
    if args.check:
        problems = stale_files()
        if problems:
            print(f'clients/python/lockd/_gen/ is stale against idl/lock_service.thrift: {", ".join(problems)}. '
                  'Run python3 clients/python/regen.py and commit it.', file=sys.stderr)
            return 1
        return 0
    with tempfile.TemporaryDirectory(prefix='lockd-pygen-new-', dir=os.path.dirname(GEN_DIR)) as scratch:
        fresh_dir = os.path.join(scratch, '_gen')
        generate(fresh_dir)
        shutil.rmtree(GEN_DIR, ignore_errors=True)
        os.rename(fresh_dir, GEN_DIR)
    print(f'regenerated {os.path.relpath(GEN_DIR)} from {os.path.relpath(IDL)}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
