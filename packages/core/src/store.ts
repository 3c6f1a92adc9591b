import type {
  ClusterMessage,
  ConnectionRecord,
  Cutoff,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
  UserRecord,
} from './model.js';

/**
 * Where evict keeps its state. Every method is async; every time is an absolute instant in ms since
 * the epoch (`...AtMs`), every duration is in ms (`...Ms`).
 *
 * Contract, per method:
 * - A method that writes more than one record does it atomically: a reader sees all of it or none,
 *   and concurrent writers never lose each other's updates. (One exception, `putSession` on a
 *   store whose keys live on several servers: see there.)
 * - A record is live while `now < expiresAtMs` (a session: `retainUntilMs`); from that instant on
 *   it is never returned, and the store drops it eventually (the memory store sweeps; Redis
 *   expires keys).
 * - Records passed in or returned are copies: changing one never changes what is on file.
 * - A user's record exists (`getUser` returns it) while anything of theirs is on file: a session's
 *   device, a cutoff, a connection, a push token, or a `touchUser`. evict's "does this user exist"
 *   rests on it.
 * - A failure rejects the promise. The store never swallows an error: evict turns it into the
 *   family's internal error and the guard fails closed.
 *
 * Lifecycle: `ready()` resolves once the store can serve; `close()` releases what the store owns
 * (timers, subscriptions), never a client it borrowed from the host.
 *
 * The conformance suite in `@evict/core/testing` checks all of this for any implementation.
 */
export interface EvictStore {
  ready(): Promise<void>;
  close(): Promise<void>;

  /**
   * Saves a session and, in the same atomic step, records its device on the user. The session is
   * returned by `getSession` until its `retainUntilMs` (past its `expiresAtMs`, so that evict can
   * tell an expired session from an unknown one).
   * Device and user: `lastIssuedAtMs` and `expiresAtMs` of the device only ever grow, and the
   * user's `expiresAtMs` becomes the larger of the one on file and the session's. A store that
   * cannot write the session and its user in one step (Redis Cluster: two hash slots) writes the
   * user's side first, so a failure between the two leaves a marked device, never a session its
   * user does not know of.
   */
  putSession(session: SessionRecord): Promise<void>;
  getSession(tokenHash: string): Promise<SessionRecord | undefined>;
  /**
   * The user's sessions on file (live, expired or revoked, each until its own `retainUntilMs`, even
   * after the user's record expired), in no particular order.
   */
  listSessions(uid: string): Promise<SessionRecord[]>;
  /**
   * Marks the session on file (expired or not, until its `retainUntilMs`) revoked at `atMs`; its
   * `retainUntilMs` is unchanged. Returns the session as it was before this call, or undefined if
   * there is none. Revoking twice keeps the first time.
   */
  revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined>;

  getUser(uid: string): Promise<UserRecord | undefined>;
  /** Makes the user known until at least `expiresAtMs` (creating an empty record if needed). */
  touchUser(uid: string, expiresAtMs: number): Promise<void>;
  /**
   * Raises the cutoff of the user (`deviceFlag` null: all devices) or of one device to `cutoff` if
   * its `atMs` is later than the one on file (on a tie the one on file stays): an atomic maximum,
   * so concurrent kicks never lower it. The user's `expiresAtMs` becomes the larger of the two.
   */
  raiseCutoff(uid: string, deviceFlag: number | null, cutoff: Cutoff, expiresAtMs: number): Promise<void>;

  /** Saves (or refreshes) a live connection and indexes it under its user. */
  putConnection(connection: ConnectionRecord): Promise<void>;
  /** Removes a connection; true if a live one was on file. */
  deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean>;
  /** The user's live connections on every node. */
  listConnections(uid: string): Promise<ConnectionRecord[]>;

  /** Sets the user's push token of `record.kind`, replacing the previous one. */
  setPushToken(uid: string, record: PushTokenRecord): Promise<void>;
  getPushTokens(uid: string): Promise<PushTokenRecord[]>;
  /** Clears the named kinds in one atomic step; returns the kinds that were set. */
  clearPushTokens(uid: string, kinds: readonly PushTokenKind[]): Promise<PushTokenKind[]>;

  /**
   * Counts a hit in the fixed window of `windowMs` that contains `atMs` (windows are aligned to
   * multiples of `windowMs`) and returns the count in that window, this hit included. Atomic. For
   * one key, `atMs` never goes back and `windowMs` never changes.
   */
  hit(key: string, atMs: number, windowMs: number): Promise<number>;

  /** Sends a message to every node subscribed to this store (this one included), in publishing order. */
  publish(message: ClusterMessage): Promise<void>;
  /**
   * Receives every message published after `ready()` resolved and this call returned, until the
   * returned function is called or the store is closed.
   */
  subscribe(listener: (message: ClusterMessage) => void): () => void;
  /**
   * For stores whose messages can be lost (a broken connection): reports `false` as soon as messages
   * may be missed, and `true` once they flow again. The engine then stops trusting its cache until
   * the link is back, and drops it (resyncs) when it is. A store that cannot lose messages (the
   * memory store) leaves it out.
   */
  onLinkChange?(listener: (up: boolean) => void): () => void;
}
