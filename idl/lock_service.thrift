/**
 * lockd wire contract.
 *
 * Clients in any Thrift language call lockd through this file. Names, field ids
 * and types are stable: fields and methods may be added, never renumbered.
 * Default stack: TBufferedTransport + TBinaryProtocol on port 9090.
 * All durations are milliseconds; all times are Unix epoch milliseconds on the
 * server's wall clock.
 *
 * Timeout rule: a client's socket read timeout must exceed the waitMs of every call it sends.
 * Otherwise the client gives up while lockd keeps the waiter and may grant it later: the lease
 * then stays held until its TTL ends, and the grant's late reply is the next thing read on that
 * connection, out of order for the client. To stop waiting early, send cancelWait on the same
 * connection, or use a shorter waitMs; a client that timed out must close that connection.
 * waitMs = -1 (wait for ever) needs a socket without a read timeout.
 *
 * Parameter and field names are not on the wire (ids and types are), so they may be renamed.
 * Guides per language: docs/clients/.
 */
namespace py lockservice
namespace java lockd.thrift
namespace go lockd
namespace cpp lockd
namespace rb Lockd
namespace perl Lockd
namespace php Lockd
namespace netstd Lockd
namespace js lockd

/** Exclusive: one holder at a time. Shared: any number of holders, no exclusive one. */
enum LockMode {
  EXCLUSIVE = 1,
  SHARED = 2,
}

/** Why a call was refused. Every LockError carries one. */
enum ErrorCode {
  /** A field is missing or out of range; the message names it and the allowed range. */
  INVALID_ARGUMENT = 1,
  /** The token does not name a live lease on that key (wrong, released or expired). */
  NOT_HOLDER = 2,
  /** A server limit was reached (connections, waiters, leases); retry later. */
  RESOURCE_EXHAUSTED = 3,
  /** Credentials are missing or wrong. */
  UNAUTHENTICATED = 4,
  /** The credentials do not allow this call. */
  PERMISSION_DENIED = 5,
  /** The server is shutting down or cannot make the change durable; retry elsewhere or later. */
  UNAVAILABLE = 6,
}

/** The one exception every method declares. `message` says what was wrong and what to do. */
exception LockError {
  1: required ErrorCode code,
  2: required string message,
  /**
   * Cluster mode: set with UNAVAILABLE when the node that answered does not own the key and did
   * not forward the call (a peerConnection, or the owner is unknown for now): host:port of the
   * node that owns the key, when known. Clients may retry there.
   */
  3: optional string ownerAddress,
}

struct LockRequest {
  /** The lock's name: 1..1024 bytes of UTF-8. Keys are independent of each other. */
  1: required string lockKey,
  /** Free-form label of the caller, shown by inspect and in logs. Never used for ownership. */
  2: optional string owner,
  /** Lease length; absent = the server's default (--default-ttl). Must lie in the server's range. */
  3: optional i64 ttlMs,
  /**
   * Time to wait in the queue: absent or 0 = try once; -1 = wait until granted or disconnected.
   * The caller's socket read timeout must exceed it (see the timeout rule at the top).
   */
  4: optional i64 waitMs,
  /** Absent = EXCLUSIVE. */
  5: optional LockMode mode,
  /** A lease token: acquire with it re-enters (holdCount + 1); releaseLock with it releases. */
  6: optional string token,
  /** Release the lease as soon as the connection that acquired it closes, whatever its TTL. */
  7: optional bool ephemeral,
}

/** A granted lock. The token is the only proof of ownership: keep it secret. */
struct Lease {
  1: required string lockKey,
  /** Unguessable secret (128 random bits, hex); needed to renew, release or re-enter. */
  2: required string token,
  /**
   * Fencing token: strictly greater than every fence issued before it, across restarts. In
   * cluster mode (--etcd): strictly greater than every fence issued before it for the same key,
   * across nodes and failovers, and unique across keys; fences of different keys are not ordered.
   */
  3: required i64 fence,
  /** The lease length this grant or renewal applied. */
  4: required i64 ttlMs,
  /** When the lease ends unless renewed, Unix ms on the server's clock. */
  5: required i64 expiresAtMs,
  6: required LockMode mode,
  /** How many times the holder has entered; release decrements, the lock frees at zero. */
  7: required i32 holdCount,
}

/** acquired = false (and no lease) when the lock was busy and the wait ran out. */
struct AcquireResult {
  1: required bool acquired,
  2: optional Lease lease,
}

/** One holder as others see it: no token. */
struct Holder {
  1: optional string owner,
  2: required LockMode mode,
  3: required i64 fence,
  4: required i64 expiresAtMs,
  5: required i32 holdCount,
}

/** One lockd node of a cluster, as clusterInfo reports it. */
struct ClusterMember {
  1: required string nodeId,
  /** host:port clients and other nodes reach it at (its --advertise). */
  2: required string address,
  /** The partitions it owns now. */
  3: required list<i32> partitions,
}

/**
 * The cluster as the answering node sees it. A single lockd (no --etcd) answers cluster = "",
 * partitions = 1 and itself as the only member. The partition of a key is
 * crc32(UTF-8 bytes of the key) mod partitions (CRC-32/ISO-HDLC, as zlib's crc32), so a client
 * in any language can send each call to its key's owner directly.
 */
struct ClusterInfo {
  1: required string cluster,
  2: required string nodeId,
  3: required i32 partitions,
  4: required list<ClusterMember> members,
  /** Owner (nodeId) of each partition by index; "" while a partition has no owner (failover). */
  5: required list<string> owners,
}

/** A key's holders and how many callers wait for it. Empty holders when nobody holds it. */
struct LockInfo {
  1: required string lockKey,
  2: required list<Holder> holders,
  3: required i32 waiters,
}

service LockService {
  /**
   * Seed-compatible try-lock: true when granted. Waits per waitMs. The grant is bound to
   * the calling connection: it is released when that connection closes, and releaseLock
   * with just the key releases it only from that connection. False when this connection
   * already holds the key.
   */
  bool acquireLock(1: LockRequest lockRequest) throws (1: LockError error),

  /**
   * Seed-compatible release: with `token`, releases that lease from any connection; without,
   * releases the grant this connection made with acquireLock. False when there is none.
   */
  bool releaseLock(1: LockRequest lockRequest) throws (1: LockError error),

  /**
   * Acquire a lease, waiting in FIFO order up to waitMs (the socket read timeout must exceed it). With the token of a live lease on
   * the same key and mode, re-enters it: holdCount + 1, same token and fence, TTL renewed.
   * A stale token is NOT_HOLDER; a live token in the other mode is INVALID_ARGUMENT.
   */
  AcquireResult acquire(1: LockRequest lockRequest) throws (1: LockError error),

  /** Leave the lease once (holdCount - 1); frees the lock at zero. False for a wrong or stale token. */
  bool release(1: string lockKey, 2: string token) throws (1: LockError error),

  /** Extend a live lease to now + ttlMs (ttlMs must lie in the server's range). Keeps token and fence. */
  Lease renew(1: string lockKey, 2: string token, 3: i64 ttlMs) throws (1: LockError error),

  /** True only while a live lease on lockKey carries this fence. */
  bool checkFence(1: string lockKey, 2: i64 fence) throws (1: LockError error),

  /** Holders (without tokens) and the waiter count of one key. */
  LockInfo inspect(1: string lockKey) throws (1: LockError error),

  /**
   * Held keys starting with prefix, in key order; limit <= 0 = the server's default. The first
   * page of listLocksPage (which continues past it).
   */
  list<LockInfo> listLocks(1: string prefix, 2: i32 limit) throws (1: LockError error),

  /**
   * Held keys starting with prefix and after startAfter ("" = from the first), in key order;
   * limit <= 0 = the server's default. A page may hold fewer than limit keys when its byte bound
   * (--max-list-bytes) cut it: continue with startAfter = the page's last key until a page is
   * empty. Only keys the caller may read are listed.
   */
  list<LockInfo> listLocksPage(1: string prefix, 2: i32 limit, 3: string startAfter) throws (1: LockError error),

  /** Liveness: answers "pong". */
  string ping(),

  /**
   * Gives up a parked acquire or acquireLock that this connection sent with message seqid
   * `waitSeqid` (named so because generated clients use `seqid` for their own variable): that call
   * answers at once with acquired = false (acquireLock: false). Returns false when no such
   * wait is parked (it was granted or answered already). Lets a client cancel one wait without
   * closing a connection that carries other calls.
   */
  bool cancelWait(1: i32 waitSeqid) throws (1: LockError error),

  /**
   * Proves who this connection is, on any transport: when `secret` hashes (SHA-256) to the
   * secretSha256 the server's --auth-file holds for `identity`, later calls on this connection
   * run with that identity's rights and quotas. Returns the identity. A wrong secret or an
   * unknown identity is UNAUTHENTICATED and changes nothing (the message never echoes the
   * secret). Calls sent before it ran as the anonymous caller; a connection already bound to
   * another identity (by this call or by its TLS client certificate) cannot switch
   * (PERMISSION_DENIED: open another connection). RESOURCE_EXHAUSTED when the identity has no
   * connection left in its quota. A server without --auth-file accepts any pair: it has no
   * identities, and everyone may do everything.
   */
  string authenticate(1: string identity, 2: string secret) throws (1: LockError error),

  /** The cluster's members and which node owns each partition (see ClusterInfo). Needs no right. */
  ClusterInfo clusterInfo() throws (1: LockError error),

  /**
   * Called by a lockd node on each connection it forwards calls over; returns the answering
   * node's id. Calls on this connection are never forwarded again: a key this node does not own
   * is UNAVAILABLE with ownerAddress (so a stale partition map cannot bounce a call between
   * nodes). Grants no right: any client may call it to get redirects instead of forwarding.
   */
  string peerConnection(1: string nodeId) throws (1: LockError error),
}
