/** Many concurrent clients on one key: never two exclusive holders, fences strictly increasing. */
import { startInProcess, stopAll } from '../helpers/in-process-lockd';

afterEach(stopAll);

test('20 clients x 25 acquisitions on one key never overlap, and every grant has a larger fence', async () => {
  const lockd = await startInProcess();
  const clients = await Promise.all(Array.from({ length: 20 }, () => lockd.connect()));
  let inside = 0;
  let maxInside = 0;
  const fences: number[] = [];
  await Promise.all(
    clients.map(async (client, index) => {
      for (let round = 0; round < 25; round++) {
        const { acquired, lease } = await client.acquire({ lockKey: 'hot', waitMs: -1, owner: `c${index}` }).reply;
        expect(acquired).toBe(true);
        inside++;
        maxInside = Math.max(maxInside, inside);
        fences.push(lease!.fence);
        // Hold across a turn of the event loop so overlapping grants would be seen.
        await new Promise((resolve) => setImmediate(resolve));
        inside--;
        expect(await client.release('hot', lease!.token)).toBe(true);
      }
    }),
  );
  expect(maxInside).toBe(1);
  expect(fences).toHaveLength(500);
  for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]);
});

test('shared holders overlap each other but never an exclusive holder', async () => {
  const lockd = await startInProcess();
  const clients = await Promise.all(Array.from({ length: 12 }, () => lockd.connect()));
  let readers = 0;
  let writers = 0;
  let sawReadersTogether = false;
  await Promise.all(
    clients.map(async (client, index) => {
      const mode = index % 3 === 0 ? 1 : 2;
      for (let round = 0; round < 15; round++) {
        const { lease } = await client.acquire({ lockKey: 'rw', waitMs: -1, mode }).reply;
        if (mode === 1) writers++;
        else readers++;
        expect(writers === 0 || (writers === 1 && readers === 0)).toBe(true);
        if (readers > 1) sawReadersTogether = true;
        await new Promise((resolve) => setImmediate(resolve));
        if (mode === 1) writers--;
        else readers--;
        await client.release('rw', lease!.token);
      }
    }),
  );
  expect(sawReadersTogether).toBe(true);
});
