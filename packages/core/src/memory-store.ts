import { type Clock, systemClock } from './clock.js';
import type { AdmissionOutcome, AdmissionRequest } from './engine/login-policy.js';
import { ConnectionTable } from './memory-store/connections.js';
import { CounterTable } from './memory-store/counters.js';
import { devicePresent, raiseCutoffOf } from './memory-store/entries.js';
import { type ExpiryBucket, ExpiryQueue, SWEEP_SLICE_KEYS } from './memory-store/expiry.js';
import { SessionTable } from './memory-store/sessions.js';
import { UserTable } from './memory-store/users.js';
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
import type { EvictStore, KickOutcome, KickRequest, ScanPage } from './store.js';

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
 *
 * Each kind of record has its table in `memory-store/`, which the methods below hand their calls to;
 * what spans tables (a kick, the sweep, a snapshot) is here. The methods that only wrap another
 * method of the store call it through `this`, so that a subclass's override of it is the one used.
 */
export class MemoryStore implements EvictStore {
  readonly #clock: Clock;
  readonly #users: UserTable;
  readonly #sessions: SessionTable;
  readonly #connections: ConnectionTable;
  readonly #counters: CounterTable;
  readonly #listeners = new Set<(message: ClusterMessage) => void>();
  /** Keys by the minute their records expire, and the sweep that reads them. */
  readonly #expiry: ExpiryQueue;
  /** Which table judges each kind of key a bucket holds, in the order `#drain` reads them. */
  readonly #sweepers: readonly [keyof ExpiryBucket, (key: string, index: number, now: number) => void][] = [
    ['sessions', (tokenHash, index, now) => this.#sessions.sweepSession(tokenHash, index, now)],
    ['users', (uid, index, now) => this.#users.sweepUser(uid, index, now)],
    ['counters', (key, index, now) => this.#counters.sweepCounter(key, index, now)],
    ['pushTokens', (uid, index, now) => this.#users.sweepPushTokens(uid, index, now)],
  ];

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
    this.#users = new UserTable(this.#clock, this.#expiry);
    this.#sessions = new SessionTable(this.#clock, this.#expiry, this.#users, (message) =>
      this.publish(message),
    );
    this.#connections = new ConnectionTable(this.#clock, this.#users);
    this.#counters = new CounterTable(this.#expiry);
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

  /**
   * Reads up to `budget` keys of bucket `index` (taking them out of it) and drops what has expired;
   * a record still live that belongs to this bucket (only in the minute under way) is filed again.
   * Returns the budget left.
   */
  #drain(bucket: ExpiryBucket, index: number, now: number, budget: number): number {
    for (const [kind, sweepKey] of this.#sweepers) {
      const keys = bucket[kind];
      for (let key = keys.pop(); key !== undefined; key = keys.pop()) {
        sweepKey(key, index, now);
        if (--budget <= 0) return budget;
      }
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
      sessionsByUser: sorted(this.#sessions.hashesByUser()).map(([uid, hashes]) => [uid, hashes.sort()]),
      counters: sorted(this.#counters),
    });
  }

  /** How many records are on file, expired or not yet swept; for tests and benchmarks. */
  size(): { sessions: number; users: number; counters: number } {
    return { sessions: this.#sessions.size, users: this.#users.size, counters: this.#counters.size };
  }

  putSession(session: SessionRecord): Promise<void> {
    return this.#sessions.putSession(session);
  }

  admitSession(session: SessionRecord, request: AdmissionRequest): Promise<AdmissionOutcome> {
    return this.#sessions.admitSession(session, request);
  }

  dischargeSessions(uid: string, tokenHashes: readonly string[]): Promise<void> {
    return this.#sessions.dischargeSessions(uid, tokenHashes);
  }

  getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#sessions.getSession(tokenHash);
  }

  listSessions(uid: string): Promise<SessionRecord[]> {
    return this.#sessions.listSessions(uid);
  }

  /** One page: everything is in this process's memory already, so a page bounds nothing. */
  async scanSessions(uid: string, _cursor?: string, _count?: number): Promise<ScanPage<SessionRecord>> {
    return { items: await this.listSessions(uid), cursor: undefined };
  }

  touchSessions(touches: readonly { tokenHash: string; atMs: number }[]): Promise<void> {
    return this.#sessions.touchSessions(touches);
  }

  revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    return this.#sessions.revokeSession(tokenHash, atMs);
  }

  getUser(uid: string): Promise<UserRecord | undefined> {
    return this.#users.getUser(uid);
  }

  touchUser(uid: string, expiresAtMs: number): Promise<void> {
    return this.#users.touchUser(uid, expiresAtMs);
  }

  raiseCutoff(uid: string, deviceFlag: number | null, cutoff: Cutoff, expiresAtMs: number): Promise<void> {
    return this.#users.raiseCutoff(uid, deviceFlag, cutoff, expiresAtMs);
  }

  /**
   * The check, the cutoff and the listing run synchronously, and the announcement is handed to
   * `publish` in the same step (delivered on a later tick, before any message published after this
   * call): atomic, as the contract asks, and what the engine's fallback would do call by call.
   */
  async kick(request: KickRequest): Promise<KickOutcome> {
    const { uid, deviceFlag } = request;
    const now = this.#clock.nowMs();
    const live = this.#users.live(uid, now);
    if (request.require.user && live === undefined) return { applied: false, missing: 'user' };
    if (
      request.require.device &&
      deviceFlag !== null &&
      !devicePresent(live, deviceFlag, now, (c) => this.#connections.isLive(c, now))
    ) {
      return { applied: false, missing: 'device' };
    }
    // An unknown or expired user is started afresh, as `raiseCutoff` does.
    const entry = live ?? this.#users.entry(uid);
    raiseCutoffOf(entry, deviceFlag, request.cutoff);
    this.#users.extend(entry, request.expiresAtMs);
    const connections = this.#connections.liveConnections(entry, now).map((c) => ({ ...c }));
    await this.publish(request.announce);
    return { applied: true, connections };
  }

  heartbeatNode(node: NodeRecord): Promise<boolean> {
    return this.#connections.heartbeatNode(node);
  }

  putConnections(connections: readonly ConnectionRecord[]): Promise<void> {
    return this.#connections.putConnections(connections);
  }

  async putConnection(connection: ConnectionRecord): Promise<void> {
    await this.putConnections([connection]);
  }

  joinDevice(connection: ConnectionRef & { deviceFlag: number }): Promise<ConnectionRecord[]> {
    return this.#connections.joinDevice(connection);
  }

  deleteConnections(refs: readonly ConnectionRef[]): Promise<boolean[]> {
    return this.#connections.deleteConnections(refs);
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const [removed] = await this.deleteConnections([{ uid, nodeId, connId }]);
    return removed!;
  }

  listConnections(uid: string): Promise<ConnectionRecord[]> {
    return this.#connections.listConnections(uid);
  }

  /** One page, as `scanSessions`. */
  async scanConnections(uid: string, _cursor?: string, _count?: number): Promise<ScanPage<ConnectionRecord>> {
    return { items: await this.listConnections(uid), cursor: undefined };
  }

  countConnections(uid: string): Promise<DeviceConnections[]> {
    return this.#connections.countConnections(uid);
  }

  sweepConnections(limit: number): Promise<number> {
    return this.#connections.sweepConnections(limit);
  }

  setPushToken(uid: string, record: PushTokenRecord): Promise<void> {
    return this.#users.setPushToken(uid, record);
  }

  getPushTokens(uid: string): Promise<PushTokenRecord[]> {
    return this.#users.getPushTokens(uid);
  }

  clearPushTokens(uid: string, kinds: readonly PushTokenKind[]): Promise<PushTokenKind[]> {
    return this.#users.clearPushTokens(uid, kinds);
  }

  hit(key: string, atMs: number, windowMs: number): Promise<number> {
    return this.#counters.hit(key, atMs, windowMs);
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
}
