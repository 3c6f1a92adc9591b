import { type Clock, systemClock } from './clock.js';
import { type AdmissionOutcome, type AdmissionRequest, admit } from './engine/login-policy.js';
import { admissionCounts } from './engine/rules.js';
import {
  connectionKey,
  devicePresent,
  indexKey,
  raiseCutoffOf,
  StoredDevice,
  StoredSession,
  splitIndexKey,
  UserEntry,
} from './memory-store/entries.js';
import { bucketOf, type ExpiryBucket, ExpiryQueue, SWEEP_SLICE_KEYS } from './memory-store/expiry.js';
import type {
  Admission,
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
import { ShardedIndex, ShardedMap, shardOfNumber, shardOfString } from './sharded-map.js';
import {
  assertIncarnation,
  countByDevice,
  type EvictStore,
  type KickOutcome,
  type KickRequest,
  type ScanPage,
} from './store.js';

export interface MemoryStoreOptions {
  /** Source of "now" for expiry; defaults to the system clock. */
  clock?: Clock;
  /** How often expired records are swept out; the timer is unref'd. Default 60 000. */
  sweepIntervalMs?: number;
}

/**
 * The default store: plain maps in this process. Every method runs synchronously inside one
 * microtask, so each is atomic. Engines that share one instance in a process form a cluster
 * (its messages are delivered to every subscriber), which is how tests run several nodes cheaply.
 */
export class MemoryStore implements EvictStore {
  readonly #clock: Clock;
  readonly #sessions = new ShardedMap<string, StoredSession>(shardOfString);
  readonly #users = new ShardedMap<string, UserEntry>(shardOfString);
  /**
   * Token hashes of each user's sessions: kept apart from the user entry, which may expire before
   * them. A user with one session maps to that hash itself; a Set is made for the second one only
   * (nearly every user has one session at a time, and a Set of one costs more than the hash).
   */
  readonly #sessionsByUser = new ShardedIndex<string, string>(shardOfString);
  readonly #counters = new ShardedMap<string, { windowStartMs: number; count: number; expiresAtMs: number }>(
    shardOfString,
  );
  readonly #listeners = new Set<(message: ClusterMessage) => void>();
  /** Each node's record, by nodeId. */
  readonly #nodes = new Map<number, NodeRecord>();
  /**
   * Each node incarnation's connections (connId → uid), keyed by `nodeId:incarnation`: what
   * `sweepConnections` drains once the incarnation is dead. Dropped when drained.
   */
  readonly #nodeIndex = new Map<string, ShardedMap<number, string>>();
  /** Keys by the minute their records expire, and the sweep that reads them. */
  readonly #expiry: ExpiryQueue;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new TypeError('MemoryStore: sweepIntervalMs must be a positive integer of milliseconds');
    }
    this.#expiry = new ExpiryQueue(
      this.#clock,
      sweepIntervalMs,
      (bucket, index, now, budget) => this.#drain(bucket, index, now, budget),
      () => this.sweepSlice(),
    );
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.#expiry.close();
    this.#listeners.clear();
  }

  /**
   * Drops every record whose expiry has passed, at once, including those of the minute under way
   * (which the timer's sweep leaves until the minute ends); for tests.
   */
  sweep(): void {
    this.#expiry.sweepAll();
  }

  /**
   * Reads at most `limit` keys of the buckets of minutes that have ended (a bucket with nothing in
   * it counts as one), dropping the records that have expired; true once nothing is due. The timer
   * runs one slice per turn of the event loop. Reads never need a sweep: each checks expiry itself.
   */
  sweepSlice(limit: number = SWEEP_SLICE_KEYS): boolean {
    return this.#expiry.sweepSlice(limit);
  }

  #file(kind: keyof ExpiryBucket, key: string, atMs: number): number {
    return this.#expiry.file(kind, key, atMs);
  }

  #fileUser(entry: UserEntry): void {
    if (entry.sweepBucket === 0) entry.sweepBucket = this.#file('users', entry.uid, entry.expiresAtMs);
  }

  /**
   * Reads up to `budget` keys of bucket `index` (taking them out of it) and drops what has expired;
   * a record still live that belongs to this bucket (only in the minute under way) is filed again.
   * Returns the budget left.
   */
  #drain(bucket: ExpiryBucket, index: number, now: number, budget: number): number {
    for (let key = bucket.sessions.pop(); key !== undefined; key = bucket.sessions.pop()) {
      const session = this.#sessions.get(key);
      if (session !== undefined) {
        if (session.retainUntilMs <= now) {
          this.#sessions.delete(key);
          this.#unindexSession(session.uid, key);
        } else if (bucketOf(session.retainUntilMs) === index) {
          this.#file('sessions', key, session.retainUntilMs);
        }
      }
      if (--budget <= 0) return budget;
    }
    for (let uid = bucket.users.pop(); uid !== undefined; uid = bucket.users.pop()) {
      const entry = this.#users.get(uid);
      if (entry !== undefined && entry.sweepBucket === index) {
        entry.sweepBucket = 0;
        // An expired user kept by its connections stays unfiled: its last connection's removal drops it.
        if (this.#liveUser(uid, now) !== undefined && entry.expiresAtMs > now) this.#fileUser(entry);
      }
      if (--budget <= 0) return budget;
    }
    for (let key = bucket.counters.pop(); key !== undefined; key = bucket.counters.pop()) {
      const counter = this.#counters.get(key);
      if (counter !== undefined) {
        if (counter.expiresAtMs <= now) this.#counters.delete(key);
        else if (bucketOf(counter.expiresAtMs) === index) this.#file('counters', key, counter.expiresAtMs);
      }
      if (--budget <= 0) return budget;
    }
    for (let uid = bucket.pushTokens.pop(); uid !== undefined; uid = bucket.pushTokens.pop()) {
      const tokens = this.#liveUser(uid, now)?.pushTokens;
      for (const token of tokens?.values() ?? []) {
        if (bucketOf(token.expiresAtMs) === index) this.#file('pushTokens', uid, token.expiresAtMs);
      }
      if (--budget <= 0) return budget;
    }
    return budget;
  }

  /**
   * A deep copy of everything on file (expired records included), in a stable order: tests compare
   * two snapshots to prove that a rejected request changed nothing.
   */
  snapshot(): unknown {
    const sorted = <T>(entries: Iterable<[string, T]>) =>
      [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return structuredClone({
      sessions: sorted(this.#sessions).map(([hash, session]) => [hash, session.toRecord()]),
      users: sorted(this.#users).map(([uid, entry]) => [
        uid,
        {
          record: entry.toRecord(Number.NEGATIVE_INFINITY),
          connections: sorted(entry.connections ?? []),
          pushTokens: sorted(entry.pushTokens ?? []),
          rosters: [...(entry.rosters ?? [])].sort(([a], [b]) => a - b),
        },
      ]),
      sessionsByUser: sorted(this.#sessionsByUser).map(([uid, hashes]) => [uid, hashes.sort()]),
      counters: sorted(this.#counters),
    });
  }

  /** How many records are on file, expired or not yet swept; for tests and benchmarks. */
  size(): { sessions: number; users: number; counters: number } {
    return { sessions: this.#sessions.size, users: this.#users.size, counters: this.#counters.size };
  }

  async putSession(session: SessionRecord): Promise<void> {
    this.#putSessionNow(session);
  }

  #putSessionNow(session: SessionRecord): void {
    const { tokenHash, uid } = session;
    const previous = this.#sessions.get(tokenHash);
    this.#sessions.set(tokenHash, new StoredSession(session));
    if (previous === undefined || bucketOf(previous.retainUntilMs) !== bucketOf(session.retainUntilMs)) {
      this.#file('sessions', tokenHash, session.retainUntilMs);
    }
    this.#sessionsByUser.add(uid, tokenHash);
    const entry = this.#userEntry(uid);
    const device = entry.device(session.deviceFlag);
    if (device === undefined) {
      entry.addDevice(new StoredDevice(session.deviceFlag, session.issuedAtMs, session.expiresAtMs));
    } else {
      device.lastIssuedAtMs = Math.max(device.lastIssuedAtMs, session.issuedAtMs);
      device.expiresAtMs = Math.max(device.expiresAtMs, session.expiresAtMs);
    }
    this.#extendUser(entry, session.expiresAtMs);
  }

  async admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome> {
    const now = this.#clock.nowMs();
    const entry = this.#liveUser(session.uid, now);
    const user = entry?.toRecord(now);
    const candidate: Admission = {
      tokenHash: session.tokenHash,
      deviceFlag: session.deviceFlag,
      deviceClass: request.deviceClass,
      issuedAtMs: session.issuedAtMs,
      expiresAtMs: session.expiresAtMs,
    };
    const { outcome, kept } = admit(entry?.admissions ?? [], candidate, request, (a) =>
      admissionCounts(user, a, now),
    );
    // No await from the read to the writes: one step, as atomic as the store's other writes.
    if (outcome.admitted) {
      this.#putSessionNow({ ...session, governed: true });
      this.#userEntry(session.uid).admissions = kept.map((a) => ({ ...a }));
      for (const { tokenHash } of outcome.replaced)
        await this.publish({
          type: 'revoked',
          uid: session.uid,
          tokenHash,
          replaced: true,
          fromNodeId: request.fromNodeId,
        });
    }
    return outcome.admitted
      ? { admitted: true, replaced: outcome.replaced.map((a) => ({ ...a })) }
      : { admitted: false, full: outcome.full.map((a) => ({ ...a })) };
  }

  async dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    if (entry?.admissions === undefined) return;
    entry.admissions = entry.admissions.filter((a) => !tokenHashes.includes(a.tokenHash));
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#liveSession(tokenHash)?.toRecord();
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    const sessions: SessionRecord[] = [];
    for (const hash of this.#sessionsByUser.get(uid)) {
      const session = this.#liveSession(hash);
      if (session !== undefined) sessions.push(session.toRecord());
    }
    return sessions;
  }

  /** One page: everything is in this process's memory already, so a page bounds nothing. */
  async scanSessions(uid: string, _cursor?: string, _count?: number): Promise<ScanPage<SessionRecord>> {
    return { items: await this.listSessions(uid), cursor: undefined };
  }

  async touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void> {
    for (const { tokenHash, atMs } of touches) {
      const session = this.#liveSession(tokenHash);
      if (session !== undefined && !(session.lastSeenAtMs !== undefined && session.lastSeenAtMs >= atMs))
        session.lastSeenAtMs = atMs;
    }
  }

  async revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    // Read and write without an await in between, so that concurrent revocations keep the first time.
    const session = this.#liveSession(tokenHash);
    if (session === undefined) return undefined;
    const before = session.toRecord();
    if (session.revokedAtMs === undefined) session.revokedAtMs = atMs;
    return before;
  }

  async getUser(uid: string): Promise<UserRecord | undefined> {
    const now = this.#clock.nowMs();
    return this.#liveUser(uid, now)?.toRecord(now);
  }

  async touchUser(uid: string, expiresAtMs: number): Promise<void> {
    this.#extendUser(this.#userEntry(uid), expiresAtMs);
  }

  async raiseCutoff(
    uid: string,
    deviceFlag: number | null,
    cutoff: Cutoff,
    expiresAtMs: number,
  ): Promise<void> {
    const entry = this.#userEntry(uid);
    raiseCutoffOf(entry, deviceFlag, cutoff);
    this.#extendUser(entry, expiresAtMs);
  }

  /**
   * The check, the cutoff and the listing run synchronously, and the announcement is handed to
   * `publish` in the same step (delivered on a later tick, before any message published after this
   * call): atomic, as the contract asks, and what the engine's fallback would do call by call.
   */
  async kick(request: KickRequest): Promise<KickOutcome> {
    const { uid, deviceFlag } = request;
    const now = this.#clock.nowMs();
    const live = this.#liveUser(uid, now);
    if (request.require.user && live === undefined) return { applied: false, missing: 'user' };
    if (
      request.require.device &&
      deviceFlag !== null &&
      !devicePresent(live, deviceFlag, now, (c) => this.#isLive(c, now))
    ) {
      return { applied: false, missing: 'device' };
    }
    // An unknown or expired user is started afresh, as `raiseCutoff` does.
    const entry = live ?? this.#userEntry(uid);
    raiseCutoffOf(entry, deviceFlag, request.cutoff);
    this.#extendUser(entry, request.expiresAtMs);
    const connections = this.#liveConnections(entry, now).map((c) => ({ ...c }));
    await this.publish(request.announce);
    return { applied: true, connections };
  }

  async heartbeatNode(node: NodeRecord): Promise<boolean> {
    assertIncarnation(node.incarnation);
    const now = this.#clock.nowMs();
    const current = this.#nodes.get(node.nodeId);
    if (current !== undefined && current.incarnation === node.incarnation) {
      if (current.expiresAtMs <= now) return false;
      current.expiresAtMs = Math.max(current.expiresAtMs, node.expiresAtMs);
      return true;
    }
    // The record on file, if any, is replaced: its incarnation's index stays for the sweep.
    this.#nodes.set(node.nodeId, {
      nodeId: node.nodeId,
      incarnation: node.incarnation,
      expiresAtMs: node.expiresAtMs,
    });
    return node.expiresAtMs > now;
  }

  async putConnections(connections: readonly ConnectionRecord[]): Promise<void> {
    for (const connection of connections) assertIncarnation(connection.incarnation);
    for (const connection of connections) this.#putConnection(connection);
  }

  async putConnection(connection: ConnectionRecord): Promise<void> {
    await this.putConnections([connection]);
  }

  async joinDevice(connection: ConnectionRef & { deviceFlag: number }): Promise<ConnectionRecord[]> {
    const { uid, nodeId, connId, deviceFlag } = connection;
    const now = this.#clock.nowMs();
    const entry = this.#liveUser(uid, now);
    const own = connectionKey(nodeId, connId);
    const connections = entry?.connections;
    if (connections?.get(own) === undefined) return [];
    entry!.rosters ??= new Map<number, string[]>();
    const rosters = entry!.rosters;
    // The connections gone since are dropped from the roster as it is read.
    const standing = (rosters.get(deviceFlag) ?? []).filter((key) => key !== own && connections.has(key));
    rosters.set(deviceFlag, [...standing, own]);
    return standing
      .map((key) => connections.get(key)!)
      .filter((c) => this.#isLive(c, now))
      .map((c) => ({ ...c }));
  }

  async deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]> {
    const now = this.#clock.nowMs();
    return refs.map((ref) => {
      const removed = this.#deleteConnection(ref.uid, ref.nodeId, ref.connId, undefined);
      return removed !== undefined && this.#isLive(removed, now);
    });
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const [removed] = await this.deleteConnections([{ uid, nodeId, connId }]);
    return removed!;
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    const now = this.#clock.nowMs();
    const entry = this.#liveUser(uid, now);
    return entry === undefined ? [] : this.#liveConnections(entry, now).map((c) => ({ ...c }));
  }

  /** One page, as `scanSessions`. */
  async scanConnections(uid: string, _cursor?: string, _count?: number): Promise<ScanPage<ConnectionRecord>> {
    return { items: await this.listConnections(uid), cursor: undefined };
  }

  async countConnections(uid: string): Promise<DeviceConnections[]> {
    const now = this.#clock.nowMs();
    const entry = this.#liveUser(uid, now);
    return countByDevice(entry === undefined ? [] : this.#liveConnections(entry, now));
  }

  /** Drains the indexes of dead incarnations (lapsed, or no longer the one on file). */
  async sweepConnections(limit: number): Promise<number> {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new TypeError('limit must be a positive integer');
    const now = this.#clock.nowMs();
    let drained = 0;
    for (const [key, index] of this.#nodeIndex) {
      const [nodeId, incarnation] = splitIndexKey(key);
      const node = this.#nodes.get(nodeId);
      if (node !== undefined && node.incarnation === incarnation && node.expiresAtMs > now) continue;
      for (const [connId, uid] of index) {
        if (drained === limit) return drained;
        this.#deleteConnection(uid, nodeId, connId, incarnation);
        drained += 1;
      }
    }
    return drained;
  }

  #putConnection(connection: ConnectionRecord): void {
    const { uid, nodeId, connId, incarnation } = connection;
    // Of an incarnation not on file: it could never count (see `EvictStore.putConnections`).
    if (this.#nodes.get(nodeId)?.incarnation !== incarnation) return;
    const entry = this.#userEntry(uid);
    entry.connections ??= new Map();
    const key = connectionKey(nodeId, connId);
    const previous = entry.connections.get(key);
    if (previous !== undefined && previous.incarnation !== incarnation) {
      this.#nodeIndex.get(indexKey(nodeId, previous.incarnation))?.delete(connId);
    }
    const { deviceFlag, connectedAtMs, sessionId, deviceId, ip, port } = connection;
    const record: ConnectionRecord = { uid, deviceFlag, nodeId, connId, connectedAtMs, incarnation };
    // Copied field by field: what is on file is only what the contract knows, never the caller's object.
    if (sessionId !== undefined) record.sessionId = sessionId;
    if (deviceId !== undefined) record.deviceId = deviceId;
    if (ip !== undefined) record.ip = ip;
    if (port !== undefined) record.port = port;
    entry.connections.set(key, record);
    const ik = indexKey(nodeId, incarnation);
    let index = this.#nodeIndex.get(ik);
    if (index === undefined) {
      index = new ShardedMap(shardOfNumber);
      this.#nodeIndex.set(ik, index);
    }
    index.set(connId, uid);
  }

  /**
   * Removes the connection from its user and its incarnation's index (only if it is of
   * `incarnation`, when given); returns the record removed.
   */
  #deleteConnection(
    uid: string,
    nodeId: number,
    connId: number,
    incarnation: string | undefined,
  ): ConnectionRecord | undefined {
    const entry = this.#users.get(uid);
    const connections = entry?.connections;
    const key = connectionKey(nodeId, connId);
    const connection = connections?.get(key);
    if (incarnation !== undefined) this.#unindex(nodeId, incarnation, connId, uid);
    if (connection === undefined || (incarnation !== undefined && connection.incarnation !== incarnation)) {
      return undefined;
    }
    connections!.delete(key);
    if (connections!.size === 0) {
      entry!.connections = undefined;
      // Its connections kept the user on file; with none left, its own expiry decides.
      this.#liveUser(uid, this.#clock.nowMs());
    }
    if (incarnation === undefined) this.#unindex(nodeId, connection.incarnation, connId, uid);
    return connection;
  }

  #unindex(nodeId: number, incarnation: string, connId: number, uid: string): void {
    const ik = indexKey(nodeId, incarnation);
    const index = this.#nodeIndex.get(ik);
    if (index === undefined || index.get(connId) !== uid) return;
    index.delete(connId);
    if (index.size === 0) this.#nodeIndex.delete(ik);
  }

  #isLive(connection: ConnectionRecord, now: number): boolean {
    const node = this.#nodes.get(connection.nodeId);
    return node !== undefined && node.incarnation === connection.incarnation && node.expiresAtMs > now;
  }

  /** The user's connections of live node incarnations (not copies). */
  #liveConnections(entry: UserEntry, now: number): ConnectionRecord[] {
    const live: ConnectionRecord[] = [];
    for (const c of entry.connections?.values() ?? []) if (this.#isLive(c, now)) live.push(c);
    return live;
  }

  async setPushToken(uid: string, record: PushTokenRecord): Promise<void> {
    const entry = this.#userEntry(uid);
    entry.pushTokens ??= new Map();
    entry.pushTokens.set(record.kind, { ...record });
    this.#file('pushTokens', uid, record.expiresAtMs);
    this.#extendUser(entry, record.expiresAtMs);
  }

  async getPushTokens(uid: string): Promise<PushTokenRecord[]> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    return [...(entry?.pushTokens?.values() ?? [])].map((t) => ({ ...t }));
  }

  async clearPushTokens(uid: string, kinds: readonly PushTokenKind[]): Promise<PushTokenKind[]> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    const tokens = entry?.pushTokens;
    if (entry === undefined || tokens === undefined) return [];
    const cleared = kinds.filter((kind) => tokens.delete(kind));
    if (tokens.size === 0) entry.pushTokens = undefined;
    return cleared;
  }

  async hit(key: string, atMs: number, windowMs: number): Promise<number> {
    const windowStartMs = atMs - (atMs % windowMs);
    const counter = this.#counters.get(key);
    if (counter === undefined || counter.windowStartMs !== windowStartMs) {
      const expiresAtMs = windowStartMs + windowMs;
      this.#counters.set(key, { windowStartMs, count: 1, expiresAtMs });
      this.#file('counters', key, expiresAtMs);
      return 1;
    }
    counter.count += 1;
    return counter.count;
  }

  async publish(message: ClusterMessage): Promise<void> {
    // Delivered on a later tick, as a real broker would: a publisher never re-enters its own caller.
    const copy = structuredClone(message);
    for (const listener of this.#listeners) queueMicrotask(() => listener(copy));
  }

  subscribe(listener: (message: ClusterMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #userEntry(uid: string): UserEntry {
    const live = this.#liveUser(uid, this.#clock.nowMs());
    if (live !== undefined) return live;
    const entry = new UserEntry(uid);
    this.#users.set(uid, entry);
    return entry;
  }

  /** The session on file (not a copy), or undefined once its retention has passed. */
  #liveSession(tokenHash: string): StoredSession | undefined {
    const session = this.#sessions.get(tokenHash);
    return session === undefined || session.retainUntilMs <= this.#clock.nowMs() ? undefined : session;
  }

  /** Drops the hash from its user's index (the sweep drops sessions; nothing else does). */
  #unindexSession(uid: string, tokenHash: string): void {
    this.#sessionsByUser.delete(uid, tokenHash);
  }

  /** The user's life only grows; the first extension of an unfiled user files it for the sweep. */
  #extendUser(entry: UserEntry, expiresAtMs: number): void {
    entry.expiresAtMs = Math.max(entry.expiresAtMs, expiresAtMs);
    this.#fileUser(entry);
  }

  /**
   * The user's entry with its expired push tokens dropped, or undefined (and dropped) once the user
   * has expired with no connection on file. The user's `expiresAtMs` is never below a push token's
   * (each put raises it), so a user that has expired holds nothing live but connections, which keep
   * it on file (their node's liveness decides whether they count).
   */
  #liveUser(uid: string, now: number): UserEntry | undefined {
    const entry = this.#users.get(uid);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= now && entry.connections === undefined) {
      this.#users.delete(uid);
      return undefined;
    }
    if (entry.pushTokens !== undefined) {
      for (const [kind, t] of entry.pushTokens) if (t.expiresAtMs <= now) entry.pushTokens.delete(kind);
      if (entry.pushTokens.size === 0) entry.pushTokens = undefined;
    }
    return entry;
  }
}
