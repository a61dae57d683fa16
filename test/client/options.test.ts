/** Client options: defaults, LOCKD_ADDR, overrides and validation (no network). */
import { ConfigError } from '../../src/errors';
import { DEFAULT_CLIENT_OPTIONS, LockClient, parseAddress, parseAddressList, resolveClientOptions } from '../../src';

test('the defaults match lockd: localhost:9090, buffered, binary, lockd decides the TTL; they are frozen', () => {
  expect(DEFAULT_CLIENT_OPTIONS).toMatchObject({ host: 'localhost', port: 9090, transport: 'buffered', protocol: 'binary', ttlMs: undefined });
  expect(Object.isFrozen(DEFAULT_CLIENT_OPTIONS)).toBe(true);
  expect(resolveClientOptions({}, {})).toEqual(DEFAULT_CLIENT_OPTIONS);
});

test('LOCKD_ADDR overrides the default address, and explicit options override LOCKD_ADDR', () => {
  expect(resolveClientOptions({}, { LOCKD_ADDR: 'locks.internal:7000' })).toMatchObject({ host: 'locks.internal', port: 7000 });
  expect(resolveClientOptions({ port: 7001 }, { LOCKD_ADDR: 'locks.internal:7000' })).toMatchObject({ host: 'locks.internal', port: 7001 });
  expect(resolveClientOptions({ host: undefined }, { LOCKD_ADDR: '[::1]:7000' })).toMatchObject({ host: '::1', port: 7000 });
});

test('new LockClient() reads LOCKD_ADDR from the environment', () => {
  const saved = process.env.LOCKD_ADDR;
  process.env.LOCKD_ADDR = '127.0.0.1:7777';
  try {
    expect(new LockClient().options).toMatchObject({ host: '127.0.0.1', port: 7777 });
  } finally {
    if (saved === undefined) delete process.env.LOCKD_ADDR;
    else process.env.LOCKD_ADDR = saved;
  }
});

test('invalid options and addresses are ConfigError naming the field', () => {
  expect(() => parseAddress('localhost')).toThrow(ConfigError);
  expect(() => parseAddress('localhost:99999')).toThrow(/not host:port/);
  expect(() => resolveClientOptions({}, { LOCKD_ADDR: 'nope' })).toThrow(ConfigError);
  expect(() => new LockClient({ port: 0 })).toThrow(/port must be/);
  // @ts-expect-error not a transport
  expect(() => new LockClient({ transport: 'http' })).toThrow(/transport must be/);
  expect(() => new LockClient({ callTimeoutMs: -1 })).toThrow(/callTimeoutMs must be a positive number/);
  expect(() => new LockClient({ connectAttempts: 1.5 })).toThrow(/connectAttempts/);
  expect(() => new LockClient({ ttlMs: 0 })).toThrow(/ttlMs/);
});

test('several addresses: hosts, or LOCKD_ADDR with commas; host and port are then the first; an explicit host or port means one address', () => {
  expect(parseAddressList(' a:1, b:2 ,')).toEqual(['a:1', 'b:2']);
  expect(resolveClientOptions({}, { LOCKD_ADDR: 'a:1,[::1]:2' })).toMatchObject({ host: 'a', port: 1, hosts: ['a:1', '[::1]:2'] });
  expect(resolveClientOptions({}, { LOCKD_ADDR: 'a:1,' })).toMatchObject({ host: 'a', port: 1, hosts: undefined });
  expect(resolveClientOptions({ hosts: ['c:3', 'd:4'] }, { LOCKD_ADDR: 'a:1,b:2' })).toMatchObject({ host: 'c', port: 3, hosts: ['c:3', 'd:4'] });
  expect(resolveClientOptions({ port: 7 }, { LOCKD_ADDR: 'a:1,b:2' })).toMatchObject({ host: 'a', port: 7, hosts: undefined });
  expect(resolveClientOptions({ host: 'z' }, { LOCKD_ADDR: 'a:1,b:2' })).toMatchObject({ host: 'z', port: 1, hosts: undefined });
  expect(Object.isFrozen(resolveClientOptions({ hosts: ['c:3', 'd:4'] }, {}).hosts)).toBe(true);
  expect(() => parseAddressList(' , ')).toThrow(ConfigError);
  expect(() => resolveClientOptions({}, { LOCKD_ADDR: 'a:1,b' })).toThrow(/"b" is not host:port/);
  expect(() => new LockClient({ hosts: [] })).toThrow(/hosts must be a non-empty array/);
  expect(() => new LockClient({ hosts: ['a:1', 'nope'] })).toThrow(ConfigError);
});
