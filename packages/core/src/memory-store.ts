import { type Clock, systemClock } from './clock.js';
import type {
  ClusterMessage,
  ConnectionRecord,
  Cutoff,
  DeviceRecord,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
  UserRecord,
} from './model.js';
import type { EvictStore, KickOutcome, KickRequest } from './store.js';

export interface MemoryStoreOptions {
  /** Source of "now" for expiry; defaults to the system clock. */
  clock?: Clock;
  /** How often expired records are swept out; the timer is unref'd. Default 60 000. */
  sweepIntervalMs?: number;
}

// Memory: the store is meant to hold a million sessions in a few hundred MB of heap (the benchmark's
// target: ≤ 400 bytes per session of a user with one session). Hence classes with fixed fields
// instead of spread copies and nested objects (every instance shares one hidden class), and nothing
// allocated for what most users never have: a second session or device, connections, push tokens,
// device cutoffs. What goes out is always a fresh `SessionRecord` / `UserRecord`, never these.

/** A session on file. `tokenHash` is also its key in the sessions map. */
class StoredSession {
  readonly tokenHash: string;
  readonly uid: string;
  readonly deviceFlag: number;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly retainUntilMs: number;
  revokedAtMs: number | undefined;

  constructor(session: SessionRecord) {
    this.tokenHash = session.tokenHash;
    this.uid = session.uid;
    this.deviceFlag = session.deviceFlag;
    this.issuedAtMs = session.issuedAtMs;
    this.expiresAtMs = session.expiresAtMs;
    this.retainUntilMs = session.retainUntilMs;
    this.revokedAtMs = session.revokedAtMs;
  }

  toRecord(): SessionRecord {
    const record: SessionRecord = {
      tokenHash: this.tokenHash,
      uid: this.uid,
      deviceFlag: this.deviceFlag,
      issuedAtMs: this.issuedAtMs,
      expiresAtMs: this.expiresAtMs,
      retainUntilMs: this.retainUntilMs,
    };
    if (this.revokedAtMs !== undefined) record.revokedAtMs = this.revokedAtMs;
    return record;
  }
}

/** What is on file of one device of a user (a `DeviceRecord` plus its flag). */
class StoredDevice implements DeviceRecord {
  constructor(
    readonly flag: number,
    public lastIssuedAtMs: number,
    public expiresAtMs: number,
  ) {}
}

/**
 * What is on file of one user: the `UserRecord` fields, and the user's connections and push tokens.
 * The collections are created on first use and are undefined until then: a user with one session has
 * one device and nothing else, and an empty Map (about 180 bytes) costs twice the rest of the user.
 */
class UserEntry {
  readonly uid: string;
  cutoff: Cutoff | undefined = undefined;
  /** Cutoffs per device flag; created by the first device cutoff. */
  deviceCutoffs: Map<number, Cutoff> | undefined = undefined;
  /**
   * The device itself while the user has one (nearly every user), an array (one entry per flag, at
   * most 256) from the second on: an array of one would cost as much again as the device.
   */
  devices: StoredDevice | StoredDevice[] | undefined = undefined;
  expiresAtMs = 0;
  /**
   * Keyed by `nodeId:connId`; created by the first connection, dropped when the last one goes. May
   * hold expired connections: they are dropped when the user's connections are read as a whole
   * (`liveConnections`) or swept, so that a put or a delete costs O(1) however many the user has.
   */
  connections: Map<string, ConnectionRecord> | undefined = undefined;
  /** Created by the first push token, dropped when the last one goes. */
  pushTokens: Map<PushTokenKind, PushTokenRecord> | undefined = undefined;

  constructor(uid: string) {
    this.uid = uid;
  }

  allDevices(): StoredDevice[] {
    const devices = this.devices;
    return devices === undefined ? [] : devices instanceof StoredDevice ? [devices] : devices;
  }

  device(flag: number): StoredDevice | undefined {
    return this.allDevices().find((device) => device.flag === flag);
  }

  addDevice(device: StoredDevice): void {
    const devices = this.devices;
    if (devices === undefined) this.devices = device;
    else if (devices instanceof StoredDevice) this.devices = [devices, device];
    else devices.push(device);
  }

  /** The live connections on file (not copies), once the expired ones are dropped. */
  liveConnections(now: number): ConnectionRecord[] {
    const connections = this.connections;
    if (connections === undefined) return [];
    const live: ConnectionRecord[] = [];
    for (const [key, c] of connections) {
      if (c.expiresAtMs > now) live.push(c);
      else connections.delete(key);
    }
    if (connections.size === 0) this.connections = undefined;
    return live;
  }

  /** A fresh copy, in the store's public shape. */
  toRecord(): UserRecord {
    const record: UserRecord = {
      uid: this.uid,
      deviceCutoffs: {},
      devices: {},
      expiresAtMs: this.expiresAtMs,
    };
    if (this.cutoff !== undefined) record.cutoff = copyCutoff(this.cutoff);
    for (const [flag, cutoff] of this.deviceCutoffs ?? []) record.deviceCutoffs[flag] = copyCutoff(cutoff);
    for (const device of this.allDevices())
      record.devices[device.flag] = {
        lastIssuedAtMs: device.lastIssuedAtMs,
        expiresAtMs: device.expiresAtMs,
      };
    return record;
  }
}

/**
 * The default store: plain maps in this process. Every method runs synchronously inside one
 * microtask, so each is atomic. Engines that share one instance in a process form a cluster
 * (its messages are delivered to every subscriber), which is how tests run several nodes cheaply.
 */
export class MemoryStore implements EvictStore {
  readonly #clock: Clock;
  readonly #sessions = new Map<string, StoredSession>();
  readonly #users = new Map<string, UserEntry>();
  /**
   * Token hashes of each user's sessions: kept apart from the user entry, which may expire before
   * them. A user with one session maps to that hash itself; a Set is made for the second one only
   * (nearly every user has one session at a time, and a Set of one costs about 150 bytes).
   */
  readonly #sessionsByUser = new Map<string, string | Set<string>>();
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
    for (const uid of this.#users.keys()) this.#liveUser(uid, now)?.liveConnections(now);
    for (const uid of this.#sessionsByUser.keys()) this.#pruneSessionsOf(uid);
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
          record: entry.toRecord(),
          connections: sorted(entry.connections ?? []),
          pushTokens: sorted(entry.pushTokens ?? []),
        },
      ]),
      sessionsByUser: sorted(this.#sessionsByUser).map(([uid, hashes]) => [uid, hashesOf(hashes).sort()]),
      counters: sorted(this.#counters),
    });
  }

  /** How many records are on file, expired or not yet swept; for tests and benchmarks. */
  size(): { sessions: number; users: number; counters: number } {
    return { sessions: this.#sessions.size, users: this.#users.size, counters: this.#counters.size };
  }

  async putSession(session: SessionRecord): Promise<void> {
    const { tokenHash, uid } = session;
    this.#sessions.set(tokenHash, new StoredSession(session));
    const hashes = this.#sessionsByUser.get(uid);
    if (hashes === undefined) this.#sessionsByUser.set(uid, tokenHash);
    else if (typeof hashes !== 'string') hashes.add(tokenHash);
    else if (hashes !== tokenHash) this.#sessionsByUser.set(uid, new Set([hashes, tokenHash]));
    const entry = this.#userEntry(uid);
    const device = entry.device(session.deviceFlag);
    if (device === undefined) {
      entry.addDevice(new StoredDevice(session.deviceFlag, session.issuedAtMs, session.expiresAtMs));
    } else {
      device.lastIssuedAtMs = Math.max(device.lastIssuedAtMs, session.issuedAtMs);
      device.expiresAtMs = Math.max(device.expiresAtMs, session.expiresAtMs);
    }
    entry.expiresAtMs = Math.max(entry.expiresAtMs, session.expiresAtMs);
  }

  async getSession(tokenHash: string): Promise<SessionRecord | undefined> {
    return this.#liveSession(tokenHash)?.toRecord();
  }

  async listSessions(uid: string): Promise<SessionRecord[]> {
    const sessions: SessionRecord[] = [];
    for (const hash of hashesOf(this.#sessionsByUser.get(uid) ?? [])) {
      // #liveSession drops a session whose retention has passed; pruning then drops its hash.
      const session = this.#liveSession(hash);
      if (session !== undefined) sessions.push(session.toRecord());
    }
    this.#pruneSessionsOf(uid);
    return sessions;
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
    return this.#liveUser(uid, this.#clock.nowMs())?.toRecord();
  }

  async touchUser(uid: string, expiresAtMs: number): Promise<void> {
    const entry = this.#userEntry(uid);
    entry.expiresAtMs = Math.max(entry.expiresAtMs, expiresAtMs);
  }

  async raiseCutoff(
    uid: string,
    deviceFlag: number | null,
    cutoff: Cutoff,
    expiresAtMs: number,
  ): Promise<void> {
    raiseCutoffOf(this.#userEntry(uid), deviceFlag, cutoff, expiresAtMs);
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
    if (request.require.device && deviceFlag !== null && !devicePresent(live, deviceFlag, now)) {
      return { applied: false, missing: 'device' };
    }
    // An unknown or expired user is started afresh, as `raiseCutoff` does.
    const entry = live ?? this.#userEntry(uid);
    raiseCutoffOf(entry, deviceFlag, request.cutoff, request.expiresAtMs);
    const connections = entry.liveConnections(now).map((c) => ({ ...c }));
    await this.publish(request.announce);
    return { applied: true, connections };
  }

  async putConnection(connection: ConnectionRecord): Promise<void> {
    const entry = this.#userEntry(connection.uid);
    entry.connections ??= new Map();
    entry.connections.set(connectionKey(connection.nodeId, connection.connId), { ...connection });
    entry.expiresAtMs = Math.max(entry.expiresAtMs, connection.expiresAtMs);
  }

  async deleteConnection(uid: string, nodeId: number, connId: number): Promise<boolean> {
    const now = this.#clock.nowMs();
    const entry = this.#liveUser(uid, now);
    const connections = entry?.connections;
    if (entry === undefined || connections === undefined) return false;
    const key = connectionKey(nodeId, connId);
    const connection = connections.get(key);
    if (connection === undefined) return false;
    connections.delete(key);
    if (connections.size === 0) entry.connections = undefined;
    return connection.expiresAtMs > now;
  }

  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    const now = this.#clock.nowMs();
    return (this.#liveUser(uid, now)?.liveConnections(now) ?? []).map((c) => ({ ...c }));
  }

  async setPushToken(uid: string, record: PushTokenRecord): Promise<void> {
    const entry = this.#userEntry(uid);
    entry.pushTokens ??= new Map();
    entry.pushTokens.set(record.kind, { ...record });
    entry.expiresAtMs = Math.max(entry.expiresAtMs, record.expiresAtMs);
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
    const entry = new UserEntry(uid);
    this.#users.set(uid, entry);
    return entry;
  }

  /** The session on file (not a copy), or undefined (and dropped) once its retention has passed. */
  #liveSession(tokenHash: string): StoredSession | undefined {
    const session = this.#sessions.get(tokenHash);
    if (session === undefined) return undefined;
    if (session.retainUntilMs <= this.#clock.nowMs()) {
      this.#sessions.delete(tokenHash);
      return undefined;
    }
    return session;
  }

  /** Drops from the user's index the hashes whose session is no longer on file. */
  #pruneSessionsOf(uid: string): void {
    const hashes = this.#sessionsByUser.get(uid);
    if (hashes === undefined) return;
    if (typeof hashes === 'string') {
      if (!this.#sessions.has(hashes)) this.#sessionsByUser.delete(uid);
      return;
    }
    for (const hash of hashes) if (!this.#sessions.has(hash)) hashes.delete(hash);
    if (hashes.size === 0) this.#sessionsByUser.delete(uid);
  }

  /**
   * The user's entry with its expired push tokens dropped, or undefined (and dropped) once the user
   * has expired. The user's `expiresAtMs` is never below a connection's or a push token's (each put
   * raises it), so a user that has expired holds nothing live; a live one may still hold expired
   * connections, which `liveConnections` drops (not done here: this runs on every call, and a user
   * may have thousands of connections).
   */
  #liveUser(uid: string, now: number): UserEntry | undefined {
    const entry = this.#users.get(uid);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= now) {
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

/** `raiseCutoff` on an entry that is live (or new): an atomic maximum, and the user's life only grows. */
function raiseCutoffOf(
  entry: UserEntry,
  deviceFlag: number | null,
  cutoff: Cutoff,
  expiresAtMs: number,
): void {
  const current = deviceFlag === null ? entry.cutoff : entry.deviceCutoffs?.get(deviceFlag);
  if (current === undefined || current.atMs < cutoff.atMs) {
    if (deviceFlag === null) {
      entry.cutoff = copyCutoff(cutoff);
    } else {
      entry.deviceCutoffs ??= new Map();
      entry.deviceCutoffs.set(deviceFlag, copyCutoff(cutoff));
    }
  }
  entry.expiresAtMs = Math.max(entry.expiresAtMs, expiresAtMs);
}

/**
 * Whether the device is present, as the engine defines it (`EvictStore.kick`): a live device record
 * issued after every cutoff that applies to it (the user's and the device's), or a live connection of
 * the device. `entry` is the live user, or undefined.
 */
function devicePresent(entry: UserEntry | undefined, deviceFlag: number, now: number): boolean {
  if (entry === undefined) return false;
  const device = entry.device(deviceFlag);
  if (device !== undefined && device.expiresAtMs > now) {
    const userCutoff = entry.cutoff;
    const deviceCutoff = entry.deviceCutoffs?.get(deviceFlag);
    if (
      (userCutoff === undefined || device.lastIssuedAtMs > userCutoff.atMs) &&
      (deviceCutoff === undefined || device.lastIssuedAtMs > deviceCutoff.atMs)
    ) {
      return true;
    }
  }
  for (const connection of entry.connections?.values() ?? []) {
    if (connection.deviceFlag === deviceFlag && connection.expiresAtMs > now) return true;
  }
  return false;
}

/** The hashes of a `#sessionsByUser` value, as an array. */
function hashesOf(hashes: string | Iterable<string>): string[] {
  return typeof hashes === 'string' ? [hashes] : [...hashes];
}

function copyCutoff(cutoff: Cutoff): Cutoff {
  return { atMs: cutoff.atMs, reason: cutoff.reason };
}

function connectionKey(nodeId: number, connId: number): string {
  return `${nodeId}:${connId}`;
}
