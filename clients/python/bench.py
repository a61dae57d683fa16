#!/usr/bin/env python3
"""Pairs/s (acquire + release, as /work/shared/baselines.md defines a pair) through the Python
client against a running lockd, and the hand-off of one key among tasks.

    LOCKD_ADDR=127.0.0.1:9090 python3 clients/python/bench.py [--seconds 3] [--threads 1,8]

Uncontended: each of T threads, sharing one LockClient, loops try_lock + release on its own key.
Raw: the same with python3-thrift's generated client alone on one connection, the floor this
client's pooling, leases and error mapping add to. Contended: T asyncio tasks on one
AsyncLockClient take turns on one key (waiting in lockd's queue). Numbers from a shared
machine are only comparable within one run.
"""
import argparse
import asyncio
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lockd import AsyncLockClient, LockClient  # noqa: E402
from lockd._connection import Connection  # noqa: E402
from lockd._gen.ttypes import LockRequest  # noqa: E402


def timed(seconds, worker, threads):
    """Runs `worker(stop, counts, index)` on `threads` threads for `seconds`; pairs per second."""
    stop = threading.Event()
    counts = [0] * threads
    pool = [threading.Thread(target=worker, args=(stop, counts, i)) for i in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def uncontended(client, seconds, threads):
    def worker(stop, counts, index):
        key = f'bench/{os.getpid()}/{index}'
        while not stop.is_set():
            client.try_lock(key, ttl=30).release()
            counts[index] += 1
    return timed(seconds, worker, threads)


def raw(options, seconds):
    connection = Connection(options)

    def worker(stop, counts, index):
        key = f'bench/raw/{os.getpid()}'
        while not stop.is_set():
            lease = connection.acquire(LockRequest(lockKey=key, ttlMs=30000), timeout=10).lease
            connection.call('release', key, lease.token, timeout=10)
            counts[index] += 1
    try:
        return timed(seconds, worker, 1)
    finally:
        connection.close()


async def contended(options, seconds, tasks):
    client = AsyncLockClient(options.host, options.port)
    key = f'bench/contended/{os.getpid()}'
    deadline = time.monotonic() + seconds
    pairs, handoffs, last = 0, 0, None

    async def task(index):
        nonlocal pairs, handoffs, last
        while time.monotonic() < deadline:
            async with client.lock(key, ttl=30):
                pairs += 1
                handoffs += last is not None and last != index
                last = index
    started = time.monotonic()
    await asyncio.gather(*(task(i) for i in range(tasks)))
    elapsed = time.monotonic() - started
    await client.close()
    return pairs / elapsed, handoffs / max(1, pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--threads', default='1,8', help='comma-separated thread/task counts')
    args = parser.parse_args()
    client = LockClient.from_env()
    client.ping()
    print(f'lockd at {client.options.host}:{client.options.port}, {args.seconds:g} s per row')
    print(f'raw generated client, 1 connection: {raw(client.options, args.seconds):,.0f} pairs/s')
    for threads in (int(t) for t in args.threads.split(',')):
        print(f'LockClient, {threads} thread(s), own keys: {uncontended(client, args.seconds, threads):,.0f} pairs/s')
        rate, handoff = asyncio.run(contended(client.options, args.seconds, threads))
        print(f'AsyncLockClient, {threads} task(s), one key: {rate:,.0f} pairs/s, {handoff:.0%} to another task')
    client.close()


if __name__ == '__main__':
    main()
