/**
 * Kicks: a user's or one device's credentials cut off, one connection closed. `Revocations` carries
 * each out; this validates the request first and reports it with its event after. What each method
 * promises is written on `Evict`'s method of the same name.
 */
import { assertDeviceFlag, assertUid, isPositiveSafeInteger } from '../validation.js';
import { type EventHub, emitRevocation } from './events.js';
import type { Revocations } from './revocations.js';
import type { RevocationContext, RevocationResult } from './types.js';

export interface KicksOptions {
  nodeId: number;
  events: EventHub;
  revocations: Revocations;
  connectionKickGraceMs: number;
}

export class Kicks {
  readonly #o: KicksOptions;

  constructor(options: KicksOptions) {
    this.#o = options;
  }

  async kickUser(uid: string, context: RevocationContext): Promise<RevocationResult> {
    assertUid(uid);
    const result = await this.#o.revocations.kick(uid, null, 'kicked');
    emitRevocation(this.#o, { action: 'kick_user', uid, ...result }, context);
    return result;
  }

  async quitDevice(
    uid: string,
    deviceFlag: number | 'all',
    context: RevocationContext,
  ): Promise<RevocationResult> {
    assertUid(uid);
    if (deviceFlag !== 'all') assertDeviceFlag(deviceFlag);
    const result = await this.#o.revocations.kick(
      uid,
      deviceFlag === 'all' ? null : deviceFlag,
      'device_quit',
    );
    emitRevocation(this.#o, { action: 'quit_device', uid, deviceFlag, ...result }, context);
    return result;
  }

  /** `removeConnection`, or `kickConnection`: the same, but the connection is told first. */
  async closeConnection(
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
        ? await this.#o.revocations.removeConnection(uid, connId, nodeId, this.#o.connectionKickGraceMs)
        : await this.#o.revocations.removeConnection(uid, connId, nodeId);
    const where = nodeId === undefined ? {} : { nodeId };
    emitRevocation(this.#o, { action, uid, connId, ...where, ...result }, context);
    return result;
  }
}
