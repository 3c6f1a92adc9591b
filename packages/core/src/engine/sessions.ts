import type { Clock } from '../clock.js';
import type { SessionRecord } from '../model.js';
import { hashToken, newSessionToken, sessionIdOf } from '../secrets.js';
import {
  assertDeviceFlag,
  assertToken,
  assertUid,
  isPositiveSafeInteger,
  sessionDetailsOf,
} from '../validation.js';
import type { CredentialCheck } from './check.js';
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

export interface SessionsOptions {
  store: TimedStore;
  clock: Clock;
  check: CredentialCheck;
  sessionTtlMs: number;
  maxCredentialLifetimeMs: number;
}

/** Login sessions: issued by evict or registered by the host, stored by token hash only. */
export class Sessions {
  readonly #o: SessionsOptions;

  constructor(options: SessionsOptions) {
    this.#o = options;
  }

  async issue(input: IssueSessionOptions): Promise<IssuedSession> {
    const { ttlMs: givenTtlMs, ...details } = input;
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
    await this.register({ ...details, token, issuedAtMs, expiresAtMs });
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
    const details = sessionDetailsOf(input);
    const record: SessionRecord = {
      tokenHash: hashToken(input.token),
      uid: input.uid,
      deviceFlag: input.deviceFlag,
      issuedAtMs,
      expiresAtMs: input.expiresAtMs,
      retainUntilMs: input.expiresAtMs + EXPIRED_SESSION_RETENTION_MS,
      ...(details === undefined ? {} : { details }),
    };
    try {
      await this.#o.store.putSession(record);
    } finally {
      // A token registered again replaces its record: this node must not keep serving the old one.
      this.#o.check.forgetSession(record.tokenHash);
    }
  }

  /**
   * The user's live sessions, newest first (by issue time, then id), at most `MAX_LISTED_SESSIONS`,
   * with what they are recognised by; never a token or its hash.
   */
  async list(uid: string): Promise<SessionInfo[]> {
    return (await this.live(uid))
      .sort(
        (a, b) => b.issuedAtMs - a.issuedAtMs || compare(sessionIdOf(a.tokenHash), sessionIdOf(b.tokenHash)),
      )
      .slice(0, MAX_LISTED_SESSIONS)
      .map((session) => ({
        sessionId: sessionIdOf(session.tokenHash),
        deviceFlag: session.deviceFlag,
        issuedAtMs: session.issuedAtMs,
        expiresAtMs: session.expiresAtMs,
        ...session.details,
        ...(session.lastSeenAtMs === undefined ? {} : { lastSeenAtMs: session.lastSeenAtMs }),
      }));
  }

  /** The user's live session records (those the guard would accept now). */
  async live(uid: string): Promise<SessionRecord[]> {
    const { sessions, user, now } = await this.#onFile(uid);
    return sessions.filter((session) => sessionRejection(session, user, now) === undefined);
  }

  /** The user's sessions and record on file, and the time they were read at. */
  async #onFile(uid: string) {
    assertUid(uid);
    const [sessions, user] = await Promise.all([this.#o.store.listSessions(uid), this.#o.store.getUser(uid)]);
    return { sessions, user, now: this.#o.clock.nowMs() };
  }

  /** The user's sessions on file, oldest first, each with whether it is live and, if not, why. */
  async statusesOf(uid: string): Promise<SessionStatus[]> {
    const { sessions, user, now } = await this.#onFile(uid);
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
