import { type CacheStats, RevocationCache } from '../cache.js';
import type { Clock } from '../clock.js';
import type { MaybePromise } from '../maybe-promise.js';
import type { SessionRecord, UserRecord } from '../model.js';
import { hashToken } from '../secrets.js';
import { isTokenString } from '../validation.js';
import type { EventHub } from './events.js';
import type { LastSeen } from './last-seen.js';
import {
  acceptedSession,
  type LiveSession,
  sessionLiveness,
  sessionRejection,
  sessionRejectionWithUser,
  sessionVerdict,
  statelessVerdict,
} from './rules.js';
import type { TimedStore } from './timed-store.js';
import type { CheckResult, Credential, StatelessCredential } from './types.js';

/** Where a check reads: the cache (the guard's hot path) or the store (writes and re-checks that must not be stale). */
export type ReadSource = 'cache' | 'store';

/**
 * A session as the cache keeps it: its record, its user's cache key made once (a key built per
 * check would be a new string, hashed again by the lookup), and the last acceptance: the user
 * record it was judged with, and the time until which that judgement holds.
 */
interface CachedSession {
  readonly record: SessionRecord;
  readonly userKey: string;
  /** The cached user value (a record, or null for none on file) the session was last accepted with; undefined before. */
  acceptedWith: UserRecord | null | undefined;
  /** Until when that acceptance holds: the first expiry of the two records it read (exclusive). */
  acceptedUntilMs: number;
  /** Before this time last-seen tracking has nothing to write for the record (`LastSeen.saw`)... */
  seenUntilMs: number;
  /** ...while its `forgotten` count is this. */
  seenForgotten: number;
}

const cachedSession = (record: SessionRecord): CachedSession => ({
  record,
  userKey: userKey(record.uid),
  acceptedWith: undefined,
  acceptedUntilMs: 0,
  seenUntilMs: 0,
  seenForgotten: 0,
});

type Cached = CachedSession | UserRecord | null;

/**
 * Cache keys. A session's is its token hash as it is (base64url, never a colon), so that no string
 * is built on the hot path; a user's is `u:` + uid, and its colon keeps it apart from every token hash.
 */
const userKey = (uid: string) => `u:${uid}`;

/**
 * Whether both cached records are current at `nowMs` and accept the session; if so, remembers that
 * until the first of their expiries: no rule reads the clock otherwise, so the same two records
 * give the same answer until then.
 */
function accepts(cached: CachedSession, user: UserRecord | null, nowMs: number): boolean {
  const { record } = cached;
  if (!sessionIsCurrent(cached, nowMs) || !userIsCurrent(user, nowMs)) return false;
  if (sessionRejectionWithUser(record, user ?? undefined, nowMs) !== undefined) return false;
  cached.acceptedWith = user;
  cached.acceptedUntilMs = Math.min(
    record.expiresAtMs,
    record.retainUntilMs,
    user === null ? Number.POSITIVE_INFINITY : user.expiresAtMs,
  );
  return true;
}

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
  /** Told of each session the check accepts, if last-seen tracking is on. */
  lastSeen: LastSeen | undefined;
}

/**
 * Whether a credential is live, from the guard's cache of session and user records when it holds
 * them (then synchronously) or from the store. Revocations drop what they change with `forget*`.
 */
export class CredentialCheck {
  readonly #o: CheckOptions;
  readonly #cache: RevocationCache<Cached>;
  readonly #lastSeen: LastSeen | undefined;

  constructor(options: CheckOptions) {
    this.#o = options;
    this.#lastSeen = options.lastSeen;
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

  /**
   * The session behind a token hash if it is live, or why not. Store failures throw (or reject).
   * `now` serves an answer the cache gives at once; each store read is followed by a fresh clock read.
   */
  liveSession(tokenHash: string, source: ReadSource, now = this.#now()): MaybePromise<LiveSession> {
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
      const tokenHash = hashToken(token);
      const now = this.#now();
      if (source === 'cache') {
        const accepted = this.#acceptedFromCache(tokenHash, now);
        if (accepted !== undefined) return accepted;
      }
      found = this.liveSession(tokenHash, source, now);
    } catch (error) {
      return this.#sessionUnavailable(error);
    }
    if (found instanceof Promise)
      return found.then(sessionVerdict, (error: unknown) => this.#sessionUnavailable(error));
    return sessionVerdict(found);
  }

  /**
   * The guard's hot path: the verdict when the cache holds both the session and its user's record
   * and they accept it; else undefined, with nothing counted, for `liveSession` to read again and
   * answer. Flat, rather than `liveSession`'s layers: V8 has spent its inlining budget on the hash
   * by then, and each layer would be a call.
   */
  #acceptedFromCache(tokenHash: string, now: number): CheckResult | undefined {
    const sessionSlot = this.#cache.peek(tokenHash);
    if (sessionSlot === undefined) return undefined;
    const cached = sessionSlot.value as CachedSession;
    const userSlot = this.#cache.peek(cached.userKey);
    if (userSlot === undefined) return undefined;
    const user = userSlot.value as UserRecord | null;
    if ((cached.acceptedWith !== user || !(now < cached.acceptedUntilMs)) && !accepts(cached, user, now))
      return undefined;
    this.#cache.hit(sessionSlot);
    this.#cache.hit(userSlot);
    const lastSeen = this.#lastSeen;
    // Told again only once what it answered last (nothing to write before then) has run out.
    if (
      lastSeen !== undefined &&
      !(now < cached.seenUntilMs && cached.seenForgotten === lastSeen.forgotten)
    ) {
      cached.seenUntilMs = lastSeen.saw(cached.record, now);
      cached.seenForgotten = lastSeen.forgotten;
    }
    return acceptedSession(cached.record);
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
    // Accepted where `#acceptedFromCache` could not answer alone (a first check, a store read).
    if (live.ok) {
      this.#lastSeen?.saw(session, now);
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
    if (live.ok) this.#lastSeen?.saw(session, now ?? this.#now());
    return live;
  }

  /** A session from the store, into the cache if it is on file. An unknown token is never cached. */
  async #loadSession(tokenHash: string): Promise<CachedSession | undefined> {
    const found = await this.#cache.load(
      tokenHash,
      async () => {
        const record = await this.#o.store.getSession(tokenHash);
        return record === undefined ? null : cachedSession(record);
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
