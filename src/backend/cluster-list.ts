/**
 * Listing held keys over a whole cluster, for every front end (Thrift listLocks in
 * src/server/forwarding.ts, GET /v1/locks in src/http): each other live node is asked over a peer
 * link for a page of its own keys, and the pages are merged with this node's in key order. A
 * page that may have been cut (full, or stopped near the byte bound) bounds the merged page at
 * its last key, so paging on with `startAfter` skips nothing.
 */
import type { CallArgs } from '../protocol/lock-service/client';
import type { LockInfoView } from '../table/types';
import { lockInfoView } from './route-call';
import type { ClusterRouting, PeerLinks } from './routing';

/** One node's page of held keys, in key order; `complete` when no key after it was left out. */
export interface NodePage {
  readonly page: readonly LockInfoView[];
  readonly complete: boolean;
}

/** What one list request asks each node for. */
export interface ListRequest {
  readonly prefix: string;
  readonly startAfter: string | undefined;
  /** Keys per page (the other nodes are asked for as many). */
  readonly count: number;
  /** The nodes' --max-list-bytes: a page near it may have been cut by it. */
  readonly maxListBytes: number;
}

/** Asks every other live node for its page (listLocks over `links`); rejects with the first failure. */
export function peerListPages(routing: ClusterRouting, links: PeerLinks, request: ListRequest, timeoutMs: number): Promise<NodePage[]> {
  const { prefix, startAfter, count, maxListBytes } = request;
  const args: CallArgs['listLocks'] = { prefix, limit: count, ...(startAfter !== undefined && { startAfter }) };
  const pages = routing.peerAddresses().map((address) =>
    links.call(address, 'listLocks', args, timeoutMs).then((wire): NodePage => {
      const page = wire.map(lockInfoView);
      // A page may have more behind it when it is full, or when its bytes stopped it (near the byte bound).
      const bytes = page.reduce((sum, info) => sum + encodedSizeOf(info), 0);
      return { page, complete: page.length < count && bytes < maxListBytes / 2 };
    }),
  );
  return Promise.all(pages);
}

/**
 * Merges nodes' pages into one page of at most `count` keys and about `maxBytes` (as `sizeOf`
 * counts them; the first key always fits), in key order, keys `readable` refuses left out.
 * `complete` when no key after the merged page's last one was left out.
 */
export function mergeListPages(
  pages: readonly NodePage[],
  limits: { readonly count: number; readonly maxBytes: number; readonly sizeOf: (info: LockInfoView) => number },
  readable: (key: string) => boolean = () => true,
): NodePage & { readonly page: LockInfoView[] } {
  let bound: string | undefined;
  const all: LockInfoView[] = [];
  for (const { page, complete } of pages) {
    const last = complete || page.length === 0 ? undefined : page[page.length - 1]!.key;
    if (last !== undefined && (bound === undefined || last < bound)) bound = last;
    for (const info of page) if (readable(info.key)) all.push(info);
  }
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const merged: LockInfoView[] = [];
  let complete = bound === undefined;
  let bytes = 0;
  for (const info of all) {
    if (bound !== undefined && info.key > bound) break;
    bytes += limits.sizeOf(info);
    if ((bytes > limits.maxBytes && merged.length > 0) || merged.length >= limits.count) {
      complete = false;
      break;
    }
    merged.push(info);
  }
  return { page: merged, complete };
}

/** An upper bound of a LockInfo's encoded size in either Thrift protocol (UTF-16 length x3 bounds UTF-8). */
export function encodedSizeOf(info: LockInfoView): number {
  let bytes = 16 + info.key.length * 3;
  for (const holder of info.holders) bytes += 48 + (holder.owner?.length ?? 0) * 3;
  return bytes;
}
