import type { Clock } from '../clock.js';
import { InvalidTokenError, LoginRefusedError } from '../errors.js';
import type { Admission, SessionRecord } from '../model.js';
import { hashToken, newSessionToken, sessionIdOf } from '../secrets.js';
import {
  assertDeviceFlag,
  assertToken,
  assertUid,
  isPositiveSafeInteger,
  isTokenString,
  sessionDetailsOf,
} from '../validation.js';
import type { CredentialCheck } from './check.js';
import { FirstDistinct } from './first-distinct.js';
import {
  type AdmissionOutcome,
  type AdmissionRequest,
  admissionRequestOf,
  type LoginPolicy,
  parseLoginPolicy,
} from './login-policy.js';
import { EXPIRED_SESSION_RETENTION_MS } from './options.js';
import { applicableCutoff, sessionRejection } from './rules.js';
import type { TimedStore } from './timed-store.js';
import {
  type IssuedSession,
  type IssueSessionOptions,
  MAX_LISTED_SESSIONS,
  type SessionInfo,
  type SessionRegistration,
  type SessionStatus,
} from './types.js';

/** Sessions one page of a scan asks the store for. */
const SCAN_PAGE = 500;

/** A session kept for `list`, with the id it is sorted by. */
type ListedSession = { sessionId: string; issuedAtMs: number; session: SessionRecord };

export interface SessionsOptions {
  store: TimedStore;
  clock: Clock;
  check: CredentialCheck;
  sessionTtlMs: number;
  maxCredentialLifetimeMs: number;
  nodeId: number;
  /** The engine's login policy (each login may override it). */
  loginPolicy: LoginPolicy | undefined;
  /** Told of the sessions a login (`by`, as registered) pushed out, once the store has admitted it. */
  replaced: (by: SessionRecord, replaced: Admission[]) => Promise<void>;
}

/** Login sessions: issued by evict or registered by the host, stored by token hash only. */
export class Sessions {
  readonly #o: SessionsOptions;
  /** The engine's policy as a store request, by device flag (a login may come each millisecond). */
  readonly #engineRequests = new Map<number, AdmissionRequest | undefined>();

  constructor(options: SessionsOptions) {
    this.#o = options;
  }

  async issue(input: IssueSessionOptions): Promise<IssuedSession> {
    const { ttlMs: givenTtlMs, loginPolicy, ...details } = input;
    const ttlMs = givenTtlMs ?? this.#o.sessionTtlMs;
    if (!isPositiveSafeInteger(ttlMs) || ttlMs > this.#o.maxCredentialLifetimeMs) {
      throw new TypeError('ttlMs must be a positive integer no larger than maxCredentialLifetimeMs');
    }
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    sessionDetailsOf(details);
    const token = newSessionToken();
    const issuedAtMs = await this.#issueTime(input.uid, input.deviceFlag);
    const expiresAtMs = issuedAtMs + ttlMs;
    await this.register({
      ...details,
      token,
      issuedAtMs,
      expiresAtMs,
      ...(loginPolicy === undefined ? {} : { loginPolicy }),
    });
    return {
      token,
      sessionId: sessionIdOf(hashToken(token)),
      uid: input.uid,
      deviceFlag: input.deviceFlag,
      issuedAtMs,
      expiresAtMs,
    };
  }

  async register(input: SessionRegistration): Promise<void> {
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    assertToken(input.token);
    const issuedAtMs = input.issuedAtMs ?? (await this.#issueTime(input.uid, input.deviceFlag));
    if (!Number.isSafeInteger(issuedAtMs) || !Number.isSafeInteger(input.expiresAtMs)) {
      throw new TypeError('issuedAtMs and expiresAtMs must be integers of milliseconds since the epoch');
    }
    if (input.expiresAtMs <= issuedAtMs) throw new TypeError('expiresAtMs must be after issuedAtMs');
    const { deviceLevel } = input;
    if (deviceLevel !== undefined && deviceLevel !== 'master' && deviceLevel !== 'slave')
      throw new TypeError('deviceLevel must be "master" or "slave"');
    const details = sessionDetailsOf(input);
    const record: SessionRecord = {
      tokenHash: hashToken(input.token),
      uid: input.uid,
      deviceFlag: input.deviceFlag,
      issuedAtMs,
      expiresAtMs: input.expiresAtMs,
      retainUntilMs: input.expiresAtMs + EXPIRED_SESSION_RETENTION_MS,
      ...(details === undefined ? {} : { details }),
      ...(deviceLevel === undefined ? {} : { deviceLevel }),
    };
    const request =
      input.loginPolicy === undefined
        ? this.#engineRequest(record.deviceFlag)
        : this.#requestOf(parseLoginPolicy(input.loginPolicy), record.deviceFlag);
    if (request === undefined) {
      try {
        await this.#o.store.putSession(record);
      } finally {
        // A token registered again replaces its record: this node must not keep serving the old one.
        this.#o.check.forgetSession(record.tokenHash);
      }
      return;
    }
    let outcome: AdmissionOutcome;
    try {
      outcome = await this.#o.store.admitSession(record, request);
    } finally {
      // The admission list is the user's: this node's copy of it is stale (other nodes re-read it
      // when a session they have not seen admitted comes: see CredentialCheck).
      this.#o.check.forgetSession(record.tokenHash);
      this.#o.check.forgetUser(record.uid);
    }
    if (!outcome.admitted) throw new LoginRefusedError(record.uid, request.deviceClass, outcome.full.length);
    if (outcome.replaced.length > 0) await this.#o.replaced(record, outcome.replaced);
  }

  #requestOf(policy: LoginPolicy | undefined, deviceFlag: number): AdmissionRequest | undefined {
    return policy === undefined ? undefined : admissionRequestOf(policy, deviceFlag, this.#o.nodeId);
  }

  /** The engine's policy's request for a login of this device flag, made once per flag (at most 256). */
  #engineRequest(deviceFlag: number): AdmissionRequest | undefined {
    if (this.#engineRequests.has(deviceFlag)) return this.#engineRequests.get(deviceFlag);
    const request = this.#requestOf(this.#o.loginPolicy, deviceFlag);
    this.#engineRequests.set(deviceFlag, request);
    return request;
  }

  /**
   * The user's live sessions, newest first (by issue time, then id), at most `MAX_LISTED_SESSIONS`,
   * with what they are recognised by; never a token or its hash. Read a page at a time, keeping
   * only the newest: a user with 100,000 sessions costs bounded replies and bounded memory.
   */
  async list(uid: string): Promise<SessionInfo[]> {
    const newest = new FirstDistinct<ListedSession>(
      (a, b) => b.issuedAtMs - a.issuedAtMs || compare(a.sessionId, b.sessionId),
      MAX_LISTED_SESSIONS,
    );
    await this.scanLive(uid, (page) => {
      newest.add(
        page.map((session) => ({
          sessionId: sessionIdOf(session.tokenHash),
          issuedAtMs: session.issuedAtMs,
          session,
        })),
      );
      return true;
    });
    return newest.result().map(({ sessionId, session }) => ({
      sessionId,
      deviceFlag: session.deviceFlag,
      issuedAtMs: session.issuedAtMs,
      expiresAtMs: session.expiresAtMs,
      ...session.details,
      ...(session.lastSeenAtMs === undefined ? {} : { lastSeenAtMs: session.lastSeenAtMs }),
      ...(session.deviceLevel === undefined ? {} : { deviceLevel: session.deviceLevel }),
    }));
  }

  /** A token's live session, as `Evict.sessionOf` promises it. */
  async liveByToken(token: string): Promise<SessionRecord> {
    if (!isTokenString(token)) throw new InvalidTokenError();
    const found = await this.#o.check.liveSession(hashToken(token), 'store');
    if (!found.ok) throw new InvalidTokenError(`the token is not a live session (${found.reason})`);
    return found.session;
  }

  /** The user's live session of this public id, if there is one; the scan stops where it is found. */
  async liveById(uid: string, sessionId: string): Promise<SessionRecord | undefined> {
    let found: SessionRecord | undefined;
    await this.scanLive(uid, (page) => {
      found = page.find((session) => sessionIdOf(session.tokenHash) === sessionId);
      return found === undefined;
    });
    return found;
  }

  /**
   * Calls `visit` with each page of the user's live sessions (those the guard would accept now,
   * judged against the user's record as read when the scan began) until it returns false or the
   * scan ends. A page is at most about `SCAN_PAGE` sessions; a session may come twice.
   */
  async scanLive(uid: string, visit: (page: SessionRecord[]) => boolean | Promise<boolean>): Promise<void> {
    assertUid(uid);
    const user = await this.#o.store.getUser(uid);
    let cursor: string | undefined;
    do {
      const page = await this.#o.store.scanSessions(uid, cursor, SCAN_PAGE);
      const now = this.#o.clock.nowMs();
      const live = page.items.filter((session) => sessionRejection(session, user, now) === undefined);
      if (live.length > 0 && !(await visit(live))) return;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** The user's sessions on file, oldest first, each with whether it is live and, if not, why. All of them: a diagnostic. */
  async statusesOf(uid: string): Promise<SessionStatus[]> {
    assertUid(uid);
    const [sessions, user] = await Promise.all([this.#o.store.listSessions(uid), this.#o.store.getUser(uid)]);
    const now = this.#o.clock.nowMs();
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

  /**
   * "Now" for a session being issued, but later than any cutoff of its device on file: a login that
   * follows a kick within the same millisecond (or a kick from a node whose clock is ahead) comes
   * after it, and must not be rejected by it.
   */
  async #issueTime(uid: string, deviceFlag: number): Promise<number> {
    const now = this.#o.clock.nowMs();
    const cutoff = applicableCutoff(await this.#o.store.getUser(uid), deviceFlag);
    return cutoff !== undefined && cutoff.atMs >= now ? cutoff.atMs + 1 : now;
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
