import type { AdmissionOutcome, AdmissionRequest } from './engine/login-policy.js';
import type {
  ClusterMessage,
  ConnectionRecord,
  ConnectionRef,
  Cutoff,
  DeviceConnections,
  NodeRecord,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
  UserRecord,
} from './model.js';

/** A page of a scan (`EvictStore.scanSessions`, `scanConnections`); the scan is over when `cursor` is undefined. */
export interface ScanPage<T> {
  items: T[];
  cursor: string | undefined;
}

/**
 * Every item of a scan, once each (by `key`: a scan may return one twice), read a page at a time:
 * what a store's whole listing is, when it pages underneath (`RedisStore.listSessions`).
 */
export async function readAllPages<T>(
  scan: (cursor: string | undefined) => Promise<ScanPage<T>>,
  key: (item: T) => string,
): Promise<T[]> {
  const found = new Map<string, T>();
  let cursor: string | undefined;
  do {
    const page = await scan(cursor);
    for (const item of page.items) found.set(key(item), item);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return [...found.values()];
}

/** What a kick asks of the store: see `EvictStore.kick`. */
export interface KickRequest {
  uid: string;
  /** The device whose cutoff is raised; null: the user's, for every device. */
  deviceFlag: number | null;
  cutoff: Cutoff;
  /** The user's record lives until at least then (as in `raiseCutoff`). */
  expiresAtMs: number;
  /**
   * What must be on file for the kick to apply, checked in the same atomic step as the write:
   * - `user`: the user's record (`getUser` would return it);
   * - `device` (needs a `deviceFlag`): the device is present: its record is live
   *   (`expiresAtMs > now`) and was issued after every cutoff that applies to it (the user's and
   *   the device's), or a live connection of that device is on file (one of a live node
   *   incarnation: see `EvictStore`, Connections).
   */
  require: { user: boolean; device: boolean };
  /** Published once the cutoff is written (the engine's `revoked` message). */
  announce: ClusterMessage;
  /**
   * What the `close-connections` messages for the connections this kick lists carry besides the
   * connections. A store may publish them itself, right after `announce` and in the same step: one
   * per node that holds a listed connection of the kicked device (of every device when `deviceFlag`
   * is null), naming those connections, with `code`, `reason`, `fromNodeId` and `sentAtMs` as
   * given; the kicking node's own included. It then answers `closesAnnounced: true`. Otherwise (or
   * when absent) the engine publishes them once the kick returns. A store that publishes them
   * spares every node the wait for that round trip and for the reading of the whole list (a user's
   * thousand connections): the engine closes its own connections again once the kick returns, and
   * a connection closed once is not closed twice.
   */
  closes?: { code: number; reason: string; fromNodeId: number; sentAtMs: number };
}

/**
 * What a kick did: the user's live connections once the cutoff was raised, and whether the store
 * published their `close-connections` messages (`KickRequest.closes`; absent: it did not), or what
 * was missing. With `closesAnnounced`, a store may also have dropped, in the same step, the records
 * of exactly the connections it announced closes for (`recordsDropped: true`, as `deleteConnections`
 * of them would): the engine then drops only the rest of what it closes (its own unlisted ones), and
 * a kick of a user's thousand connections answers without a second pass over them.
 */
export type KickOutcome =
  | { applied: true; connections: ConnectionRecord[]; closesAnnounced?: true; recordsDropped?: true }
  | { applied: false; missing: 'user' | 'device' };

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
 *   rests on it. A connection has no expiry of its own: while one is on file (live, or of a dead
 *   node and not swept yet) the record stays past its `expiresAtMs`, which then reads `Infinity`;
 *   once the last one goes, the record goes too if its expiry has passed.
 * - Connections live by their node: a connection record is live while the record of its node
 *   (`heartbeatNode`) is live with the connection's `incarnation`. Nothing refreshes a connection:
 *   a node keeps all of its connections alive with one write per heartbeat, and when its record
 *   lapses (the node died) or a new incarnation replaces it (the node restarted), every read
 *   (`listConnections`, `kick`, `deleteConnection`'s answer, `kick`'s `require.device`) stops
 *   counting its connections at once. Their records are then removed by `sweepConnections`, a
 *   bounded step at a time.
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
   * `putSession` of a session under a login policy (written `governed`), and in the same atomic step
   * as its user's side, the user's admission list (`UserRecord.admissions`) decides with `admit`
   * (`@evict/core`'s rule): entries that no longer count (expired, or issued at or before a cutoff
   * that applies to them) are dropped; past `request.classLimit` the oldest of the session's class
   * are pushed out, then past `request.userLimit` the oldest of all; the session joins the list.
   * With `request.refuse`, a login that would push any out is refused and nothing is written.
   * Each session pushed out is announced (`publish` of `{ type: 'revoked', uid, tokenHash,
   * replaced: true, fromNodeId: request.fromNodeId }`), in the same step where the store can.
   * Concurrent admissions of one user never leave more than the limits allow. The session record is
   * written after the user's side (as `putSession`'s), only when admitted.
   */
  admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome>;
  /** Drops sessions from their user's admission list (a logout, a revocation): they count no more. */
  dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void>;
  /**
   * The user's sessions on file (live, expired or revoked, each until its own `retainUntilMs`, even
   * after the user's record expired), in no particular order.
   */
  listSessions(uid: string): Promise<SessionRecord[]>;
  /**
   * A page of the user's sessions on file (those `listSessions` returns), so that a user holding very
   * many is read a bounded reply at a time: start without a cursor and pass each page's `cursor` on
   * until it is undefined. `count` is a hint of a page's size: a page may hold fewer, or more (a
   * store holding everything in this process's memory may answer in one page). A session on file
   * from the scan's start to its end is returned at least once, possibly more than once; the order
   * is the store's.
   */
  scanSessions(uid: string, cursor: string | undefined, count: number): Promise<ScanPage<SessionRecord>>;
  /**
   * Raises each session's `lastSeenAtMs` to `atMs` (it only grows), keeping everything else; a
   * session not on file (or past its retention) is left alone, never created. Each one atomic, not
   * the batch.
   */
  touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void>;
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
  /**
   * Optional: a kick in one step, for stores where each call is a network round trip. The engine
   * falls back to `getUser` (and, for one device, `listConnections`), `raiseCutoff`, `publish` and
   * `listConnections` when a store leaves it out; a store that has it must give the same result.
   *
   * In one atomic step: checks what `request.require` asks for; when it is missing, writes and
   * publishes nothing and answers `{ applied: false, missing }` (`user` before `device`). Otherwise
   * raises the cutoff exactly as `raiseCutoff(uid, deviceFlag, cutoff, expiresAtMs)` would and
   * lists the user's live connections as `listConnections` would right after it (so a connection
   * registered later is one whose own re-check sees the cutoff).
   *
   * Then `request.announce` is published, as `publish` would, and only then does the promise
   * resolve: every node can hear of the cutoff before the kick is acknowledged. The message is
   * never published unless the cutoff is written; a store that cannot do both in one step (Redis
   * Cluster: another slot) publishes after the write, and if that fails the promise rejects with
   * the cutoff written and unannounced, as `raiseCutoff` then a failed `publish` would (a retry
   * writes and announces again).
   */
  kick?(request: KickRequest): Promise<KickOutcome>;

  /**
   * The heartbeat of a node: saves its record in one write, whatever its connection count.
   * - With the incarnation on file and live: its `expiresAtMs` becomes the larger of the two.
   * - With another incarnation on file, or none: the record is replaced. The incarnation on file is
   *   dead at once (its connections stop counting) and is left to `sweepConnections`. Two running
   *   nodes must never share a `nodeId`: each heartbeat would kill the other's connections.
   * - With the incarnation on file lapsed (`expiresAtMs <= now`): writes nothing and returns false.
   *   An incarnation that lapsed stays dead (its records may be swept already); the node must start
   *   a new incarnation and put its connections again.
   * Returns true when the node's record now holds `node.incarnation`, live. Atomic. An incarnation
   * is 1 to 64 characters of `A-Z a-z 0-9 _ -` (`TypeError` otherwise).
   */
  heartbeatNode(node: NodeRecord): Promise<boolean>;

  /**
   * Saves connections (a record of the same `uid`, `nodeId` and `connId` on file is replaced), each
   * under its user and in its node incarnation's index (which `sweepConnections` drains). Each
   * record is written atomically; the batch is not one step (on Redis Cluster its users live in
   * different slots): if the promise rejects, any of them may be on file, and putting them again is
   * safe. A record of the incarnation on file that has lapsed is kept but never counted, and swept;
   * one of an incarnation not on file (never put by `heartbeatNode`, or replaced since) may be
   * dropped at once, and never counts, even if a heartbeat puts that incarnation on file later. A
   * node heartbeats before it puts its first connections.
   */
  putConnections(connections: readonly ConnectionRecord[]): Promise<void>;
  /** `putConnections` of one. */
  putConnection(connection: ConnectionRecord): Promise<void>;
  /**
   * Joins a connection already on file to its user's roster of the device flag (WuKongIM's device
   * levels): in one atomic step, returns the records of the connections that joined the same user
   * and device flag before it and are still on file and live, and adds this one. Of two joins
   * racing on two nodes the later sees the earlier, so the engine's rule leaves the right ones
   * standing. A connection not on file (removed meanwhile) joins nothing and gets `[]`; one that
   * joins again is not its own predecessor. A roster lives as long as its user's record.
   */
  joinDevice(connection: ConnectionRef & { deviceFlag: number }): Promise<ConnectionRecord[]>;
  /**
   * Removes connections, each atomically (as `putConnections`, not the batch as one); returns, per
   * reference and in order, whether a live one was on file.
   */
  deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]>;
  /** `deleteConnections` of one. */
  deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean>;
  /** The user's live connections on every node (those of live node incarnations only). */
  listConnections(uid: string): Promise<ConnectionRecord[]>;
  /** A page of the user's live connections (those `listConnections` returns), as `scanSessions` pages sessions. */
  scanConnections(
    uid: string,
    cursor: string | undefined,
    count: number,
  ): Promise<ScanPage<ConnectionRecord>>;
  /**
   * The user's live connections counted by device flag, as `listConnections` would count them, in
   * ascending device flag order, flags with none left out: what presence needs, in a reply whose
   * size does not grow with the connections (a user holding 100,000 is a few numbers).
   */
  countConnections(uid: string): Promise<DeviceConnections[]>;
  /**
   * Optional: one bounded step of removing the records of dead node incarnations (lapsed or
   * replaced): at most `limit` connections, taken from their incarnations' indexes, never a record
   * of a live incarnation (a record put again since by a new incarnation stays). Returns how many
   * index entries it drained: fewer than `limit` when nothing more is left to sweep right now.
   * Concurrent sweeps (one per node) are safe. A store that leaves it out keeps dead records
   * until something else drops them; reads never count them either way.
   */
  sweepConnections?(limit: number): Promise<number>;

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

const INCARNATION = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws a `TypeError` unless `incarnation` is one a store accepts (see `heartbeatNode`). */
export function assertIncarnation(incarnation: unknown): asserts incarnation is string {
  if (typeof incarnation !== 'string' || !INCARNATION.test(incarnation)) {
    throw new TypeError('incarnation must be 1 to 64 characters of A-Z a-z 0-9 _ -');
  }
}

/** Connections counted by device flag, in ascending flag order (`EvictStore.countConnections`'s shape). */
export function countByDevice(
  connections: Iterable<{ deviceFlag: number; connections?: number }>,
): DeviceConnections[] {
  const counts = new Map<number, number>();
  for (const c of connections)
    counts.set(c.deviceFlag, (counts.get(c.deviceFlag) ?? 0) + (c.connections ?? 1));
  return [...counts]
    .sort(([a], [b]) => a - b)
    .map(([deviceFlag, count]) => ({ deviceFlag, connections: count }));
}
