import { type Clock, systemClock } from './clock.js';
import type {
  ClusterMessage,
  ConnectionRecord,
  ConnectionRef,
  Cutoff,
  DeviceRecord,
  NodeRecord,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
  UserRecord,
} from './model.js';
import { assertIncarnation, type EvictStore, type KickOutcome, type KickRequest } from './store.js';

export interface MemoryStoreOptions {
  /** Source of "now" for expiry; defaults to the system clock. */
  clock?: Clock;
  /** How often expired records are swept out; the timer is unref'd. Default 60 000. */
  sweepIntervalMs?: number;
}

/**
 * The timer's sweep runs in slices of about this long, each on its own turn of the event loop, so
 * that a store of millions of records never blocks the process for the whole walk.
 */
const SWEEP_SLICE_MS = 2;
/** Records visited between two looks at the slice's time. */
const SWEEP_CHECK_EVERY = 256;

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
   * hold connections of dead node incarnations until `sweepConnections` drops them.
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

  /** A fresh copy, in the store's public shape (past its expiry, a connection keeps it: `Infinity`). */
  toRecord(now: number): UserRecord {
    const record: UserRecord = {
      uid: this.uid,
      deviceCutoffs: {},
      devices: {},
      expiresAtMs: this.expiresAtMs <= now ? Number.POSITIVE_INFINITY : this.expiresAtMs,
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
  /** Each node's record, by nodeId. */
  readonly #nodes = new Map<number, NodeRecord>();
  /**
   * Each node incarnation's connections (connId → uid), keyed by `nodeId:incarnation`: what
   * `sweepConnections` drains once the incarnation is dead. Dropped when drained.
   */
  readonly #nodeIndex = new Map<string, Map<number, string>>();
  readonly #sweepTimer: NodeJS.Timeout;
  /** The timer's sweep under way (one walk at a time), resumed slice by slice. */
  #sweepWalk: Iterator<void> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new TypeError('MemoryStore: sweepIntervalMs must be a positive integer of milliseconds');
    }
    this.#sweepTimer = setInterval(() => this.#startSweep(), sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepWalk = undefined;
    this.#listeners.clear();
  }

  /**
   * Drops every record whose expiry has passed, at once. The timer does the same walk in slices of
   * a few ms (`sweepSlice`); this whole walk is for tests.
   */
  sweep(): void {
    const walk = this.#sweepSteps();
    while (walk.next().done !== true);
  }

  /**
   * Runs the timer's sweep for about `SWEEP_SLICE_MS`, starting a walk if none is under way; true
   * once the walk is done. Reads stay correct meanwhile: each checks expiry itself, and a Map
   * visits every entry once even while others are added or deleted.
   */
  sweepSlice(): boolean {
    this.#sweepWalk ??= this.#sweepSteps();
    const walk = this.#sweepWalk;
    const deadline = performance.now() + SWEEP_SLICE_MS;
    for (let visited = 1; ; visited++) {
      if (walk.next().done === true) {
        if (this.#sweepWalk === walk) this.#sweepWalk = undefined;
        return true;
      }
      if (visited % SWEEP_CHECK_EVERY === 0 && performance.now() >= deadline) return false;
    }
  }

  #startSweep(): void {
    if (this.#sweepWalk !== undefined) return;
    const next = () => {
      if (!this.sweepSlice() && this.#sweepWalk !== undefined) setImmediate(next).unref();
    };
    next();
  }

  /** The sweep, one record per step. */
  *#sweepSteps(): Generator<void> {
    for (const [hash, session] of this.#sessions) {
      if (session.retainUntilMs <= this.#clock.nowMs()) this.#sessions.delete(hash);
      yield;
    }
    for (const [key, counter] of this.#counters) {
      if (counter.expiresAtMs <= this.#clock.nowMs()) this.#counters.delete(key);
      yield;
    }
    for (const uid of this.#users.keys()) {
      this.#liveUser(uid, this.#clock.nowMs());
      yield;
    }
    for (const uid of this.#sessionsByUser.keys()) {
      this.#pruneSessionsOf(uid);
      yield;
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
      sessions: sorted(this.#sessions).map(([hash, session]) => [hash, session.toRecord()]),
      users: sorted(this.#users).map(([uid, entry]) => [
        uid,
        {
          record: entry.toRecord(Number.NEGATIVE_INFINITY),
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
    const now = this.#clock.nowMs();
    return this.#liveUser(uid, now)?.toRecord(now);
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
    if (
      request.require.device &&
      deviceFlag !== null &&
      !devicePresent(live, deviceFlag, now, (c) => this.#isLive(c, now))
    ) {
      return { applied: false, missing: 'device' };
    }
    // An unknown or expired user is started afresh, as `raiseCutoff` does.
    const entry = live ?? this.#userEntry(uid);
    raiseCutoffOf(entry, deviceFlag, request.cutoff, request.expiresAtMs);
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
    const entry = this.#userEntry(uid);
    entry.connections ??= new Map();
    const key = connectionKey(nodeId, connId);
    const previous = entry.connections.get(key);
    if (previous !== undefined && previous.incarnation !== incarnation) {
      this.#nodeIndex.get(indexKey(nodeId, previous.incarnation))?.delete(connId);
    }
    entry.connections.set(key, {
      uid,
      deviceFlag: connection.deviceFlag,
      nodeId,
      connId,
      connectedAtMs: connection.connectedAtMs,
      incarnation,
    });
    const ik = indexKey(nodeId, incarnation);
    let index = this.#nodeIndex.get(ik);
    if (index === undefined) {
      index = new Map();
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
function devicePresent(
  entry: UserEntry | undefined,
  deviceFlag: number,
  now: number,
  isLive: (connection: ConnectionRecord) => boolean,
): boolean {
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
    if (connection.deviceFlag === deviceFlag && isLive(connection)) return true;
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

function indexKey(nodeId: number, incarnation: string): string {
  return `${nodeId}:${incarnation}`;
}

function splitIndexKey(key: string): [number, string] {
  const colon = key.indexOf(':');
  return [Number(key.slice(0, colon)), key.slice(colon + 1)];
}
