import type { CacheStats } from '../cache.js';
import type { Clock } from '../clock.js';
import { EvictError, InvalidTokenError, SessionNotFoundError, StoreUnavailableError } from '../errors.js';
import type { MaybePromise } from '../maybe-promise.js';
import type {
  Admission,
  ConnectionRecord,
  DeviceConnections,
  DeviceLevel,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
} from '../model.js';
import { PUSH_TOKEN_KINDS } from '../model.js';
import { hashToken, sessionIdOf } from '../secrets.js';
import type { EvictStore } from '../store.js';
import {
  assertDeviceFlag,
  assertToken,
  assertUid,
  connectionDetailsOf,
  isPositiveSafeInteger,
  isTokenString,
} from '../validation.js';
import { CredentialCheck } from './check.js';
import { ConnectionRegistry } from './connections.js';
import { EventHub } from './events.js';
import { FirstDistinct } from './first-distinct.js';
import { LastSeen } from './last-seen.js';
import { combineObservers, type EvictObserver } from './observer.js';
import { type EvictOptions, parseEvictOptions, type ResolvedOptions } from './options.js';
import { presenceOf } from './presence.js';
import { Revocations } from './revocations.js';
import { Sessions } from './sessions.js';
import { type TimedStore, timedStore } from './timed-store.js';
import {
  type CheckResult,
  type ConnectionHandle,
  type Credential,
  type EvictEvents,
  type IssuedSession,
  type IssueSessionOptions,
  type LocalConnectionInfo,
  MAX_LISTED_CONNECTIONS,
  type RegisterConnectionOptions,
  type RevocationContext,
  type RevocationEvent,
  type RevocationResult,
  type SessionInfo,
  type SessionRegistration,
  type SessionStatus,
  type UserPresence,
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
  readonly #sessions: Sessions;
  readonly #unsubscribe: () => void;
  readonly #unwatchLink: () => void;
  readonly #ownsStore: boolean;
  readonly #lastSeen: LastSeen | undefined;
  readonly #observers: EvictObserver[] = [];
  #observer: EvictObserver | undefined;
  #closed = false;

  constructor(options: EvictOptions = {}) {
    const o = parseEvictOptions(options);
    this.#o = o;
    this.#ownsStore = options.store === undefined;
    this.nodeId = o.nodeId;
    this.#store = timedStore(o.store, o.storeTimeoutMs, () => this.#observer);
    const shared = { nodeId: o.nodeId, store: this.#store, clock: o.clock, events: this.#events };
    const lastSeen =
      o.lastSeenResolutionMs === 0
        ? undefined
        : new LastSeen({
            store: this.#store,
            events: this.#events,
            resolutionMs: o.lastSeenResolutionMs,
            capacity: Math.max(o.cacheSize, 10_000),
          });
    this.#lastSeen = lastSeen;
    this.#check = new CredentialCheck({
      ...shared,
      cacheSize: o.cacheSize,
      maxCredentialLifetimeMs: o.maxCredentialLifetimeMs,
      failOpen: o.failOpen,
      lastSeen,
    });
    this.#connections = new ConnectionRegistry({
      ...shared,
      rawStore: o.store,
      connectionTtlMs: o.connectionTtlMs,
    });
    this.#revocations = new Revocations({
      ...shared,
      rawStore: o.store,
      check: this.#check,
      connections: this.#connections,
      maxCredentialLifetimeMs: o.maxCredentialLifetimeMs,
      userExists: o.userExists,
    });
    this.#sessions = new Sessions({
      ...shared,
      check: this.#check,
      sessionTtlMs: o.sessionTtlMs,
      maxCredentialLifetimeMs: o.maxCredentialLifetimeMs,
      loginPolicy: o.loginPolicy,
      replaced: (by, replaced) => this.#pushedOut(by, replaced),
    });
    this.#unsubscribe = o.store.subscribe((message) => {
      const lag = this.#observer?.clusterMessage;
      if (lag !== undefined && typeof message.sentAtMs === 'number')
        lag(Math.max(0, o.clock.nowMs() - message.sentAtMs));
      if (message.type === 'revoked') {
        if (typeof message.uid === 'string') this.#check.forgetUser(message.uid);
        if (typeof message.tokenHash === 'string') {
          this.#check.forgetSession(message.tokenHash);
          this.#connections.closeSession(
            message.tokenHash,
            message.replaced === true ? 'replaced' : 'session_revoked',
          );
        }
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
    this.#revocations.stop();
    this.#lastSeen?.flush();
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

  /**
   * Attaches instrumentation (a metrics exporter): the guard's decisions, store calls and their
   * durations, cluster messages' lag, refused admin authentications. Returns the detach.
   */
  observe(observer: EvictObserver): () => void {
    this.#observers.push(observer);
    this.#observer = combineObservers(this.#observers, (error) => this.#events.error(error));
    return () => {
      const at = this.#observers.indexOf(observer);
      if (at === -1) return;
      this.#observers.splice(at, 1);
      this.#observer = combineObservers(this.#observers, (error) => this.#events.error(error));
    };
  }

  /** What is attached with `observe`, combined; undefined when nothing is (read on hot paths: one test). */
  get observer(): EvictObserver | undefined {
    return this.#observer;
  }

  /** How many live connections this node holds. */
  get localConnectionCount(): number {
    return this.#connections.size;
  }

  // ---- sessions ----

  /** Issues a new opaque login token. Only its hash is stored. */
  issueSession(input: IssueSessionOptions): Promise<IssuedSession> {
    return this.#sessions.issue(input);
  }

  /** Registers a login token the host issued itself, so the guard and the families know it. */
  registerSession(input: SessionRegistration): Promise<void> {
    return this.#sessions.register(input);
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

  /** The user's sessions on file, oldest first, each with whether it is live and, if not, why. Never a token, only its hash. */
  sessionsOf(uid: string): Promise<SessionStatus[]> {
    return this.#sessions.statusesOf(uid);
  }

  /**
   * The user's live sessions, newest first, at most `MAX_LISTED_SESSIONS`: each with its public
   * `sessionId`, device, times and the details given at sign-in. Never a token.
   */
  listSessions(uid: string): Promise<SessionInfo[]> {
    return this.#sessions.list(uid);
  }

  /**
   * Revokes one live session of the user, named by its public id, as a logout would (without
   * touching push tokens): its token is rejected from now on, its connections close on every node
   * (`4004 session_revoked`). `EVICT_SESSION_NOT_FOUND` when the user has no live session of that
   * id (another user's session is not found either).
   */
  async revokeSession(
    input: { uid: string; sessionId: string },
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    assertUid(input.uid);
    if (typeof input.sessionId !== 'string') throw new TypeError('sessionId must be a string');
    const session = await this.#sessions.liveById(input.uid, input.sessionId);
    if (session === undefined) throw new SessionNotFoundError(input.uid, input.sessionId);
    return this.#revokeSessions([session], context);
  }

  /** Revokes every live session of the user whose token this is, but that one ("sign out everywhere else"). */
  async revokeOtherSessions(
    token: string,
    context: RevocationContext = {},
  ): Promise<RevocationResult & { revoked: number }> {
    const current = await this.sessionOf(token);
    const revocation = { ...context, actor: context.actor ?? { type: 'user', id: current.uid } } as const;
    const atMs = this.#now();
    let revoked = 0;
    let connectionsClosed = 0;
    // A page at a time: a user holding 100,000 sessions is never read whole.
    await this.#sessions.scanLive(current.uid, async (page) => {
      const others = page.filter((s) => s.tokenHash !== current.tokenHash);
      connectionsClosed += (await this.#revokeSessions(others, revocation, atMs)).connectionsClosed;
      revoked += others.length;
      return true;
    });
    return { atMs, connectionsClosed, revoked };
  }

  /** What a login policy pushed out when `by` logged in: closed (`4005 replaced`) and announced, each with its event. */
  async #pushedOut(by: SessionRecord, replaced: readonly Admission[]): Promise<void> {
    const closed = this.#revocations.replaceSessions(
      by.uid,
      replaced.map((a) => a.tokenHash),
    );
    // A login under a policy may push one out every time: with nobody listening, no event is built
    // (its session ids are a hash each).
    if (!this.#events.listens('revocation')) return;
    const atMs = this.#now();
    const replacedBy = { sessionId: sessionIdOf(by.tokenHash), deviceFlag: by.deviceFlag };
    replaced.forEach((admission, i) => {
      this.#emitRevocation(
        {
          action: 'replace',
          uid: by.uid,
          deviceFlag: admission.deviceFlag,
          sessionId: sessionIdOf(admission.tokenHash),
          replacedBy,
          atMs,
          connectionsClosed: closed[i] ?? 0,
        },
        { actor: { type: 'user', id: by.uid } },
      );
    });
  }

  /** Revokes sessions one by one (each acknowledged only once announced), each with its event. */
  async #revokeSessions(
    sessions: readonly SessionRecord[],
    context: RevocationContext,
    atMs = this.#now(),
  ): Promise<RevocationResult> {
    let connectionsClosed = 0;
    for (const session of sessions) {
      const closed = await this.#revocations.revokeSession(session, atMs);
      connectionsClosed += closed;
      const { uid, deviceFlag } = session;
      this.#emitRevocation(
        {
          action: 'revoke_session',
          uid,
          deviceFlag,
          sessionId: sessionIdOf(session.tokenHash),
          atMs,
          connectionsClosed: closed,
        },
        context,
      );
    }
    return { atMs, connectionsClosed };
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
    return this.#closeConnection(input, context, 'remove_connection');
  }

  /**
   * WuKongIM's `/conn/kick`: like `removeConnection`, but the connection is told first and closed
   * `connectionKickGraceMs` later (`4006 connection_kicked`, `ConnectionCloseInfo.graceMs`).
   */
  async kickConnection(
    input: { uid: string; connId: number; nodeId?: number },
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    return this.#closeConnection(input, context, 'kick_connection');
  }

  async #closeConnection(
    input: { uid: string; connId: number; nodeId?: number },
    context: RevocationContext,
    action: 'remove_connection' | 'kick_connection',
  ): Promise<RevocationResult> {
    assertUid(input.uid);
    if (!isPositiveSafeInteger(input.connId)) throw new TypeError('connId must be a positive integer');
    if (input.nodeId !== undefined && !isPositiveSafeInteger(input.nodeId)) {
      throw new TypeError('nodeId must be a positive integer');
    }
    const { uid, connId, nodeId } = input;
    const result =
      action === 'kick_connection'
        ? await this.#revocations.removeConnection(uid, connId, nodeId, this.#o.connectionKickGraceMs)
        : await this.#revocations.removeConnection(uid, connId, nodeId);
    const where = nodeId === undefined ? {} : { nodeId };
    this.#emitRevocation({ action, uid, connId, ...where, ...result }, context);
    return result;
  }

  /**
   * WuKongIM's `POST /user/token`: `token` becomes the user's credential for the device, in place of
   * the one before (a session, which the one before is `replaced` by: its sockets close with 4005).
   * A `master` login also tells every other live connection of the device, on every node, and
   * closes it `graceMs` later (WuKongIM waits 10 s; `4006 connection_kicked`); a `slave` login
   * leaves them open. The level stays with the token: each connection opened with it applies it
   * as it registers (see `registerConnection`).
   */
  async setDeviceToken(
    input: { uid: string; deviceFlag: number; token: string; level: DeviceLevel; graceMs: number },
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    const { uid, deviceFlag, token, level, graceMs } = input;
    assertUid(uid);
    assertDeviceFlag(deviceFlag);
    assertToken(token);
    if (!Number.isSafeInteger(graceMs) || graceMs < 0)
      throw new TypeError('graceMs must be a non-negative integer');
    await this.#sessions.register({
      token,
      uid,
      deviceFlag,
      expiresAtMs: this.#now() + this.#o.sessionTtlMs,
      // One token per user and device, as WuKongIM keeps it.
      loginPolicy: { perClass: 1 },
      deviceLevel: level,
    });
    if (level !== 'master') return { atMs: this.#now(), connectionsClosed: 0 };
    const result = await this.#revocations.kickDeviceConnections(uid, deviceFlag, graceMs);
    this.#emitRevocation({ action: 'kick_connection', uid, deviceFlag, ...result }, context);
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
    // This node's sockets of the session at once; the other nodes close theirs on the message.
    const connectionsClosed = await this.#revocations.revokeSession(session, atMs);
    const { uid, deviceFlag } = session;
    this.#emitRevocation(
      {
        action: 'logout',
        uid,
        deviceFlag,
        sessionId: sessionIdOf(session.tokenHash),
        pushTokenKinds,
        atMs,
        connectionsClosed,
      },
      { ...options, actor: options.actor ?? { type: 'user', id: uid } },
    );
    return { atMs, connectionsClosed };
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
      { ...context, actor: context.actor ?? { type: 'user', id: uid } },
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

  /**
   * Who is online, for each of `uids` (at most `MAX_PRESENCE_UIDS`, no repeats), in their order
   * (`presenceOf`). `exists` says whether the user is known (the `userExists` hook, or a record on
   * file; a user online is).
   */
  presence(uids: readonly string[]): Promise<UserPresence[]> {
    return presenceOf(this.#store, (uid) => this.userExists(uid), uids);
  }

  /** Counts a hit in the current fixed window of `windowMs` (shared by the cluster); returns the window's count. */
  async countHit(key: string, windowMs: number): Promise<number> {
    return this.#store.hit(key, this.#now(), windowMs);
  }

  // ---- connections ----

  /**
   * Registers a live connection held by this node; a revocation that matches it will call its
   * `close`. Opened with a session that has a device level (WuKongIM's, `setDeviceToken`), it
   * then applies it to the connections of its user and device flag that registered before it, on
   * every node (`Revocations.joinDevice`); if that fails, the connection is refused.
   */
  async registerConnection(input: RegisterConnectionOptions): Promise<ConnectionHandle> {
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    const details = connectionDetailsOf(input);
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
    const { uid, deviceFlag, credential } = input;
    // Bound to its session before the credential is checked: a logout landing in between finds it.
    const sessionHash =
      credential?.type === 'session' && typeof credential.token === 'string'
        ? hashToken(credential.token)
        : undefined;
    const { unregister, admit } = await this.#connections.add({
      uid,
      deviceFlag,
      connId,
      close: input.close,
      sessionHash,
      details,
    });
    const handle: ConnectionHandle = { uid, deviceFlag, connId, nodeId: this.nodeId, unregister };
    if (input.credential !== undefined) {
      // From the store: a kick from another node may have landed before its message reached this cache.
      const { result: verdict, session } =
        input.credential.type === 'session'
          ? await this.#check.checkSessionWithRecord(input.credential.token)
          : { result: await this.#check.check(input.credential, 'store'), session: undefined };
      if (!verdict.ok) {
        await unregister().catch(() => undefined);
        if (verdict.reason === 'unavailable')
          throw new StoreUnavailableError('the store could not check the credential');
        throw new InvalidTokenError(`the connection's credential is not live (${verdict.reason})`);
      }
      if (session?.deviceLevel !== undefined) {
        const joining = { uid, deviceFlag, connId, deviceId: details?.deviceId };
        try {
          await this.#revocations.joinDevice(joining, session.deviceLevel, this.#o.connectionKickGraceMs);
        } catch (error) {
          // Its device's rule could not be applied: the connection is refused rather than let stand.
          await unregister().catch(() => undefined);
          throw error;
        }
      }
    }
    admit();
    return handle;
  }

  /**
   * The user's live connections on every node, by connId (then node id), at most
   * `MAX_LISTED_CONNECTIONS`, those with the lowest ids: `{ uid, deviceFlag, nodeId, connId,
   * connectedAtMs, incarnation }`, and the session id, device id, IP and port each was registered
   * with. Read a page at a time, keeping only the lowest: a user holding 100,000 connections costs
   * bounded replies and bounded memory (`countConnections` counts them all).
   */
  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    assertUid(uid);
    const lowest = new FirstDistinct(byConnection, MAX_LISTED_CONNECTIONS);
    let cursor: string | undefined;
    do {
      const page = await this.#store.scanConnections(uid, cursor, CONNECTION_SCAN_PAGE);
      lowest.add(page.items);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return lowest.result();
  }

  /** The user's live connections counted by device flag (every one of them, however many). */
  countConnections(uid: string): Promise<DeviceConnections[]> {
    assertUid(uid);
    return this.#store.countConnections(uid);
  }

  /** This node's live connections (for diagnostics and the demo). */
  localConnections(): LocalConnectionInfo[] {
    return this.#connections.list();
  }

  #emitRevocation(
    event: Omit<RevocationEvent, 'actor' | 'servedByNodeId' | 'endpoint' | 'family'>,
    context: RevocationContext,
  ): void {
    this.#events.emit('revocation', {
      ...event,
      actor: context.actor ?? { type: 'host' },
      ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
      ...(context.family === undefined ? {} : { family: context.family }),
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

/** Connections one page of `listConnections`' scan asks the store for. */
const CONNECTION_SCAN_PAGE = 500;

const byConnection = (a: ConnectionRecord, b: ConnectionRecord) => a.connId - b.connId || a.nodeId - b.nodeId;

export function createEvict(options: EvictOptions = {}): Evict {
  return new Evict(options);
}
