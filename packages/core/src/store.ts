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
 *   and concurrent writers never lose each other's updates.
 * - A record whose `expiresAtMs` (a session: `retainUntilMs`) has passed is never returned, and the store drops it eventually
 *   (the memory store sweeps; Redis expires keys).
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
   * Device and user:
   * `lastIssuedAtMs` and `expiresAtMs` of the device only ever grow, and the user's `expiresAtMs`
   * grows to at least the session's.
   */
  putSession(session: SessionRecord): Promise<void>;
  getSession(tokenHash: string): Promise<SessionRecord | undefined>;
  /** The user's sessions on file (live, expired or revoked, until their `retainUntilMs`), in no particular order. */
  listSessions(uid: string): Promise<SessionRecord[]>;
  /**
   * Marks a live session revoked at `atMs` (it stays on file until it expires). Returns the session
   * as it was before this call, or undefined if there is none. Revoking twice keeps the first time.
   */
  revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined>;

  getUser(uid: string): Promise<UserRecord | undefined>;
  /** Makes the user known until at least `expiresAtMs` (creating an empty record if needed). */
  touchUser(uid: string, expiresAtMs: number): Promise<void>;
  /**
   * Raises the cutoff of the user (`deviceFlag` null: all devices) or of one device to `cutoff`,
   * unless the one on file is already later: atomic maximum, so concurrent kicks never lower it.
   * The user record lives until at least `expiresAtMs`.
   */
  raiseCutoff(uid: string, deviceFlag: number | null, cutoff: Cutoff, expiresAtMs: number): Promise<void>;

  /** Saves (or refreshes) a live connection and indexes it under its user. */
  putConnection(connection: ConnectionRecord): Promise<void>;
  /** Removes a connection; true if it was on file. */
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
   * multiples of `windowMs`) and returns the count in that window, this hit included. Atomic.
   */
  hit(key: string, atMs: number, windowMs: number): Promise<number>;

  /** Sends a message to every node subscribed to this store (this one included). */
  publish(message: ClusterMessage): Promise<void>;
  /** Receives every published message until the returned function is called. */
  subscribe(listener: (message: ClusterMessage) => void): () => void;
  /**
   * For stores whose messages can be lost (a broken connection): reports `false` as soon as messages
   * may be missed, and `true` once they flow again. The engine then stops trusting its cache until
   * the link is back, and drops it (resyncs) when it is. A store that cannot lose messages (the
   * memory store) leaves it out.
   */
  onLinkChange?(listener: (up: boolean) => void): () => void;
}
