import { type CacheStats, RevocationCache } from '../cache.js';
import type { Clock } from '../clock.js';
import type { MaybePromise } from '../maybe-promise.js';
import type { SessionRecord, UserRecord } from '../model.js';
import { hashToken } from '../secrets.js';
import { isTokenString } from '../validation.js';
import type { EventHub } from './events.js';
import {
  type LiveSession,
  sessionLiveness,
  sessionRejection,
  sessionVerdict,
  statelessVerdict,
} from './rules.js';
import type { TimedStore } from './timed-store.js';
import type { CheckResult, Credential, StatelessCredential } from './types.js';

/** Where a check reads: the cache (the guard's hot path) or the store (writes and re-checks that must not be stale). */
export type ReadSource = 'cache' | 'store';

/**
 * A session as the cache keeps it: its record, and its user's cache key made once (a key built per
 * check would be a new string, hashed again by the lookup).
 */
interface CachedSession {
  readonly record: SessionRecord;
  readonly userKey: string;
}

type Cached = CachedSession | UserRecord | null;

/**
 * Cache keys. A session's is its token hash as it is (base64url, never a colon), so that no string
 * is built on the hot path; a user's is `u:` + uid, and its colon keeps it apart from every token hash.
 */
const userKey = (uid: string) => `u:${uid}`;

/** Whether a cached record is still on file (module functions: the hot path allocates no closure). */
const sessionIsCurrent = (entry: Cached, nowMs: number): boolean =>
  (entry as CachedSession).record.retainUntilMs > nowMs;
const userIsCurrent = (record: Cached, nowMs: number): boolean =>
  record === null || (record as UserRecord).expiresAtMs > nowMs;

export interface CheckOptions {
  store: TimedStore;
  clock: Clock;
  events: EventHub;
  cacheSize: number;
  maxCredentialLifetimeMs: number;
  failOpen: boolean;
  /** Told of each session the check accepts (last-seen tracking), if on. */
  sessionSeen?: (session: SessionRecord, nowMs: number) => void;
}

/**
 * Whether a credential is live, from the guard's cache of session and user records when it holds
 * them (then synchronously) or from the store. Revocations drop what they change with `forget*`.
 */
export class CredentialCheck {
  readonly #o: CheckOptions;
  readonly #cache: RevocationCache<Cached>;
  readonly #sessionSeen: CheckOptions['sessionSeen'];

  constructor(options: CheckOptions) {
    this.#o = options;
    this.#sessionSeen = options.sessionSeen;
    this.#cache = new RevocationCache(options.cacheSize);
  }

  /**
   * The verdict, synchronously when every record it needs is at hand, else a promise of it. Never
   * fails for a store failure: it answers `unavailable` (or, for a stateless credential with
   * `failOpen`, a degraded acceptance). Throws a `TypeError` for a stateless credential without an
   * issue time.
   */
  check(credential: Credential, source: ReadSource): MaybePromise<CheckResult> {
    if (credential.type === 'session') return this.#checkSession(credential.token, source);
    return this.#checkStateless(credential, source);
  }

  /**
   * `check` of a session's token from the store, with the live session itself: what a connection
   * registering needs to know beyond the verdict (its device level).
   */
  async checkSessionWithRecord(token: string): Promise<{ result: CheckResult; session?: SessionRecord }> {
    if (!isTokenString(token)) return { result: { ok: false, reason: 'unknown' } };
    let found: LiveSession;
    try {
      found = await this.liveSession(hashToken(token), 'store');
    } catch (error) {
      return { result: this.#sessionUnavailable(error) };
    }
    const result = sessionVerdict(found);
    return found.ok ? { result, session: found.session } : { result };
  }

  /** The session behind a token hash if it is live, or why not. Store failures throw (or reject). */
  liveSession(tokenHash: string, source: ReadSource): MaybePromise<LiveSession> {
    // One clock read for an answer the cache gives at once; a fresh one after each store read.
    const now = this.#now();
    if (source === 'store')
      return this.#o.store
        .getSession(tokenHash)
        .then((found) => this.#liveSessionWithUser(found, undefined, source, this.#now()));
    // Past its retention the store has dropped it: ask again (it answers unknown).
    const cached = this.#cache.get(tokenHash, now, sessionIsCurrent) as CachedSession | undefined;
    if (cached !== undefined) return this.#liveSessionWithUser(cached.record, cached.userKey, source, now);
    return this.#loadSession(tokenHash).then((found) =>
      this.#liveSessionWithUser(found?.record, found?.userKey, source, this.#now()),
    );
  }

  forgetUser(uid: string): void {
    this.#cache.invalidate(userKey(uid));
  }

  forgetSession(tokenHash: string): void {
    this.#cache.invalidate(tokenHash);
  }

  /** While messages may be lost the cache is not trusted; once they flow again it starts empty (a resync). */
  setTrusted(trusted: boolean): void {
    this.#cache.setTrusted(trusted);
  }

  clear(): void {
    this.#cache.clear();
  }

  stats(): CacheStats {
    return this.#cache.stats();
  }

  #checkSession(token: string, source: ReadSource): MaybePromise<CheckResult> {
    if (!isTokenString(token)) return { ok: false, reason: 'unknown' };
    let found: MaybePromise<LiveSession>;
    try {
      found = this.liveSession(hashToken(token), source);
    } catch (error) {
      return this.#sessionUnavailable(error);
    }
    if (found instanceof Promise)
      return found.then(sessionVerdict, (error: unknown) => this.#sessionUnavailable(error));
    return sessionVerdict(found);
  }

  #sessionUnavailable(error: unknown): CheckResult {
    this.#o.events.error(error);
    return { ok: false, reason: 'unavailable' };
  }

  #checkStateless(credential: StatelessCredential, source: ReadSource): MaybePromise<CheckResult> {
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
    const unavailable = (error: unknown): CheckResult => {
      this.#o.events.error(error);
      if (this.#o.failOpen) return { ok: true, uid, deviceFlag, credential: 'stateless', degraded: true };
      return { ok: false, reason: 'unavailable', uid };
    };
    let user: MaybePromise<UserRecord | undefined>;
    try {
      user = this.#readUser(uid, source, now);
    } catch (error) {
      return unavailable(error);
    }
    if (user instanceof Promise)
      return user.then(
        (found) => statelessVerdict(found, uid, deviceFlag, issuedAtMs, resolutionMs),
        unavailable,
      );
    return statelessVerdict(user, uid, deviceFlag, issuedAtMs, resolutionMs);
  }

  /**
   * `liveSession` once the session record is read: reads the user's record too (under `userCacheKey`,
   * when the cached session carries it), unless the session alone rejects it.
   */
  #liveSessionWithUser(
    session: SessionRecord | undefined,
    userCacheKey: string | undefined,
    source: ReadSource,
    now: number,
  ): MaybePromise<LiveSession> {
    if (session === undefined) return { ok: false, reason: 'unknown' };
    const uid = session.uid;
    // Logged out or expired needs no user record.
    const early = sessionRejection(session, undefined, now);
    if (early !== undefined) return { ok: false, reason: early, uid };
    const user = this.#readUser(uid, source, now, userCacheKey);
    if (user instanceof Promise)
      return user.then((found) =>
        this.#governed(sessionLiveness(session, found, this.#now()), session, source),
      );
    const live = sessionLiveness(session, user, now);
    // Accepted: the guard's hot path, kept to the fewest calls.
    if (live.ok) {
      this.#sessionSeen?.(session, now);
      return live;
    }
    return this.#governed(live, session, source, now);
  }

  /**
   * A governed session the cached user record does not list as admitted may be newer than the
   * cached copy (a login on another node does not tell every node): read the record again before
   * calling it `replaced`. A session pushed out is announced, so a cached copy listing it is dropped.
   */
  #governed(
    live: LiveSession,
    session: SessionRecord,
    source: ReadSource,
    now?: number,
  ): MaybePromise<LiveSession> {
    if (live.ok || live.reason !== 'replaced' || source !== 'cache') return this.#seen(live, session, now);
    this.#cache.invalidate(userKey(session.uid));
    const reread = this.#readUser(session.uid, 'cache', this.#now());
    const judge = (found: UserRecord | undefined) =>
      this.#seen(sessionLiveness(session, found, this.#now()), session);
    return reread instanceof Promise ? reread.then(judge) : judge(reread);
  }

  /** Tells last-seen tracking of a session accepted, and returns the verdict as it is. */
  #seen(live: LiveSession, session: SessionRecord, now?: number): LiveSession {
    if (live.ok) this.#sessionSeen?.(session, now ?? this.#now());
    return live;
  }

  /** A session from the store, into the cache if it is on file. An unknown token is never cached. */
  async #loadSession(tokenHash: string): Promise<CachedSession | undefined> {
    const found = await this.#cache.load(
      tokenHash,
      async () => {
        const record = await this.#o.store.getSession(tokenHash);
        return record === undefined ? null : { record, userKey: userKey(record.uid) };
      },
      (entry) => entry !== null,
    );
    return (found as CachedSession | null) ?? undefined;
  }

  /** A user record, from the cache when `source` allows it. "None on file" is cached too: the uid came with a live credential. */
  #readUser(
    uid: string,
    source: ReadSource,
    now: number,
    key = userKey(uid),
  ): MaybePromise<UserRecord | undefined> {
    if (source === 'store') return this.#o.store.getUser(uid);
    // Past its expiry the store has dropped it: ask again.
    const cached = this.#cache.get(key, now, userIsCurrent);
    if (cached !== undefined) return (cached as UserRecord | null) ?? undefined;
    return this.#loadUser(key, uid);
  }

  /** A user's record from the store, cached, "none on file" too. */
  async #loadUser(key: string, uid: string): Promise<UserRecord | undefined> {
    const found = await this.#cache.load(
      key,
      async () => (await this.#o.store.getUser(uid)) ?? null,
      () => true,
    );
    return (found as UserRecord | null) ?? undefined;
  }

  #now(): number {
    return this.#o.clock.nowMs();
  }
}
