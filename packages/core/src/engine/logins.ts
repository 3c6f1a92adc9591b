/**
 * What a login does past registering its session: the sessions a login policy pushed out, closed
 * and announced, and WuKongIM's device-token login, which replaces the device's token and may
 * kick the device's other connections.
 */
import type { Clock } from '../clock.js';
import type { Admission, DeviceLevel, SessionRecord } from '../model.js';
import { sessionIdOf } from '../secrets.js';
import { assertDeviceFlag, assertToken, assertUid } from '../validation.js';
import { type EventHub, emitRevocation } from './events.js';
import type { Revocations } from './revocations.js';
import type { Sessions } from './sessions.js';
import type { RevocationContext, RevocationResult } from './types.js';

export interface LoginsOptions {
  nodeId: number;
  clock: Clock;
  events: EventHub;
  sessions: Sessions;
  revocations: Revocations;
  sessionTtlMs: number;
}

export class Logins {
  readonly #o: LoginsOptions;

  constructor(options: LoginsOptions) {
    this.#o = options;
  }

  /** What a login policy pushed out when `by` logged in: closed (`4005 replaced`) and announced, each with its event. */
  async pushedOut(by: SessionRecord, replaced: readonly Admission[]): Promise<void> {
    const closed = this.#o.revocations.replaceSessions(
      by.uid,
      replaced.map((a) => a.tokenHash),
    );
    // A login under a policy may push one out every time: with nobody listening, no event is built
    // (its session ids are a hash each).
    if (!this.#o.events.listens('revocation')) return;
    const atMs = this.#o.clock.nowMs();
    const replacedBy = { sessionId: sessionIdOf(by.tokenHash), deviceFlag: by.deviceFlag };
    replaced.forEach((admission, i) => {
      emitRevocation(
        this.#o,
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

  /** WuKongIM's `POST /user/token`: what it promises is written on `Evict.setDeviceToken`. */
  async setDeviceToken(
    input: { uid: string; deviceFlag: number; token: string; level: DeviceLevel; graceMs: number },
    context: RevocationContext,
  ): Promise<RevocationResult> {
    const { uid, deviceFlag, token, level, graceMs } = input;
    assertUid(uid);
    assertDeviceFlag(deviceFlag);
    assertToken(token);
    if (!Number.isSafeInteger(graceMs) || graceMs < 0)
      throw new TypeError('graceMs must be a non-negative integer');
    await this.#o.sessions.register({
      token,
      uid,
      deviceFlag,
      expiresAtMs: this.#o.clock.nowMs() + this.#o.sessionTtlMs,
      // One token per user and device, as WuKongIM keeps it.
      loginPolicy: { perClass: 1 },
      deviceLevel: level,
    });
    if (level !== 'master') return { atMs: this.#o.clock.nowMs(), connectionsClosed: 0 };
    const result = await this.#o.revocations.kickDeviceConnections(uid, deviceFlag, graceMs);
    emitRevocation(this.#o, { action: 'kick_connection', uid, deviceFlag, ...result }, context);
    return result;
  }
}
