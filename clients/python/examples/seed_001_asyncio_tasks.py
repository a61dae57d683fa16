"""Seed 001's job on lockd: ten asyncio tasks on one client take turns in a critical section.

    LOCKD_ADDR=127.0.0.1:9090 python3 seed_001_asyncio_tasks.py
"""
import asyncio

from lockd import AsyncLockClient


async def do_something(client, task):
    # Waits in lockd's FIFO queue (no polling loop); renewed in the background while held.
    async with client.lock('/distributed-lock', ttl=10) as lease:
        await asyncio.sleep(0.1)  # the critical operations
        print(f'task {task}: critical operations completed under fence {lease.fence}')


async def main():
    async with AsyncLockClient.from_env() as client:
        await asyncio.gather(*(do_something(client, task) for task in range(10)))


if __name__ == '__main__':
    asyncio.run(main())
