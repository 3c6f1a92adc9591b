import { type Clock, systemClock } from './clock.js';
import type {
  ClusterMessage,
  ConnectionRecord,
  Cutoff,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
  UserRecord,
} from './model.js';
import type { EvictStore } from './store.js';

export interface MemoryStoreOptions {
  /** Source of "now" for expiry; defaults to the system clock. */
  clock?: Clock;
  /** How often expired records are swept out; the timer is unref'd. Default 60 000. */
  sweepIntervalMs?: number;
}

interface UserEntry {
  record: UserRecord;
  /** Keys of the user's connections (`nodeId:connId`). */
  connections: Map<string, ConnectionRecord>;
  pushTokens: Map<PushTokenKind, PushTokenRecord>;
}

/**
 * The default store: plain maps in this process. Every method runs synchronously inside one
 * microtask, so each is atomic. Engines that share one instance in a process form a cluster
 * (its messages are delivered to every subscriber), which is how tests run several nodes cheaply.
 */
export class MemoryStore implements EvictStore {
  readonly #clock: Clock;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #users = new Map<string, UserEntry>();
  /** Token hashes of each user's sessions: kept apart from the user record, which may expire before them. */
  readonly #sessionsByUser = new Map<string, Set<string>>();
  readonly #counters = new Map<string, { windowStartMs: number; count: number; expiresAtMs: number }>();
  readonly #listeners = new Set<(message: ClusterMessage) => void>();
  readonly #sweepTimer: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new TypeError('MemoryStore: sweepIntervalMs must be a positive integer of milliseconds');
    }
    this.#sweepTimer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#listeners.clear();
  }

  /** Drops every record whose expiry has passed. Runs on a timer; callable directly in tests. */
  sweep(): void {
    const now = this.#clock.nowMs();
    for (const [hash, session] of this.#sessions)
      if (session.retainUntilMs <= now) this.#sessions.delete(hash);
    for (const [key, counter] of this.#counters) if (counter.expiresAtMs <= now) this.#counters.delete(key);
    for (const uid of this.#users.keys()) this.#liveUser(uid, now);
    for (const [uid, hashes] of this.#sessionsByUser) {
      for (const hash of hashes) if (!this.#sessions.has(hash)) hashes.delete(hash);
      if (hashes.size === 0) this.#sessionsByUser.delete(uid);
    }
  }

  /**
   * A deep copy of everything on file (expired records included), in a stable order: tests compare
   * two snapshots to prove that a rejected request changed nothing.
   */
  snapshot(): unknown {
    const sorted = <T>(entries: Iterable<[string, T]>) =>
      [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return structuredClone({
      sessions: sorted(this.#sessions),
      users: sorted(this.#users).map(([uid, e]) => [
        uid,
        {
          record: e.record,
          connections: sorted(e.connections),
          pushTokens: sorted(e.pushTokens),
        },
      ]),
      sessionsByUser: sorted(this.#sessionsByUser).map(([uid, hashes]) => [uid, [...hashes].sort()]),
      counters: sorted(this.#counters),
    });
  }

  /** How many records are on file, expired or not yet swept; for tests and benchmarks. */
  size(): { sessions: number; users: number; counters: number } {
    return { sessions: this.#sessions.size, users: this.#users.size, counters: this.#counters.size };
  }

  async putSession(session: SessionRecord): Promise<void> {
    this.#sessions.set(session.tokenHash, { ...session });
    const hashes = this.#sessionsByUser.get(session.uid);
    if (hashes === undefined) this.#sessionsByUser.set(session.uid, new Set([session.tokenHash]));
    else hashes.add(session.tokenHash);
    const entry = this.#userEntry(session.uid);
    const device = entry.record.devices[session.deviceFlag];
    entry.record.devices[session.deviceFlag] = {
      lastIssuedAtMs: Math.max(device?.lastIssuedAtMs ?? 0, session.issuedAtMs),
      expiresAtMs: Math.max(device?.expiresAtMs ?? 0, session.expiresAtMs),
    };
    entry.record.expiresAtMs = Math.max(entry.record.expiresAtMs, session.expiresAtMs);
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    const session = this.#liveSession(tokenHash);
    return session === undefined ? undefined : { ...session };
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    const hashes = this.#sessionsByUser.get(uid);
    if (hashes === undefined) return [];
    const sessions: SessionRecord[] = [];
    for (const hash of hashes) {
      const session = this.#liveSession(hash);
      if (session === undefined) hashes.delete(hash);
      else sessions.push({ ...session });
    }
    if (hashes.size === 0) this.#sessionsByUser.delete(uid);
    return sessions;
  }

  async revokeSession(tokenHash: string, atMs: number): Promise<SessionRecord | undefined> {
    // Read and write without an await in between, so that concurrent revocations keep the first time.
    const session = this.#liveSession(tokenHash);
    if (session === undefined) return undefined;
    const before = { ...session };
    if (session.revokedAtMs === undefined) session.revokedAtMs = atMs;
    return before;
  }

  async getUser(uid: string): Promise<UserRecord | undefined> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    return entry === undefined ? undefined : structuredClone(entry.record);
  }

  async touchUser(uid: string, expiresAtMs: number): Promise<void> {
    const entry = this.#userEntry(uid);
    entry.record.expiresAtMs = Math.max(entry.record.expiresAtMs, expiresAtMs);
  }

  async raiseCutoff(
    uid: string,
    deviceFlag: number | null,
    cutoff: Cutoff,
    expiresAtMs: number,
  ): Promise<void> {
    const entry = this.#userEntry(uid);
    const current = deviceFlag === null ? entry.record.cutoff : entry.record.deviceCutoffs[deviceFlag];
    if (current === undefined || current.atMs < cutoff.atMs) {
      if (deviceFlag === null) entry.record.cutoff = { ...cutoff };
      else entry.record.deviceCutoffs[deviceFlag] = { ...cutoff };
    }
    entry.record.expiresAtMs = Math.max(entry.record.expiresAtMs, expiresAtMs);
  }

  async putConnection(connection: ConnectionRecord): Promise<void> {
    const entry = this.#userEntry(connection.uid);
    entry.connections.set(connectionKey(connection.nodeId, connection.connId), { ...connection });
    entry.record.expiresAtMs = Math.max(entry.record.expiresAtMs, connection.expiresAtMs);
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    return entry?.connections.delete(connectionKey(nodeId, connId)) ?? false;
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    return entry === undefined ? [] : [...entry.connections.values()].map((c) => ({ ...c }));
  }

  async setPushToken(uid: string, record: PushTokenRecord): Promise<void> {
    const entry = this.#userEntry(uid);
    entry.pushTokens.set(record.kind, { ...record });
    entry.record.expiresAtMs = Math.max(entry.record.expiresAtMs, record.expiresAtMs);
  }

  async getPushTokens(uid: string): Promise<PushTokenRecord[]> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    return entry === undefined ? [] : [...entry.pushTokens.values()].map((t) => ({ ...t }));
  }

  async clearPushTokens(uid: string, kinds: readonly PushTokenKind[]): Promise<PushTokenKind[]> {
    const entry = this.#liveUser(uid, this.#clock.nowMs());
    if (entry === undefined) return [];
    return kinds.filter((kind) => entry.pushTokens.delete(kind));
  }

  async hit(key: string, atMs: number, windowMs: number): Promise<number> {
    const windowStartMs = atMs - (atMs % windowMs);
    const counter = this.#counters.get(key);
    if (counter === undefined || counter.windowStartMs !== windowStartMs) {
      this.#counters.set(key, { windowStartMs, count: 1, expiresAtMs: windowStartMs + windowMs });
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
    const entry: UserEntry = {
      record: { uid, deviceCutoffs: {}, devices: {}, expiresAtMs: 0 },
      connections: new Map(),
      pushTokens: new Map(),
    };
    this.#users.set(uid, entry);
    return entry;
  }

  /** The session on file (not a copy), or undefined (and dropped) once its retention has passed. */
  #liveSession(tokenHash: string): SessionRecord | undefined {
    const session = this.#sessions.get(tokenHash);
    if (session === undefined) return undefined;
    if (session.retainUntilMs <= this.#clock.nowMs()) {
      this.#sessions.delete(tokenHash);
      return undefined;
    }
    return session;
  }

  /** The user's entry with its expired parts dropped, or undefined (and dropped) when nothing is left. */
  #liveUser(uid: string, now: number): UserEntry | undefined {
    const entry = this.#users.get(uid);
    if (entry === undefined) return undefined;
    for (const [key, c] of entry.connections) if (c.expiresAtMs <= now) entry.connections.delete(key);
    for (const [kind, t] of entry.pushTokens) if (t.expiresAtMs <= now) entry.pushTokens.delete(kind);
    if (entry.record.expiresAtMs <= now && entry.connections.size === 0 && entry.pushTokens.size === 0) {
      this.#users.delete(uid);
      return undefined;
    }
    return entry;
  }
}

function connectionKey(nodeId: number, connId: number): string {
  return `${nodeId}:${connId}`;
}
