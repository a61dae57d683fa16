/** The Node client of lockd: LockClient, the Lease it hands out, and their options and types. */
export { LockClient } from './lock-client';
export type { AcquireOptions, WithLockOptions, LockInfo, HolderInfo, LockClientEvents, ClusterInfo, ClusterMemberInfo } from './lock-client';
export { Lease } from './lease';
export type { LeaseState, LockModeName } from './lease';
export { DEFAULT_CLIENT_OPTIONS, parseAddress, parseAddressList, resolveClientOptions } from './options';
export type { ClientOptions } from './options';
export { Credential, parseCredential, readCredentialFile } from './credentials';
export type { ClientTlsFiles } from './credentials';
