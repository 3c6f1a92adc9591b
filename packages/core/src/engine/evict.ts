import type { CacheStats } from '../cache.js';
import type { Clock } from '../clock.js';
import type { MaybePromise } from '../maybe-promise.js';
import type {
  ConnectionRecord,
  DeviceConnections,
  DeviceLevel,
  PushTokenKind,
  PushTokenRecord,
  SessionRecord,
} from '../model.js';
import type { EvictStore } from '../store.js';
import { assertUid } from '../validation.js';
import { CredentialCheck } from './check.js';
import { clusterListener } from './cluster-messages.js';
import { ConnectionAdmission } from './connection-admission.js';
import { ConnectionRegistry } from './connections.js';
import { EventHub } from './events.js';
import { Kicks } from './kicks.js';
import { LastSeen } from './last-seen.js';
import { Logins } from './logins.js';
import { combineObservers, type EvictObserver } from './observer.js';
import { type EvictOptions, parseEvictOptions, type ResolvedOptions } from './options.js';
import { connectionsOf, presenceOf } from './presence.js';
import { PushTokens } from './push-tokens.js';
import { Revocations } from './revocations.js';
import { Sessions } from './sessions.js';
import { SignOuts } from './sign-outs.js';
import { type TimedStore, timedStore } from './timed-store.js';
import type {
  CheckResult,
  ConnectionHandle,
  Credential,
  EvictEvents,
  IssuedSession,
  IssueSessionOptions,
  LocalConnectionInfo,
  RegisterConnectionOptions,
  RevocationContext,
  RevocationResult,
  SessionInfo,
  SessionRegistration,
  SessionStatus,
  UserPresence,
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
  readonly #logins: Logins;
  readonly #signOuts: SignOuts;
  readonly #kicks: Kicks;
  readonly #pushTokens: PushTokens;
  readonly #connectionAdmission: ConnectionAdmission;
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
      replaced: (by, replaced) => this.#logins.pushedOut(by, replaced),
    });
    // One set of parts for the modules that carry requests out: each takes those its options name.
    const parts = {
      ...shared,
      check: this.#check,
      connections: this.#connections,
      revocations: this.#revocations,
      sessions: this.#sessions,
    };
    const { connectionKickGraceMs, maxCredentialLifetimeMs, sessionTtlMs } = o;
    this.#logins = new Logins({ ...parts, sessionTtlMs });
    this.#signOuts = new SignOuts(parts);
    this.#kicks = new Kicks({ ...parts, connectionKickGraceMs });
    this.#pushTokens = new PushTokens({ ...parts, maxCredentialLifetimeMs });
    this.#connectionAdmission = new ConnectionAdmission({
      ...parts,
      connectionKickGraceMs,
      closed: () => this.#closed,
    });
    this.#unsubscribe = o.store.subscribe(clusterListener({ ...parts, observer: () => this.#observer }));
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
    return this.#sessions.liveByToken(token);
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
    return this.#signOuts.revokeSession(input, context);
  }

  /** Revokes every live session of the user whose token this is, but that one ("sign out everywhere else"). */
  async revokeOtherSessions(
    token: string,
    context: RevocationContext = {},
  ): Promise<RevocationResult & { revoked: number }> {
    return this.#signOuts.revokeOtherSessions(token, context);
  }

  // ---- revocations ----

  /** Rejects every credential of the user issued up to now and closes all of their connections. */
  async kickUser(uid: string, context: RevocationContext = {}): Promise<RevocationResult> {
    return this.#kicks.kickUser(uid, context);
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
    return this.#kicks.quitDevice(uid, deviceFlag, context);
  }

  /** Closes one live connection wherever it is (all nodes when `nodeId` is absent). Credentials stay valid. */
  async removeConnection(
    input: { uid: string; connId: number; nodeId?: number },
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    return this.#kicks.closeConnection(input, context, 'remove_connection');
  }

  /**
   * WuKongIM's `/conn/kick`: like `removeConnection`, but the connection is told first and closed
   * `connectionKickGraceMs` later (`4006 connection_kicked`, `ConnectionCloseInfo.graceMs`).
   */
  async kickConnection(
    input: { uid: string; connId: number; nodeId?: number },
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    return this.#kicks.closeConnection(input, context, 'kick_connection');
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
    return this.#logins.setDeviceToken(input, context);
  }

  /**
   * Logs a session out: clears the user's `ring` and `message` push tokens, then revokes the
   * session. In that order, so that a failure half-way leaves the session live and a retry
   * finishes the job. `uid`, when given, must be the session's user.
   */
  async logout(token: string, options: { uid?: string } & RevocationContext = {}): Promise<RevocationResult> {
    return this.#signOuts.logout(token, options);
  }

  /** Clears one kind of push token of the user whose live session `token` is. */
  async clearPushToken(
    token: string,
    kind: PushTokenKind,
    context: RevocationContext = {},
  ): Promise<RevocationResult> {
    return this.#pushTokens.clear(token, kind, context);
  }

  // ---- push tokens ----

  /** Sets the user's push token of one kind (the host's push service reads them with `pushTokens`). */
  async setPushToken(
    uid: string,
    input: { kind: PushTokenKind; token: string; deviceFlag: number },
  ): Promise<void> {
    return this.#pushTokens.set(uid, input);
  }

  async pushTokens(uid: string): Promise<PushTokenRecord[]> {
    return this.#pushTokens.of(uid);
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
    return this.#connectionAdmission.register(input);
  }

  /**
   * The user's live connections on every node, by connId (then node id), at most
   * `MAX_LISTED_CONNECTIONS`, those with the lowest ids: `{ uid, deviceFlag, nodeId, connId,
   * connectedAtMs, incarnation }`, and the session id, device id, IP and port each was registered
   * with. Read a page at a time, keeping only the lowest: a user holding 100,000 connections costs
   * bounded replies and bounded memory (`countConnections` counts them all).
   */
  async listConnections(uid: string): Promise<ConnectionRecord[]> {
    return connectionsOf(this.#store, uid);
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

  #now(): number {
    return this.#o.clock.nowMs();
  }
}

export function createEvict(options: EvictOptions = {}): Evict {
  return new Evict(options);
}
