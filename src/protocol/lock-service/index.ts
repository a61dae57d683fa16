/** LockService on the wire: shared structs, the server's side and the client's side. */
export * from './structs';
export * from './server';
export * from './client';
