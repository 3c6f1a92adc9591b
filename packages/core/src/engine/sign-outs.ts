/**
 * Signing sessions out one by one: a session named by its public id, all of a user's but the
 * current one, a logout. Each session is revoked through `Revocations.revokeSession` and reported
 * with its own event. What each method promises is written on `Evict`'s method of the same name.
 */
import type { Clock } from '../clock.js';
import { InvalidTokenError, SessionNotFoundError } from '../errors.js';
import type { SessionRecord } from '../model.js';
import { PUSH_TOKEN_KINDS } from '../model.js';
import { sessionIdOf } from '../secrets.js';
import { assertUid } from '../validation.js';
import { type EventHub, emitRevocation } from './events.js';
import type { Revocations } from './revocations.js';
import type { Sessions } from './sessions.js';
import type { TimedStore } from './timed-store.js';
import type { RevocationContext, RevocationResult } from './types.js';

export interface SignOutsOptions {
  nodeId: number;
  store: TimedStore;
  clock: Clock;
  events: EventHub;
  sessions: Sessions;
  revocations: Revocations;
}

export class SignOuts {
  readonly #o: SignOutsOptions;

  constructor(options: SignOutsOptions) {
    this.#o = options;
  }

  async revokeSession(
    input: { uid: string; sessionId: string },
    context: RevocationContext,
  ): Promise<RevocationResult> {
    assertUid(input.uid);
    if (typeof input.sessionId !== 'string') throw new TypeError('sessionId must be a string');
    const session = await this.#o.sessions.liveById(input.uid, input.sessionId);
    if (session === undefined) throw new SessionNotFoundError(input.uid, input.sessionId);
    return this.#revokeSessions([session], context);
  }

  async revokeOtherSessions(
    token: string,
    context: RevocationContext,
  ): Promise<RevocationResult & { revoked: number }> {
    const current = await this.#o.sessions.liveByToken(token);
    const revocation = { ...context, actor: context.actor ?? { type: 'user', id: current.uid } } as const;
    const atMs = this.#o.clock.nowMs();
    let revoked = 0;
    let connectionsClosed = 0;
    // A page at a time: a user holding 100,000 sessions is never read whole.
    await this.#o.sessions.scanLive(current.uid, async (page) => {
      const others = page.filter((s) => s.tokenHash !== current.tokenHash);
      connectionsClosed += (await this.#revokeSessions(others, revocation, atMs)).connectionsClosed;
      revoked += others.length;
      return true;
    });
    return { atMs, connectionsClosed, revoked };
  }

  async logout(token: string, options: { uid?: string } & RevocationContext): Promise<RevocationResult> {
    const session = await this.#o.sessions.liveByToken(token);
    if (options.uid !== undefined && options.uid !== session.uid)
      throw new InvalidTokenError('the token belongs to another user');
    const pushTokenKinds = await this.#o.store.clearPushTokens(session.uid, PUSH_TOKEN_KINDS);
    const atMs = this.#o.clock.nowMs();
    // This node's sockets of the session at once; the other nodes close theirs on the message.
    const connectionsClosed = await this.#o.revocations.revokeSession(session, atMs);
    const { uid, deviceFlag } = session;
    emitRevocation(
      this.#o,
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

  /** Revokes sessions one by one (each acknowledged only once announced), each with its event. */
  async #revokeSessions(
    sessions: readonly SessionRecord[],
    context: RevocationContext,
    atMs = this.#o.clock.nowMs(),
  ): Promise<RevocationResult> {
    let connectionsClosed = 0;
    for (const session of sessions) {
      const closed = await this.#o.revocations.revokeSession(session, atMs);
      connectionsClosed += closed;
      const { uid, deviceFlag } = session;
      emitRevocation(
        this.#o,
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
}
