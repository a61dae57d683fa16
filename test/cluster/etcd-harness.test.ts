/** The etcd test harness itself: real members start healthy, serve reads and writes, and stop by pid. */
import { existsSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../helpers/etcd';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a three-member etcd on loopback elects a leader, replicates a write, and stops every member by pid', async () => {
  const etcd = await startEtcd({ members: 3 });
  const pids = etcd.members.map((m) => m.pid!);
  const clients = etcd.endpoints.map((host) => new Etcd3({ hosts: host }));
  try {
    expect(await etcd.leader()).toBeGreaterThanOrEqual(0);
    await clients[0].put('harness/key').value('v1');
    // A linearizable read through another member sees the write.
    expect(await clients[2].get('harness/key').string()).toBe('v1');
  } finally {
    for (const client of clients) client.close();
    await etcd.stop();
  }
  expect(pids.filter(alive)).toEqual([]);
  expect(existsSync(etcd.members[0].dataDir)).toBe(false);
});

test('a killed member comes back on its data dir and sees what was written while it was down', async () => {
  const etcd = await startEtcd({ members: 3 });
  const client = new Etcd3({ hosts: etcd.endpoints[0] });
  try {
    const victim = 2;
    await etcd.kill(victim);
    expect(etcd.members[victim].pid).toBeUndefined();
    await client.put('harness/while-down').value('yes');
    await etcd.restart(victim);
    const back = new Etcd3({ hosts: etcd.endpoints[victim] });
    try {
      expect(await back.get('harness/while-down').string()).toBe('yes');
    } finally {
      back.close();
    }
  } finally {
    client.close();
    await etcd.stop();
  }
});
