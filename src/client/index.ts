/** The Node client of lockd. */
export { LockClient, AcquireOptions, WithLockOptions, LockInfo, HolderInfo } from './lock-client';
export { Lease, LockModeName } from './lease';
export { ClientOptions, DEFAULT_CLIENT_OPTIONS, parseAddress } from './options';
