import type { CacheStats } from '../cache.js';
import type { Clock } from '../clock.js';
import { EvictError, InvalidTokenError, StoreUnavailableError } from '../errors.js';
import type { MaybePromise } from '../maybe-promise.js';
import type { PushTokenKind, PushTokenRecord, SessionRecord } from '../model.js';
import { PUSH_TOKEN_KINDS } from '../model.js';
import { hashToken, newSessionToken } from '../secrets.js';
import type { EvictStore } from '../store.js';
import {
  assertDeviceFlag,
  assertToken,
  assertUid,
  isPositiveSafeInteger,
  isTokenString,
} from '../validation.js';
import { CredentialCheck } from './check.js';
import { ConnectionRegistry } from './connections.js';
import { EventHub } from './events.js';
import {
  type EvictOptions,
  EXPIRED_SESSION_RETENTION_MS,
  parseEvictOptions,
  type ResolvedOptions,
} from './options.js';
import { Revocations } from './revocations.js';
import { applicableCutoff, sessionRejection } from './rules.js';
import { type TimedStore, timedStore } from './timed-store.js';
import type {
  CheckResult,
  ConnectionHandle,
  Credential,
  EvictEvents,
  IssuedSession,
  LocalConnectionInfo,
  RegisterConnectionOptions,
  RevocationContext,
  RevocationEvent,
  RevocationResult,
  SessionStatus,
} from './types.js';

/** The revocation engine: one per node. */
export class Evict {
  readonly nodeId: number;
  readonly #o: ResolvedOptions;
  readonly #store: TimedStore;
  readonly #events = new EventHub();
  readonly #check: CredentialCheck;
  readonly #connections: ConnectionRegistry;
  readonly #revocations: Revocations;
  readonly #unsubscribe: () => void;
  readonly #unwatchLink: () => void;
  readonly #ownsStore: boolean;
  #closed = false;

  constructor(options: EvictOptions = {}) {
    const o = parseEvictOptions(options);
    this.#o = o;
    this.#ownsStore = options.store === undefined;
    this.nodeId = o.nodeId;
    this.#store = timedStore(o.store, o.storeTimeoutMs);
    const shared = { nodeId: o.nodeId, store: this.#store, clock: o.clock, events: this.#events };
    this.#check = new CredentialCheck({
      ...shared,
      cacheSize: o.cacheSize,
      maxCredentialLifetimeMs: o.maxCredentialLifetimeMs,
      failOpen: o.failOpen,
    });
    this.#connections = new ConnectionRegistry({ ...shared, connectionTtlMs: o.connectionTtlMs });
    this.#revocations = new Revocations({
      ...shared,
      rawStore: o.store,
      check: this.#check,
      connections: this.#connections,
      maxCredentialLifetimeMs: o.maxCredentialLifetimeMs,
      userExists: o.userExists,
    });
    this.#unsubscribe = o.store.subscribe((message) => {
      if (message.type === 'revoked') {
        if (typeof message.uid === 'string') this.#check.forgetUser(message.uid);
        if (typeof message.tokenHash === 'string') this.#check.forgetSession(message.tokenHash);
      } else {
        this.#connections.onClusterMessage(message);
      }
    });
    this.#unwatchLink =
      o.store.onLinkChange?.((up) => this.#check.setTrusted(up === true)) ?? (() => undefined);
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
    this.#connections.stop();
    this.#unsubscribe();
    this.#unwatchLink();
    this.#check.clear();
    // The default store is the engine's own; a store the host passed in is the host's to close.
    if (this.#ownsStore) await this.#o.store.close();
  }

  /** How the guard's cache is doing: entries, hits and misses, and whether it is trusted (the store's link is up). */
  cacheStats(): CacheStats {
    return this.#check.stats();
  }

  on<K extends keyof EvictEvents>(event: K, listener: (payload: EvictEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
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
    assertToken(input.token);
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
      await this.#store.putSession(record);
    } finally {
      // A token registered again replaces its record: this node must not keep serving the old one.
      this.#check.forgetSession(record.tokenHash);
    }
  }

  /**
   * "Now" for a session being issued, but later than any cutoff of its device on file: a login that
   * follows a kick within the same millisecond (or a kick from a node whose clock is ahead) comes
   * after it, and must not be rejected by it.
   */
  async #issueTime(uid: string, deviceFlag: number): Promise<number> {
    const now = this.#now();
    const cutoff = applicableCutoff(await this.#store.getUser(uid), deviceFlag);
    return cutoff !== undefined && cutoff.atMs >= now ? cutoff.atMs + 1 : now;
  }

  // ---- the check the guards use ----

  /**
   * Is this credential live? Never rejects for a store failure: it answers `unavailable` (or fails
   * open). Reads the local cache first, the store on a miss.
   */
  check(credential: Credential): Promise<CheckResult> {
    try {
      const verdict = this.#check.check(credential, 'cache');
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
  checkNow(credential: Credential): MaybePromise<CheckResult> {
    return this.#check.check(credential, 'cache');
  }

  /** The live session of a token, or an `EVICT_INVALID_TOKEN` error. Reads the store, never the cache. */
  async sessionOf(token: string): Promise<SessionRecord> {
    if (!isTokenString(token)) throw new InvalidTokenError();
    const found = await this.#check.liveSession(hashToken(token), 'store');
    if (!found.ok) throw new InvalidTokenError(`the token is not a live session (${found.reason})`);
    return found.session;
  }

  /** The user's sessions on file, each with whether it is live and, if not, why. Never a token, only its hash. */
  async sessionsOf(uid: string): Promise<SessionStatus[]> {
    assertUid(uid);
    const [sessions, user] = await Promise.all([this.#store.listSessions(uid), this.#store.getUser(uid)]);
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
    const result = await this.#revocations.kick(uid, null, 'kicked');
    this.#emitRevocation({ action: 'kick_user', uid, ...result }, context);
    return result;
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
    const result = await this.#revocations.kick(uid, deviceFlag === 'all' ? null : deviceFlag, 'device_quit');
    this.#emitRevocation({ action: 'quit_device', uid, deviceFlag, ...result }, context);
    return result;
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
    const result = await this.#revocations.removeConnection(uid, connId, nodeId);
    const where = nodeId === undefined ? {} : { nodeId };
    this.#emitRevocation({ action: 'remove_connection', uid, connId, ...where, ...result }, context);
    return result;
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
    const pushTokenKinds = await this.#store.clearPushTokens(session.uid, PUSH_TOKEN_KINDS);
    const atMs = this.#now();
    try {
      await this.#store.revokeSession(session.tokenHash, atMs);
    } finally {
      this.#check.forgetSession(session.tokenHash);
    }
    await this.#revocations.announce(session.uid, session.tokenHash);
    const { uid, deviceFlag } = session;
    this.#emitRevocation(
      { action: 'logout', uid, deviceFlag, pushTokenKinds, atMs, connectionsClosed: 0 },
      { actor: options.actor ?? { type: 'user', id: uid }, endpoint: options.endpoint },
    );
    return { atMs, connectionsClosed: 0 };
  }

  /** Clears one kind of push token of the user whose live session `token` is. */
  async clearPushToken(
    token: string,
    kind: PushTokenKind,
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    assertPushTokenKind(kind);
    const { uid } = await this.sessionOf(token);
    const pushTokenKinds = await this.#store.clearPushTokens(uid, [kind]);
    const atMs = this.#now();
    this.#emitRevocation(
      { action: 'clear_push_token', uid, pushTokenKinds, atMs, connectionsClosed: 0 },
      { actor: context.actor ?? { type: 'user', id: uid }, endpoint: context.endpoint },
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
    assertPushTokenKind(input.kind);
    assertToken(input.token);
    const now = this.#now();
    const record: PushTokenRecord = {
      kind: input.kind,
      token: input.token,
      deviceFlag: input.deviceFlag,
      updatedAtMs: now,
      expiresAtMs: now + this.#o.maxCredentialLifetimeMs,
    };
    await this.#store.setPushToken(uid, record);
  }

  async pushTokens(uid: string): Promise<PushTokenRecord[]> {
    assertUid(uid);
    return this.#store.getPushTokens(uid);
  }

  // ---- users ----

  /** Declares a user known (Tencent's account import), for hosts without a `userExists` hook. */
  async addUser(uid: string): Promise<void> {
    assertUid(uid);
    await this.#store.touchUser(uid, this.#now() + this.#o.maxCredentialLifetimeMs);
  }

  async userExists(uid: string): Promise<boolean> {
    if (this.#o.userExists !== undefined) return Boolean(await this.#o.userExists(uid));
    return (await this.#store.getUser(uid)) !== undefined;
  }

  /** Counts a hit in the current fixed window of `windowMs` (shared by the cluster); returns the window's count. */
  async countHit(key: string, windowMs: number): Promise<number> {
    return this.#store.hit(key, this.#now(), windowMs);
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
      connId = this.#connections.nextConnId();
    } else if (!isPositiveSafeInteger(connId)) {
      throw new TypeError('connId must be a positive integer');
    } else if (this.#connections.has(connId)) {
      throw new TypeError(`connId ${connId} is already registered on this node`);
    }
    const { uid, deviceFlag } = input;
    const unregister = await this.#connections.add({ uid, deviceFlag, connId, close: input.close });
    const handle: ConnectionHandle = { uid, deviceFlag, connId, nodeId: this.nodeId, unregister };
    if (input.credential !== undefined) {
      // From the store: a kick from another node may have landed before its message reached this cache.
      const verdict = await this.#check.check(input.credential, 'store');
      if (!verdict.ok) {
        await unregister().catch(() => undefined);
        if (verdict.reason === 'unavailable')
          throw new StoreUnavailableError('the store could not check the credential');
        throw new InvalidTokenError(`the connection's credential is not live (${verdict.reason})`);
      }
    }
    return handle;
  }

  /** This node's live connections (for diagnostics and the demo). */
  localConnections(): LocalConnectionInfo[] {
    return this.#connections.list();
  }

  #emitRevocation(
    event: Omit<RevocationEvent, 'actor' | 'servedByNodeId' | 'endpoint'>,
    context: RevocationContext,
  ): void {
    this.#events.emit('revocation', {
      ...event,
      actor: context.actor ?? { type: 'host' },
      ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
      servedByNodeId: this.nodeId,
    });
  }

  #now(): number {
    return this.#o.clock.nowMs();
  }
}

function assertPushTokenKind(kind: unknown): asserts kind is PushTokenKind {
  if (!PUSH_TOKEN_KINDS.includes(kind as PushTokenKind))
    throw new TypeError('kind must be "ring" or "message"');
}

export function createEvict(options: EvictOptions = {}): Evict {
  return new Evict(options);
}
