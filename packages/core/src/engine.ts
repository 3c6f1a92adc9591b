import { randomBytes } from 'node:crypto';
import { type CacheStats, RevocationCache } from './cache.js';
import { type Clock, systemClock } from './clock.js';
import {
  ConnectionNotFoundError,
  DeviceNotFoundError,
  EvictError,
  InvalidTokenError,
  isEvictError,
  StoreCorruptError,
  StoreTimeoutError,
  StoreUnavailableError,
  UnknownUserError,
} from './errors.js';
import { MemoryStore } from './memory-store.js';
import type {
  ClusterMessage,
  ConnectionRecord,
  Cutoff,
  CutoffReason,
  PushTokenKind,
  PushTokenRecord,
  RejectionReason,
  SessionRecord,
  UserRecord,
} from './model.js';
import { PUSH_TOKEN_KINDS } from './model.js';
import { hashToken, newSessionToken } from './secrets.js';
import type { EvictStore, KickOutcome } from './store.js';
import { assertDeviceFlag, assertUid, isPositiveSafeInteger } from './validation.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const CONN_IDS_PER_NODE = 1_000_000_000;
/** How long an expired session stays on file, so that its check answers `expired` rather than `unknown`. */
const EXPIRED_SESSION_RETENTION_MS = DAY_MS;
/** Dead nodes' connection records one sweep step removes at most, and the steps of one heartbeat. */
const SWEEP_STEP_LIMIT = 500;
const SWEEP_STEPS_PER_HEARTBEAT = 100;
/** Records one `putConnections` carries when a node registers all of its connections again. */
const REREGISTER_BATCH = 1_000;

/** A random id of one run of this node (see `NodeRecord.incarnation`). */
const newIncarnation = () => randomBytes(6).toString('base64url');
/** The largest nodeId whose assigned connIds stay safe integers. */
const MAX_NODE_ID = Math.floor(Number.MAX_SAFE_INTEGER / CONN_IDS_PER_NODE) - 1;

export interface EvictOptions {
  /** Where state lives. Default: a new `MemoryStore` (one process). */
  store?: EvictStore;
  /** This node's id in the cluster, a positive integer (WuKongIM's `node_id`). Default 1. */
  nodeId?: number;
  /** Source of "now". Default: the system clock. */
  clock?: Clock;
  /** Lifetime of the sessions evict issues. Default 30 days. */
  sessionTtlMs?: number;
  /**
   * The longest lifetime of any credential the app accepts (sessions, JWTs, UserSigs). Kick records
   * are kept this long, and a stateless credential issued longer ago than this is rejected as
   * `expired`, since evict no longer remembers what could revoke it. Default 180 days (Tencent's
   * usual UserSig lifetime).
   */
  maxCredentialLifetimeMs?: number;
  /** A store call that takes longer fails with `EVICT_STORE_TIMEOUT`. Default 2 000. */
  storeTimeoutMs?: number;
  /**
   * When the store cannot be read, accept stateless credentials that are otherwise valid instead of
   * rejecting them. Session tokens are always rejected then: without the store evict cannot know
   * whose they are. Default false (fail closed).
   */
  failOpen?: boolean;
  /** A connection's record expires this long after its node's last heartbeat. Default 60 000. */
  connectionTtlMs?: number;
  /**
   * Decides whether a user exists for the admin endpoints (404 / 70107), for hosts that keep their
   * own user table. Default: a user exists while evict has anything on file for them.
   */
  userExists?: (uid: string) => boolean | Promise<boolean>;
  /**
   * How many session and user records the guard keeps in memory (least recently used dropped
   * first), so that a check costs no store round trip. Revocations drop the entries they change, on
   * this node at once and on the others when the cluster's message arrives. 0 turns the cache off.
   * Default 100 000.
   */
  cacheSize?: number;
}

interface ResolvedOptions {
  store: EvictStore;
  nodeId: number;
  clock: Clock;
  sessionTtlMs: number;
  maxCredentialLifetimeMs: number;
  storeTimeoutMs: number;
  failOpen: boolean;
  connectionTtlMs: number;
  userExists: ((uid: string) => boolean | Promise<boolean>) | undefined;
  cacheSize: number;
}

const KNOWN_OPTIONS = new Set<keyof EvictOptions>([
  'store',
  'nodeId',
  'clock',
  'sessionTtlMs',
  'maxCredentialLifetimeMs',
  'storeTimeoutMs',
  'failOpen',
  'connectionTtlMs',
  'userExists',
  'cacheSize',
]);

function parseOptions(options: EvictOptions): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key as keyof EvictOptions)) {
      process.emitWarning(`evict: unknown option ${JSON.stringify(key)} is ignored`, {
        code: 'EVICT_UNKNOWN_OPTION',
      });
    }
  }
  const defined = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as EvictOptions;
  const clock = defined.clock ?? systemClock;
  const resolved: ResolvedOptions = {
    store: defined.store ?? new MemoryStore({ clock }),
    nodeId: defined.nodeId ?? 1,
    clock,
    sessionTtlMs: defined.sessionTtlMs ?? 30 * DAY_MS,
    maxCredentialLifetimeMs: defined.maxCredentialLifetimeMs ?? 180 * DAY_MS,
    storeTimeoutMs: defined.storeTimeoutMs ?? 2_000,
    failOpen: defined.failOpen ?? false,
    connectionTtlMs: defined.connectionTtlMs ?? 60_000,
    userExists: defined.userExists,
    cacheSize: defined.cacheSize ?? 100_000,
  };
  for (const name of [
    'nodeId',
    'sessionTtlMs',
    'maxCredentialLifetimeMs',
    'storeTimeoutMs',
    'connectionTtlMs',
  ] as const) {
    if (!isPositiveSafeInteger(resolved[name]))
      throw new TypeError(`evict: ${name} must be a positive integer`);
  }
  if (!Number.isSafeInteger(resolved.cacheSize) || resolved.cacheSize < 0)
    throw new TypeError('evict: cacheSize must be a non-negative integer (0 turns the cache off)');
  if (resolved.nodeId > MAX_NODE_ID) throw new TypeError(`evict: nodeId must be at most ${MAX_NODE_ID}`);
  if (resolved.sessionTtlMs > resolved.maxCredentialLifetimeMs) {
    throw new TypeError('evict: sessionTtlMs must not exceed maxCredentialLifetimeMs');
  }
  if (typeof resolved.failOpen !== 'boolean') throw new TypeError('evict: failOpen must be a boolean');
  if (typeof resolved.clock?.nowMs !== 'function')
    throw new TypeError('evict: clock must have a nowMs() method');
  if (resolved.userExists !== undefined && typeof resolved.userExists !== 'function') {
    throw new TypeError('evict: userExists must be a function');
  }
  return resolved;
}

/** A credential the guard checks. */
export type Credential =
  /** An opaque login token, issued by evict or registered by the host. */
  | { type: 'session'; token: string }
  /**
   * A credential evict never saw issued (a JWT, a Tencent UserSig), already verified by its own
   * signature: evict only knows its user, device and issue time. Give `issuedAtSec` for
   * second-resolution times (JWT `iat`, UserSig `TLS.time`): such a credential issued in the same
   * second as a kick is rejected.
   */
  | {
      type: 'stateless';
      uid: string;
      deviceFlag?: number;
      issuedAtMs?: number;
      issuedAtSec?: number;
      expiresAtMs?: number;
    };

export type CheckResult =
  | {
      ok: true;
      uid: string;
      /** Absent for a stateless credential not bound to a device. */
      deviceFlag?: number;
      credential: 'session' | 'stateless';
      /** True when the store could not be read and `failOpen` let the credential through. */
      degraded?: boolean;
    }
  | { ok: false; reason: RejectionReason; uid?: string };

/** Who asked for a revocation. */
export interface Actor {
  type: 'manager' | 'admin' | 'user' | 'host';
  /** The admin's identifier, the user's uid; absent for a shared manager token. */
  id?: string;
}

/** Where a revocation came from, for the audit event. */
export interface RevocationContext {
  actor?: Actor;
  /** The endpoint that served it, e.g. `POST /user/device_quit`. */
  endpoint?: string;
}

export type RevocationAction =
  | 'kick_user'
  | 'quit_device'
  | 'remove_connection'
  | 'logout'
  | 'clear_push_token';

/** The audit event every revocation emits. It never carries a raw token. */
export interface RevocationEvent {
  action: RevocationAction;
  uid: string;
  /** For `quit_device`: the device, or `all`. For `logout`: the session's device. */
  deviceFlag?: number | 'all';
  connId?: number;
  nodeId?: number;
  /** For `logout` and `clear_push_token`: the push-token kinds that were cleared. */
  pushTokenKinds?: PushTokenKind[];
  actor: Actor;
  endpoint?: string;
  atMs: number;
  /** The node that served the revocation. */
  servedByNodeId: number;
  /** Connections closed on this node plus those whose node was told to close them. */
  connectionsClosed: number;
}

export interface ConnectionClosedEvent {
  uid: string;
  deviceFlag: number;
  connId: number;
  nodeId: number;
  code: number;
  reason: string;
}

export interface EvictEvents {
  revocation: RevocationEvent;
  connectionClosed: ConnectionClosedEvent;
  /** A background task failed (a heartbeat, a close). Requests report their own failures. */
  error: Error;
}

export interface RevocationResult {
  atMs: number;
  connectionsClosed: number;
}

/** WebSocket close codes (application range) and reasons evict closes connections with. */
export const CLOSE_CODES = {
  kicked: 4001,
  device_quit: 4002,
  connection_removed: 4003,
} as const;

export type CloseReason = keyof typeof CLOSE_CODES;

export interface ConnectionCloseInfo {
  code: number;
  reason: CloseReason;
}

export interface RegisterConnectionOptions {
  uid: string;
  deviceFlag: number;
  /** A positive integer unique on this node; default: one is assigned. */
  connId?: number;
  /** Closes the live connection (e.g. `ws.close(code, reason)`). Called at most once. */
  close: (info: ConnectionCloseInfo) => void;
  /**
   * The credential the connection authenticated with. When given, it is checked again after the
   * connection is registered, so a kick that lands between the guard and the registration still
   * closes it.
   */
  credential?: Credential;
}

export interface ConnectionHandle {
  readonly uid: string;
  readonly deviceFlag: number;
  readonly connId: number;
  readonly nodeId: number;
  /** Call when the connection closes for any reason; idempotent. */
  unregister(): Promise<void>;
}

/** A session as `sessionsOf` lists it: no token, only its hash. */
export interface SessionStatus {
  tokenHash: string;
  deviceFlag: number;
  issuedAtMs: number;
  expiresAtMs: number;
  live: boolean;
  reason?: RejectionReason;
}

export interface IssuedSession {
  token: string;
  uid: string;
  deviceFlag: number;
  issuedAtMs: number;
  expiresAtMs: number;
}

interface LocalConnection {
  uid: string;
  deviceFlag: number;
  connId: number;
  connectedAtMs: number;
  close: (info: ConnectionCloseInfo) => void;
}

type Listener<T> = (payload: T) => void;

/** The revocation engine: one per node. */
export class Evict {
  readonly nodeId: number;
  readonly #o: ResolvedOptions;
  readonly #listeners: { [K in keyof EvictEvents]: Set<Listener<EvictEvents[K]>> } = {
    revocation: new Set(),
    connectionClosed: new Set(),
    error: new Set(),
  };
  /** This node's live connections by connId, and the connIds of each user. */
  readonly #connections = new Map<number, LocalConnection>();
  readonly #connectionsByUid = new Map<string, Set<number>>();
  /** Assigned connIds are `nodeId × 10⁹ + n`: unique in the cluster, so `conn/remove` without `node_id` is unambiguous. */
  #nextConnId: number;
  #heartbeat: NodeJS.Timeout | undefined;
  /** This run's incarnation: a new one if a heartbeat finds it lapsed. */
  #incarnation = newIncarnation();
  /** The heartbeat under way (the first one, before the first connection is written, included). */
  #beating: Promise<void> | undefined;
  readonly #unsubscribe: () => void;
  readonly #unwatchLink: () => void;
  #closed = false;
  readonly #ownsStore: boolean;
  /** The guard's copy of session records (`s:` + token hash) and user records (`u:` + uid; null: none on file). */
  readonly #cache: RevocationCache<SessionRecord | UserRecord | null>;

  constructor(options: EvictOptions = {}) {
    this.#o = parseOptions(options);
    this.#ownsStore = options.store === undefined;
    this.nodeId = this.#o.nodeId;
    this.#nextConnId = this.nodeId * CONN_IDS_PER_NODE + 1;
    this.#cache = new RevocationCache(this.#o.cacheSize);
    this.#unsubscribe = this.#o.store.subscribe((message) => this.#onClusterMessage(message));
    // While messages may be lost the cache is not trusted; once they flow again it starts empty (a resync).
    this.#unwatchLink =
      this.#o.store.onLinkChange?.((up) => this.#cache.setTrusted(up === true)) ?? (() => undefined);
  }

  get store(): EvictStore {
    return this.#o.store;
  }

  get clock(): Clock {
    return this.#o.clock;
  }

  get sessionTtlMs(): number {
    return this.#o.sessionTtlMs;
  }

  async ready(): Promise<void> {
    await this.#o.store.ready();
  }

  /** Stops this node's timers and subscription (and the default store). Live connections are left to the host. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#unsubscribe();
    this.#unwatchLink();
    this.#cache.clear();
    // The default store is the engine's own; a store the host passed in is the host's to close.
    if (this.#ownsStore) await this.#o.store.close();
  }

  /** How the guard's cache is doing: entries, hits and misses, and whether it is trusted (the store's link is up). */
  cacheStats(): CacheStats {
    return this.#cache.stats();
  }

  on<K extends keyof EvictEvents>(event: K, listener: Listener<EvictEvents[K]>): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  // ---- sessions ----

  /** Issues a new opaque login token. Only its hash is stored. */
  async issueSession(input: { uid: string; deviceFlag: number; ttlMs?: number }): Promise<IssuedSession> {
    const ttlMs = input.ttlMs ?? this.#o.sessionTtlMs;
    if (!isPositiveSafeInteger(ttlMs) || ttlMs > this.#o.maxCredentialLifetimeMs) {
      throw new TypeError('ttlMs must be a positive integer no larger than maxCredentialLifetimeMs');
    }
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    const token = newSessionToken();
    const issuedAtMs = await this.#issueTime(input.uid, input.deviceFlag);
    const session = {
      token,
      uid: input.uid,
      deviceFlag: input.deviceFlag,
      issuedAtMs,
      expiresAtMs: issuedAtMs + ttlMs,
    };
    await this.registerSession(session);
    return session;
  }

  /** Registers a login token the host issued itself, so the guard and the families know it. */
  async registerSession(input: {
    token: string;
    uid: string;
    deviceFlag: number;
    issuedAtMs?: number;
    expiresAtMs: number;
  }): Promise<void> {
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    if (typeof input.token !== 'string' || input.token.length === 0 || input.token.length > 4096) {
      throw new TypeError('token must be a non-empty string of at most 4096 characters');
    }
    const issuedAtMs = input.issuedAtMs ?? (await this.#issueTime(input.uid, input.deviceFlag));
    if (!Number.isSafeInteger(issuedAtMs) || !Number.isSafeInteger(input.expiresAtMs)) {
      throw new TypeError('issuedAtMs and expiresAtMs must be integers of milliseconds since the epoch');
    }
    if (input.expiresAtMs <= issuedAtMs) throw new TypeError('expiresAtMs must be after issuedAtMs');
    const record: SessionRecord = {
      tokenHash: hashToken(input.token),
      uid: input.uid,
      deviceFlag: input.deviceFlag,
      issuedAtMs,
      expiresAtMs: input.expiresAtMs,
      retainUntilMs: input.expiresAtMs + EXPIRED_SESSION_RETENTION_MS,
    };
    try {
      await this.#store(() => this.#o.store.putSession(record));
    } finally {
      // A token registered again replaces its record: this node must not keep serving the old one.
      this.#cache.invalidate(sessionKey(record.tokenHash));
    }
  }

  /**
   * "Now" for a session being issued, but later than any cutoff of its device on file: a login that
   * follows a kick within the same millisecond (or a kick from a node whose clock is ahead) comes
   * after it, and must not be rejected by it.
   */
  async #issueTime(uid: string, deviceFlag: number): Promise<number> {
    const now = this.#now();
    const user = await this.#store(() => this.#o.store.getUser(uid));
    const cutoff = applicableCutoff(user, deviceFlag);
    return cutoff !== undefined && cutoff.atMs >= now ? cutoff.atMs + 1 : now;
  }

  // ---- the check the guards use ----

  /**
   * Is this credential live? Never throws for a store failure: it answers `unavailable` (or fails
   * open). Reads the local cache first, the store on a miss.
   */
  check(credential: Credential): Promise<CheckResult> {
    try {
      const verdict = this.#check(credential, 'cache');
      return verdict instanceof Promise ? verdict : Promise.resolve(verdict);
    } catch (error) {
      // Anything thrown becomes a rejection, as from an async function.
      return Promise.reject(error);
    }
  }

  /**
   * `check`, answered synchronously when the cache holds every record it needs (the guard's hot
   * path: no promise, no microtask, so an adapter can call the route in the same tick), and a
   * promise of the verdict when it has to read the store. Throws what `check` would reject with.
   */
  checkNow(credential: Credential): CheckResult | Promise<CheckResult> {
    return this.#check(credential, 'cache');
  }

  /** The verdict, synchronously when every record it needs is in the cache, else a promise of it. */
  #check(credential: Credential, source: ReadSource): Sync<CheckResult> {
    if (credential.type === 'session') return this.#checkSession(credential.token, source);
    return this.#checkStateless(credential, source);
  }

  #checkSession(token: string, source: ReadSource): Sync<CheckResult> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096)
      return { ok: false, reason: 'unknown' };
    let found: Sync<LiveSession>;
    try {
      found = this.#liveSession(hashToken(token), source);
    } catch (error) {
      return this.#sessionCheckFailed(error);
    }
    if (found instanceof Promise)
      return found.then(sessionVerdict, (error: unknown) => this.#sessionCheckFailed(error));
    return sessionVerdict(found);
  }

  #sessionCheckFailed(error: unknown): CheckResult {
    this.#reportCheckFailure(error);
    return { ok: false, reason: 'unavailable' };
  }

  #checkStateless(
    credential: Extract<Credential, { type: 'stateless' }>,
    source: ReadSource,
  ): Sync<CheckResult> {
    const { uid, deviceFlag } = credential;
    if (typeof uid !== 'string' || uid.length === 0) return { ok: false, reason: 'unknown' };
    const now = this.#now();
    let issuedAtMs: number;
    let resolutionMs: number;
    if (credential.issuedAtSec !== undefined) {
      issuedAtMs = credential.issuedAtSec * 1000;
      resolutionMs = 1000;
    } else if (credential.issuedAtMs !== undefined) {
      issuedAtMs = credential.issuedAtMs;
      resolutionMs = 1;
    } else {
      throw new TypeError('a stateless credential needs issuedAtMs or issuedAtSec');
    }
    if (!Number.isFinite(issuedAtMs)) return { ok: false, reason: 'unknown', uid };
    if (credential.expiresAtMs !== undefined && credential.expiresAtMs <= now)
      return { ok: false, reason: 'expired', uid };
    if (issuedAtMs < now - this.#o.maxCredentialLifetimeMs) return { ok: false, reason: 'expired', uid };
    const failed = (error: unknown): CheckResult => {
      this.#reportCheckFailure(error);
      if (this.#o.failOpen) return { ok: true, uid, deviceFlag, credential: 'stateless', degraded: true };
      return { ok: false, reason: 'unavailable', uid };
    };
    let user: Sync<UserRecord | undefined>;
    try {
      user = this.#readUser(uid, source, now);
    } catch (error) {
      return failed(error);
    }
    if (user instanceof Promise)
      return user.then((found) => statelessVerdict(found, uid, deviceFlag, issuedAtMs, resolutionMs), failed);
    return statelessVerdict(user, uid, deviceFlag, issuedAtMs, resolutionMs);
  }

  /** The session behind a token hash if it is live, or why not. Store failures throw (or reject). */
  #liveSession(tokenHash: string, source: ReadSource): Sync<LiveSession> {
    // One clock read for an answer the cache gives at once; a fresh one after each store read.
    const now = this.#now();
    const session = this.#readSession(tokenHash, source, now);
    if (session instanceof Promise)
      return session.then((found) => this.#liveSessionOf(found, source, this.#now()));
    return this.#liveSessionOf(session, source, now);
  }

  #liveSessionOf(session: SessionRecord | undefined, source: ReadSource, now: number): Sync<LiveSession> {
    if (session === undefined) return { ok: false, reason: 'unknown' };
    const uid = session.uid;
    // Logged out or expired needs no user record.
    const early = sessionRejection(session, undefined, now);
    if (early !== undefined) return { ok: false, reason: early, uid };
    const user = this.#readUser(uid, source, now);
    if (user instanceof Promise)
      return user.then((found) => this.#sessionLiveness(session, found, this.#now()));
    return this.#sessionLiveness(session, user, now);
  }

  #sessionLiveness(session: SessionRecord, user: UserRecord | undefined, now: number): LiveSession {
    const reason = sessionRejection(session, user, now);
    return reason === undefined ? { ok: true, session } : { ok: false, reason, uid: session.uid };
  }

  /** A session record, from the cache when `source` allows it. An unknown token is never cached. */
  #readSession(tokenHash: string, source: ReadSource, now: number): Sync<SessionRecord | undefined> {
    if (source === 'store') return this.#store(() => this.#o.store.getSession(tokenHash));
    const key = sessionKey(tokenHash);
    // Past its retention the store has dropped it: ask again (it answers unknown).
    const cached = this.#cache.get(key, now, sessionIsCurrent);
    if (cached !== undefined) return cached as SessionRecord;
    return this.#loadIntoCache(key, () => this.#store(() => this.#o.store.getSession(tokenHash)), false);
  }

  /** A user record, from the cache when `source` allows it. "None on file" is cached too: the uid came with a live credential. */
  #readUser(uid: string, source: ReadSource, now = this.#now()): Sync<UserRecord | undefined> {
    if (source === 'store') return this.#store(() => this.#o.store.getUser(uid));
    const key = userKey(uid);
    // Past its expiry the store has dropped it: ask again.
    const cached = this.#cache.get(key, now, userIsCurrent);
    if (cached !== undefined) return (cached as UserRecord | null) ?? undefined;
    return this.#loadIntoCache(key, () => this.#store(() => this.#o.store.getUser(uid)), true);
  }

  /** The store's answer, cached (absent too, if `keepAbsent`). */
  async #loadIntoCache<T extends SessionRecord | UserRecord>(
    key: string,
    read: () => Promise<T | undefined>,
    keepAbsent: boolean,
  ): Promise<T | undefined> {
    const found = await this.#cache.load(
      key,
      async () => (await read()) ?? null,
      (record) => record !== null || keepAbsent,
    );
    return (found as T | null) ?? undefined;
  }

  /** The live session of a token, or an `EVICT_INVALID_TOKEN` error. Reads the store, never the cache. */
  async sessionOf(token: string): Promise<SessionRecord> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) throw new InvalidTokenError();
    const found = await this.#liveSession(hashToken(token), 'store');
    if (!found.ok) throw new InvalidTokenError(`the token is not a live session (${found.reason})`);
    return found.session;
  }

  /** The user's sessions on file, each with whether it is live and, if not, why. Never a token, only its hash. */
  async sessionsOf(uid: string): Promise<SessionStatus[]> {
    assertUid(uid);
    const [sessions, user] = await Promise.all([
      this.#store(() => this.#o.store.listSessions(uid)),
      this.#store(() => this.#o.store.getUser(uid)),
    ]);
    const now = this.#now();
    return sessions
      .map((session) => {
        const reason = sessionRejection(session, user, now);
        const { tokenHash, deviceFlag, issuedAtMs, expiresAtMs } = session;
        const status: SessionStatus = {
          tokenHash,
          deviceFlag,
          issuedAtMs,
          expiresAtMs,
          live: reason === undefined,
        };
        if (reason !== undefined) status.reason = reason;
        return status;
      })
      .sort((a, b) => a.issuedAtMs - b.issuedAtMs);
  }

  // ---- revocations ----

  /** Rejects every credential of the user issued up to now and closes all of their connections. */
  async kickUser(uid: string, context: RevocationContext = {}): Promise<RevocationResult> {
    assertUid(uid);
    const { atMs, connectionsClosed } = await this.#kick(uid, null, 'kicked');
    this.#emitRevocation({ action: 'kick_user', uid, atMs, connectionsClosed }, context);
    return { atMs, connectionsClosed };
  }

  /**
   * Quits one device of the user (or all with `'all'`): its credentials issued up to now are
   * rejected and its connections closed. Throws `EVICT_DEVICE_NOT_FOUND` when the device has no
   * session within its lifetime and no connection.
   */
  async quitDevice(
    uid: string,
    deviceFlag: number | 'all',
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    assertUid(uid);
    if (deviceFlag !== 'all') assertDeviceFlag(deviceFlag);
    const flag = deviceFlag === 'all' ? null : deviceFlag;
    const { atMs, connectionsClosed } = await this.#kick(uid, flag, 'device_quit');
    this.#emitRevocation({ action: 'quit_device', uid, deviceFlag, atMs, connectionsClosed }, context);
    return { atMs, connectionsClosed };
  }

  /** Closes one live connection wherever it is (all nodes when `nodeId` is absent). Credentials stay valid. */
  async removeConnection(
    input: { uid: string; connId: number; nodeId?: number },
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    assertUid(input.uid);
    if (!isPositiveSafeInteger(input.connId)) throw new TypeError('connId must be a positive integer');
    if (input.nodeId !== undefined && !isPositiveSafeInteger(input.nodeId)) {
      throw new TypeError('nodeId must be a positive integer');
    }
    const { uid, connId, nodeId } = input;
    const onFile = await this.#store(() => this.#o.store.listConnections(uid));
    const targets = onFile.filter(
      (c) => c.connId === connId && (nodeId === undefined || c.nodeId === nodeId),
    );
    const local = this.#connections.get(connId);
    if (
      local?.uid === uid &&
      (nodeId === undefined || nodeId === this.nodeId) &&
      !targets.some((t) => t.nodeId === this.nodeId)
    ) {
      targets.push(this.#recordOf(local));
    }
    if (targets.length === 0) throw new ConnectionNotFoundError(uid, connId);
    const atMs = this.#now();
    const connectionsClosed = await this.#closeConnections(targets, 'connection_removed');
    this.#emitRevocation(
      {
        action: 'remove_connection',
        uid,
        connId,
        ...(nodeId === undefined ? {} : { nodeId }),
        atMs,
        connectionsClosed,
      },
      context,
    );
    return { atMs, connectionsClosed };
  }

  /**
   * Logs a session out: clears the user's `ring` and `message` push tokens, then revokes the
   * session. In that order, so that a failure half-way leaves the session live and a retry
   * finishes the job. `uid`, when given, must be the session's user.
   */
  async logout(token: string, options: { uid?: string } & RevocationContext = {}): Promise<RevocationResult> {
    const session = await this.sessionOf(token);
    if (options.uid !== undefined && options.uid !== session.uid)
      throw new InvalidTokenError('the token belongs to another user');
    const pushTokenKinds = await this.#store(() =>
      this.#o.store.clearPushTokens(session.uid, PUSH_TOKEN_KINDS),
    );
    const atMs = this.#now();
    try {
      await this.#store(() => this.#o.store.revokeSession(session.tokenHash, atMs));
    } finally {
      this.#cache.invalidate(sessionKey(session.tokenHash));
    }
    await this.#announceRevocation(session.uid, session.tokenHash);
    this.#emitRevocation(
      {
        action: 'logout',
        uid: session.uid,
        deviceFlag: session.deviceFlag,
        pushTokenKinds,
        atMs,
        connectionsClosed: 0,
      },
      { actor: options.actor ?? { type: 'user', id: session.uid }, endpoint: options.endpoint },
    );
    return { atMs, connectionsClosed: 0 };
  }

  /** Clears one kind of push token of the user whose live session `token` is. */
  async clearPushToken(
    token: string,
    kind: PushTokenKind,
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    if (!PUSH_TOKEN_KINDS.includes(kind)) throw new TypeError('kind must be "ring" or "message"');
    const session = await this.sessionOf(token);
    const pushTokenKinds = await this.#store(() => this.#o.store.clearPushTokens(session.uid, [kind]));
    const atMs = this.#now();
    this.#emitRevocation(
      { action: 'clear_push_token', uid: session.uid, pushTokenKinds, atMs, connectionsClosed: 0 },
      { actor: context.actor ?? { type: 'user', id: session.uid }, endpoint: context.endpoint },
    );
    return { atMs, connectionsClosed: 0 };
  }

  // ---- push tokens ----

  /** Sets the user's push token of one kind (the host's push service reads them with `pushTokens`). */
  async setPushToken(
    uid: string,
    input: { kind: PushTokenKind; token: string; deviceFlag: number },
  ): Promise<void> {
    assertUid(uid);
    assertDeviceFlag(input.deviceFlag);
    if (!PUSH_TOKEN_KINDS.includes(input.kind)) throw new TypeError('kind must be "ring" or "message"');
    if (typeof input.token !== 'string' || input.token.length === 0 || input.token.length > 4096) {
      throw new TypeError('token must be a non-empty string of at most 4096 characters');
    }
    const now = this.#now();
    const record: PushTokenRecord = {
      kind: input.kind,
      token: input.token,
      deviceFlag: input.deviceFlag,
      updatedAtMs: now,
      expiresAtMs: now + this.#o.maxCredentialLifetimeMs,
    };
    await this.#store(() => this.#o.store.setPushToken(uid, record));
  }

  async pushTokens(uid: string): Promise<PushTokenRecord[]> {
    assertUid(uid);
    return this.#store(() => this.#o.store.getPushTokens(uid));
  }

  // ---- users ----

  /** Declares a user known (Tencent's account import), for hosts without a `userExists` hook. */
  async addUser(uid: string): Promise<void> {
    assertUid(uid);
    await this.#store(() => this.#o.store.touchUser(uid, this.#now() + this.#o.maxCredentialLifetimeMs));
  }

  async userExists(uid: string): Promise<boolean> {
    if (this.#o.userExists !== undefined) return Boolean(await this.#o.userExists(uid));
    return (await this.#store(() => this.#o.store.getUser(uid))) !== undefined;
  }

  /** Counts a hit in the current fixed window of `windowMs` (shared by the cluster); returns the window's count. */
  async countHit(key: string, windowMs: number): Promise<number> {
    return this.#store(() => this.#o.store.hit(key, this.#now(), windowMs));
  }

  // ---- connections ----

  /** Registers a live connection held by this node; a revocation that matches it will call its `close`. */
  async registerConnection(input: RegisterConnectionOptions): Promise<ConnectionHandle> {
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    if (typeof input.close !== 'function') throw new TypeError('close must be a function');
    if (this.#closed) throw new EvictError('EVICT_CLOSED', 'the engine is closed');
    let connId = input.connId;
    if (connId === undefined) {
      while (this.#connections.has(this.#nextConnId)) this.#nextConnId += 1;
      connId = this.#nextConnId++;
    } else if (!isPositiveSafeInteger(connId)) {
      throw new TypeError('connId must be a positive integer');
    } else if (this.#connections.has(connId)) {
      throw new TypeError(`connId ${connId} is already registered on this node`);
    }
    const local: LocalConnection = {
      uid: input.uid,
      deviceFlag: input.deviceFlag,
      connId,
      connectedAtMs: this.#now(),
      close: input.close,
    };
    this.#connections.set(connId, local);
    const ids = this.#connectionsByUid.get(local.uid) ?? new Set<number>();
    this.#connectionsByUid.set(local.uid, ids.add(connId));
    const handle: ConnectionHandle = {
      uid: local.uid,
      deviceFlag: local.deviceFlag,
      connId,
      nodeId: this.nodeId,
      unregister: async () => {
        if (this.#connections.get(connId) !== local) return;
        this.#forget(local);
        await this.#store(() => this.#o.store.deleteConnection(local.uid, this.nodeId, connId));
      },
    };
    try {
      // The node's record first: a connection counts only while it is live.
      if (this.#heartbeat === undefined) await this.#beat();
      await this.#store(() => this.#o.store.putConnection(this.#recordOf(local)));
    } catch (error) {
      this.#forget(local);
      throw error;
    }
    this.#startHeartbeat();
    if (input.credential !== undefined) {
      // From the store: a kick from another node may have landed before its message reached this cache.
      const verdict = await this.#check(input.credential, 'store');
      if (!verdict.ok) {
        await handle.unregister().catch(() => undefined);
        if (verdict.reason === 'unavailable')
          throw new StoreUnavailableError('the store could not check the credential');
        throw new InvalidTokenError(`the connection's credential is not live (${verdict.reason})`);
      }
    }
    return handle;
  }

  /** This node's live connections (for diagnostics and the demo). */
  localConnections(): Array<{ uid: string; deviceFlag: number; connId: number; connectedAtMs: number }> {
    return [...this.#connections.values()].map(({ uid, deviceFlag, connId, connectedAtMs }) => ({
      uid,
      deviceFlag,
      connId,
      connectedAtMs,
    }));
  }

  /** Closes the user's connections (of one device, or all): those `listed` (default: listed now), and this node's own. */
  async #closeUserConnections(
    uid: string,
    deviceFlag: number | null,
    reason: CloseReason,
    listed?: ConnectionRecord[],
  ): Promise<number> {
    const onFile = listed ?? (await this.#store(() => this.#o.store.listConnections(uid)));
    const targets = onFile.filter((c) => deviceFlag === null || c.deviceFlag === deviceFlag);
    // Connections of this node that the store does not list (a lost write) are closed too.
    const listedHere = new Set(targets.filter((t) => t.nodeId === this.nodeId).map((t) => t.connId));
    for (const connId of this.#connectionsByUid.get(uid) ?? []) {
      const local = this.#connections.get(connId)!;
      if (!listedHere.has(connId) && (deviceFlag === null || local.deviceFlag === deviceFlag))
        targets.push(this.#recordOf(local));
    }
    return this.#closeConnections(targets, reason);
  }

  /** Closes local targets here, asks other nodes to close theirs, and drops all of them from the store. */
  async #closeConnections(targets: ConnectionRecord[], reason: CloseReason): Promise<number> {
    const code = CLOSE_CODES[reason];
    const remote = new Map<number, { uid: string; connId: number }[]>();
    for (const target of targets) {
      if (target.nodeId === this.nodeId) {
        this.#closeLocal(target.uid, target.connId, code, reason);
      } else {
        const entry = { uid: target.uid, connId: target.connId };
        const list = remote.get(target.nodeId);
        if (list === undefined) remote.set(target.nodeId, [entry]);
        else list.push(entry);
      }
    }
    // Side by side: each message names one node, so their relative order does not matter. The records
    // are dropped only once every message is out: if one fails, a retry still finds them to close.
    await Promise.all(
      [...remote].map(([nodeId, connections]) =>
        this.#store(() =>
          this.#o.store.publish({
            type: 'close-connections',
            nodeId,
            connections,
            code,
            reason,
            fromNodeId: this.nodeId,
          }),
        ),
      ),
    );
    await Promise.all(
      targets.map((t) => this.#store(() => this.#o.store.deleteConnection(t.uid, t.nodeId, t.connId))),
    );
    return targets.length;
  }

  #closeLocal(uid: string, connId: number, code: number, reason: string): boolean {
    const local = this.#connections.get(connId);
    if (local === undefined || local.uid !== uid) return false;
    this.#forget(local);
    try {
      local.close({ code, reason: reason as CloseReason });
    } catch (error) {
      this.#emit('error', error instanceof Error ? error : new Error(String(error)));
    }
    this.#emit('connectionClosed', {
      uid,
      deviceFlag: local.deviceFlag,
      connId,
      nodeId: this.nodeId,
      code,
      reason,
    });
    return true;
  }

  #forget(local: LocalConnection): void {
    this.#connections.delete(local.connId);
    const ids = this.#connectionsByUid.get(local.uid);
    ids?.delete(local.connId);
    if (ids?.size === 0) this.#connectionsByUid.delete(local.uid);
    if (this.#connections.size === 0 && this.#heartbeat !== undefined) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }

  #recordOf(local: LocalConnection): ConnectionRecord {
    return {
      uid: local.uid,
      deviceFlag: local.deviceFlag,
      nodeId: this.nodeId,
      connId: local.connId,
      connectedAtMs: local.connectedAtMs,
      incarnation: this.#incarnation,
    };
  }

  /**
   * Keeps this node's record live while it holds connections: one write per interval, whatever
   * their number (the records live by it), then a few bounded steps of sweeping dead nodes' records.
   */
  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(
      () => {
        this.#beat()
          .then(() => this.#sweepDeadConnections())
          .catch((error) => this.#emit('error', error instanceof Error ? error : new Error(String(error))));
      },
      Math.max(1, Math.floor(this.#o.connectionTtlMs / 3)),
    );
    this.#heartbeat.unref();
  }

  /** One heartbeat of this node; calls made while one is under way share it. */
  #beat(): Promise<void> {
    this.#beating ??= this.#heartbeatNode().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #heartbeatNode(): Promise<void> {
    const heartbeat = () =>
      this.#store(() =>
        this.#o.store.heartbeatNode({
          nodeId: this.nodeId,
          incarnation: this.#incarnation,
          expiresAtMs: this.#now() + this.#o.connectionTtlMs,
        }),
      );
    if (await heartbeat()) return;
    // This incarnation lapsed (no heartbeat got through for connectionTtlMs): its records no longer
    // count and may be swept, so the node starts a new one and registers its connections again. A
    // put still in flight with the old incarnation was sent before these and lands before them.
    this.#incarnation = newIncarnation();
    if (!(await heartbeat())) throw new StoreCorruptError('the store refused a new node incarnation');
    const records = [...this.#connections.values()].map((local) => this.#recordOf(local));
    for (let i = 0; i < records.length; i += REREGISTER_BATCH) {
      const batch = records.slice(i, i + REREGISTER_BATCH);
      await this.#store(() => this.#o.store.putConnections(batch));
    }
  }

  /** Bounded steps of removing dead nodes' connection records, each awaited before the next. */
  async #sweepDeadConnections(): Promise<void> {
    const store = this.#o.store;
    if (store.sweepConnections === undefined) return;
    for (let step = 0; step < SWEEP_STEPS_PER_HEARTBEAT && !this.#closed; step++) {
      const drained = await this.#store(() => store.sweepConnections!(SWEEP_STEP_LIMIT));
      if (drained < SWEEP_STEP_LIMIT) return;
    }
  }

  #onClusterMessage(message: ClusterMessage): void {
    if (message.type === 'revoked') {
      if (typeof message.uid === 'string') this.#cache.invalidate(userKey(message.uid));
      if (typeof message.tokenHash === 'string') this.#cache.invalidate(sessionKey(message.tokenHash));
      return;
    }
    if (message.type !== 'close-connections' || message.nodeId !== this.nodeId) return;
    for (const { uid, connId } of message.connections)
      this.#closeLocal(uid, connId, message.code, message.reason);
  }

  // ---- internals ----

  async #assertUserExists(uid: string): Promise<UserRecord | undefined> {
    const user = await this.#store(() => this.#o.store.getUser(uid));
    const exists =
      this.#o.userExists !== undefined ? Boolean(await this.#o.userExists(uid)) : user !== undefined;
    if (!exists) throw new UnknownUserError(uid);
    return user;
  }

  async #deviceIsPresent(uid: string, user: UserRecord | undefined, deviceFlag: number): Promise<boolean> {
    const device = user?.devices[deviceFlag];
    if (device !== undefined && device.expiresAtMs > this.#now()) {
      const cutoff = applicableCutoff(user, deviceFlag);
      if (cutoff === undefined || device.lastIssuedAtMs > cutoff.atMs) return true;
    }
    const connections = await this.#store(() => this.#o.store.listConnections(uid));
    return connections.some((c) => c.deviceFlag === deviceFlag);
  }

  /**
   * A kick of the user (`deviceFlag` null) or of one device: checks that the user (and the device)
   * is there, raises the cutoff, tells every node, and closes the connections. With a store that
   * has `kick`, the check, the cutoff, the listing of the connections and (on one Redis) the
   * announcement are one store call; without it, step by step (`#revokeAndClose`). Same guarantees
   * either way: nothing is written for a missing user or device, the kick is announced before it is
   * acknowledged, and the connections are listed only once the cutoff is written.
   */
  async #kick(uid: string, deviceFlag: number | null, reason: CutoffReason): Promise<RevocationResult> {
    const store = this.#o.store;
    const kick = store.kick?.bind(store);
    if (kick === undefined) {
      const user = await this.#assertUserExists(uid);
      if (deviceFlag !== null && !(await this.#deviceIsPresent(uid, user, deviceFlag)))
        throw new DeviceNotFoundError(uid, deviceFlag);
      const atMs = this.#now();
      return { atMs, connectionsClosed: await this.#revokeAndClose(uid, deviceFlag, { atMs, reason }) };
    }
    // A host with its own user table decides whether the user exists; the store then checks only the device.
    const hook = this.#o.userExists;
    if (hook !== undefined && !(await hook(uid))) throw new UnknownUserError(uid);
    const atMs = this.#now();
    let outcome: KickOutcome;
    try {
      outcome = await this.#store(() =>
        kick({
          uid,
          deviceFlag,
          cutoff: { atMs, reason },
          expiresAtMs: atMs + this.#o.maxCredentialLifetimeMs,
          require: { user: hook === undefined, device: deviceFlag !== null },
          announce: { type: 'revoked', uid, fromNodeId: this.nodeId },
        }),
      );
    } finally {
      // Also on failure: a write that timed out may still land.
      this.#cache.invalidate(userKey(uid));
    }
    if (!outcome.applied) {
      if (outcome.missing === 'device' && deviceFlag !== null) throw new DeviceNotFoundError(uid, deviceFlag);
      throw new UnknownUserError(uid);
    }
    // The `revoked` message is out already: the other nodes hear it before any `close-connections`.
    return {
      atMs,
      connectionsClosed: await this.#closeUserConnections(uid, deviceFlag, reason, outcome.connections),
    };
  }

  /**
   * `#kick` step by step, for a store without `kick`, once the user and the device are known to be
   * there. Writes the cutoff and drops this node's copy of the user at once; then, side by side, tells the
   * other nodes and closes the connections (one store round trip fewer than one after the other).
   * The connections are listed only once the cutoff is written: one registered after the listing is
   * rejected by its own re-check. Either failing fails the revocation (a retry does both again).
   */
  async #revokeAndClose(uid: string, deviceFlag: number | null, cutoff: Cutoff): Promise<number> {
    const expiresAtMs = cutoff.atMs + this.#o.maxCredentialLifetimeMs;
    try {
      await this.#store(() => this.#o.store.raiseCutoff(uid, deviceFlag, cutoff, expiresAtMs));
    } finally {
      // Also on failure: a write that timed out may still land.
      this.#cache.invalidate(userKey(uid));
    }
    // The publish is sent first: on Redis the other nodes hear `revoked` before any `close-connections`.
    const [announced, closed] = await Promise.allSettled([
      this.#announceRevocation(uid),
      this.#closeUserConnections(uid, deviceFlag, cutoff.reason),
    ]);
    if (announced.status === 'rejected') throw announced.reason;
    if (closed.status === 'rejected') throw closed.reason;
    return closed.value;
  }

  /** Tells every node to drop its cached copies of what a revocation changed. */
  async #announceRevocation(uid: string, tokenHash?: string): Promise<void> {
    // A revocation is acknowledged only once every node can hear of it: a failed publish fails the request, and the retry publishes again.
    await this.#store(() =>
      this.#o.store.publish({
        type: 'revoked',
        uid,
        ...(tokenHash === undefined ? {} : { tokenHash }),
        fromNodeId: this.nodeId,
      }),
    );
  }

  #emitRevocation(
    event: Omit<RevocationEvent, 'actor' | 'servedByNodeId' | 'endpoint'>,
    context: RevocationContext,
  ): void {
    const full: RevocationEvent = {
      ...event,
      actor: context.actor ?? { type: 'host' },
      ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
      servedByNodeId: this.nodeId,
    };
    this.#emit('revocation', full);
  }

  #emit<K extends keyof EvictEvents>(event: K, payload: EvictEvents[K]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(payload);
      } catch (error) {
        // A listener that throws must not undo or fail a revocation that is already applied.
        if (event !== 'error') this.#emit('error', error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  #reportCheckFailure(error: unknown): void {
    this.#emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  #now(): number {
    return this.#o.clock.nowMs();
  }

  /** Runs a store call with the timeout; any failure becomes a store error with a stable code. */
  async #store<T>(call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreTimeoutError(this.#o.storeTimeoutMs)), this.#o.storeTimeoutMs);
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (error) {
      if (isEvictError(error)) throw error;
      throw new StoreUnavailableError(
        `the store failed: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Where a check reads: the cache (the guard's hot path) or the store (writes and re-checks that must not be stale). */
type ReadSource = 'cache' | 'store';

/** A value, or a promise of it when it had to wait for the store. */
type Sync<T> = T | Promise<T>;

type LiveSession =
  | { ok: true; session: SessionRecord }
  | { ok: false; reason: RejectionReason; uid?: string };

function sessionVerdict(found: LiveSession): CheckResult {
  if (!found.ok) return found;
  return {
    ok: true,
    uid: found.session.uid,
    deviceFlag: found.session.deviceFlag,
    credential: 'session',
  };
}

function statelessVerdict(
  user: UserRecord | undefined,
  uid: string,
  deviceFlag: number | undefined,
  issuedAtMs: number,
  resolutionMs: number,
): CheckResult {
  const cutoff = applicableCutoff(user, deviceFlag);
  // Same-resolution comparison: with second resolution, a credential of the kick's own second is rejected.
  if (
    cutoff !== undefined &&
    Math.floor(issuedAtMs / resolutionMs) <= Math.floor(cutoff.atMs / resolutionMs)
  ) {
    return { ok: false, reason: cutoff.reason, uid };
  }
  return deviceFlag === undefined
    ? { ok: true, uid, credential: 'stateless' }
    : { ok: true, uid, deviceFlag, credential: 'stateless' };
}

/**
 * Cache keys. A session's is its token hash as it is (base64url, never a colon): no string is built
 * on the hot path. A user's has a colon, so it can never be a token hash.
 */
const sessionKey = (tokenHash: string) => tokenHash;
const userKey = (uid: string) => `u:${uid}`;

/** Whether a cached record is still on file (module functions: the hot path allocates no closure). */
const sessionIsCurrent = (record: SessionRecord | UserRecord | null, nowMs: number): boolean =>
  record === null || (record as SessionRecord).retainUntilMs > nowMs;
const userIsCurrent = (record: SessionRecord | UserRecord | null, nowMs: number): boolean =>
  record === null || (record as UserRecord).expiresAtMs > nowMs;

/** Why a session is not live, or undefined when it is. */
function sessionRejection(
  session: SessionRecord,
  user: UserRecord | undefined,
  now: number,
): RejectionReason | undefined {
  if (session.revokedAtMs !== undefined) return 'logged_out';
  if (session.expiresAtMs <= now) return 'expired';
  const cutoff = applicableCutoff(user, session.deviceFlag);
  return cutoff !== undefined && session.issuedAtMs <= cutoff.atMs ? cutoff.reason : undefined;
}

/** The latest cutoff that applies to a credential of `deviceFlag` (undefined: not bound to a device). */
function applicableCutoff(user: UserRecord | undefined, deviceFlag: number | undefined): Cutoff | undefined {
  if (user === undefined) return undefined;
  const device = deviceFlag === undefined ? undefined : user.deviceCutoffs[deviceFlag];
  const all = user.cutoff;
  if (device === undefined) return all;
  if (all === undefined) return device;
  return device.atMs > all.atMs ? device : all;
}

export function createEvict(options: EvictOptions = {}): Evict {
  return new Evict(options);
}
