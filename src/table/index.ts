/** The lock table: pure lock rules with an injected clock. */
export * from './types';
export { LockTable, TableLimits, TableOptions, MAX_KEY_BYTES, MAX_OWNER_BYTES, FENCE_BLOCK, validateKey, modeName } from './lock-table';
export { HashKey } from './keyed-hash';
export { LeaseCursor, LeaseReplaySink } from './restore-source';
export { LeaseReplay } from './lock-table';
