/** lockd's package entry: the Node client, its errors, and the types they use. */
export * from './client';
export * from './errors';
