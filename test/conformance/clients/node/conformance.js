// lockd conformance scenarios with the generated gen-nodejs stubs on the npm thrift runtime,
// callback style (lockd's own client, src/client, is what Node programs should use; this
// proves the generated stubs too).
//
// usage: node conformance.js HOST PORT buffered|framed binary|compact KEY_PREFIX
//
// Prints one JSON line per scenario, {"scenario": NAME, "result": {...}} or {"scenario": NAME,
// "error": TEXT}; test/conformance/scenarios.ts holds the list and the expected results.
'use strict';
const thrift = require('thrift');
const types = require('../../../../gen-nodejs/lock_service_types');
const { ProbeClient } = require('./probe-client');

const { Thrift } = thrift;
const [HOST, PORT, TRANSPORT, PROTOCOL, PREFIX] = process.argv.slice(2);
const TTL_MS = 30000;
const WAIT_MS = 20000;
const TWO_TO_32 = 2 ** 32;
const OWNER = 'conformance';
const WRONG_TOKEN = '0'.repeat(32);

/**
 * A client on a new connection. The Node runtime never fails a pending call when its connection
 * closes or times out, so a close before `close()` rejects every call still waiting.
 */
function connect() {
  const connection = thrift.createConnection(HOST, Number(PORT), {
    transport: TRANSPORT === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
    protocol: PROTOCOL === 'compact' ? thrift.TCompactProtocol : thrift.TBinaryProtocol,
  });
  const client = thrift.createClient(ProbeClient, connection);
  const pending = new Set();
  let closing = false;
  const failAll = (why) => {
    for (const reject of pending) reject(new Error(why));
    pending.clear();
  };
  connection.on('close', () => closing || failAll('lockd closed the connection'));
  connection.on('error', (error) => failAll(`connection error: ${error.message}`));
  /** Calls `method(...args, callback)` and resolves with its result. */
  const call = (method, ...args) =>
    new Promise((resolve, reject) => {
      pending.add(reject);
      client[method](...args, (error, value) => {
        pending.delete(reject);
        if (error) reject(error);
        else resolve(value);
      });
    });
  const closed = new Promise((resolve) => connection.once('close', resolve));
  const close = () => {
    closing = true;
    connection.end();
    return closed;
  };
  return { client, call, close };
}

/** Runs `body` with new connections, closed afterwards. */
async function withClients(count, body) {
  const clients = Array.from({ length: count }, connect);
  try {
    return await body(...clients);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** i64 fields arrive as node-int64 values. */
const num = (value) => Number(String(value));
const modeName = (mode) => Object.keys(types.LockMode).find((name) => types.LockMode[name] === mode);
const request = (key, fields = {}) => new types.LockRequest({ lockKey: key, ttlMs: TTL_MS, ...fields });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const scenarios = {
  ping: () => withClients(1, async (c) => ({ reply: await c.call('ping') })),

  cancel_wait_nothing_parked: () => withClients(1, async (c) => ({ cancelled: await c.call('cancelWait', 424242) })),

  exclusive_acquire: () =>
    withClients(1, async (c) => {
      const key = `${PREFIX}exclusive`;
      const result = await c.call('acquire', request(key, { owner: OWNER, mode: types.LockMode.EXCLUSIVE }));
      const { lease } = result;
      const report = {
        acquired: result.acquired,
        tokenIsHex32: /^[0-9a-f]{32}$/.test(lease.token),
        fenceAbove2to32: num(lease.fence) > TWO_TO_32,
        mode: modeName(lease.mode),
        holdCount: lease.holdCount,
        ttlMs: num(lease.ttlMs),
        released: await c.call('release', key, lease.token),
      };
      // The acquire-renew-release flow of the other languages' guides.
      const other = `${PREFIX}documented`;
      const flow = await c.call('acquire', request(other, { owner: OWNER, waitMs: 0 }));
      const renewed = await c.call('renew', other, flow.lease.token, 2 * TTL_MS);
      await c.call('release', other, flow.lease.token);
      report.documentedFlowFence = flow.acquired && num(renewed.fence) === num(flow.lease.fence);
      return report;
    }),

  busy_try_lock: () =>
    withClients(2, async (holder, other) => {
      const key = `${PREFIX}busy`;
      const { lease } = await holder.call('acquire', request(key));
      const busy = await other.call('acquire', new types.LockRequest({ lockKey: key, waitMs: 0 }));
      await holder.call('release', key, lease.token);
      return { acquired: busy.acquired, hasLease: busy.lease !== null && busy.lease !== undefined };
    }),

  wait_woken_by_release: () =>
    withClients(2, async (holder, waiter) => {
      const key = `${PREFIX}wait`;
      const first = (await holder.call('acquire', request(key))).lease;
      const wokenPromise = waiter.call('acquire', request(key, { waitMs: WAIT_MS }));
      let waiters = 0;
      for (let i = 0; i < 1000 && waiters !== 1; i++) {
        // at most ~10 s
        waiters = (await holder.call('inspect', key)).waiters;
        if (waiters !== 1) await sleep(10);
      }
      const released = await holder.call('release', key, first.token);
      const woken = await wokenPromise;
      await waiter.call('release', key, woken.lease.token);
      return { waitersSeen: waiters, released, acquired: woken.acquired, higherFence: num(woken.lease.fence) > num(first.fence) };
    }),

  renew_keeps_fence: () =>
    withClients(1, async (c) => {
      const key = `${PREFIX}renew`;
      const { lease } = await c.call('acquire', request(key));
      const renewed = await c.call('renew', key, lease.token, 2 * TTL_MS);
      await c.call('release', key, lease.token);
      return {
        sameFence: num(renewed.fence) === num(lease.fence),
        sameToken: renewed.token === lease.token,
        ttlMs: num(renewed.ttlMs),
        expiresNotEarlier: num(renewed.expiresAtMs) >= num(lease.expiresAtMs),
        holdCount: renewed.holdCount,
      };
    }),

  wrong_token: () =>
    withClients(1, async (c) => {
      const key = `${PREFIX}wrong-token`;
      const { lease } = await c.call('acquire', request(key));
      const report = { release: await c.call('release', key, WRONG_TOKEN) };
      try {
        await c.call('renew', key, WRONG_TOKEN, TTL_MS);
        report.renew = 'returned';
      } catch (error) {
        if (!(error instanceof types.LockError)) throw error;
        report.renew = {
          caught: 'LockError',
          code: error.code,
          codeName: Object.keys(types.ErrorCode).find((name) => types.ErrorCode[name] === error.code),
          hasMessage: error.message.length > 0,
        };
      }
      report.stillHeld = await c.call('checkFence', key, lease.fence);
      await c.call('release', key, lease.token);
      return report;
    }),

  check_fence: () =>
    withClients(1, async (c) => {
      const key = `${PREFIX}fence`;
      const { lease } = await c.call('acquire', request(key));
      const live = await c.call('checkFence', key, lease.fence);
      const other = await c.call('checkFence', key, num(lease.fence) + 1);
      await c.call('release', key, lease.token);
      return { live, otherFence: other, afterRelease: await c.call('checkFence', key, lease.fence) };
    }),

  inspect_and_list: () =>
    withClients(1, async (c) => {
      const a = (await c.call('acquire', request(`${PREFIX}seen/a`, { owner: OWNER }))).lease;
      const b = (await c.call('acquire', request(`${PREFIX}seen/b`, { owner: OWNER, mode: types.LockMode.SHARED }))).lease;
      const info = await c.call('inspect', `${PREFIX}seen/a`);
      const listed = await c.call('listLocks', `${PREFIX}seen/`, 0);
      await c.call('release', `${PREFIX}seen/a`, a.token);
      await c.call('release', `${PREFIX}seen/b`, b.token);
      return {
        inspect: {
          lockKey: info.lockKey,
          waiters: info.waiters,
          holders: info.holders.map((h) => ({ owner: h.owner, mode: modeName(h.mode), sameFence: num(h.fence) === num(a.fence), holdCount: h.holdCount })),
        },
        listed: listed.map((i) => ({ lockKey: i.lockKey, modes: i.holders.map((h) => modeName(h.mode)) })),
      };
    }),

  i64_round_trip: () =>
    withClients(1, async (c) => {
      const key = `${PREFIX}i64`;
      const { lease } = await c.call('acquire', request(key));
      const holder = (await c.call('inspect', key)).holders[0];
      const report = {
        fenceAbove2to32: num(lease.fence) > TWO_TO_32,
        expiresAtMsAbove2to32: num(lease.expiresAtMs) > TWO_TO_32,
        inspectSameFence: num(holder.fence) === num(lease.fence),
        inspectSameExpiresAtMs: num(holder.expiresAtMs) === num(lease.expiresAtMs),
        checkFenceSentBack: await c.call('checkFence', key, num(lease.fence)),
        checkFenceLow32Bits: await c.call('checkFence', key, num(lease.fence) % TWO_TO_32),
      };
      await c.call('release', key, lease.token);
      return report;
    }),

  seed_api: () =>
    withClients(1, async (other) => {
      const key = `${PREFIX}seed`;
      const req = new types.LockRequest({ lockKey: key });
      const report = await withClients(1, async (first) => ({
        acquired: await first.call('acquireLock', req),
        againSameConnection: await first.call('acquireLock', req),
        otherConnection: await other.call('acquireLock', req),
        otherRelease: await other.call('releaseLock', req),
        released: await first.call('releaseLock', req),
        reacquired: await first.call('acquireLock', req),
      }));
      // The connection that took it closed: lockd frees it, so this wait ends granted.
      report.freedOnClose = await other.call('acquireLock', new types.LockRequest({ lockKey: key, waitMs: WAIT_MS }));
      report.releasedAfter = await other.call('releaseLock', req);
      return report;
    }),

  unknown_method: () =>
    withClients(1, async (c) => {
      const reply = await new Promise((resolve) => c.client.noSuchMethod((error, meta) => resolve({ error, meta }), 77));
      const { error, meta } = reply;
      return {
        replyIsException: error instanceof Thrift.TApplicationException && meta.messageType === Thrift.MessageType.EXCEPTION,
        sameSeqid: Boolean(meta) && meta.seqid === 77,
        type: error && error.type,
        isUnknownMethod: Boolean(error) && error.type === Thrift.TApplicationExceptionType.UNKNOWN_METHOD,
        messageNamesMethod: Boolean(error) && String(error.message).includes('noSuchMethod'),
        pingAfter: await c.call('ping'),
      };
    }),
};

async function main() {
  for (const [name, scenario] of Object.entries(scenarios)) {
    let line;
    try {
      line = { scenario: name, result: await scenario() };
    } catch (error) {
      // reported, then the next scenario runs on new connections
      line = { scenario: name, error: String(error && error.stack ? error.stack : error) };
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
main();
