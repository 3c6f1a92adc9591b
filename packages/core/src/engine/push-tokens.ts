/**
 * The users' push tokens, one per kind (`ring`, `message`): set for the host's push service to read,
 * and cleared by the user whose live session asks. A logout clears them too (`SignOuts.logout`).
 */
import type { Clock } from '../clock.js';
import type { PushTokenKind, PushTokenRecord } from '../model.js';
import { PUSH_TOKEN_KINDS } from '../model.js';
import { assertDeviceFlag, assertToken, assertUid } from '../validation.js';
import { type EventHub, emitRevocation } from './events.js';
import type { Sessions } from './sessions.js';
import type { TimedStore } from './timed-store.js';
import type { RevocationContext, RevocationResult } from './types.js';

export interface PushTokensOptions {
  nodeId: number;
  store: TimedStore;
  clock: Clock;
  events: EventHub;
  sessions: Sessions;
  maxCredentialLifetimeMs: number;
}

export class PushTokens {
  readonly #o: PushTokensOptions;

  constructor(options: PushTokensOptions) {
    this.#o = options;
  }

  async set(uid: string, input: { kind: PushTokenKind; token: string; deviceFlag: number }): Promise<void> {
    assertUid(uid);
    assertDeviceFlag(input.deviceFlag);
    assertPushTokenKind(input.kind);
    assertToken(input.token);
    const now = this.#o.clock.nowMs();
    const record: PushTokenRecord = {
      kind: input.kind,
      token: input.token,
      deviceFlag: input.deviceFlag,
      updatedAtMs: now,
      expiresAtMs: now + this.#o.maxCredentialLifetimeMs,
    };
    await this.#o.store.setPushToken(uid, record);
  }

  async of(uid: string): Promise<PushTokenRecord[]> {
    assertUid(uid);
    return this.#o.store.getPushTokens(uid);
  }

  async clear(token: string, kind: PushTokenKind, context: RevocationContext): Promise<RevocationResult> {
    assertPushTokenKind(kind);
    const { uid } = await this.#o.sessions.liveByToken(token);
    const pushTokenKinds = await this.#o.store.clearPushTokens(uid, [kind]);
    const atMs = this.#o.clock.nowMs();
    emitRevocation(
      this.#o,
      { action: 'clear_push_token', uid, pushTokenKinds, atMs, connectionsClosed: 0 },
      { ...context, actor: context.actor ?? { type: 'user', id: uid } },
    );
    return { atMs, connectionsClosed: 0 };
  }
}

function assertPushTokenKind(kind: unknown): asserts kind is PushTokenKind {
  if (!PUSH_TOKEN_KINDS.includes(kind as PushTokenKind))
    throw new TypeError('kind must be "ring" or "message"');
}
