/** Cluster options: defaults, environment variables, and a clear error for each bad value. */
import { ConfigError } from '../../src/errors';
import { CLUSTER_DEFAULTS, resolveClusterOptions } from '../../src/cluster/options';

const base = { nodeId: 'n1', advertise: '127.0.0.1:9090' };

test('defaults fill what is not given; LOCKD_ETCD and LOCKD_CLUSTER are read when flags are absent', () => {
  const options = resolveClusterOptions(base, { LOCKD_ETCD: 'http://127.0.0.1:2379, http://127.0.0.1:22379', LOCKD_CLUSTER: 'prod' });
  expect(options.etcdEndpoints).toEqual(['http://127.0.0.1:2379', 'http://127.0.0.1:22379']);
  expect(options.cluster).toBe('prod');
  expect(options.partitions).toBe(CLUSTER_DEFAULTS.partitions);
  expect(options.nodeTtlMs).toBe(5_000);
});

test('flags win over the environment; LOCKD_NODE_ID and LOCKD_ADVERTISE fill empty ones', () => {
  const options = resolveClusterOptions({ etcdEndpoints: ['http://e:1'], cluster: 'flag', nodeId: '', advertise: '' }, { LOCKD_CLUSTER: 'env', LOCKD_NODE_ID: 'from-env', LOCKD_ADVERTISE: 'h:1' });
  expect(options.cluster).toBe('flag');
  expect(options.nodeId).toBe('from-env');
  expect(options.advertise).toBe('h:1');
});

test.each([
  [{}, /--etcd needs at least one endpoint/],
  [{ etcdEndpoints: ['127.0.0.1:2379'] }, /must look like http:\/\/host:port/],
  [{ etcdEndpoints: ['http://e:1'], cluster: 'a/b' }, /--cluster must be/],
  [{ etcdEndpoints: ['http://e:1'], nodeId: 'x/y' }, /--node-id must be/],
  [{ etcdEndpoints: ['http://e:1'], advertise: 'nohost' }, /--advertise must be host:port/],
  [{ etcdEndpoints: ['http://e:1'], partitions: 0 }, /--partitions must be an integer 1\.\.4096, got 0/],
  [{ etcdEndpoints: ['http://e:1'], nodeTtlMs: 1_000 }, /--node-ttl must be 2 s/],
  [{ etcdEndpoints: ['http://e:1'], etcdCallTimeoutMs: 10_000 }, /etcd call timeout must be 100 ms\.\.node TTL/],
])('refuses %o with a ConfigError naming the option', (partial, message) => {
  expect(() => resolveClusterOptions({ ...base, ...partial }, {})).toThrow(ConfigError);
  expect(() => resolveClusterOptions({ ...base, ...partial }, {})).toThrow(message);
});
