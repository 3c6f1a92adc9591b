/**
 * Letting a live connection in (`Evict.registerConnection`): held and written first, so that a
 * revocation landing meanwhile finds it; then its credential checked against the store and its
 * device's level applied; counted only once all of that passed, and let go if any of it failed.
 */
import { EvictError, InvalidTokenError, StoreUnavailableError } from '../errors.js';
import { hashToken } from '../secrets.js';
import { assertDeviceFlag, assertUid, connectionDetailsOf, isPositiveSafeInteger } from '../validation.js';
import type { CredentialCheck } from './check.js';
import type { ConnectionRegistry } from './connections.js';
import type { Revocations } from './revocations.js';
import type { ConnectionHandle, RegisterConnectionOptions } from './types.js';

export interface ConnectionAdmissionOptions {
  nodeId: number;
  check: CredentialCheck;
  connections: ConnectionRegistry;
  revocations: Revocations;
  connectionKickGraceMs: number;
  /** Whether the engine is closed: it takes no connection then. */
  closed: () => boolean;
}

export class ConnectionAdmission {
  readonly #o: ConnectionAdmissionOptions;

  constructor(options: ConnectionAdmissionOptions) {
    this.#o = options;
  }

  async register(input: RegisterConnectionOptions): Promise<ConnectionHandle> {
    assertUid(input.uid);
    assertDeviceFlag(input.deviceFlag);
    const details = connectionDetailsOf(input);
    if (typeof input.close !== 'function') throw new TypeError('close must be a function');
    if (this.#o.closed()) throw new EvictError('EVICT_CLOSED', 'the engine is closed');
    let connId = input.connId;
    if (connId === undefined) {
      connId = this.#o.connections.nextConnId();
    } else if (!isPositiveSafeInteger(connId)) {
      throw new TypeError('connId must be a positive integer');
    } else if (this.#o.connections.has(connId)) {
      throw new TypeError(`connId ${connId} is already registered on this node`);
    }
    const { uid, deviceFlag, credential } = input;
    // Bound to its session before the credential is checked: a logout landing in between finds it.
    const sessionHash =
      credential?.type === 'session' && typeof credential.token === 'string'
        ? hashToken(credential.token)
        : undefined;
    const { unregister, admit } = await this.#o.connections.add({
      uid,
      deviceFlag,
      connId,
      close: input.close,
      sessionHash,
      details,
    });
    const handle: ConnectionHandle = { uid, deviceFlag, connId, nodeId: this.#o.nodeId, unregister };
    if (input.credential !== undefined) {
      // From the store: a kick from another node may have landed before its message reached this cache.
      const { result: verdict, session } =
        input.credential.type === 'session'
          ? await this.#o.check.checkSessionWithRecord(input.credential.token)
          : { result: await this.#o.check.check(input.credential, 'store'), session: undefined };
      if (!verdict.ok) {
        await unregister().catch(() => undefined);
        if (verdict.reason === 'unavailable')
          throw new StoreUnavailableError('the store could not check the credential');
        throw new InvalidTokenError(`the connection's credential is not live (${verdict.reason})`);
      }
      if (session?.deviceLevel !== undefined) {
        const joining = { uid, deviceFlag, connId, deviceId: details?.deviceId };
        try {
          await this.#o.revocations.joinDevice(joining, session.deviceLevel, this.#o.connectionKickGraceMs);
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
}
