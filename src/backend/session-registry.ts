/**
 * The sinks of a backend's open sessions, by id. Session 0 is "no connection" (leases restored
 * from disk or a journal); ids count up from 1 and wrap, skipping ids still in use.
 */
import type { SessionId } from '../table/types';

const MAX_SESSION = 0x7fffffff;

export class SessionRegistry<Sink> extends Map<SessionId, Sink> {
  private nextId = 1;

  /** Registers `sink` under a fresh id. */
  open(sink: Sink): SessionId {
    let session = this.nextId;
    // Skip ids still in use after a wrap (a connection open across 2^31 others).
    while (this.has(session)) session = session >= MAX_SESSION ? 1 : session + 1;
    this.nextId = session >= MAX_SESSION ? 1 : session + 1;
    this.set(session, sink);
    return session;
  }
}
